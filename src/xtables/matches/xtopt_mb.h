// Number parsing exactly as libxtables does it for x6-style options
// (xtables_strtoul, xtopt_parse_int, xtopt_parse_mint in xtoptions.c).
//
// These differ from the strict helpers in ext_util.h on purpose: libxtables
// goes through strtoumax(), so leading blanks and a '+' sign are accepted,
// "0x" selects hex and a leading 0 octal, and a bare "-" is refused only
// because xtables_strtoul looks for it. Matching the kernel tools' verdicts
// on odd input needs the same leniency. Header-only so that every match file
// of this group can use it without a registration unit of its own.
#pragma once

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nfemu::xt::xtopt {

// What strtoumax/strtoul(s, &end, base) computes; end == 0 means "no digits".
struct CNumber {
  uint64_t value = 0;
  size_t end = 0;
  bool overflow = false;  // ERANGE
};

inline int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// C's strtoumax with base 0 or 16 (the only bases libxtables uses here).
inline CNumber c_strtou(std::string_view s, int base) {
  CNumber out;
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if ((base == 0 || base == 16) && i + 1 < s.size() && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
      i + 2 < s.size() && digit_value(s[i + 2]) < 16) {
    base = 16;
    i += 2;
  } else if (base == 0) {
    base = (i < s.size() && s[i] == '0') ? 8 : 10;
  }
  size_t start = i;
  uint64_t v = 0;
  for (; i < s.size() && digit_value(s[i]) < base; ++i) {
    uint64_t d = static_cast<uint64_t>(digit_value(s[i]));
    if (v > (UINT64_MAX - d) / static_cast<uint64_t>(base)) out.overflow = true;
    v = v * static_cast<uint64_t>(base) + d;
  }
  if (i == start) return out;  // no conversion: end stays 0
  out.end = i;
  out.value = out.overflow ? UINT64_MAX : (neg ? (0 - v) : v);
  return out;
}

// xtables_strtoul: with want_end false the whole string must be the number;
// with want_end true trailing bytes are allowed and *end tells where.
inline bool strtoul_x(std::string_view s, uint64_t* value, uint64_t min, uint64_t max, size_t* end = nullptr) {
  size_t p = 0;
  while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
  if (p < s.size() && s[p] == '-') return false;
  CNumber n = c_strtou(s, 0);
  if (n.end == 0) return false;
  if (end) *end = n.end;
  if (n.overflow || n.value < min || (max != 0 && n.value > max)) return false;
  if (value) *value = n.value;
  if (!end) return n.end == s.size();
  return true;
}

// XTTYPE_UINT8/16/32 (xtopt_parse_int).
inline Result<uint64_t> parse_int(std::string_view ext, std::string_view opt, std::string_view arg, uint64_t min,
                                  uint64_t max) {
  uint64_t v = 0;
  if (!strtoul_x(arg, &v, min, max))
    return make_error(
        fmt::format("{}: bad value for option \"--{}\", or out of range ({}-{}).", ext, opt, min, max));
  return v;
}

// XTTYPE_UINT*RC (xtopt_parse_mint): "A", "A:B", ":B", "A:"; an empty first
// field is 0, an empty second field is lmax. No ordering check.
inline Result<std::vector<uint64_t>> parse_mint(std::string_view ext, std::string_view opt, std::string_view arg,
                                                uint64_t lmax, unsigned maxiter = 2) {
  std::vector<uint64_t> vals;
  size_t pos = 0;
  for (;;) {
    if (vals.size() == maxiter)
      return make_error(fmt::format("{}: Too many components for option \"--{}\" (max: {})", ext, opt, maxiter));
    std::string_view rest = arg.substr(pos);
    uint64_t value = 0;
    size_t end = 0;
    if (rest.empty() || rest[0] == ':') {
      value = vals.size() == 1 ? lmax : 0;
    } else {
      if (!strtoul_x(rest, &value, 0, lmax, &end))
        return make_error(fmt::format("{}: bad value for option \"--{}\" near \"{}\", or out of range (0-{}).", ext,
                                      opt, rest, lmax));
      if (end < rest.size() && rest[end] != ':')
        return make_error(
            fmt::format("{}: Argument to \"--{}\" has unexpected characters near \"{}\".", ext, opt, rest.substr(end)));
    }
    vals.push_back(value);
    if (end >= rest.size()) break;
    pos += end + 1;
  }
  return vals;
}

// inet_aton as glibc's getaddrinfo(AI_NUMERICHOST) applies it: 1 to 4
// parts in C notation; the last part fills the remaining bytes.
inline std::optional<uint32_t> inet_aton(std::string_view s) {
  std::vector<uint64_t> parts;
  size_t pos = 0;
  while (true) {
    size_t dot = s.find('.', pos);
    std::string_view part = s.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos);
    if (part.empty() || !std::isdigit(static_cast<unsigned char>(part[0]))) return std::nullopt;
    CNumber n = c_strtou(part, 0);
    if (n.end != part.size() || n.overflow || n.value > UINT32_MAX) return std::nullopt;
    parts.push_back(n.value);
    if (dot == std::string_view::npos) break;
    if (parts.size() == 4) return std::nullopt;
    pos = dot + 1;
  }
  uint32_t out = 0;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] > 0xff) return std::nullopt;
    out |= static_cast<uint32_t>(parts[i]) << (24 - 8 * i);
  }
  uint64_t last = parts.back();
  if (last > (UINT32_MAX >> (8 * (parts.size() - 1)))) return std::nullopt;
  return out | static_cast<uint32_t>(last);
}

inline Error must_be_specified(std::string_view ext, std::string_view opt) {
  return make_error(fmt::format("{}: option \"--{}\" must be specified", ext, opt));
}
inline Error used_once(std::string_view ext, std::string_view opt) {
  return make_error(fmt::format("{}: option \"--{}\" can only be used once.", ext, opt));
}
inline Error cannot_combine(std::string_view ext, std::string_view a, std::string_view b) {
  return make_error(fmt::format("{}: option \"--{}\" cannot be used together with \"--{}\".", ext, a, b));
}

}  // namespace nfemu::xt::xtopt
