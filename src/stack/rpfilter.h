// Source address validation on input (ip_route_input_slow's martian checks
// and fib_validate_source, net/ipv4/route.c and fib_frontend.c): reverse
// path filtering (rp_filter 1 strict, 2 loose) and local-source martians.
//
//   auto why = validate_source(fib, saddr, "eth0", {.rp_filter = 1});
//   if (why) drop(*why, pkt);   // dropped after PREROUTING, no ICMP
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stack/fib.h"

namespace nfemu::stack {

struct SourcePolicy {
  int rp_filter = 0;          // max(conf/all, conf/DEV) (IN_DEV_RPFILTER)
  bool accept_local = false;  // conf/all or conf/DEV (IN_DEV_ACCEPT_LOCAL)
};

// The checks on saddr that ip_route_input_slow makes before any route
// lookup: multicast and limited-broadcast sources, and 0.0.0.0/8 sources
// unless the packet is a broadcast (DHCP). A reason when martian.
std::optional<std::string_view> early_martian_source(uint32_t saddr, uint32_t daddr);

// fib_validate_source for a packet received on dev: a reason when the
// kernel rejects the source (EINVAL martian or EXDEV rp_filter).
std::optional<std::string_view> validate_source(const Fib& fib, uint32_t saddr, std::string_view dev,
                                                const SourcePolicy& policy);

}  // namespace nfemu::stack
