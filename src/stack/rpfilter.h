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
// lookup: multicast and limited-broadcast sources, and the source 0.0.0.0
// unless the packet is a broadcast (DHCP). ipv4_is_zeronet is `addr == 0`
// since 5.3 (0.0.0.0/8 became unicast; checked on 6.18, route-localnet). A reason when martian. Inline,
// as validate_source's common case: every received packet asks.
inline std::optional<std::string_view> early_martian_source(uint32_t saddr, uint32_t daddr) {
  if ((saddr >> 28) == 0xe || saddr == 0xffffffffu) return "martian source (multicast or broadcast)";
  if (daddr == 0xffffffffu || (saddr == 0 && daddr == 0)) return std::nullopt;  // brd_input
  if (saddr == 0) return "martian source (0.0.0.0)";
  return std::nullopt;
}

// Whether ip_route_input_slow's zeronet and loopback checks have anything
// to look at: the destination 0.0.0.0 or a 127.0.0.0/8 address.
inline bool zeronet_or_loopback(uint32_t saddr, uint32_t daddr) {
  return daddr == 0 || (daddr >> 24) == 127 || (saddr >> 24) == 127;
}

// Those checks, after early_martian_source has passed the packet: the
// destination 0.0.0.0 is martian, and so is a loopback destination, else
// a loopback source, unless the input device has route_localnet
// (IN_DEV_NET_ROUTE_LOCALNET). A reason when martian.
inline std::optional<std::string_view> martian_zeronet_or_loopback(uint32_t saddr, uint32_t daddr,
                                                                   bool route_localnet) {
  if (daddr == 0xffffffffu || (saddr == 0 && daddr == 0)) return std::nullopt;  // brd_input
  if (daddr == 0) return "martian destination (0.0.0.0)";
  if (route_localnet) return std::nullopt;
  if ((daddr >> 24) == 127) return "martian destination (loopback, route_localnet off)";
  if ((saddr >> 24) == 127) return "martian source (loopback, route_localnet off)";
  return std::nullopt;
}

// fib_validate_source with rp_filter set (validate_source's slow path).
std::optional<std::string_view> validate_source_rpf(const Fib& fib, uint32_t saddr, std::string_view dev,
                                                    const SourcePolicy& policy);

// fib_validate_source for a packet received on dev: a reason when the
// kernel rejects the source (EINVAL martian or EXDEV rp_filter).
inline std::optional<std::string_view> validate_source(const Fib& fib, uint32_t saddr, std::string_view dev,
                                                       const SourcePolicy& policy) {
  if (policy.rp_filter != 0) return validate_source_rpf(fib, saddr, dev, policy);
  // The fast path: without rp_filter only a source that is one of this
  // namespace's own addresses is martian (unless accept_local).
  if (policy.accept_local || !fib.has_address(saddr)) return std::nullopt;
  return "martian source (a local address)";
}

}  // namespace nfemu::stack
