// strtoul() as libxtables calls it (xtables_strtoul_base): leading blanks
// and one '+' are skipped, a '-' is refused, base 0 means 0x hex, leading-0
// octal or decimal. Extensions that take numbers through it therefore
// accept "+8", " 8" and "0x8" alike. Thin names over xt_number.h for the
// match units that read a bound but no minimum.
#pragma once

#include <cctype>
#include <cstdint>
#include <optional>
#include <string_view>

#include "xtables/xt_number.h"

namespace nfemu::xt::compat {

struct Parsed {
  uint64_t value;
  size_t end;  // bytes of the input that strtoul consumed
};

// The number at the start of s, or nullopt when strtoul takes no digits or
// the value exceeds max (ERANGE counts as exceeding).
inline std::optional<Parsed> strtoul_prefix(std::string_view s, uint64_t max, unsigned base = 0) {
  auto c = number::strtoumax(s, static_cast<int>(base));
  size_t p = 0;
  while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
  if (c.end == 0 || c.overflow || c.value > max || (p < s.size() && s[p] == '-')) return std::nullopt;
  return Parsed{c.value, c.end};
}

// xtables_strtoui(s, NULL, ...): the whole string must be the number.
inline std::optional<uint64_t> strtoul_full(std::string_view s, uint64_t max, unsigned base = 0) {
  auto p = strtoul_prefix(s, max, base);
  if (!p || p->end != s.size()) return std::nullopt;
  return p->value;
}

}  // namespace nfemu::xt::compat
