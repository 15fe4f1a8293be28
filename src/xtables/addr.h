// IPv4 address and mask parsing exactly as libxtables does it, so that
// `-s 10.1.2.3/8`, `-d 10/8` or `--to 1.2.3.4-1.2.3.9` mean what they mean
// to iptables. Addresses are host byte order uint32_t throughout nfemu.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nfemu::xt {

struct AddrMask {
  uint32_t addr = 0;
  uint32_t mask = 0;
  bool operator==(const AddrMask&) const = default;
};

// "a.b.c.d"; with is_mask false, missing trailing components are zero
// ("10" is 10.0.0.0), as xtables_numeric_to_ipaddr. Components accept
// decimal, 0x hex and leading-zero octal.
std::optional<uint32_t> parse_ipv4(std::string_view s, bool is_mask = false);

// "ADDR[/MASK]" where MASK is a prefix length or a dotted mask; the address
// is masked. Host names are refused: nfemu never resolves names.
Result<AddrMask> parse_addr_mask(std::string_view s);

// Comma-separated list of ADDR[/MASK] (iptables' -s and -d); each element
// becomes its own rule.
Result<std::vector<AddrMask>> parse_addr_list(std::string_view s);

std::string format_ipv4(uint32_t addr);
// "a.b.c.d/N" or "a.b.c.d/m.m.m.m" for a non-contiguous mask, as print_ip.
std::string format_addr_mask(uint32_t addr, uint32_t mask);
// Prefix length of a contiguous mask, or -1.
int mask_prefix_len(uint32_t mask);
inline uint32_t prefix_to_mask(int bits) { return bits <= 0 ? 0 : (bits >= 32 ? 0xffffffffu : ~0u << (32 - bits)); }

// Protocol names as getprotobyname/getprotobynumber on Debian (netbase).
std::optional<uint16_t> protocol_from_name(std::string_view lower_name);
std::optional<std::string_view> protocol_name(uint16_t proto);

}  // namespace nfemu::xt
