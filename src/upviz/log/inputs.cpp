#include "upviz/log/inputs.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "upviz/log/changelog.h"
#include "upviz/log/csv.h"
#include "upviz/log/decompress.h"
#include "upviz/log/gource.h"

namespace upviz::log {

namespace fs = std::filesystem;

void append_changelog_uploads(std::string_view text, std::string_view file,
                              std::vector<Upload>& out, Diagnostics& diag) {
  std::vector<ChangelogEntry> entries = parse_changelog(text, file, diag);
  diag.count("changelog entries", static_cast<int64_t>(entries.size()));
  if (entries.empty()) return;
  const std::string lineage = entries.front().source;
  for (ChangelogEntry& e : entries) {
    Upload u;
    u.time = e.time;
    // Some ancient trailers carry only an address.
    u.user = e.name.empty() ? e.email : e.name;
    if (u.user.empty()) {
      diag.skip(file, e.line, "empty uploader",
                fmt::format("{} ({})", e.source, e.version));
      continue;
    }
    u.source = std::move(e.source);
    u.version = std::move(e.version);
    u.lineage = lineage;
    out.push_back(std::move(u));
  }
}

namespace {

// Texts already read, by hash: the binaries of one source often ship
// byte-identical copies of its changelog, not links. Reading each once keeps
// the warnings single and the run short; (source, version) de-duplication
// would drop the uploads anyway.
using SeenTexts = std::unordered_multimap<size_t, std::string>;

bool seen_before(SeenTexts& seen, std::string&& text) {
  size_t h = std::hash<std::string>{}(text);
  auto [b, e] = seen.equal_range(h);
  for (auto it = b; it != e; ++it)
    if (it->second == text) return true;
  seen.emplace(h, std::move(text));
  return false;
}

nfemu::Result<void> read_one_changelog(const fs::path& p, bool must_be_debian,
                                       std::vector<Upload>& out, Diagnostics& diag,
                                       SeenTexts& seen) {
  auto text = read_file(p.string());
  if (!text) {
    diag.skip(p.string(), 0, "unreadable changelog", text.error().message);
    return {};
  }
  if (must_be_debian && !looks_like_debian_changelog(*text)) {
    diag.count("upstream changelogs ignored");
    return {};
  }
  if (seen_before(seen, std::string(*text))) {
    diag.count("changelog files seen twice (link or copy)");
    return {};
  }
  diag.count("changelog files");
  append_changelog_uploads(*text, p.string(), out, diag);
  return {};
}

// Within one doc directory: changelog.Debian[.gz], else a changelog[.gz]
// that is in Debian format (native packages ship only that one).
std::vector<std::pair<fs::path, bool>> changelogs_in(const fs::path& dir) {
  std::vector<std::pair<fs::path, bool>> found;
  std::error_code ec;
  for (const char* name : {"changelog.Debian.gz", "changelog.Debian"}) {
    if (fs::is_regular_file(dir / name, ec)) {
      found.emplace_back(dir / name, false);
      return found;
    }
  }
  for (const char* name : {"changelog.gz", "changelog"}) {
    if (fs::is_regular_file(dir / name, ec)) {
      found.emplace_back(dir / name, true);
      return found;
    }
  }
  return found;
}

}  // namespace

nfemu::Result<void> read_input(InputKind kind, const std::string& path,
                               std::vector<Upload>& out, Diagnostics& diag) {
  if (kind != InputKind::kChangelogs) {
    std::error_code ec;
    if (path != "-" && fs::is_directory(path, ec))
      return nfemu::make_error(fmt::format("{}: is a directory", path));
    auto text = read_file(path);
    if (!text) return nfemu::make_error(fmt::format("{}: {}", path, text.error().message));
    diag.count(kind == InputKind::kUdd ? "gource log files" : "csv files");
    size_t before = out.size();
    std::vector<Upload> ups = kind == InputKind::kUdd
                                  ? read_gource_log(*text, path, diag)
                                  : read_upload_history_csv(*text, path, diag);
    out.insert(out.end(), std::make_move_iterator(ups.begin()),
               std::make_move_iterator(ups.end()));
    diag.count(kind == InputKind::kUdd ? "gource log uploads" : "csv uploads",
               static_cast<int64_t>(out.size() - before));
    return {};
  }

  std::error_code ec;
  fs::path root(path);
  if (!fs::exists(root, ec))
    return nfemu::make_error(fmt::format("{}: no such file or directory", path));
  if (!fs::is_directory(root, ec)) {
    diag.count("changelog files");
    auto text = read_file(path);
    if (!text) return nfemu::make_error(fmt::format("{}: {}", path, text.error().message));
    append_changelog_uploads(*text, path, out, diag);
    return {};
  }
  // One level down, sorted so that output never depends on readdir order.
  std::vector<fs::path> dirs{root};
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory(ec)) dirs.push_back(e.path());
  if (ec) return nfemu::make_error(fmt::format("{}: {}", path, ec.message()));
  std::sort(dirs.begin() + 1, dirs.end());
  // /usr/share/doc/foo is often a symlink to /usr/share/doc/foo-common, and
  // changelogs are symlinked across packages of one source: read each real
  // file once. Copies that are not links are caught by the (source,
  // version) de-duplication later.
  std::set<fs::path> seen;
  SeenTexts texts;
  for (const fs::path& d : dirs) {
    for (const auto& [file, must_be_debian] : changelogs_in(d)) {
      fs::path real = fs::canonical(file, ec);
      if (ec) real = file;
      if (!seen.insert(real).second) {
        diag.count("changelog files seen twice (link or copy)");
        continue;
      }
      (void)read_one_changelog(file, must_be_debian, out, diag, texts);
    }
  }
  return {};
}

}  // namespace upviz::log
