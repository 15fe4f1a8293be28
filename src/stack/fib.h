// The IPv4 routing tables of one host (the kernel's FIB): the local table
// the kernel fills from interface addresses (local and broadcast routes)
// and the main table (connected routes, `ip route add` routes). Lookup is
// longest prefix match, local table first, then the lowest metric, as
// fib_lookup; source selection follows fib_result_prefsrc and
// inet_select_addr.
//
//   Fib fib;
//   fib.add_address("eth0", 0xc0000201, 24);        // 192.0.2.1/24
//   fib.add({.dst = 0, .plen = 0, .gateway = 0xc0000202});
//   auto r = fib.lookup(0xcb007104);                 // via 192.0.2.2 dev eth0 src 192.0.2.1
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nfemu::stack {

// rtn_type values, numbered as in the kernel (RTN_*); addrtype matches them.
enum class RouteType : uint8_t {
  Unspec = 0, Unicast = 1, Local = 2, Broadcast = 3, Anycast = 4, Multicast = 5,
  Blackhole = 6, Unreachable = 7, Prohibit = 8, Throw = 9, Nat = 10, XResolve = 11,
};

enum class Scope : uint8_t { Universe = 0, Link = 253, Host = 254, Nowhere = 255 };

struct Route {
  uint32_t dst = 0;
  int plen = 0;
  RouteType type = RouteType::Unicast;
  uint32_t gateway = 0;  // 0: directly connected
  std::string dev;       // may be empty for unreachable/prohibit/blackhole
  uint32_t prefsrc = 0;  // `src ADDR`; 0: chosen by inet_select_addr
  uint32_t metric = 0;
  Scope scope = Scope::Universe;
  bool local_table = false;
};

struct Address {
  std::string dev;
  uint32_t addr = 0;
  int plen = 32;
  Scope scope = Scope::Universe;
};

// Valid while the Fib's routes are unchanged: dev views the route's name
// (a lookup per received packet copied the string).
struct FibResult {
  RouteType type = RouteType::Unicast;
  std::string_view dev;
  uint32_t nexthop = 0;  // the gateway, or the destination when connected
  uint32_t src = 0;      // the preferred source address
  const Route* route = nullptr;
};

class Fib {
 public:
  // What `ip addr add ADDR/PLEN dev DEV` makes the kernel add: the address,
  // a local route, a broadcast route (plen < 31) and the connected route.
  void add_address(const std::string& dev, uint32_t addr, int plen);
  // `ip route add`: fails as ip does when a gateway is not reachable over a
  // connected route ("Nexthop has invalid gateway") or the route exists.
  Result<void> add(Route r);

  std::optional<FibResult> lookup(uint32_t dst) const;
  // RTN_* of addr for the addrtype match: local, broadcast, unicast, ...;
  // when dev is given, only routes through dev count, as addrtype's
  // --limit-iface-* (a local address on another device is unicast there).
  RouteType addr_type(uint32_t addr, const std::string& dev = {}) const;
  // inet_select_addr(dev, dst, scope): the source for a packet leaving dev.
  uint32_t select_source(const std::string& dev, uint32_t dst, Scope scope = Scope::Universe) const;
  bool is_local(uint32_t addr) const { return addr_type(addr) == RouteType::Local; }
  // Whether addr is one of addresses() (any device): the martian check of
  // every received packet without rp_filter. Most sources are not: a bit
  // filter rebuilt with the index answers them without the scan.
  bool has_address(uint32_t addr) const {
    if (!index_fresh_) build_index();
    if (!(addr_bits_ & local_bit(addr))) return false;
    for (const auto& a : addresses_)
      if (a.addr == addr) return true;
    return false;
  }

  const std::vector<Address>& addresses() const { return addresses_; }
  const std::vector<Route>& routes() const { return routes_; }

 private:
  // Every received packet looks its destination up: the routes of each
  // table in the order lookup() prefers them (longest prefix, then lowest
  // metric, then the first added), masks and fixed sources precomputed, so
  // that the first covering entry is the answer. Indices, not pointers: a
  // copied Fib stays right. Rebuilt lazily after add_address() or add().
  struct IndexEntry {
    uint32_t net = 0;
    uint32_t mask = 0;
    uint32_t route = 0;  // index in routes_
    uint32_t src = 0;    // the preferred source when it does not depend on dst
    bool src_fixed = false;
  };
  void build_index() const;
  // Most destinations are not local: the local table's /32 entries leave a
  // bit each in local_bits_ (by a hash of the address), and a destination
  // whose bit is clear is looked up only among the local table's shorter
  // prefixes (local_short_, in local_index_'s order; 127/8).
  static uint64_t local_bit(uint32_t addr) { return uint64_t{1} << ((addr * 0x9E3779B1u) >> 26); }
  mutable uint64_t local_bits_ = 0;
  mutable uint64_t addr_bits_ = 0;  // local_bit() of every address in addresses_
  mutable std::vector<IndexEntry> local_short_;
  std::vector<Address> addresses_;
  std::vector<Route> routes_;
  mutable std::vector<IndexEntry> local_index_, main_index_;
  mutable bool index_fresh_ = false;
};

}  // namespace nfemu::stack
