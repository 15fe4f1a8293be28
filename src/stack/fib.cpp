#include "stack/fib.h"

#include <fmt/format.h>

#include <algorithm>

namespace nfemu::stack {

namespace {
uint32_t mask_of(int plen) { return plen <= 0 ? 0 : (plen >= 32 ? 0xffffffffu : ~0u << (32 - plen)); }
bool covers(uint32_t net, int plen, uint32_t addr) { return (addr & mask_of(plen)) == (net & mask_of(plen)); }
std::string ip(uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}
}  // namespace

void Fib::add_address(const std::string& dev, uint32_t addr, int plen) {
  index_fresh_ = false;
  bool loopback = (addr >> 24) == 127;
  addresses_.push_back({dev, addr, plen, loopback ? Scope::Host : Scope::Universe});
  Route local{.dst = addr, .plen = 32, .type = RouteType::Local, .dev = dev, .prefsrc = addr, .scope = Scope::Host,
              .local_table = true};
  routes_.push_back(local);
  if (loopback) {
    // 127.0.0.1/8 on lo: the whole /8 is local.
    Route net = local;
    net.dst = addr & mask_of(plen);
    net.plen = plen;
    routes_.push_back(net);
  }
  if (plen < 31) {
    uint32_t bcast = (addr & mask_of(plen)) | ~mask_of(plen);
    routes_.push_back({.dst = bcast, .plen = 32, .type = RouteType::Broadcast, .dev = dev, .prefsrc = addr,
                       .scope = Scope::Link, .local_table = true});
  }
  if (!loopback && plen < 32)
    routes_.push_back({.dst = addr & mask_of(plen), .plen = plen, .dev = dev, .prefsrc = addr, .scope = Scope::Link});
}

Result<void> Fib::add(Route r) {
  index_fresh_ = false;
  r.dst &= mask_of(r.plen);
  if (r.gateway) {
    // The kernel wants the gateway on a connected (link scope) route.
    bool reachable = false;
    for (const auto& c : routes_) {
      if (c.local_table || c.gateway || c.type != RouteType::Unicast) continue;
      if (!r.dev.empty() && c.dev != r.dev) continue;
      if (covers(c.dst, c.plen, r.gateway)) {
        reachable = true;
        if (r.dev.empty()) r.dev = c.dev;
        break;
      }
    }
    if (!reachable) return make_error("Error: Nexthop has invalid gateway.");
  } else if (r.type == RouteType::Unicast) {
    if (r.dev.empty()) return make_error("Error: Device for nexthop is not up.");
    r.scope = Scope::Link;
  }
  for (const auto& e : routes_)
    if (!e.local_table && e.dst == r.dst && e.plen == r.plen && e.metric == r.metric)
      return make_error("RTNETLINK answers: File exists");
  routes_.push_back(std::move(r));
  return {};
}

void Fib::build_index() const {
  local_index_.clear();
  main_index_.clear();
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    IndexEntry e;
    e.mask = mask_of(r.plen);
    e.net = r.dst & e.mask;
    e.route = static_cast<uint32_t>(i);
    // The source depends on the destination only through the next hop of
    // a connected route without prefsrc.
    if (r.prefsrc || r.gateway) {
      e.src = r.prefsrc ? r.prefsrc : select_source(r.dev, r.gateway, r.scope);
      e.src_fixed = true;
    }
    (r.local_table ? local_index_ : main_index_).push_back(e);
  }
  // The order in which lookup's scan used to replace its best candidate:
  // a longer prefix wins, then (main table) a lower metric, then the
  // earlier route.
  std::stable_sort(local_index_.begin(), local_index_.end(),
                   [&](const IndexEntry& a, const IndexEntry& b) { return routes_[a.route].plen > routes_[b.route].plen; });
  std::stable_sort(main_index_.begin(), main_index_.end(), [&](const IndexEntry& a, const IndexEntry& b) {
    const Route& x = routes_[a.route];
    const Route& y = routes_[b.route];
    return x.plen != y.plen ? x.plen > y.plen : x.metric < y.metric;
  });
  local_bits_ = 0;
  addr_bits_ = 0;
  for (const auto& a : addresses_) addr_bits_ |= local_bit(a.addr);
  local_short_.clear();
  for (const auto& e : local_index_) {
    if (e.mask == 0xffffffffu) local_bits_ |= local_bit(e.net);
    else local_short_.push_back(e);
  }
  index_fresh_ = true;
}

std::optional<FibResult> Fib::lookup(uint32_t dst) const {
  if (!index_fresh_) build_index();
  const IndexEntry* hit = nullptr;
  // The local table is consulted first: a local or broadcast address wins
  // over any main-table route.
  for (const auto& e : (local_bits_ & local_bit(dst)) ? local_index_ : local_short_)
    if ((dst & e.mask) == e.net) {
      hit = &e;
      break;
    }
  if (!hit) {
    for (const auto& e : main_index_)
      if ((dst & e.mask) == e.net) {
        hit = &e;
        break;
      }
  }
  if (!hit) return std::nullopt;
  const Route* best = &routes_[hit->route];
  FibResult res;
  res.type = best->type;
  res.dev = best->dev;
  res.route = best;
  res.nexthop = best->gateway ? best->gateway : dst;
  res.src = hit->src_fixed ? hit->src : select_source(best->dev, res.nexthop, best->scope);
  return res;
}

RouteType Fib::addr_type(uint32_t addr, const std::string& dev) const {
  if (addr == 0xffffffffu) return RouteType::Broadcast;
  if ((addr >> 28) == 0xe) return RouteType::Multicast;
  if (addr == 0) return RouteType::Broadcast;  // inet_addr_type: zeronet is RTN_BROADCAST
  for (const auto& r : routes_) {
    if (!r.local_table || r.dst != addr || r.plen != 32) continue;
    if (!dev.empty() && r.dev != dev) continue;
    return r.type;
  }
  if (dev.empty()) {
    // 127/8 beyond 127.0.0.1 is local too.
    for (const auto& r : routes_)
      if (r.local_table && r.type == RouteType::Local && covers(r.dst, r.plen, addr)) return RouteType::Local;
  }
  auto res = lookup(addr);
  if (!res) return RouteType::Unreachable;
  if (res->type == RouteType::Local || res->type == RouteType::Broadcast) return RouteType::Unicast;
  return res->type;
}

uint32_t Fib::select_source(const std::string& dev, uint32_t dst, Scope scope) const {
  // inet_select_addr: a primary address of dev in dst's subnet, else the
  // first of dev with a scope no wider than asked, else any other device's.
  uint32_t any_on_dev = 0;
  for (const auto& a : addresses_) {
    if (a.dev != dev || static_cast<int>(a.scope) > static_cast<int>(scope)) continue;
    if (dst && covers(a.addr, a.plen, dst)) return a.addr;
    if (!any_on_dev) any_on_dev = a.addr;
  }
  if (any_on_dev) return any_on_dev;
  for (const auto& a : addresses_)
    if (a.scope == Scope::Universe && static_cast<int>(a.scope) <= static_cast<int>(scope)) return a.addr;
  (void)ip;
  return 0;
}

}  // namespace nfemu::stack
