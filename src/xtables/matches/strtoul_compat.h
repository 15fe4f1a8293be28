// strtoul() as libxtables calls it (xtables_strtoul_base): leading blanks
// and one '+' are skipped, a '-' is refused, base 0 means 0x hex, leading-0
// octal or decimal. Extensions that take numbers through it therefore
// accept "+8", " 8" and "0x8" alike; these helpers give nfemu's extension
// units the same leniency. (Header-only, shared by the match units; it
// could move to ext_util.h.)
#pragma once

#include <cctype>
#include <cstdint>
#include <optional>
#include <string_view>

namespace nfemu::xt::compat {

struct Parsed {
  uint64_t value;
  size_t end;  // bytes of the input that strtoul consumed
};

// The number at the start of s, or nullopt when strtoul takes no digits or
// the value exceeds max (ERANGE counts as exceeding).
inline std::optional<Parsed> strtoul_prefix(std::string_view s, uint64_t max, unsigned base = 0) {
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  if (i < s.size() && s[i] == '-') return std::nullopt;
  if (i < s.size() && s[i] == '+') ++i;
  auto xdigit = [&](size_t k) { return k < s.size() && std::isxdigit(static_cast<unsigned char>(s[k])); };
  if ((base == 0 || base == 16) && i + 1 < s.size() && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
      xdigit(i + 2)) {
    base = 16;
    i += 2;
  } else if (base == 0) {
    base = i < s.size() && s[i] == '0' ? 8 : 10;
  }
  size_t start = i;
  uint64_t v = 0;
  bool overflow = false;
  for (; i < s.size(); ++i) {
    int c = std::tolower(static_cast<unsigned char>(s[i]));
    unsigned d = std::isdigit(c) ? static_cast<unsigned>(c - '0')
                 : (c >= 'a' && c <= 'z') ? static_cast<unsigned>(c - 'a' + 10)
                                          : 99;
    if (d >= base) break;
    if (v > (UINT64_MAX - d) / base) overflow = true;
    else v = v * base + d;
  }
  if (i == start || overflow || v > max) return std::nullopt;
  return Parsed{v, i};
}

// xtables_strtoui(s, NULL, ...): the whole string must be the number.
inline std::optional<uint64_t> strtoul_full(std::string_view s, uint64_t max, unsigned base = 0) {
  auto p = strtoul_prefix(s, max, base);
  if (!p || p->end != s.size()) return std::nullopt;
  return p->value;
}

}  // namespace nfemu::xt::compat
