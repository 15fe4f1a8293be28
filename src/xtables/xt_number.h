// The number and address readers libxtables and glibc apply to option
// arguments, written once. Every extension unit reads numbers through these,
// so "+8", " 8", "0x8" and "010" mean what they mean to iptables.
#pragma once

#include <cctype>
#include <cstdint>
#include <optional>
#include <string_view>

namespace nfemu::xt::number {

// C's strtoumax(s, &end, base) for base 0, 8, 10 or 16: leading blanks, one
// sign ('-' negates modulo 2^64, as C does), "0x" only when a hex digit
// follows. end == 0 when nothing was converted; overflow is ERANGE.
struct CConversion {
  uint64_t value = 0;
  size_t end = 0;
  bool overflow = false;
};

inline int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

inline CConversion strtoumax(std::string_view s, int base = 0) {
  CConversion out;
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if ((base == 0 || base == 16) && i + 2 < s.size() && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
      digit_value(s[i + 2]) < 16) {
    base = 16;
    i += 2;
  } else if (base == 0) {
    base = (i < s.size() && s[i] == '0') ? 8 : 10;
  }
  size_t start = i;
  uint64_t v = 0;
  for (; i < s.size() && digit_value(s[i]) < base; ++i) {
    auto d = static_cast<uint64_t>(digit_value(s[i]));
    if (v > (UINT64_MAX - d) / static_cast<uint64_t>(base)) out.overflow = true;
    v = v * static_cast<uint64_t>(base) + d;
  }
  if (i == start) return out;
  out.end = i;
  out.value = out.overflow ? UINT64_MAX : (negative ? 0 - v : v);
  return out;
}

// xtables_strtoul_base: a leading '-' (after blanks) is refused; the value
// must lie in [min, max] (max 0 means no upper bound, as in libxtables).
struct Prefix {
  uint64_t value;
  size_t end;  // bytes consumed; what follows is the caller's business
};
inline std::optional<Prefix> strtoul_prefix(std::string_view s, uint64_t min, uint64_t max, int base = 0) {
  size_t p = 0;
  while (p < s.size() && std::isspace(static_cast<unsigned char>(s[p]))) ++p;
  if (p < s.size() && s[p] == '-') return std::nullopt;
  CConversion c = strtoumax(s, base);
  if (c.end == 0 || c.overflow || c.value < min || (max != 0 && c.value > max)) return std::nullopt;
  return Prefix{c.value, c.end};
}

// xtables_strtoul with a NULL end pointer: the whole string is the number.
inline std::optional<uint64_t> strtoul_whole(std::string_view s, uint64_t min, uint64_t max, int base = 0) {
  auto p = strtoul_prefix(s, min, max, base);
  if (!p || p->end != s.size()) return std::nullopt;
  return p->value;
}

// glibc's inet_aton_exact, which getaddrinfo(AI_NUMERICHOST) and so
// iptables' host parsing use: one to four parts ("a", "a.b", "a.b.c",
// "a.b.c.d"), each decimal, 0x hex or leading-zero octal ("0x" with no
// digit is refused); the last part fills the remaining bytes.
inline std::optional<uint32_t> inet_aton(std::string_view s) {
  uint64_t parts[4];
  int n = 0;
  size_t i = 0;
  while (true) {
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    unsigned base = 10;
    bool digit = false;
    if (s[i] == '0') {
      ++i;
      if (i < s.size() && (s[i] == 'x' || s[i] == 'X')) {
        base = 16;
        ++i;
      } else {
        base = 8;
        digit = true;
      }
    }
    uint64_t v = 0;
    while (i < s.size()) {
      char c = s[i];
      unsigned d;
      if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
      else if (base == 16 && std::isxdigit(static_cast<unsigned char>(c))) d = static_cast<unsigned>(digit_value(c));
      else break;
      if (d >= base) return std::nullopt;  // 8 or 9 in an octal part
      v = v * base + d;
      if (v > 0xffffffffu) return std::nullopt;
      digit = true;
      ++i;
    }
    if (!digit) return std::nullopt;
    parts[n++] = v;
    if (i < s.size() && s[i] == '.') {
      if (n > 3 || v > 0xff) return std::nullopt;
      ++i;
      continue;
    }
    break;
  }
  if (i != s.size()) return std::nullopt;
  static constexpr uint64_t kLastMax[] = {0xffffffffu, 0xffffffu, 0xffffu, 0xffu};
  uint64_t v = parts[n - 1];
  if (v > kLastMax[n - 1]) return std::nullopt;
  for (int k = 0; k < n - 1; ++k) v |= parts[k] << (24 - 8 * k);
  return static_cast<uint32_t>(v);
}

}  // namespace nfemu::xt::number
