#include "upviz/render/gource_log.h"

#include <cctype>
#include <climits>

#include "util/calendar.h"

namespace upviz::render {
namespace {

using nfemu::days_from_civil;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `i`.
bool digits(std::string_view s, size_t& i, size_t n, int& out) {
  if (i + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    if (!is_digit(s[i + k])) return false;
    v = v * 10 + (s[i + k] - '0');
  }
  out = v;
  i += n;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Gource reads the colour with "%02x%02x%02x": three fields of one or two
// hex digits. We accept the common spellings of that: six hex digits, with
// an optional '#'.
std::optional<uint32_t> parse_colour(std::string_view s) {
  if (!s.empty() && s[0] == '#') s.remove_prefix(1);
  if (s.size() < 6) return std::nullopt;
  uint32_t v = 0;
  for (size_t i = 0; i < 6; ++i) {
    int h = hex_value(s[i]);
    if (h < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint32_t>(h);
  }
  return v;
}

}  // namespace

std::optional<int64_t> parse_datetime(std::string_view s) {
  size_t i = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, i, 4, y) || i >= s.size() || s[i++] != '-') return std::nullopt;
  if (!digits(s, i, 2, mo) || i >= s.size() || s[i++] != '-') return std::nullopt;
  if (!digits(s, i, 2, d)) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  if (i < s.size() && (s[i] == ' ' || s[i] == 'T') && i + 1 < s.size() && is_digit(s[i + 1])) {
    ++i;
    // Hours may have one digit, as in gource's regex.
    size_t start = i;
    while (i < s.size() && is_digit(s[i]) && i - start < 2) h = h * 10 + (s[i++] - '0');
    if (i == start || i >= s.size() || s[i++] != ':') return std::nullopt;
    if (!digits(s, i, 2, mi)) return std::nullopt;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!digits(s, i, 2, sec)) return std::nullopt;
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  int64_t offset = 0;
  if (i < s.size() && s[i] == ' ') ++i;
  if (i < s.size()) {
    if (s[i] == 'Z' && i + 1 == s.size()) {
      ++i;
    } else if (s[i] == '+' || s[i] == '-') {
      const int sign = s[i++] == '-' ? -1 : 1;
      int th = 0, tm = 0;
      size_t start = i;
      while (i < s.size() && is_digit(s[i]) && i - start < 2) th = th * 10 + (s[i++] - '0');
      if (i == start) return std::nullopt;
      if (i < s.size() && s[i] == ':') ++i;
      if (i < s.size() && !digits(s, i, 2, tm)) return std::nullopt;
      if (th > 14 || tm > 59) return std::nullopt;
      offset = sign * (th * 3600 + tm * 60);
    }
  }
  if (i != s.size()) return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
         h * 3600 + mi * 60 + sec - offset;
}

std::optional<int64_t> parse_log_timestamp(std::string_view s) {
  if (s.size() > 1 && s.find('-', 1) != std::string_view::npos) return parse_datetime(s);
  // atoll: leading blanks, a sign, digits; the rest is ignored.
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  int64_t v = 0;
  bool any = false;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    any = true;
    if (v > (INT64_MAX - 9) / 10) return std::nullopt;  // out of range: reject, not wrap
    v = v * 10 + (s[i] - '0');
  }
  if (!any) return std::nullopt;
  if (v == 0 && s != "0") return std::nullopt;
  return neg ? -v : v;
}

bool parse_log_line(std::string_view line, LogLine& out) {
  std::string_view parts[6];
  size_t n = 0;
  size_t start = 0;
  for (;;) {
    size_t bar = line.find('|', start);
    if (n < 6) parts[n] = line.substr(start, bar == std::string_view::npos ? bar : bar - start);
    ++n;
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  if (n < 4) return false;
  auto t = parse_log_timestamp(parts[0]);
  if (!t) return false;
  out.time = *t;
  out.user = parts[1].empty() ? std::string_view("Unknown") : parts[1];
  std::string_view action = parts[2].empty() ? std::string_view("A") : parts[2];
  out.action = (action == "A" || action == "D") ? action[0] : 'M';
  out.path = parts[3];
  // An empty path or one ending in '/' names no file.
  if (out.path.empty() || out.path.back() == '/') return false;
  out.has_colour = false;
  if (n >= 5 && !parts[4].empty()) {
    if (auto c = parse_colour(parts[4])) {
      out.has_colour = true;
      out.rgb = *c;
    }
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

bool LogReader::read_line(std::string& line) {
  if (!std::getline(in_, line)) return false;
  bytes_ += line.size() + 1;
  ++line_no_;
  if (line_no_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

bool LogReader::next(Commit& out) {
  out.files.clear();
  out.user.clear();
  std::string line;
  LogLine parsed;
  for (;;) {
    int64_t this_line;
    if (has_pending_) {
      line.swap(pending_);
      has_pending_ = false;
      this_line = pending_line_;
    } else {
      if (!read_line(line)) break;
      this_line = line_no_;
    }
    if (line.empty()) continue;
    if (!parse_log_line(line, parsed)) {
      ++bad_;
      if (first_bad_.size() < kMaxReportedBadLines) first_bad_.push_back(this_line);
      // Gource ends the commit being gathered at a line it cannot read.
      if (!out.files.empty()) break;
      continue;
    }
    std::string user = sanitize_utf8(parsed.user);
    if (out.files.empty()) {
      out.time = parsed.time;
      out.user = std::move(user);
      out.line = this_line;
    } else if (parsed.time != out.time || user != out.user) {
      pending_.swap(line);
      has_pending_ = true;
      pending_line_ = this_line;
      break;
    }
    CommitFile f;
    f.path = sanitize_utf8(parsed.path);
    if (f.path[0] != '/') f.path.insert(0, 1, '/');
    f.action = parsed.action;
    f.has_colour = parsed.has_colour;
    f.rgb = parsed.rgb;
    out.files.push_back(std::move(f));
  }
  return !out.files.empty();
}

}  // namespace upviz::render
