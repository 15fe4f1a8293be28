#include "upviz/log/sections.h"

#include <array>
#include <cctype>
#include <vector>

#include <fmt/format.h>

namespace upviz::log {

namespace {

std::string_view strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Sections that say little about what a source is: a source that builds a
// library, its -dev and its docs is better shown under "libs".
bool is_minor_section(std::string_view section) {
  size_t slash = section.rfind('/');
  std::string_view s = slash == std::string_view::npos ? section : section.substr(slash + 1);
  static constexpr std::array<std::string_view, 4> kMinor = {"libdevel", "doc", "debug",
                                                            "oldlibs"};
  for (auto m : kMinor)
    if (s == m) return true;
  return false;
}

}  // namespace

void SectionMap::add_binary(std::string_view binary, std::string_view source,
                            std::string_view section) {
  section = strip(section);
  source = strip(source);
  size_t paren = source.find(' ');
  if (paren != std::string_view::npos) source = source.substr(0, paren);
  if (source.empty()) source = binary;
  if (section.empty() || binary.empty()) return;
  std::string key = std::string(binary) + '\0' + std::string(section);
  if (!seen_.insert(std::move(key)).second) return;
  ++binaries_;
  auto it = by_source_.find(source);
  if (it == by_source_.end()) it = by_source_.emplace(std::string(source), Info{}).first;
  Info& info = it->second;
  ++info.counts[std::string(section)];
  if (binary == source && !info.own_from_sources) info.own = std::string(section);
}

void SectionMap::add_source(std::string_view source, std::string_view section) {
  section = strip(section);
  source = strip(source);
  if (source.empty() || section.empty()) return;
  auto it = by_source_.find(source);
  if (it == by_source_.end()) it = by_source_.emplace(std::string(source), Info{}).first;
  it->second.own = std::string(section);
  it->second.own_from_sources = true;
}

std::optional<std::string> SectionMap::lookup(std::string_view source) const {
  auto it = by_source_.find(source);
  if (it == by_source_.end()) return std::nullopt;
  const Info& info = it->second;
  if (!info.own.empty()) return info.own;
  const std::string* best = nullptr;
  int64_t best_n = 0;
  for (const auto& [section, n] : info.counts) {  // alphabetical order
    if (!best) {
      best = &section;
      best_n = n;
      continue;
    }
    bool better = n > best_n ||
                  (n == best_n && is_minor_section(*best) && !is_minor_section(section));
    if (better) {
      best = &section;
      best_n = n;
    }
  }
  if (!best) return std::nullopt;
  return *best;
}

std::string apply_component_mode(std::string_view section, ComponentMode mode) {
  if (mode == ComponentMode::kStrip) {
    size_t slash = section.rfind('/');
    if (slash != std::string_view::npos) section = section.substr(slash + 1);
  }
  return std::string(section);
}

int64_t read_index(std::string_view text, std::string_view file, SectionMap& map,
                   Diagnostics& diag) {
  int64_t used = 0;
  struct Stanza {
    std::string package, source, section;
    bool is_source = false;
    int line = 0;
  } st;
  auto flush = [&]() {
    if (st.line == 0) return;
    if (st.package.empty()) {
      diag.skip(file, st.line, "index stanza without Package field");
    } else if (st.section.empty()) {
      // Common and harmless (e.g. some binaries in Packages lack a Section);
      // count it without a warning per stanza.
      diag.count("index stanzas without Section");
    } else {
      if (st.is_source)
        map.add_source(st.package, st.section);
      else
        map.add_binary(st.package, st.source, st.section);
      ++used;
    }
    st = Stanza{};
  };
  int lineno = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    if (strip(line).empty()) {
      flush();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t' || line[0] == '#') continue;  // continuation
    if (st.line == 0) st.line = lineno;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      diag.skip(file, lineno, "index line without ':'");
      continue;
    }
    std::string_view key = line.substr(0, colon);
    std::string_view value = strip(line.substr(colon + 1));
    if (key == "Package")
      st.package = std::string(value);
    else if (key == "Source")
      st.source = std::string(value);
    else if (key == "Section")
      st.section = std::string(value);
    else if (key == "Binary" || key == "Package-List")
      st.is_source = true;
  }
  flush();
  return used;
}

}  // namespace upviz::log
