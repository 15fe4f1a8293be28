// Everything that shapes a render, already validated by the command line.
//
// Two renders with equal RenderOptions and equal logs produce the same
// bytes: nothing here depends on the clock, the machine or thread timing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace upviz::render {

struct HideFlags {
  bool date = false, files = false, filenames = false, users = false, usernames = false,
       tree = false, dirnames = false, root = false;
};

struct RenderOptions {
  std::string log_path = "-";      // "-" reads standard input
  std::string output;              // "-", *.ppm, *.webm, *.mp4, *.mkv, *.png (snapshot)
  int width = 1024, height = 768;  // gource's default window
  int framerate = 60;
  double seconds_per_day = 10.0;
  double auto_skip_seconds = 3.0;
  std::optional<int64_t> start_date, stop_date;
  std::string title;
  bool key = false;
  HideFlags hide;
  double file_idle_time = 0.0;     // 0: files never expire
  int max_files = 0;               // 0: no limit
  std::string date_format = "%A, %d %B, %Y %X";
  int font_size = 16;
  // Video encoding.
  int64_t bitrate = 0;             // bits per second; 0: codec default
  int crf = -1;                    // -1: unset
  std::string codec;               // empty: chosen by the container
  // Snapshot: one frame at this video time (seconds) or log date.
  std::optional<double> snapshot_seconds;
  std::optional<int64_t> snapshot_date;
  int threads = 0;                 // raster threads; 0: one per core, at most 8
  bool progress = true;            // only ever shown when stderr is a terminal
};

}  // namespace upviz::render
