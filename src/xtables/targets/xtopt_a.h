// libxtables behaviours the targets of this folder share (REJECT, the NAT
// family, LOG, NFLOG, NFQUEUE): number parsing that may stop early (as
// xtables_strtoui with an end pointer), the quoting of xtables_save_string,
// the numeric address forms glibc accepts, and the generic xtoptions checks
// whose messages users see.
//
//   auto n = xtopt::strtoul_prefix("80-90", 0, 65535);   // {80, "-90"}
//   xtopt::save_string(out, "DROP: ");                   // ' "DROP: "'
#pragma once

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"
#include "xtables/xt_number.h"
#include "util/strings.h"
#include "xtables/ext_util.h"

namespace nfemu::xt::xtopt {

struct Prefix {
  uint64_t value;
  std::string_view rest;  // what follows the number
};

// xtables_strtoul_base(s, &end, min, max) (xt_number.h), with what follows
// the number returned as `rest` (the caller then usually tries a service
// name when it fails).
inline std::optional<Prefix> strtoul_prefix(std::string_view s, uint64_t min, uint64_t max) {
  auto p = number::strtoul_prefix(s, min, max);
  if (!p) return std::nullopt;
  return Prefix{p->value, s.substr(p->end)};
}

// xtables_strtoul with no end pointer: the whole string must be the number.
inline std::optional<uint64_t> strtoul_whole(std::string_view s, uint64_t min, uint64_t max) {
  auto p = strtoul_prefix(s, min, max);
  if (!p || !p->rest.empty()) return std::nullopt;
  return p->value;
}

// getservbyname(name, NULL): any protocol. Numbers are never service names.
inline std::optional<uint16_t> service_port(std::string_view name) {
  if (name.empty() || parse_uint_c(name)) return std::nullopt;
  return lookup_service(name, "");
}

// inet_pton(AF_INET): exactly four decimal parts of 0..255, no leading zeros.
inline std::optional<uint32_t> inet_pton4(std::string_view s) {
  uint32_t out = 0;
  int parts = 0;
  size_t i = 0;
  while (true) {
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    unsigned v = 0;
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (i > start && s[start] == '0') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
      if (v > 255) return std::nullopt;
      ++i;
    }
    out = (out << 8) | v;
    if (++parts == 4) break;
    if (i >= s.size() || s[i] != '.') return std::nullopt;
    ++i;
  }
  if (i != s.size()) return std::nullopt;
  return out;
}

using number::inet_aton;

// xtables_save_string lives in ext_util (shared with comment and helper).
using ::nfemu::xt::save_string;

// The messages of xtables_option_parse / xtables_options_fcheck.
inline Error must_be_specified(std::string_view ext, std::string_view option) {
  return make_error(fmt::format("{}: option \"--{}\" must be specified", ext, option));
}
inline Error cannot_be_used_together(std::string_view ext, std::string_view a, std::string_view b) {
  return make_error(fmt::format("{}: option \"--{}\" cannot be used together with \"--{}\".", ext, a, b));
}
inline Error also_requires(std::string_view ext, std::string_view a, std::string_view b) {
  return make_error(fmt::format("{}: option \"--{}\" also requires \"--{}\".", ext, a, b));
}

// XTTYPE_UINT8/16/32: the whole argument, within [0, max].
inline Result<uint32_t> parse_uint_option(std::string_view arg, uint32_t max, std::string_view ext,
                                          std::string_view option) {
  if (auto v = strtoul_whole(arg, 0, max)) return static_cast<uint32_t>(*v);
  return make_error(
      fmt::format("{}: bad value for option \"--{}\", or out of range (0-{}).", ext, option, max));
}

// XTTYPE_STRING with .min = 1 and XTOPT_PUT into a char[size] field: empty
// is refused, longer text is cut to size - 1 bytes without a word.
inline Result<std::string> parse_put_string(std::string_view arg, size_t size) {
  if (arg.empty()) return make_error("Argument must have a minimum length of 1 characters");
  return std::string(arg.substr(0, size - 1));
}

}  // namespace nfemu::xt::xtopt
