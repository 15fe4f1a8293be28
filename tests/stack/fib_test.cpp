// Expectations taken from `ip route show table local` / `ip route get` in a
// network namespace on Linux 6.18 (veth with 192.0.2.1/24, default via
// 192.0.2.9).
#include "stack/fib.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace nfemu::stack
