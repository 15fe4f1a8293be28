// A host's IPv4 FIB as Linux builds it: the routes the kernel derives from
// addresses (fib_add_ifaddr), then `ip route add` commands with iproute2's
// parsing and the kernel's checks (fib_create_info, fib_check_nh), so that
// a route the real `ip` would refuse is refused here with its message.
//
//   Host h = ...;                 // interfaces and addresses set
//   add_kernel_routes(h);
//   if (auto r = add_route(h, "default via 192.0.2.2"); !r) ...   // Error::col inside the text
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <string_view>

#include "scenario/scenario.h"
#include "util/result.h"

namespace nfemu::scenario {

// Appends the local, broadcast and connected routes of every address.
void add_kernel_routes(Host& host);

// Parses one `ip route add` argument list (without `ip route add`) and
// adds it to host.routes. Errors carry ip's or the kernel's message and
// the 1-based column in text of the word at fault (1 when the kernel
// refuses the route as a whole); line is 0.
Result<void> add_route(Host& host, std::string_view text);

// fib_lookup for a gateway: the local table then main, longest prefix
// first, lowest metric next, only routes with scope >= min_scope and (when
// oif >= 0) through that interface. nullptr when nothing matches or the
// best match is an unreachable/prohibit/blackhole route.
const Route* lookup_route(const Host& host, uint32_t daddr, uint8_t min_scope = kScopeUniverse, int oif = -1);

// inet_addr_type: Local, Broadcast (also 0.0.0.0 and 255.255.255.255) or
// Unicast, from the local table.
RouteType address_type(const Host& host, uint32_t addr);

// An IPv4 address as iproute2's get_addr_ipv4 reads it: one to four parts
// separated by dots (missing parts are zero), each decimal, 0x hex or
// 0-octal, at most 255.
std::optional<uint32_t> parse_iproute_addr(std::string_view s);
// ADDR[/LEN] as get_prefix_1 reads it: LEN is 0..32 or a dotted netmask;
// without it, /32.
std::optional<std::pair<uint32_t, uint8_t>> parse_iproute_prefix(std::string_view s);

}  // namespace nfemu::scenario
