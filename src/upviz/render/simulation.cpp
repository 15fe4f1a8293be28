#include "upviz/render/simulation.h"

#include <algorithm>
#include <cmath>
#include <ctime>

namespace upviz::render {
namespace {

constexpr double kPi = 3.14159265358979323846;
// World units: a file disc has radius kFileRadius; everything else scales.
constexpr double kFileRadius = 5.0;
constexpr double kSlotSpacing = 13.0;
constexpr double kDirGap = 26.0;
constexpr double kSpring = 12.0;    // directory spring, 1/s^2
constexpr double kDamping = 7.0;    // about critical for kSpring
constexpr double kRepel = 40.0;
constexpr double kFadeIn = 0.3;
constexpr double kFadeOut = 0.6;
constexpr double kBeamTime = 1.0;
constexpr double kTouchGlow = 0.5;
constexpr double kFilenameTime = 4.0;
constexpr double kUserIdle = 3.0;
constexpr double kUserFade = 1.0;
constexpr double kUserDistance = 45.0;
constexpr double kTail = 0.5;
constexpr size_t kMaxBeamsPerUser = 4000;
constexpr size_t kMaxVisibleBeams = 12;   // per uploader
constexpr size_t kMaxBeams = 600;         // per frame
constexpr size_t kMaxFileLabels = 200;

uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

uint32_t hsv(double h, double s, double v) {
  h = std::fmod(h, 360.0) / 60.0;
  const int i = static_cast<int>(h);
  const double f = h - i, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r, g, b;
  switch (i) {
    case 0: r = v; g = t; b = p; break;
    case 1: r = q; g = v; b = p; break;
    case 2: r = p; g = v; b = t; break;
    case 3: r = p; g = q; b = v; break;
    case 4: r = t; g = p; b = v; break;
    default: r = v; g = p; b = q; break;
  }
  auto c = [](double x) { return static_cast<uint32_t>(std::lround(std::clamp(x, 0.0, 1.0) * 255)); };
  return (c(r) << 16) | (c(g) << 8) | c(b);
}

uint32_t mix(uint32_t a, uint32_t b, double k) {
  auto ch = [&](int sh) {
    const double x = ((a >> sh) & 0xFF) * (1 - k) + ((b >> sh) & 0xFF) * k;
    return static_cast<uint32_t>(std::lround(x)) << sh;
  };
  return ch(16) | ch(8) | ch(0);
}

// Alpha is quantised so that discs of one colour share a paint and a path.
double quantise_alpha(double a) { return std::round(std::clamp(a, 0.0, 1.0) * 16.0) / 16.0; }

std::string extension_of(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= name.size()) return {};
  return name.substr(dot + 1);
}

uint32_t action_colour(char kind) {
  switch (kind) {
    case 'A': return 0x66FF66;
    case 'D': return 0xFF4D4D;
    default: return 0xFFB833;
  }
}

}  // namespace

uint32_t colour_for_text(std::string_view s) {
  const uint32_t h = fnv1a(s);
  return hsv(h % 360, 0.55 + ((h >> 9) % 35) / 100.0, 0.92 + ((h >> 17) % 8) / 100.0);
}

Simulation::Simulation(const RenderOptions& opts, CommitSource source)
    : opts_(opts), source_(std::move(source)) {
  dt_ = 1.0 / opts_.framerate;
  Dir root;
  root.used = true;
  root.path = "/";
  root.radius = kSlotSpacing;
  root.width = 2 * kPi;
  root.angle = -kPi / 2;
  dirs_.push_back(root);
  dir_index_["/"] = 0;
}

bool Simulation::fetch() {
  if (exhausted_) return false;
  for (;;) {
    if (!source_(next_)) {
      has_next_ = false;
      exhausted_ = true;
      return false;
    }
    if (opts_.start_date && next_.time < *opts_.start_date) continue;
    if (opts_.stop_date && next_.time > *opts_.stop_date) {
      has_next_ = false;
      exhausted_ = true;
      return false;
    }
    has_next_ = true;
    return true;
  }
}

bool Simulation::step() {
  if (finished_) return false;
  if (frame_ < 0) {
    if (!fetch()) {
      finished_ = true;
      return false;
    }
    frame_ = 0;
    t_ = 0;
    log_t_ = static_cast<double>(next_.time);
  } else {
    if (exhausted_ && t_ + dt_ > end_t_ + 1e-9) {
      finished_ = true;
      return false;
    }
    ++frame_;
    t_ = frame_ * dt_;
    log_t_ += dt_ * 86400.0 / opts_.seconds_per_day;
  }
  // Frames are computed from the frame number, not accumulated, where it
  // matters for the clock: t_ stays exact over millions of frames.
  auto apply_due = [&] {
    while (has_next_ && static_cast<double>(next_.time) <= log_t_) {
      apply(next_);
      fetch();
    }
  };
  apply_due();
  if (has_next_ && opts_.auto_skip_seconds > 0 && t_ - last_commit_t_ >= opts_.auto_skip_seconds) {
    log_t_ = static_cast<double>(next_.time);
    apply_due();
  }
  if (opts_.stop_date && log_t_ > static_cast<double>(*opts_.stop_date)) {
    log_t_ = static_cast<double>(*opts_.stop_date);
    has_next_ = false;
    exhausted_ = true;
  }
  update_files();
  update_users();
  update_layout();
  update_camera(frame_ == 0);
  return true;
}

void Simulation::apply(const Commit& c) {
  ++commits_applied_;
  last_commit_t_ = t_;
  end_t_ = std::max(end_t_, t_ + kBeamTime + kTail);

  int uid;
  auto it = user_index_.find(c.user);
  const bool placed = it != user_index_.end();
  if (!placed) {
    if (!free_users_.empty()) {
      uid = free_users_.back();
      free_users_.pop_back();
    } else {
      uid = static_cast<int>(users_.size());
      users_.emplace_back();
    }
    User& u = users_[uid];
    u = User{};
    u.used = true;
    u.name = c.user;
    u.rgb = colour_for_text(c.user);
    user_index_[c.user] = uid;
  } else {
    uid = it->second;
  }
  User& u = users_[uid];
  u.last_active = t_;

  Vec2 centroid;
  int n = 0;
  for (const CommitFile& cf : c.files) {
    auto fit = file_index_.find(cf.path);
    int fid = fit == file_index_.end() ? -1 : fit->second;
    if (cf.action == 'D') {
      if (fid < 0) continue;
      start_removal(fid);
    } else {
      if (fid < 0) {
        fid = create_file(cf.path, cf.has_colour, cf.rgb);
      } else {
        File& f = files_[fid];
        if (f.removing >= 0) {
          // Re-added while fading out: bring it back where it was.
          f.removing = -1;
          ++live_files_;
          ++ext_key_[f.ext].first;
        }
        if (cf.has_colour) f.rgb = cf.rgb;
      }
      touch_file(fid);
    }
    if (u.actions.size() < kMaxBeamsPerUser) u.actions.push_back({fid, files_[fid].gen, cf.action, t_});
    centroid += file_pos(files_[fid]);
    ++n;
  }
  if (!placed && n > 0) {
    // A new uploader appears near its first files, on a side given by its name.
    const double a = (fnv1a(c.user) % 3600) / 3600.0 * 2 * kPi;
    u.pos = centroid * (1.0 / n) + Vec2{std::cos(a), std::sin(a)} * (kUserDistance * 2);
  }

  if (opts_.max_files > 0) {
    while (live_files_ > static_cast<size_t>(opts_.max_files) && !lru_.empty()) {
      start_removal(lru_.begin()->second);
    }
  }
}

int Simulation::ensure_dir(const std::string& path) {
  // Walk up to the nearest known ancestor, then create downwards: no
  // recursion, however deep a path a log throws at us.
  std::vector<std::string> missing;
  std::string p = path;
  int parent;
  for (;;) {
    auto it = dir_index_.find(p);
    if (it != dir_index_.end()) {
      parent = it->second;
      break;
    }
    missing.push_back(p);
    const size_t slash = p.rfind('/', p.size() - 2);
    p = slash == 0 ? "/" : p.substr(0, slash);
  }
  for (auto m = missing.rbegin(); m != missing.rend(); ++m) {
    int id;
    if (!free_dirs_.empty()) {
      id = free_dirs_.back();
      free_dirs_.pop_back();
    } else {
      id = static_cast<int>(dirs_.size());
      dirs_.emplace_back();
    }
    Dir& d = dirs_[id];
    d = Dir{};
    d.used = true;
    d.parent = parent;
    d.path = *m;
    d.name = m->substr(m->rfind('/', m->size() - 2) + 1);
    d.depth = dirs_[parent].depth + 1;
    d.radius = kSlotSpacing;
    // Grow out of the parent, in the direction of the parent's own branch.
    const Dir& pd = dirs_[parent];
    const double a = parent == 0 ? (fnv1a(d.name) % 3600) / 3600.0 * 2 * kPi : pd.angle;
    d.pos = pd.pos + Vec2{std::cos(a), std::sin(a)} * (pd.radius + kSlotSpacing);
    auto& ch = dirs_[parent].children;
    auto pos = std::lower_bound(ch.begin(), ch.end(), id,
                                [&](int a_id, int) { return dirs_[a_id].name < dirs_[id].name; });
    ch.insert(pos, id);
    dir_index_[*m] = id;
    structure_dirty_ = true;
    parent = id;
  }
  return parent;
}

int Simulation::create_file(const std::string& path, bool has_colour, uint32_t rgb) {
  const size_t slash = path.rfind('/');
  const int dir = ensure_dir(slash == 0 ? "/" : path.substr(0, slash));
  int id;
  if (!free_files_.empty()) {
    id = free_files_.back();
    free_files_.pop_back();
  } else {
    id = static_cast<int>(files_.size());
    files_.emplace_back();
  }
  File& f = files_[id];
  const uint32_t gen = f.gen + 1;
  f = File{};
  f.gen = gen;
  f.used = true;
  f.dir = dir;
  f.path = path;
  f.name = path.substr(slash + 1);
  f.ext = extension_of(f.name);
  f.rgb = has_colour ? rgb : (f.ext.empty() ? 0xFFFFFF : colour_for_text(f.ext));
  f.born = t_;
  f.touched = t_;
  Dir& d = dirs_[dir];
  auto free_slot = std::find(d.slots.begin(), d.slots.end(), -1);
  if (free_slot == d.slots.end()) {
    f.slot = static_cast<int>(d.slots.size());
    d.slots.push_back(id);
  } else {
    f.slot = static_cast<int>(free_slot - d.slots.begin());
    *free_slot = id;
  }
  ++d.nfiles;
  // The disc grows with the outermost occupied ring.
  int ring = 1;
  while (3 * ring * (ring + 1) < static_cast<int>(d.slots.size())) ++ring;
  d.radius = std::max(d.radius, (ring + 0.5) * kSlotSpacing);
  file_index_[path] = id;
  ++live_files_;
  auto& key = ext_key_[f.ext];
  ++key.first;
  key.second = f.rgb;
  structure_dirty_ = true;
  if (opts_.max_files > 0) lru_.insert({f.touched, id});
  return id;
}

void Simulation::touch_file(int id) {
  File& f = files_[id];
  if (opts_.max_files > 0) {
    lru_.erase({f.touched, id});
    lru_.insert({t_, id});
  }
  f.touched = t_;
}

void Simulation::start_removal(int id) {
  File& f = files_[id];
  if (f.removing >= 0) return;
  f.removing = t_;
  --live_files_;
  auto it = ext_key_.find(f.ext);
  if (it != ext_key_.end() && --it->second.first <= 0) ext_key_.erase(it);
  if (opts_.max_files > 0) lru_.erase({f.touched, id});
}

void Simulation::free_file(int id) {
  File& f = files_[id];
  Dir& d = dirs_[f.dir];
  d.slots[f.slot] = -1;
  while (!d.slots.empty() && d.slots.back() == -1) d.slots.pop_back();
  --d.nfiles;
  int ring = 1;
  while (3 * ring * (ring + 1) < static_cast<int>(d.slots.size())) ++ring;
  d.radius = (ring + 0.5) * kSlotSpacing;
  file_index_.erase(f.path);
  const int dir = f.dir;
  f.used = false;
  f.path.clear();
  f.name.clear();
  free_files_.push_back(id);
  structure_dirty_ = true;
  maybe_remove_dir(dir);
}

void Simulation::maybe_remove_dir(int id) {
  while (id > 0) {
    Dir& d = dirs_[id];
    if (d.nfiles > 0 || !d.children.empty()) return;
    auto& ch = dirs_[d.parent].children;
    ch.erase(std::find(ch.begin(), ch.end(), id));
    dir_index_.erase(d.path);
    const int parent = d.parent;
    d = Dir{};
    free_dirs_.push_back(id);
    structure_dirty_ = true;
    id = parent;
  }
}

void Simulation::update_files() {
  for (size_t i = 0; i < files_.size(); ++i) {
    File& f = files_[i];
    if (!f.used) continue;
    if (f.removing < 0 && opts_.file_idle_time > 0 && t_ - f.touched > opts_.file_idle_time)
      start_removal(static_cast<int>(i));
    if (f.removing >= 0 && t_ - f.removing >= kFadeOut) free_file(static_cast<int>(i));
  }
}

void Simulation::update_users() {
  const double personal = std::max(kUserDistance, 48.0 / cam_zoom_);
  for (size_t i = 0; i < users_.size(); ++i) {
    User& u = users_[i];
    if (!u.used) continue;
    std::erase_if(u.actions, [&](const Action& a) { return t_ - a.start >= kBeamTime; });
    if (u.actions.empty() && t_ - u.last_active > kUserIdle + kUserFade) {
      user_index_.erase(u.name);
      u = User{};
      free_users_.push_back(static_cast<int>(i));
      continue;
    }
    Vec2 acc;
    Vec2 target;
    int n = 0;
    // Like gource, an uploader heads for the file it touched last, not for
    // the middle of all its files (which is often the middle of the tree).
    for (auto a = u.actions.rbegin(); a != u.actions.rend() && n == 0; ++a) {
      const File& f = files_[a->file];
      if (!f.used || f.gen != a->gen) continue;
      target = file_pos(f);
      n = 1;
    }
    // The last target stays after the beams fade: an uploader settles by
    // its work instead of stopping half-way.
    if (n > 0) {
      u.target = target;
      u.has_target = true;
    }
    if (u.has_target) {
      target = u.target;
      const Vec2 to = target - u.pos;
      const double d = std::sqrt(to.length2());
      if (d > kUserDistance) acc += to * ((1 - kUserDistance / d) * 10.0);
    }
    // Uploaders keep out of each other's way, by about their size on
    // screen, so that a crowd spreads instead of stacking its names.
    for (size_t j = 0; j < users_.size(); ++j) {
      if (j == i || !users_[j].used) continue;
      Vec2 away = u.pos - users_[j].pos;
      const double d2 = away.length2();
      if (d2 >= personal * personal) continue;
      const double d = std::sqrt(d2);
      if (d < 1e-6) away = Vec2{i < j ? -1.0 : 1.0, 0}, acc += away * (personal * 4);
      else acc += away * ((personal - d) / d * 20.0);
    }
    u.vel += acc * dt_;
    u.vel = u.vel * std::exp(-4.0 * dt_);
    u.pos += u.vel * dt_;
  }
}

void Simulation::recompute_sectors() {
  // Parents before children; children by name: the order is a pure function
  // of the tree.
  layout_order_.clear();
  layout_order_.push_back(0);
  for (size_t k = 0; k < layout_order_.size(); ++k)
    for (int c : dirs_[layout_order_[k]].children) layout_order_.push_back(c);
  for (size_t k = layout_order_.size(); k-- > 0;) {
    Dir& d = dirs_[layout_order_[k]];
    // A sector in proportion to the room a directory needs on its parent's
    // ring (its diameter) plus some for its own subtree: siblings then sit on
    // one ring, and small ones are not flung far out through thin sectors.
    d.weight = 2 * d.radius + kDirGap;
    for (int c : d.children) d.weight += 0.5 * dirs_[c].weight;
  }
  for (int id : layout_order_) {
    Dir& d = dirs_[id];
    if (d.children.empty()) continue;
    double wsum = 0;
    for (int c : d.children) wsum += dirs_[c].weight;
    double span = id == 0 ? 2 * kPi : std::clamp(d.width, kPi / 2, 2 * kPi);
    double a = id == 0 ? d.angle : d.angle - span / 2;
    for (int c : d.children) {
      Dir& cd = dirs_[c];
      cd.width = span * cd.weight / wsum;
      cd.angle = a + cd.width / 2;
      a += cd.width;
    }
  }
  structure_dirty_ = false;
}

void Simulation::update_layout() {
  if (structure_dirty_) recompute_sectors();
  // Spring to the target point of each directory's sector.
  for (size_t k = 1; k < layout_order_.size(); ++k) {
    Dir& d = dirs_[layout_order_[k]];
    const Dir& p = dirs_[d.parent];
    const double half = std::min(d.width / 2, kPi / 2);
    double dist = p.radius + d.radius + kDirGap;
    dist = std::max(dist, (d.radius + kDirGap * 0.5) / std::max(std::sin(half), 0.02));
    const Vec2 target = p.pos + Vec2{std::cos(d.angle), std::sin(d.angle)} * dist;
    d.vel += (target - d.pos) * (kSpring * dt_);
  }
  // Overlapping directories push apart. A uniform grid finds the pairs; each
  // directory is entered in every cell its disc touches.
  constexpr double kCell = 96.0;
  grid_.clear();
  auto cell_key = [](int64_t cx, int64_t cy) { return (cx << 32) ^ (cy & 0xFFFFFFFF); };
  auto cell_range = [&](const Dir& d, int64_t& x0, int64_t& x1, int64_t& y0, int64_t& y1) {
    const double r = d.radius + kDirGap * 0.5;
    x0 = static_cast<int64_t>(std::floor((d.pos.x - r) / kCell));
    x1 = static_cast<int64_t>(std::floor((d.pos.x + r) / kCell));
    y0 = static_cast<int64_t>(std::floor((d.pos.y - r) / kCell));
    y1 = static_cast<int64_t>(std::floor((d.pos.y + r) / kCell));
  };
  for (int id : layout_order_) {
    int64_t x0, x1, y0, y1;
    cell_range(dirs_[id], x0, x1, y0, y1);
    if ((x1 - x0 + 1) * (y1 - y0 + 1) > 4096) continue;  // absurdly large: skip
    for (int64_t cx = x0; cx <= x1; ++cx)
      for (int64_t cy = y0; cy <= y1; ++cy) grid_.push_back({cell_key(cx, cy), id});
  }
  std::sort(grid_.begin(), grid_.end());
  stamp_.assign(dirs_.size(), -1);
  for (int a : layout_order_) {
    Dir& da = dirs_[a];
    int64_t x0, x1, y0, y1;
    cell_range(da, x0, x1, y0, y1);
    if ((x1 - x0 + 1) * (y1 - y0 + 1) > 4096) continue;
    for (int64_t cx = x0; cx <= x1; ++cx)
      for (int64_t cy = y0; cy <= y1; ++cy) {
        auto lo = std::lower_bound(grid_.begin(), grid_.end(), std::pair<int64_t, int>{cell_key(cx, cy), -1});
        for (auto it = lo; it != grid_.end() && it->first == cell_key(cx, cy); ++it) {
          const int b = it->second;
          if (b <= a || stamp_[b] == a) continue;
          stamp_[b] = a;
          Dir& db = dirs_[b];
          Vec2 delta = db.pos - da.pos;
          double d2 = delta.length2();
          const double want = da.radius + db.radius + kDirGap * 0.5;
          if (d2 >= want * want) continue;
          double d = std::sqrt(d2);
          if (d < 1e-6) {
            delta = Vec2{std::cos(b * 2.399), std::sin(b * 2.399)};
            d = 1;
          }
          const Vec2 push = delta * ((want - d) / d * kRepel * dt_);
          if (a != 0) da.vel -= push;
          if (b != 0) db.vel += push;
        }
      }
  }
  const double damp = std::exp(-kDamping * dt_);
  for (size_t k = 1; k < layout_order_.size(); ++k) {
    Dir& d = dirs_[layout_order_[k]];
    d.vel = d.vel * damp;
    d.pos += d.vel * dt_;
  }
}

Vec2 Simulation::slot_offset(int slot) {
  int ring = 1;
  while (3 * ring * (ring + 1) <= slot) ++ring;
  const int j = slot - 3 * (ring - 1) * ring;
  const double a = 2 * kPi * j / (6.0 * ring) + ring * 0.7;
  return Vec2{std::cos(a), std::sin(a)} * (ring * kSlotSpacing);
}

Vec2 Simulation::file_pos(const File& f) const { return dirs_[f.dir].pos + slot_offset(f.slot); }

void Simulation::update_camera(bool snap) {
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  auto add = [&](Vec2 p, double r) {
    x0 = std::min(x0, p.x - r);
    y0 = std::min(y0, p.y - r);
    x1 = std::max(x1, p.x + r);
    y1 = std::max(y1, p.y + r);
  };
  for (int id : layout_order_) {
    const Dir& d = dirs_[id];
    if (d.nfiles > 0) add(d.pos, d.radius);
  }
  // Uploaders at work count; idle ones may drift out of the picture.
  if (!opts_.hide.users)
    for (const User& u : users_)
      if (u.used && !u.actions.empty()) add(u.pos, 20);
  if (x0 > x1) add(Vec2{}, 100);
  const double margin = 40 + opts_.font_size * 2.0;
  const double w = std::max(opts_.width - 2 * margin, 16.0), h = std::max(opts_.height - 2 * margin, 16.0);
  const double bw = std::max(x1 - x0, 200.0), bh = std::max(y1 - y0, 200.0);
  const double zoom = std::clamp(std::min(w / bw, h / bh), 1e-4, 4.0);
  const Vec2 centre{(x0 + x1) / 2, (y0 + y1) / 2};
  if (snap) {
    cam_centre_ = centre;
    cam_zoom_ = zoom;
    return;
  }
  // Zoom out faster than in, so new activity is never long off screen.
  const double kz = zoom < cam_zoom_ ? 3.0 : 1.0;
  cam_zoom_ = std::exp(std::log(cam_zoom_) + (std::log(zoom) - std::log(cam_zoom_)) * (1 - std::exp(-kz * dt_)));
  cam_centre_ += (centre - cam_centre_) * (1 - std::exp(-2.5 * dt_));
}

size_t Simulation::live_users() const {
  return static_cast<size_t>(std::count_if(users_.begin(), users_.end(), [](const User& u) { return u.used; }));
}

size_t Simulation::live_dirs() const {
  return static_cast<size_t>(std::count_if(dirs_.begin(), dirs_.end(), [](const Dir& d) { return d.used; }));
}

std::vector<std::pair<std::string, Vec2>> Simulation::dir_positions() const {
  std::vector<std::pair<std::string, Vec2>> out;
  for (const Dir& d : dirs_)
    if (d.used) out.push_back({d.path, d.pos});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

Scene Simulation::scene() const {
  Scene s;
  s.frame = frame_;
  s.width = opts_.width;
  s.height = opts_.height;
  const double W = opts_.width, H = opts_.height;
  const double z = cam_zoom_;
  auto proj = [&](Vec2 p) { return Vec2{(p.x - cam_centre_.x) * z + W / 2, (p.y - cam_centre_.y) * z + H / 2}; };
  auto visible = [&](Vec2 p, double r) { return p.x + r >= 0 && p.y + r >= 0 && p.x - r <= W && p.y - r <= H; };
  const int fs = std::max(opts_.font_size, 6);
  const int small = std::max(fs - 4, 7);

  if (!opts_.hide.tree) {
    LineBatch edges{rgba(0x8C8C8C, 0.4), static_cast<float>(std::clamp(1.5 * z, 1.0, 3.0)), {}};
    for (size_t k = 1; k < layout_order_.size(); ++k) {
      const Dir& d = dirs_[layout_order_[k]];
      if (d.parent == 0 && opts_.hide.root) continue;
      const Vec2 a = proj(dirs_[d.parent].pos), b = proj(d.pos);
      if (!visible(a, 0) && !visible(b, 0) &&
          ((a.x < 0 && b.x < 0) || (a.x > W && b.x > W) || (a.y < 0 && b.y < 0) || (a.y > H && b.y > H)))
        continue;
      edges.segments.push_back({static_cast<float>(a.x), static_cast<float>(a.y), static_cast<float>(b.x),
                                static_cast<float>(b.y)});
    }
    if (!edges.segments.empty()) s.edges.push_back(std::move(edges));
  }

  if (!opts_.hide.files) {
    std::map<Rgba, std::vector<Circle>> batches;
    const float r = static_cast<float>(std::max(kFileRadius * z, 1.2));
    for (const File& f : files_) {
      if (!f.used) continue;
      double alpha = std::min(1.0, (t_ - f.born) / kFadeIn + 0.25);
      if (f.removing >= 0) alpha = std::min(alpha, 1 - (t_ - f.removing) / kFadeOut);
      alpha = quantise_alpha(alpha);
      if (alpha <= 0) continue;
      const Vec2 p = proj(file_pos(f));
      if (!visible(p, r)) continue;
      const double glow = std::max(0.0, 1 - (t_ - f.touched) / kTouchGlow);
      const uint32_t rgb = glow > 0 ? mix(f.rgb, 0xFFFFFF, std::round(glow * 4) / 4 * 0.6) : f.rgb;
      batches[rgba(rgb, alpha)].push_back({static_cast<float>(p.x), static_cast<float>(p.y), r});
    }
    for (auto& [paint, circles] : batches) s.files.push_back({paint, std::move(circles)});
  }

  if (!opts_.hide.users) {
    struct Beam {
      double start;
      size_t user, action;
      bool operator<(const Beam& o) const {
        return start != o.start ? start > o.start : (user != o.user ? user < o.user : action < o.action);
      }
    };
    std::vector<Beam> wanted;
    CircleBatch rims{rgba(0x000000, 0.6), {}};
    std::map<Rgba, std::vector<Circle>> bodies;
    const float ur = static_cast<float>(std::clamp(12 * z, 5.0, 22.0));
    for (size_t ui = 0; ui < users_.size(); ++ui) {
      const User& u = users_[ui];
      if (!u.used) continue;
      const double idle = t_ - u.last_active - kUserIdle;
      const double alpha = quantise_alpha(idle > 0 ? 1 - idle / kUserFade : 1.0);
      if (alpha <= 0) continue;
      const Vec2 up = proj(u.pos);
      // Only the latest beams of a busy uploader: a thousand-file upload
      // would otherwise draw a thousand lines for a second.
      const size_t first = u.actions.size() > kMaxVisibleBeams ? u.actions.size() - kMaxVisibleBeams : 0;
      for (size_t ai = first; ai < u.actions.size(); ++ai) wanted.push_back({u.actions[ai].start, ui, ai});
      if (!visible(up, ur + 2)) continue;
      rims.circles.push_back({static_cast<float>(up.x), static_cast<float>(up.y), ur + 1.5f});
      bodies[rgba(u.rgb, alpha)].push_back({static_cast<float>(up.x), static_cast<float>(up.y), ur});
      if (!opts_.hide.usernames)
        s.labels.push_back({u.name, static_cast<float>(up.x), static_cast<float>(up.y + ur + 3), fs, true,
                            Align::Centre, rgba(0xFFFFFF, alpha)});
    }
    // And the latest beams of all: a busy frame stays readable and cheap.
    if (wanted.size() > kMaxBeams) {
      std::nth_element(wanted.begin(), wanted.begin() + kMaxBeams, wanted.end());
      wanted.resize(kMaxBeams);
    }
    std::sort(wanted.begin(), wanted.end());
    std::map<Rgba, std::vector<Segment>> beams;
    for (const Beam& b : wanted) {
      const User& u = users_[b.user];
      const Action& a = u.actions[b.action];
      const File& f = files_[a.file];
      if (!f.used || f.gen != a.gen) continue;
      const double ba = quantise_alpha(0.8 * (1 - (t_ - a.start) / kBeamTime));
      if (ba <= 0) continue;
      const Vec2 up = proj(u.pos), fp = proj(file_pos(f));
      beams[rgba(action_colour(a.kind), ba)].push_back(
          {static_cast<float>(up.x), static_cast<float>(up.y), static_cast<float>(fp.x), static_cast<float>(fp.y)});
    }
    for (auto& [paint, segs] : beams) s.beams.push_back({paint, static_cast<float>(std::clamp(1.5 * z, 1.0, 2.5)), std::move(segs)});
    if (!rims.circles.empty()) s.users.push_back(std::move(rims));
    for (auto& [paint, circles] : bodies) s.users.push_back({paint, std::move(circles)});
  }

  if (!opts_.hide.dirnames) {
    size_t count = 0;
    for (size_t k = 1; k < layout_order_.size(); ++k) {
      const Dir& d = dirs_[layout_order_[k]];
      // Deep directories are named only when they are big enough on screen.
      if (d.depth > 2 && d.radius * z < 24) continue;
      const Vec2 p = proj(d.pos);
      if (!visible(p, 100)) continue;
      if (++count > 300) break;
      s.labels.push_back({d.name, static_cast<float>(p.x), static_cast<float>(p.y - small / 2.0), small, false,
                          Align::Centre, rgba(0xFFFFFF, 0.75)});
    }
  }

  if (!opts_.hide.filenames && !opts_.hide.files) {
    // Names of the most recently touched files only: a busy log touches
    // thousands of files within the name's lifetime, and a wall of
    // overlapping names is neither legible nor cheap.
    std::vector<std::pair<double, int>> recent;
    for (size_t i = 0; i < files_.size(); ++i) {
      const File& f = files_[i];
      if (f.used && t_ - f.touched < kFilenameTime) recent.push_back({-f.touched, static_cast<int>(i)});
    }
    if (recent.size() > kMaxFileLabels) {
      std::nth_element(recent.begin(), recent.begin() + kMaxFileLabels, recent.end());
      recent.resize(kMaxFileLabels);
    }
    std::sort(recent.begin(), recent.end());
    for (auto it = recent.rbegin(); it != recent.rend(); ++it) {
      const File& f = files_[it->second];
      double alpha = std::min(1.0, kFilenameTime - (t_ - f.touched));
      if (f.removing >= 0) alpha = std::min(alpha, 1 - (t_ - f.removing) / kFadeOut);
      alpha = quantise_alpha(alpha);
      if (alpha <= 0) continue;
      const Vec2 p = proj(file_pos(f));
      if (!visible(p, 50)) continue;
      s.labels.push_back({f.name, static_cast<float>(p.x + std::max(kFileRadius * z, 1.2) + 2),
                          static_cast<float>(p.y - small / 2.0), small, false, Align::Left, rgba(0xFFFFFF, alpha)});
    }
  }

  if (!opts_.hide.date) {
    char buf[256];
    std::time_t tt = static_cast<std::time_t>(std::floor(log_t_));
    std::tm tm{};
    gmtime_r(&tt, &tm);
    const size_t n = std::strftime(buf, sizeof buf, opts_.date_format.c_str(), &tm);
    if (n > 0) s.labels.push_back({std::string(buf, n), static_cast<float>(W / 2), 12.0f, fs + 4, false,
                                   Align::Centre, rgba(0xFFFFFF, 1.0)});
  }
  if (!opts_.title.empty())
    s.labels.push_back({opts_.title, 12.0f, static_cast<float>(H - (fs + 6) - 12), fs + 6, true, Align::Left,
                        rgba(0xFFFFFF, 1.0)});
  if (opts_.key) {
    std::vector<std::pair<int, std::string>> keys;
    for (const auto& [ext, v] : ext_key_) keys.push_back({-v.first, ext});
    std::sort(keys.begin(), keys.end());
    const int row = fs + 6;
    const int rows = std::max(0, static_cast<int>((H - 80) / row));
    CircleBatch swatch;
    std::map<Rgba, std::vector<Circle>> sw;
    for (int i = 0; i < rows && i < static_cast<int>(keys.size()); ++i) {
      const auto& [neg, ext] = keys[i];
      const float y = static_cast<float>(48 + i * row);
      sw[rgba(ext_key_.at(ext).second, 1.0)].push_back({18.0f, y + fs / 2.0f, fs / 2.6f});
      s.labels.push_back({(ext.empty() ? std::string("(none)") : "." + ext) + "  " + std::to_string(-neg), 30.0f,
                          y, fs - 2, false, Align::Left, rgba(0xFFFFFF, 0.9)});
    }
    for (auto& [paint, circles] : sw) s.hud_shapes.push_back({paint, std::move(circles)});
  }
  return s;
}

}  // namespace upviz::render
