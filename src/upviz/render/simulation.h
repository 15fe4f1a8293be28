// The animation's state: directory tree, files, uploaders, camera, clock.
//
// The simulation advances one output frame at a time, in order, and is a pure
// function of the commits it is fed and the options: no wall clock, no random
// numbers, no iteration over unordered containers that could change what is
// drawn. scene() snapshots the frame as screen-space primitives for a raster
// thread.
//
// Layout: directories are nodes of a radial tree. Each directory owns an
// angular sector of its parent, in proportion to the size of its subtree
// (sections around the root), and is pulled by a damped spring to a point in
// that sector far enough out for its files; overlapping directories push each
// other apart. Files sit in rings of slots around their directory and keep
// their slot for life, so the picture moves smoothly and stays put.
//
//   Simulation sim(opts, [&](Commit& c) { return reader.next(c); });
//   while (sim.step()) draw(sim.scene());
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "upviz/render/gource_log.h"
#include "upviz/render/options.h"
#include "upviz/render/scene.h"

namespace upviz::render {

class Simulation {
 public:
  using CommitSource = std::function<bool(Commit&)>;

  Simulation(const RenderOptions& opts, CommitSource source);

  // Advances to the next frame (the first call produces frame 0). False when
  // the animation is over; the state then holds the last rendered frame.
  bool step();

  // The current frame as screen-space primitives.
  Scene scene() const;

  int64_t frame() const { return frame_; }
  double video_time() const { return t_; }
  double log_time() const { return log_t_; }
  int64_t commits_applied() const { return commits_applied_; }

  // Introspection for tests and progress.
  std::vector<std::pair<std::string, Vec2>> dir_positions() const;
  size_t live_files() const { return live_files_; }
  size_t live_users() const;
  size_t live_dirs() const;

 private:
  struct Dir {
    bool used = false;
    int parent = -1;
    int depth = 0;
    std::string name, path;
    std::vector<int> children;  // sorted by name
    std::vector<int> slots;     // file id per slot, -1 when free
    int nfiles = 0;
    Vec2 pos, vel;
    double radius = 0;
    double weight = 1;
    double angle = 0, width = 0;  // sector centre and width, radians
  };
  struct File {
    bool used = false;
    uint32_t gen = 0;
    int dir = -1;
    int slot = -1;
    std::string name, path, ext;
    uint32_t rgb = 0xFFFFFF;
    double born = 0, touched = 0;
    double removing = -1;  // video time the fade-out started; -1 when alive
  };
  struct Action {
    int file;
    uint32_t gen;
    char kind;
    double start;
  };
  struct User {
    bool used = false;
    std::string name;
    uint32_t rgb = 0;
    Vec2 pos, vel;
    Vec2 target;
    bool has_target = false;
    double last_active = 0;
    std::vector<Action> actions;
  };

  bool fetch();
  void apply(const Commit& c);
  int ensure_dir(const std::string& path);
  int create_file(const std::string& path, bool has_colour, uint32_t rgb);
  void touch_file(int id);
  void start_removal(int id);
  void free_file(int id);
  void maybe_remove_dir(int id);
  void update_files();
  void update_users();
  void update_layout();
  void update_camera(bool snap);
  void recompute_sectors();
  Vec2 file_pos(const File& f) const;
  static Vec2 slot_offset(int slot);

  RenderOptions opts_;
  CommitSource source_;
  Commit next_;
  bool has_next_ = false;
  bool exhausted_ = false;
  bool finished_ = false;
  int64_t frame_ = -1;
  double t_ = 0, dt_ = 0;
  double log_t_ = 0;
  double last_commit_t_ = 0;
  double end_t_ = 0;
  int64_t commits_applied_ = 0;

  std::vector<Dir> dirs_;
  std::vector<int> free_dirs_;
  std::unordered_map<std::string, int> dir_index_;  // lookup only, never iterated
  std::vector<int> layout_order_;                   // parents before children
  bool structure_dirty_ = true;

  std::vector<File> files_;
  std::vector<int> free_files_;
  std::unordered_map<std::string, int> file_index_;  // lookup only
  size_t live_files_ = 0;
  std::set<std::pair<double, int>> lru_;             // (touched, id), with --max-files
  std::map<std::string, std::pair<int, uint32_t>> ext_key_;  // ext -> (count, colour)

  std::vector<User> users_;
  std::vector<int> free_users_;
  std::unordered_map<std::string, int> user_index_;  // lookup only

  Vec2 cam_centre_;
  double cam_zoom_ = 1.0;

  // Scratch for the collision grid, kept to avoid reallocating every frame.
  std::vector<std::pair<int64_t, int>> grid_;
  std::vector<int> stamp_;
};

// Deterministic colours: gource-like hues from a hash of the text.
uint32_t colour_for_text(std::string_view s);

}  // namespace upviz::render
