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
#include "xtables/xt_number.h"

namespace nfemu::xt::xtopt {

// strtoumax and xtables_strtoul live in xt_number.h.
using CNumber = number::CConversion;
using number::digit_value;
inline CNumber c_strtou(std::string_view s, int base) { return number::strtoumax(s, base); }

// xtables_strtoul: with end null the whole string must be the number; with
// end set trailing bytes are allowed and *end tells where.
inline bool strtoul_x(std::string_view s, uint64_t* value, uint64_t min, uint64_t max, size_t* end = nullptr) {
  auto p = number::strtoul_prefix(s, min, max);
  if (!p) {
    // libxtables stores the end even when the range check fails.
    if (end) *end = number::strtoumax(s).end;
    return false;
  }
  if (end) *end = p->end;
  if (value) *value = p->value;
  return end || p->end == s.size();
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

// An XTTYPE_UINT16RC option kept as a range: "A" is A:A. No ordering check
// (a reversed range never matches), as libxtables leaves that to the
// extension.
struct U16Range {
  uint16_t min = 0, max = 0;
  bool contains(uint16_t v) const { return v >= min && v <= max; }
};
inline Result<U16Range> parse_u16_range(std::string_view ext, std::string_view opt, std::string_view arg) {
  auto v = parse_mint(ext, opt, arg, UINT16_MAX);
  if (!v) return v.error();
  U16Range r;
  r.min = static_cast<uint16_t>((*v)[0]);
  r.max = v->size() >= 2 ? static_cast<uint16_t>((*v)[1]) : r.min;
  return r;
}
// " [!] --OPT A" or " [!] --OPT A:B", as the length and tcpmss saves print it.
inline void save_u16_range(std::string& out, std::string_view opt, U16Range r, bool invert) {
  out += invert ? " ! --" : " --";
  out += opt;
  out += r.min == r.max ? fmt::format(" {}", r.min) : fmt::format(" {}:{}", r.min, r.max);
}

using number::inet_aton;

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
