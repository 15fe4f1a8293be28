// Small string helpers shared by the parsers: shell-like word splitting,
// strict number parsing, trimming. All take string_view and never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nfemu {

// A word of a command line with the 1-based column where it starts.
struct Word {
  std::string text;
  int col = 1;
};

// Splits a line into words as a POSIX shell does for one simple command:
// blanks separate words, single quotes are literal, double quotes allow
// \" \\ \$ \` escapes, a backslash outside quotes escapes the next byte.
// No expansion of any kind. Fails on an unterminated quote.
Result<std::vector<Word>> shell_split(std::string_view line);

// Strict unsigned parse: decimal, or hexadecimal with 0x. No sign, no
// trailing bytes, fails when the value exceeds max.
std::optional<uint64_t> parse_uint(std::string_view s, uint64_t max = UINT64_MAX);

// As iptables' xtables_strtoui: decimal, 0x hex or leading-0 octal.
std::optional<uint64_t> parse_uint_c(std::string_view s, uint64_t max = UINT64_MAX);

// What sscanf("%llu") reads at the start of s: blanks, an optional sign
// (a minus wraps around), then decimal digits up to the first non-digit.
// Nothing when there is no digit. Saturates on overflow, as glibc does.
std::optional<uint64_t> scan_llu(std::string_view s);

std::string_view trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
// ASCII case-insensitive equality, as strcasecmp in the C locale (what
// iptables' extensions use for names: TCP flags, SCTP chunks, DCCP types).
bool iequals(std::string_view a, std::string_view b);
std::vector<std::string_view> split(std::string_view s, char sep);

}  // namespace nfemu
