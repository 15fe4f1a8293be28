// `ip route add` as Linux answers it: KernelTranscript replays
// data/routes.transcript, which routes_kernel.sh checks against the kernel.
#include "scenario/routes.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "packet/addr.h"
#include "scenario/scenario.h"

namespace nfemu::scenario {
namespace {

uint32_t ip(std::string_view s) { return *packet::parse_ipv4_addr(s); }

Host make_host() {
  Host h;
  h.name = "h";
  Interface lo;
  lo.name = "lo";
  lo.loopback = true;
  lo.mtu = 65536;
  lo.addresses.push_back({ip("127.0.0.1"), 8});
  h.interfaces.push_back(lo);
  Interface e0;
  e0.name = "eth0";
  e0.addresses.push_back({ip("192.0.2.1"), 24});
  h.interfaces.push_back(e0);
  Interface e1;
  e1.name = "eth1";
  e1.addresses.push_back({ip("198.51.100.1"), 24});
  h.interfaces.push_back(e1);
  add_kernel_routes(h);
  return h;
}

std::string add(Host& h, std::string_view text) {
  auto r = add_route(h, text);
  if (r) return "OK";
  return r.error().message + " @" + std::to_string(r.error().col);
}

TEST(RoutesTest, KernelTranscript) {
  std::ifstream in(std::string(NFEMU_SCENARIO_DATA) + "/routes.transcript");
  ASSERT_TRUE(in);
  Host h = make_host();
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // ARGS | MESSAGE [| COL]
    size_t p1 = line.find(" | ");
    ASSERT_NE(p1, std::string::npos) << line;
    std::string args = line.substr(0, p1), rest = line.substr(p1 + 3);
    size_t p2 = rest.find(" | ");
    std::string expect = rest.substr(0, p2);
    if (p2 != std::string::npos) expect += " @" + rest.substr(p2 + 3);
    EXPECT_EQ(add(h, args), expect) << args;
    ++n;
  }
  EXPECT_GT(n, 50);
}

TEST(RoutesTest, ResolvedRoutes) {
  Host h = make_host();
  ASSERT_EQ(add(h, "198.18.0.0/15 via 198.51.100.7 metric 20"), "OK");
  const Route& r = h.routes.back();
  EXPECT_EQ(r.type, RouteType::Unicast);
  EXPECT_EQ(r.table, RouteTable::Main);
  EXPECT_EQ(r.dst, ip("198.18.0.0"));
  EXPECT_EQ(r.prefix_len, 15);
  EXPECT_EQ(r.dev, 2);  // eth1, from the gateway
  EXPECT_EQ(r.metric, 20u);
  EXPECT_EQ(r.scope, kScopeUniverse);
  ASSERT_EQ(add(h, "to unicast 100.64.0.0/255.192.0.0 dev eth0 proto static table main"), "OK");
  EXPECT_EQ(h.routes.back().prefix_len, 10);
  EXPECT_EQ(h.routes.back().scope, kScopeLink);
  ASSERT_EQ(add(h, "local 203.0.113.0/24 dev lo"), "OK");
  EXPECT_EQ(h.routes.back().table, RouteTable::Local);
  EXPECT_EQ(h.routes.back().scope, kScopeHost);
  EXPECT_EQ(address_type(h, ip("203.0.113.77")), RouteType::Local);
  ASSERT_EQ(add(h, "unreachable 192.0.2.128/25"), "OK");
  EXPECT_EQ(h.routes.back().dev, -1);
  // Longest prefix wins; an unreachable route stops the lookup.
  EXPECT_FALSE(lookup_route(h, ip("192.0.2.200")));
  EXPECT_EQ(lookup_route(h, ip("192.0.2.100"))->dev, 1);
  ASSERT_EQ(add(h, "198.18.0.0/24 via 100.64.5.5 onlink dev eth0"), "OK");
  EXPECT_TRUE(h.routes.back().onlink);
  EXPECT_EQ(h.routes.back().dev, 1);
  EXPECT_EQ(add(h, "throw 198.18.1.0/24"), "nfemu does not model `throw' routes @1");
  EXPECT_EQ(add(h, "198.18.1.0/24 dev eth0 table 100"),
            "nfemu models only the main and local routing tables, not `100' @30");
}

TEST(RoutesTest, IprouteAddressForms) {
  EXPECT_EQ(parse_iproute_addr("10"), ip("10.0.0.0"));
  EXPECT_EQ(parse_iproute_addr("10.19"), ip("10.19.0.0"));
  EXPECT_EQ(parse_iproute_addr("0x0a.010.0.1"), ip("10.8.0.1"));
  EXPECT_FALSE(parse_iproute_addr("256.0.0.0"));
  EXPECT_FALSE(parse_iproute_addr("1.2.3.4.5"));
  EXPECT_FALSE(parse_iproute_addr("1..2"));
  EXPECT_FALSE(parse_iproute_addr(""));
}

}  // namespace
}  // namespace nfemu::scenario
