#include "stack/rpfilter.h"

namespace nfemu::stack {

std::optional<std::string_view> early_martian_source(uint32_t saddr, uint32_t daddr) {
  if ((saddr >> 28) == 0xe || saddr == 0xffffffffu) return "martian source (multicast or broadcast)";
  if (daddr == 0xffffffffu || (saddr == 0 && daddr == 0)) return std::nullopt;  // brd_input
  if ((saddr >> 24) == 0) return "martian source (0.0.0.0/8)";
  return std::nullopt;
}

std::optional<std::string_view> validate_source(const Fib& fib, uint32_t saddr, std::string_view dev,
                                                const SourcePolicy& policy) {
  const int rpf = policy.rp_filter;
  if (rpf == 0) {
    // The fast path: without rp_filter only a source that is one of this
    // namespace's own addresses is martian (unless accept_local).
    if (policy.accept_local || !fib.has_address(saddr)) return std::nullopt;
    return "martian source (a local address)";
  }
  // __fib_validate_source: the route back to saddr (no oif).
  bool no_addr = true;
  for (const auto& a : fib.addresses())
    if (a.dev == dev) no_addr = false;
  auto back = fib.lookup(saddr);
  bool lookup_ok = back && (back->type == RouteType::Unicast || back->type == RouteType::Local ||
                            back->type == RouteType::Broadcast || back->type == RouteType::Multicast ||
                            back->type == RouteType::Anycast);
  if (!lookup_ok) return "rp_filter (no route back to the source)";  // last_resort with rpf set
  if (back->type != RouteType::Unicast && (back->type != RouteType::Local || !policy.accept_local))
    return "martian source (route back is not unicast)";
  if (back->dev == dev) return std::nullopt;
  if (no_addr) return "rp_filter (no route back to the source)";
  if (rpf == 1) return "rp_filter (strict: route back leaves another interface)";
  // Loose: the second lookup restricted to dev only decides the returned
  // scope, never an error.
  return std::nullopt;
}

}  // namespace nfemu::stack
