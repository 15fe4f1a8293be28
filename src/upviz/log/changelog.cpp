#include "upviz/log/changelog.h"

#include <cctype>
#include <optional>

#include <fmt/format.h>

#include "upviz/log/text.h"

namespace upviz::log {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view strip(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool is_name_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '-' || c == '+' || c == '.' || c == '_';
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool starts_with_nocase(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (size_t i = 0; i < p.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(p[i])))
      return false;
  return true;
}

// Markers after which dpkg stops reading: the rest is free-form history or
// editor configuration, not entries.
bool is_end_marker(std::string_view line) {
  std::string_view l = line;
  if (starts_with(l, ";;")) {
    l.remove_prefix(2);
    while (!l.empty() && is_blank(l.front())) l.remove_prefix(1);
  }
  return starts_with_nocase(l, "local variables:") || starts_with(line, "vim:") ||
         starts_with(line, "# vim:") || starts_with_nocase(line, "old changelog:") ||
         starts_with(line, "Changes from version ");
}

// GNU-style ChangeLog entries ("Thu Sep  1 12:21:11 1994  Ian Murdock
// (imurdock@...)") start the pre-Debian history dpkg does not parse either.
bool is_ancient_entry(std::string_view line) {
  // "Www Mmm DD HH:MM:SS " with the day one or two digits after blanks.
  auto alpha = [&](size_t i) { return i < line.size() && std::isalpha(static_cast<unsigned char>(line[i])); };
  auto digit = [&](size_t i) { return i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); };
  if (!(alpha(0) && alpha(1) && alpha(2)) || line.size() < 4 || line[3] != ' ') return false;
  if (!(alpha(4) && alpha(5) && alpha(6))) return false;
  size_t i = 7;
  if (i >= line.size() || line[i] != ' ') return false;
  while (i < line.size() && line[i] == ' ') ++i;
  size_t d = i;
  while (digit(i)) ++i;
  if (i - d < 1 || i - d > 2 || i >= line.size() || line[i] != ' ') return false;
  ++i;
  size_t h = i;
  while (digit(i)) ++i;
  if (i - h < 1 || i - h > 2) return false;
  return line.size() >= i + 7 && line[i] == ':' && digit(i + 1) && digit(i + 2) &&
         line[i + 3] == ':' && digit(i + 4) && digit(i + 5) && line[i + 6] == ' ';
}

// RCS keyword lines ("$Id: ... $") are noise dpkg ignores.
bool is_rcs_keyword(std::string_view line) {
  line = strip(line);
  if (line.size() < 3 || line.front() != '$' || line.back() != '$') return false;
  size_t i = 1;
  while (i < line.size() && std::isalpha(static_cast<unsigned char>(line[i]))) ++i;
  return i > 1 && i < line.size() && line[i] == ':';
}

// A trailer: " -- Name <email>  date". dpkg wants exactly one leading
// space and two before the date; we take any blanks and say when the
// shape is off so the user can fix the file.
// Deeper indentation is change text ("    -- see below"), unless it parses
// as a complete trailer.
bool looks_like_trailer(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;  // a tab indents change text
  return i <= 2 && line.substr(i, 2) == "--" && (i + 2 == line.size() || is_blank(line[i + 2]));
}

struct Trailer {
  std::string name, email;
  int64_t time = 0;
  bool odd_shape = false;
};

std::optional<std::string> parse_trailer(std::string_view line, Trailer& t) {
  t.odd_shape = !starts_with(line, " -- ");
  size_t i = line.find("--");
  std::string_view rest = line.substr(i + 2);
  size_t lt = rest.find('<');
  size_t gt = lt == std::string_view::npos ? std::string_view::npos : rest.find('>', lt);
  if (gt == std::string_view::npos) return std::string("no <email> in trailer line");
  t.name = std::string(strip(rest.substr(0, lt)));
  t.email = std::string(strip(rest.substr(lt + 1, gt - lt - 1)));
  std::string_view after = rest.substr(gt + 1);
  size_t blanks = 0;
  while (blanks < after.size() && is_blank(after[blanks])) ++blanks;
  if (blanks != 2) t.odd_shape = true;
  std::string_view date = strip(after);
  if (date.empty()) return std::string("no date in trailer line");
  auto r = parse_rfc2822_date(date);
  if (!r) return fmt::format("bad date '{}': {}", date, r.error().message);
  t.time = *r;
  return std::nullopt;
}

}  // namespace

bool parse_changelog_header(std::string_view line, ChangelogHeader& out) {
  line = strip(line);
  size_t i = 0;
  if (line.empty() || !std::isalnum(static_cast<unsigned char>(line[0]))) return false;
  while (i < line.size() && is_name_char(line[i])) ++i;
  std::string_view source = line.substr(0, i);
  while (i < line.size() && is_blank(line[i])) ++i;
  if (i == source.size() || i >= line.size() || line[i] != '(') return false;
  size_t close = line.find(')', i);
  if (close == std::string_view::npos) return false;
  std::string_view version = line.substr(i + 1, close - i - 1);
  if (version.empty()) return false;
  for (char c : version)
    if (is_blank(c) || c == '(') return false;
  size_t semi = line.find(';', close);
  std::string_view dists =
      strip(line.substr(close + 1, semi == std::string_view::npos ? std::string_view::npos
                                                                  : semi - close - 1));
  // dpkg wants "; urgency=..." after the distributions, but the oldest
  // entries have "dpkg (1.2.12); priority=LOW" or a bare "gmp (1.3.2-1)";
  // a trailer must still follow for either to count as an upload.
  for (char c : dists)
    if (!is_name_char(c) && !is_blank(c) && c != '/') return false;
  out.source = std::string(source);
  out.version = std::string(version);
  out.distributions = std::string(dists);
  out.options = semi == std::string_view::npos ? std::string()
                                               : std::string(strip(line.substr(semi + 1)));
  out.conforming = semi != std::string_view::npos && !dists.empty();
  return true;
}

bool looks_like_debian_changelog(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!strip(line).empty()) {
      ChangelogHeader h;
      return !is_blank(line[0]) && parse_changelog_header(line, h) && h.conforming;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return false;
}

std::vector<ChangelogEntry> parse_changelog(std::string_view text, std::string_view file,
                                            Diagnostics& diag) {
  std::vector<ChangelogEntry> out;
  std::optional<ChangelogEntry> cur;
  // One warning per stretch of stray text (up to the next header): old
  // changelogs end with pages of free-form history.
  bool in_garbage = false;
  int lineno = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    if (strip(line).empty()) continue;
    if (is_end_marker(line)) {
      if (cur)
        diag.skip(file, cur->line, "changelog entry without trailer",
                  fmt::format("{} ({})", cur->source, cur->version));
      cur.reset();
      diag.count("changelog lines after end marker", 1);
      break;
    }
    if (is_rcs_keyword(line)) continue;

    ChangelogHeader h;
    if (!is_blank(line[0]) && parse_changelog_header(line, h)) {
      if (cur)
        diag.skip(file, cur->line, "changelog entry without trailer",
                  fmt::format("{} ({})", cur->source, cur->version));
      cur = ChangelogEntry{};
      cur->source = std::move(h.source);
      cur->version = std::move(h.version);
      cur->distributions = std::move(h.distributions);
      cur->options = std::move(h.options);
      cur->line = lineno;
      in_garbage = false;
      continue;
    }
    if (looks_like_trailer(line)) {
      if (!cur) {
        diag.skip(file, lineno, "changelog trailer without header");
        continue;
      }
      Trailer t;
      if (auto err = parse_trailer(line, t)) {
        diag.skip(file, lineno, "bad changelog trailer",
                  fmt::format("{} ({}): {}", cur->source, cur->version, *err));
        cur.reset();
        continue;
      }
      if (t.odd_shape) {
        diag.warn(file, lineno, "badly formatted trailer line (want ' -- NAME <EMAIL>  DATE'); used anyway");
        diag.count("changelog trailers badly formatted");
      }
      cur->name = std::move(t.name);
      cur->email = std::move(t.email);
      cur->time = t.time;
      out.push_back(std::move(*cur));
      cur.reset();
      continue;
    }
    if (cur) continue;  // change text, indented or not, belongs to the entry
    if (line[0] == '#') {
      // debhelper's "# Older entries have been removed from this changelog."
      diag.count("changelog comment lines");
      continue;
    }
    if (is_ancient_entry(line)) {
      diag.count("changelog lines after end marker", 1);
      break;
    }
    diag.count("changelog lines outside entries");
    if (!in_garbage) {
      diag.skip(file, lineno, "changelog text outside an entry",
                fmt::format("'{}'", strip(line).substr(0, 60)));
      in_garbage = true;
    }
  }
  if (cur)
    diag.skip(file, cur->line, "changelog entry without trailer",
              fmt::format("{} ({})", cur->source, cur->version));
  return out;
}

}  // namespace upviz::log
