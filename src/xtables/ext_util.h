// Helpers for extension units: the value parsers libxtables offers its
// extensions (ports and service names, ranges, mark/mask, numbers), with
// its error wording, so every extension refuses bad values the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "util/result.h"

namespace nfemu::xt {

// A port number (decimal, 0x hex, 0 octal) or a service name for proto
// ("tcp", "udp", "sctp", "dccp"), as xtables_parse_port.
Result<uint16_t> parse_port(std::string_view s, std::string_view proto);

// The /etc/services entry for name and proto ("" for any protocol).
std::optional<uint16_t> lookup_service(std::string_view name, std::string_view proto);

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 0xffff;
  bool operator==(const PortRange&) const = default;
};
// "P", "P:Q", ":Q", "P:" (empty ends mean 0 and 65535); fails when P > Q.
Result<PortRange> parse_port_range(std::string_view s, std::string_view proto);

// XTTYPE_PORTRC (xtopt_parse_mport), as udp reads its ports: "P", "P:Q",
// ":Q", "P:", each part through getaddrinfo's service lookup (decimal only,
// low 16 bits kept, then service names); no ordering check.
Result<PortRange> parse_port_range_getaddrinfo(std::string_view s, std::string_view ext, std::string_view option);

// "VALUE[/MASK]", MASK defaulting to 0xffffffff, as xtables_parse_mark_mask.
Result<std::pair<uint32_t, uint32_t>> parse_mark_mask(std::string_view s, std::string_view ext);

// A number in [min, max] (decimal, 0x hex, 0 octal), as xtables_strtoui.
Result<uint32_t> parse_number(std::string_view s, uint32_t min, uint32_t max, std::string_view ext,
                              std::string_view option);

// The message libxtables prints for a bad value: `EXT: Bad value for "--OPT" option: "ARG"`.
Error bad_value(std::string_view ext, std::string_view option, std::string_view arg);

// xtables_save_string: appends a space, then the text bare when it is only
// [A-Za-z0-9_-] (and not empty), else double-quoted with a backslash
// before " \ and '. comment, helper, LOG and NFLOG save through it.
void save_string(std::string& out, std::string_view s);

// Appends " 0x%x" style hex, as most save functions print marks.
std::string hex(uint32_t v);

}  // namespace nfemu::xt
