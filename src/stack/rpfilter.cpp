#include "stack/rpfilter.h"

namespace nfemu::stack {

std::optional<std::string_view> validate_source_rpf(const Fib& fib, uint32_t saddr, std::string_view dev,
                                                    const SourcePolicy& policy) {
  const int rpf = policy.rp_filter;
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
