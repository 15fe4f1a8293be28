#include "verify/compare.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "verify/compare_internal.h"

namespace nfemu::verify {

namespace fs = std::filesystem;

namespace {

// Relative paths of the regular files under root, or why they cannot be listed.
Result<std::set<std::string>> list_files(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return make_error(fmt::format("{}: not a directory", root));
  std::set<std::string> out;
  fs::recursive_directory_iterator it(root, ec), end;
  if (ec) return make_error(fmt::format("{}: {}", root, ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return make_error(fmt::format("{}: {}", root, ec.message()));
    if (it->is_regular_file(ec)) out.insert(fs::relative(it->path(), root, ec).generic_string());
  }
  if (ec) return make_error(fmt::format("{}: {}", root, ec.message()));
  return out;
}

Result<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("{}: cannot open file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(fmt::format("{}: read error", path));
  return ss.str();
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_normalised_text(std::string_view rel) {
  size_t slash = rel.rfind('/');
  std::string_view name = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
  return name == "kern.log" || name == "conntrack.txt" || name == "conntrack-events.txt" ||
         name == "iptables-save.txt";
}

struct FileOutcome {
  bool equal = true;
  std::string summary;
  std::string body;
};

Result<FileOutcome> compare_file(const std::string& rel, const std::string& lpath, const std::string& rpath) {
  detail::Normalized l, r;
  if (ends_with(rel, ".pcap")) {
    auto a = detail::normalize_pcap(lpath);
    if (!a) return a.error();
    auto b = detail::normalize_pcap(rpath);
    if (!b) return b.error();
    l = std::move(*a);
    r = std::move(*b);
  } else {
    auto a = slurp(lpath);
    if (!a) return a.error();
    auto b = slurp(rpath);
    if (!b) return b.error();
    if (!is_normalised_text(rel)) {
      if (*a == *b) return FileOutcome{};
      if (a->find('\0') != std::string::npos || b->find('\0') != std::string::npos)
        return FileOutcome{false, "binary files differ", "binary files differ\n"};
    }
    l = detail::normalize_text(rel, *a);
    r = detail::normalize_text(rel, *b);
  }
  detail::DiffResult d = detail::diff(l, r);
  if (d.equal) return FileOutcome{};
  size_t total = std::max(l.blocks.size(), r.blocks.size());
  std::string summary = fmt::format("{} of {} {} differ", d.differing, total, l.unit);
  if (l.blocks.size() != r.blocks.size()) summary += fmt::format(" ({} vs {})", l.blocks.size(), r.blocks.size());
  return FileOutcome{false, summary, d.text};
}

}  // namespace

Result<Comparison> compare_dirs(const std::string& left, const std::string& right, const CompareOptions& opts) {
  auto lfiles = list_files(left);
  if (!lfiles) return lfiles.error();
  auto rfiles = list_files(right);
  if (!rfiles) return rfiles.error();
  std::set<std::string> all = *lfiles;
  all.insert(rfiles->begin(), rfiles->end());

  Comparison out;
  out.files = all.size();
  for (const auto& rel : all) {
    std::string header = fmt::format("--- {}/{}\n+++ {}/{}\n", opts.left_label, rel, opts.right_label, rel);
    bool in_left = lfiles->count(rel) != 0, in_right = rfiles->count(rel) != 0;
    FileOutcome o;
    if (!in_right) {
      o = {false, fmt::format("missing in {}", opts.right_label), ""};
    } else if (!in_left) {
      o = {false, fmt::format("only in {}", opts.right_label), ""};
    } else {
      auto c = compare_file(rel, left + "/" + rel, right + "/" + rel);
      if (!c) return c.error();
      o = std::move(*c);
    }
    if (o.equal) continue;
    out.agree = false;
    out.differences.push_back({rel, o.summary});
    out.diff += header;
    out.diff += o.body.empty() ? fmt::format("({})\n", o.summary) : o.body;
  }
  return out;
}

}  // namespace nfemu::verify
