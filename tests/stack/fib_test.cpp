// Expectations taken from `ip route show table local` / `ip route get` in a
// network namespace on Linux 6.18 (veth with 192.0.2.1/24, default via
// 192.0.2.9).
#include "stack/fib.h"

#include <gtest/gtest.h>

#include <random>

namespace nfemu::stack {
namespace {

constexpr uint32_t ip(int a, int b, int c, int d) {
  return static_cast<uint32_t>(a) << 24 | static_cast<uint32_t>(b) << 16 | static_cast<uint32_t>(c) << 8 |
         static_cast<uint32_t>(d);
}

Fib host() {
  Fib f;
  f.add_address("lo", ip(127, 0, 0, 1), 8);
  f.add_address("v0", ip(192, 0, 2, 1), 24);
  EXPECT_TRUE(f.add({.dst = 0, .plen = 0, .gateway = ip(192, 0, 2, 9)}));
  return f;
}

TEST(FibTest, LocalTableAsTheKernelFillsIt) {
  Fib f = host();
  EXPECT_EQ(f.addr_type(ip(192, 0, 2, 1)), RouteType::Local);
  EXPECT_EQ(f.addr_type(ip(192, 0, 2, 255)), RouteType::Broadcast);
  EXPECT_EQ(f.addr_type(ip(127, 0, 0, 1)), RouteType::Local);
  EXPECT_EQ(f.addr_type(ip(127, 1, 2, 3)), RouteType::Local);
  EXPECT_EQ(f.addr_type(ip(127, 255, 255, 255)), RouteType::Broadcast);
  // Linux 6.x no longer adds a broadcast route for the network address.
  EXPECT_EQ(f.addr_type(ip(192, 0, 2, 0)), RouteType::Unicast);
  EXPECT_EQ(f.addr_type(ip(198, 51, 100, 1)), RouteType::Unicast);
  EXPECT_EQ(f.addr_type(ip(255, 255, 255, 255)), RouteType::Broadcast);
  EXPECT_EQ(f.addr_type(ip(224, 0, 0, 1)), RouteType::Multicast);
  // With a device restriction, a local address of another device is not local.
  EXPECT_EQ(f.addr_type(ip(192, 0, 2, 1), "v0"), RouteType::Local);
  EXPECT_NE(f.addr_type(ip(192, 0, 2, 1), "lo"), RouteType::Local);
}

TEST(FibTest, LookupLikeIpRouteGet) {
  Fib f = host();
  auto r = f.lookup(ip(198, 51, 100, 1));  // 198.51.100.1 via 192.0.2.9 dev v0 src 192.0.2.1
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, RouteType::Unicast);
  EXPECT_EQ(r->dev, "v0");
  EXPECT_EQ(r->nexthop, ip(192, 0, 2, 9));
  EXPECT_EQ(r->src, ip(192, 0, 2, 1));
  auto c = f.lookup(ip(192, 0, 2, 0));  // 192.0.2.0 dev v0 src 192.0.2.1
  ASSERT_TRUE(c);
  EXPECT_EQ(c->nexthop, ip(192, 0, 2, 0));
  auto b = f.lookup(ip(192, 0, 2, 255));  // broadcast 192.0.2.255 dev v0 src 192.0.2.1
  ASSERT_TRUE(b);
  EXPECT_EQ(b->type, RouteType::Broadcast);
}

TEST(FibTest, LongestPrefixThenMetric) {
  Fib f = host();
  f.add_address("v1", ip(198, 18, 0, 1), 30);
  ASSERT_TRUE(f.add({.dst = ip(203, 0, 113, 0), .plen = 24, .gateway = ip(198, 18, 0, 2), .metric = 10}));
  ASSERT_TRUE(f.add({.dst = ip(203, 0, 113, 0), .plen = 24, .gateway = ip(192, 0, 2, 7), .metric = 5}));
  ASSERT_TRUE(f.add({.dst = ip(203, 0, 113, 128), .plen = 25, .gateway = ip(198, 18, 0, 2)}));
  EXPECT_EQ(f.lookup(ip(203, 0, 113, 1))->nexthop, ip(192, 0, 2, 7));
  EXPECT_EQ(f.lookup(ip(203, 0, 113, 200))->dev, "v1");
  EXPECT_EQ(f.lookup(ip(203, 0, 113, 200))->src, ip(198, 18, 0, 1));
}

TEST(FibTest, UnreachableAndErrors) {
  Fib f;
  f.add_address("v0", ip(192, 0, 2, 1), 24);
  EXPECT_FALSE(f.lookup(ip(198, 51, 100, 1)));  // "Network is unreachable"
  auto bad = f.add({.dst = 0, .plen = 0, .gateway = ip(198, 51, 100, 1)});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "Error: Nexthop has invalid gateway.");
  ASSERT_TRUE(f.add({.dst = ip(203, 0, 113, 0), .plen = 24, .type = RouteType::Unreachable}));
  EXPECT_EQ(f.lookup(ip(203, 0, 113, 9))->type, RouteType::Unreachable);
  EXPECT_FALSE(f.add({.dst = ip(203, 0, 113, 0), .plen = 24, .type = RouteType::Unreachable}));
}

TEST(FibTest, SourceSelectionPrefersTheSubnetOfTheDestination) {
  Fib f;
  f.add_address("v0", ip(192, 0, 2, 1), 24);
  f.add_address("v0", ip(198, 18, 42, 1), 24);
  EXPECT_EQ(f.select_source("v0", ip(198, 18, 42, 7)), ip(198, 18, 42, 1));
  EXPECT_EQ(f.select_source("v0", ip(203, 0, 113, 7)), ip(192, 0, 2, 1));
  EXPECT_EQ(f.select_source("nodev", ip(203, 0, 113, 7)), ip(192, 0, 2, 1));
}

// lookup() answers from an index sorted by preference, rebuilt after every
// change; this is the scan it replaced (longest prefix in the local table,
// else longest prefix then lowest metric in main, the earlier route on a
// tie), checked on random tables, with the table changed between lookups
// and on a copy of the Fib.
std::optional<FibResult> reference_lookup(const Fib& f, uint32_t dst) {
  auto mask = [](int plen) { return plen <= 0 ? 0u : (plen >= 32 ? 0xffffffffu : ~0u << (32 - plen)); };
  auto covers = [&](const Route& r) { return (dst & mask(r.plen)) == (r.dst & mask(r.plen)); };
  const Route* best = nullptr;
  for (const auto& r : f.routes())
    if (r.local_table && covers(r) && (!best || r.plen > best->plen)) best = &r;
  if (!best) {
    for (const auto& r : f.routes()) {
      if (r.local_table || !covers(r)) continue;
      if (!best || r.plen > best->plen || (r.plen == best->plen && r.metric < best->metric)) best = &r;
    }
  }
  if (!best) return std::nullopt;
  FibResult res;
  res.type = best->type;
  res.dev = best->dev;
  res.route = best;
  res.nexthop = best->gateway ? best->gateway : dst;
  res.src = best->prefsrc ? best->prefsrc : f.select_source(best->dev, res.nexthop, best->scope);
  return res;
}

TEST(FibTest, IndexedLookupMatchesTheLinearScan) {
  std::mt19937 rng(11);
  for (int round = 0; round < 30; ++round) {
    Fib f;
    f.add_address("lo", ip(127, 0, 0, 1), 8);
    // Addresses and routes in 10.0.0.0/12 so that prefixes overlap often.
    auto addr = [&] { return ip(10, static_cast<int>(rng() % 16), static_cast<int>(rng() % 4), static_cast<int>(rng() % 256)); };
    const char* devs[] = {"a0", "a1", "a2"};
    std::vector<uint32_t> probes = {0, ip(127, 0, 0, 1), ip(127, 9, 9, 9), 0xffffffffu};
    for (int step = 0; step < 40; ++step) {
      if (rng() % 4 == 0) {
        // The address and its broadcast are probed too: the local table's
        // /32 entries are found through a filter (Fib::local_bits_).
        uint32_t a = addr();
        int plen = 8 + static_cast<int>(rng() % 25);
        f.add_address(devs[rng() % 3], a, plen);
        probes.push_back(a);
        probes.push_back(plen == 32 ? a : a | (0xffffffffu >> plen));  // no shift by 32: UB
      } else {
        Route r{.dst = addr(), .plen = static_cast<int>(rng() % 33), .metric = static_cast<uint32_t>(rng() % 3)};
        if (rng() % 5 == 0) r.type = RouteType::Unreachable;
        else if (rng() % 2) r.gateway = addr();
        else r.dev = devs[rng() % 3];
        (void)f.add(r);  // refused ones (unreachable gateway, duplicates) change nothing
      }
      probes.push_back(addr());
      for (uint32_t dst : probes) {
        for (const Fib* g : {&f}) {
          auto got = g->lookup(dst);
          auto want = reference_lookup(*g, dst);
          ASSERT_EQ(got.has_value(), want.has_value()) << round << "/" << step << " " << dst;
          if (!got) continue;
          EXPECT_EQ(got->route, want->route);
          EXPECT_EQ(got->dev, want->dev);
          EXPECT_EQ(got->type, want->type);
          EXPECT_EQ(got->nexthop, want->nexthop);
          EXPECT_EQ(got->src, want->src);
        }
        // has_address's bit filter, rebuilt with the index, against a scan.
        bool own = false;
        for (const auto& a : f.addresses()) own |= a.addr == dst;
        EXPECT_EQ(f.has_address(dst), own) << round << "/" << step << " " << dst;
      }
    }
    Fib copy = f;
    for (uint32_t dst : probes) {
      auto got = copy.lookup(dst);
      auto want = reference_lookup(copy, dst);
      ASSERT_EQ(got.has_value(), want.has_value());
      if (got) {
        EXPECT_EQ(got->route, want->route);  // into the copy's routes
      }
    }
  }
}

// The martian check of every received packet without rp_filter asks
// has_address: an address added after a first answer must be seen (the
// filter is rebuilt with the lookup index).
TEST(FibTest, HasAddressSeesAddressesAddedLater) {
  Fib f;
  f.add_address("eth0", 0xc6336401, 24);  // 198.51.100.1/24
  EXPECT_TRUE(f.has_address(0xc6336401));
  EXPECT_FALSE(f.has_address(0xc633640a));
  EXPECT_FALSE(f.has_address(0xc6336400));  // the network: a route, not an address
  EXPECT_FALSE(f.has_address(0xc63364ff));  // the broadcast: a local-table route, not an address
  ASSERT_TRUE(f.lookup(0xc633640a));
  f.add_address("eth1", 0xc633640a, 32);
  EXPECT_TRUE(f.has_address(0xc633640a));
  Fib other;
  other.add_address("eth0", 0xcb007101, 24);
  EXPECT_FALSE(other.has_address(0xc633640a));
  other = f;  // a copy answers for its own addresses
  EXPECT_TRUE(other.has_address(0xc633640a));
}

}  // namespace
}  // namespace nfemu::stack
