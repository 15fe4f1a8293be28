#include "upviz/log/gource.h"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace upviz::log {

using nfemu::make_error;

nfemu::Result<GourceRecord> parse_gource_line(std::string_view line) {
  while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string_view> f;
  std::vector<int> cols;
  size_t start = 0;
  while (true) {
    size_t bar = line.find('|', start);
    f.push_back(line.substr(start, bar == std::string_view::npos ? std::string_view::npos
                                                                 : bar - start));
    cols.push_back(static_cast<int>(start) + 1);
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  if (f.size() < 4)
    return make_error(fmt::format("expected 4 fields 'time|user|type|path', found {}", f.size()),
                      0, 1);
  if (f.size() > 5)
    return make_error(fmt::format("expected at most 5 fields, found {} (a '|' inside a name?)",
                                  f.size()),
                      0, cols[5]);
  GourceRecord r;
  std::string_view ts = f[0];
  while (!ts.empty() && ts.front() == ' ') ts.remove_prefix(1);
  while (!ts.empty() && ts.back() == ' ') ts.remove_suffix(1);
  auto [p, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), r.time);
  if (ts.empty() || ec != std::errc() || p != ts.data() + ts.size())
    return make_error(fmt::format("bad timestamp '{}'", f[0]), 0, cols[0]);
  r.user = std::string(f[1]);
  if (f[2].size() != 1 || (f[2][0] != 'A' && f[2][0] != 'M' && f[2][0] != 'D'))
    return make_error(fmt::format("bad type '{}': want A, M or D", f[2]), 0, cols[2]);
  r.type = f[2][0];
  r.path = std::string(f[3]);
  if (r.path.empty()) return make_error("empty path", 0, cols[3]);
  if (f.size() == 5) r.colour = std::string(f[4]);
  return r;
}

std::string format_gource_line(int64_t time, std::string_view user, char type,
                               std::string_view path) {
  return fmt::format("{}|{}|{}|{}", time, user, type, path);
}

std::vector<Upload> read_gource_log(std::string_view text, std::string_view file,
                                    Diagnostics& diag) {
  std::vector<Upload> out;
  int lineno = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    if (line.empty() || line == "\r") continue;
    auto r = parse_gource_line(line);
    if (!r) {
      diag.skip(file, lineno, "malformed gource line", r.error().message);
      continue;
    }
    std::string_view user = r->user;
    while (!user.empty() && user.front() == ' ') user.remove_prefix(1);
    if (user.empty()) {
      // As the original pipeline did: an upload without uploader is noise.
      diag.skip(file, lineno, "empty uploader");
      continue;
    }
    std::string_view path = r->path;
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    size_t slash = path.rfind('/');
    if (slash != std::string_view::npos) path = path.substr(slash + 1);
    if (path.empty()) {
      diag.skip(file, lineno, "malformed gource line", "empty package name");
      continue;
    }
    Upload u;
    u.time = r->time;
    u.user = std::move(r->user);
    u.source = std::string(path);
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace upviz::log
