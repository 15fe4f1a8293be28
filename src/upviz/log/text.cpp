#include "upviz/log/text.h"

#include <array>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace upviz::log {

using nfemu::make_error;
using nfemu::Result;

namespace {

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr std::array<unsigned, 12> kDays = {31, 28, 31, 30, 31, 30,
                                                    31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// A cursor over the date text; every reader returns false without moving
// on a mismatch.
struct Cursor {
  std::string_view s;
  size_t i = 0;

  bool done() const { return i >= s.size(); }
  char peek() const { return done() ? '\0' : s[i]; }
  void blanks() {
    while (!done() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i;
    return true;
  }
  // Exactly between min and max digits.
  bool number(int min, int max, int64_t& out) {
    size_t j = i;
    int64_t v = 0;
    while (j < s.size() && j - i < static_cast<size_t>(max) &&
           std::isdigit(static_cast<unsigned char>(s[j]))) {
      v = v * 10 + (s[j] - '0');
      ++j;
    }
    if (j - i < static_cast<size_t>(min)) return false;
    if (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) return false;
    out = v;
    i = j;
    return true;
  }
  std::string_view word() {
    size_t j = i;
    while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
    std::string_view w = s.substr(i, j - i);
    i = j;
    return w;
  }
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

int month_from_name(std::string_view w) {
  static constexpr std::array<std::string_view, 12> kFull = {
      "january", "february", "march",     "april",   "may",      "june",
      "july",    "august",   "september", "october", "november", "december"};
  for (int m = 0; m < 12; ++m) {
    if (iequals(w, kFull[m]) || iequals(w, kFull[m].substr(0, 3))) return m + 1;
  }
  if (iequals(w, "sept")) return 9;
  return 0;
}

bool is_weekday(std::string_view w) {
  static constexpr std::array<std::string_view, 7> kDays = {
      "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
  for (auto d : kDays)
    if (iequals(w, d) || iequals(w, d.substr(0, 3))) return true;
  return false;
}

// Zone names seen in old changelogs; numeric offsets are the norm.
bool zone_from_name(std::string_view w, int64_t& offset) {
  struct Zone {
    std::string_view name;
    int hours;
  };
  static constexpr std::array<Zone, 18> kZones = {{
      {"UT", 0}, {"UTC", 0}, {"GMT", 0}, {"Z", 0},
      {"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
      {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7},
      {"CET", 1}, {"CEST", 2}, {"MET", 1}, {"MEST", 2},
      {"BST", 1}, {"EET", 2},
  }};
  for (const auto& z : kZones) {
    if (iequals(w, z.name)) {
      offset = z.hours * 3600;
      return true;
    }
  }
  return false;
}

// [+-]HHMM, [+-]HH:MM or [+-]HH; sets seconds east of UTC.
bool numeric_zone(Cursor& c, bool allow_short, int64_t& offset) {
  size_t start = c.i;
  int sign = 0;
  if (c.eat('+'))
    sign = 1;
  else if (c.eat('-'))
    sign = -1;
  else
    return false;
  int64_t hh = 0, mm = 0;
  if (c.number(4, 4, hh)) {
    mm = hh % 100;
    hh /= 100;
  } else if (c.number(2, 2, hh)) {
    if (c.eat(':')) {
      if (!c.number(2, 2, mm)) {
        c.i = start;
        return false;
      }
    } else if (!allow_short) {
      c.i = start;
      return false;
    }
  } else {
    c.i = start;
    return false;
  }
  if (hh > 23 || mm > 59) {
    c.i = start;
    return false;
  }
  offset = sign * (hh * 3600 + mm * 60);
  return true;
}

Result<int64_t> combine(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi,
                        int64_t sec, int64_t offset) {
  if (mo < 1 || mo > 12) return make_error(fmt::format("month {} out of range", mo));
  if (y < 1 || y > 9999) return make_error(fmt::format("year {} out of range", y));
  if (d < 1 || d > days_in_month(y, static_cast<unsigned>(mo)))
    return make_error(fmt::format("day {} out of range", d));
  if (h > 23 || mi > 59 || sec > 60) return make_error("time of day out of range");
  return days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
         h * 3600 + mi * 60 + sec - offset;
}

}  // namespace

Result<int64_t> parse_rfc2822_date(std::string_view s) {
  Cursor c{s};
  c.blanks();
  // Optional weekday, with or without its comma.
  size_t save = c.i;
  std::string_view w = c.word();
  if (!w.empty()) {
    if (!is_weekday(w)) return make_error(fmt::format("'{}' is not a weekday", w));
    c.eat(',');
    c.blanks();
  } else {
    c.i = save;
  }
  int64_t day = 0, year = 0, h = 0, mi = 0, sec = 0;
  if (!c.number(1, 2, day)) return make_error("expected the day of the month");
  c.blanks();
  // "02-Jan-2006" appears in a few old trailers.
  bool dashed = c.eat('-');
  c.blanks();
  std::string_view mon = c.word();
  int month = month_from_name(mon);
  if (month == 0) return make_error(fmt::format("'{}' is not a month", mon));
  if (dashed && !c.eat('-')) return make_error("expected '-' after the month");
  c.blanks();
  if (c.number(4, 4, year)) {
  } else if (c.number(2, 2, year)) {
    year += year >= 50 ? 1900 : 2000;
  } else {
    return make_error("expected a year");
  }
  c.blanks();
  if (!c.number(1, 2, h) || !c.eat(':') || !c.number(2, 2, mi))
    return make_error("expected a time HH:MM:SS");
  if (c.eat(':') && !c.number(2, 2, sec)) return make_error("expected seconds");
  c.blanks();
  int64_t offset = 0;
  if (!numeric_zone(c, false, offset)) {
    std::string_view z = c.word();
    if (z.empty()) return make_error("expected a time zone");
    if (!zone_from_name(z, offset))
      return make_error(fmt::format("unknown time zone '{}'", z));
  }
  c.blanks();
  if (c.eat('(')) {
    while (!c.done() && c.peek() != ')') ++c.i;
    if (!c.eat(')')) return make_error("unterminated zone comment");
    c.blanks();
  }
  if (!c.done()) return make_error(fmt::format("trailing text '{}'", s.substr(c.i)));
  return combine(year, month, day, h, mi, sec, offset);
}

Result<int64_t> parse_iso_datetime(std::string_view s) {
  Cursor c{s};
  c.blanks();
  int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, offset = 0;
  if (!c.number(4, 4, y) || !c.eat('-') || !c.number(2, 2, mo) || !c.eat('-') ||
      !c.number(2, 2, d))
    return make_error("expected a date YYYY-MM-DD");
  if (c.eat('T') || c.eat(' ')) {
    if (!c.number(2, 2, h) || !c.eat(':') || !c.number(2, 2, mi))
      return make_error("expected a time HH:MM[:SS]");
    if (c.eat(':')) {
      if (!c.number(2, 2, sec)) return make_error("expected seconds");
      if (c.eat('.')) {
        int64_t frac = 0;
        if (!c.number(1, 9, frac)) return make_error("expected fractional seconds");
      }
    }
    c.blanks();
    if (c.eat('Z') || c.eat('z')) {
    } else if (c.peek() == '+' || c.peek() == '-') {
      if (!numeric_zone(c, true, offset)) return make_error("bad time zone");
    } else {
      std::string_view z = c.word();
      if (!z.empty() && !zone_from_name(z, offset))
        return make_error(fmt::format("unknown time zone '{}'", z));
    }
  }
  c.blanks();
  if (!c.done()) return make_error(fmt::format("trailing text '{}'", s.substr(c.i)));
  return combine(y, mo, d, h, mi, sec, offset);
}

Result<TimeSpec> parse_time_spec(std::string_view s) {
  std::string_view t = s;
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  std::string_view digits = t;
  if (!digits.empty() && digits.front() == '@') digits.remove_prefix(1);
  // A bare number of 4 digits or fewer is more likely a mistyped year than
  // a time in 1970, so seconds need more digits or an explicit '@'.
  if (!digits.empty() && (t.front() == '@' || digits.size() > 4)) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec == std::errc() && p == digits.data() + digits.size()) return TimeSpec{v, false};
  }
  if (auto iso = parse_iso_datetime(t); iso) return TimeSpec{*iso, t.size() == 10};
  if (auto rfc = parse_rfc2822_date(t); rfc) return TimeSpec{*rfc, false};
  return make_error(fmt::format(
      "'{}' is not a date: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[+ZZ:ZZ], "
      "an RFC 2822 date or UNIX seconds",
      s));
}

Result<std::pair<int64_t, int64_t>> parse_month(std::string_view s) {
  Cursor c{s};
  int64_t y = 0, m = 0;
  if (!c.number(4, 4, y) || !c.eat('-') || !c.number(2, 2, m) || !c.done() || m < 1 ||
      m > 12 || y < 1)
    return make_error(fmt::format("'{}' is not a month: use YYYY-MM", s));
  int64_t start = days_from_civil(y, static_cast<unsigned>(m), 1) * 86400;
  int64_t ny = m == 12 ? y + 1 : y;
  unsigned nm = m == 12 ? 1 : static_cast<unsigned>(m + 1);
  return std::pair{start, days_from_civil(ny, nm, 1) * 86400};
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

void append_latin1(std::string& out, unsigned char c) {
  out += static_cast<char>(0xC0 | (c >> 6));
  out += static_cast<char>(0x80 | (c & 0x3F));
}

}  // namespace

bool repair_utf8(std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) break;
    i += n;
  }
  if (i == s.size()) return false;
  std::string out = s.substr(0, i);
  while (i < s.size()) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) {
      append_latin1(out, static_cast<unsigned char>(s[i]));
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  s = std::move(out);
  return true;
}

bool sanitise_field(std::string& s, bool path_component) {
  bool changed = repair_utf8(s);
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (ch == '|') {
      out += "\xC2\xA6";  // U+00A6 BROKEN BAR: looks the same, separates nothing
      changed = true;
    } else if (c < 0x20 || c == 0x7F) {
      out += path_component ? '_' : ' ';
      changed = true;
    } else if (path_component && ch == '/') {
      out += '_';
      changed = true;
    } else {
      out += ch;
    }
  }
  size_t b = 0, e = out.size();
  while (b < e && out[b] == ' ') ++b;
  while (e > b && out[e - 1] == ' ') --e;
  if (b != 0 || e != out.size()) {
    out = out.substr(b, e - b);
    changed = true;
  }
  s = std::move(out);
  return changed;
}

}  // namespace upviz::log
