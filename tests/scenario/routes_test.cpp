// `ip route add` as Linux 6.1 with iproute2 6.1 answers it. The
// transcript below was recorded in a fresh network namespace:
//   ip link add eth0 type veth peer name p0; ip link add eth1 type veth peer name p1; (all up)
//   ip addr add 192.0.2.1/24 dev eth0; ip addr add 198.51.100.1/24 dev eth1
// then each command in order.
#include "scenario/routes.h"

#include <gtest/gtest.h>

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
  Host h = make_host();
  struct Case {
    std::string_view cmd, expect;
  } cases[] = {
      {"default via 192.0.2.1", "OK"},  // a local gateway is accepted
      {"10.0.0.0/8 via 192.0.2.2 dev eth1", "Error: Nexthop has invalid gateway. @16"},
      {"10.1.0.0/16 via 192.0.2.2", "OK"},
      {"10.2.0.0/16 via 10.1.0.1", "Error: Nexthop has invalid gateway. @17"},  // not over a link
      {"10.3.0.1/16 dev eth0", "Error: Invalid prefix for given prefix length. @1"},
      {"10.3.0.0/16 dev eth0 src 203.0.113.9", "Error: Invalid prefsrc address. @26"},
      {"192.0.2.0/24 dev eth0", "RTNETLINK answers: File exists @1"},
      {"192.0.2.0/24 dev eth0 metric 5", "OK"},
      {"local 192.0.2.1 dev eth0", "RTNETLINK answers: File exists @1"},
      {"local 192.0.2.7 dev eth0", "OK"},
      {"unreachable 10.6.0.0/16 dev eth0",
       "Error: Gateway, device and multipath can not be specified for this route type. @29"},
      {"10.8.0.0/16 dev eth0 scope link", "OK"},
      {"10.9.0.0/16 via 10.8.0.1", "OK"},
      {"10.12.0.0 dev eth0", "OK"},
      {"10.13.0.0/16 dev eth0 via 192.0.2.2 metric 7", "OK"},
      {"10.14.0.0/16 via 192.0.2.2 src 198.51.100.1", "OK"},
      {"10.16.0.0/16 via 192.0.2.255", "Error: Nexthop has invalid gateway. @18"},  // broadcast
      {"10.17.0.0/16 via 192.0.2.0", "OK"},
      {"10.18.0.0/16 via 192.0.2.1", "OK"},
      {"10.19/16 dev eth0", "OK"},
      {"10.20.0.0/16 via 192.0.2.2 src 10.1.1.1", "Error: Invalid prefsrc address. @32"},
      {"10.21.0.0/16 dev eth0 scope host", "OK"},
      {"10.22.0.0/16 via 192.0.2.2 scope link", "Error: Nexthop has invalid gateway. @18"},
      {"10.23.0.0/16 via 192.0.2.2 dev eth1", "Error: Nexthop has invalid gateway. @18"},
      {"0.0.0.0/0 via 192.0.2.3", "RTNETLINK answers: File exists @1"},
      {"default via 192.0.2.4", "RTNETLINK answers: File exists @1"},
      {"default via 192.0.2.4 metric 100", "OK"},
      {"10.24.0.0/16 via 10.3.0.5", "Error: Nexthop has invalid gateway. @18"},
      {"10.25.0.0/16 dev eth0 src 192.0.2.1", "OK"},
      {"local 10.26.0.0/16 dev eth0 src 192.0.2.1", "OK"},
      {"local 10.27.0.0/16 via 192.0.2.2", "Error: Route with host scope can not have a gateway. @24"},
      {"10.15.0.0/16 via 127.0.0.1", "OK"},
      {"blackhole 10.5.0.0/16", "OK"},
      {"blackhole 10.5.0.0/16", "RTNETLINK answers: File exists @1"},
      {"10.10.0.0/16 via 10.5.0.1", "Error: Nexthop has invalid gateway. @18"},
      {"local 203.0.113.4", "RTNETLINK answers: No such device @1"},
      {"local 203.0.113.4 dev lo", "OK"},
      {"prohibit 10.7.0.0/16 via 192.0.2.2",
       "Error: Gateway, device and multipath can not be specified for this route type. @26"},
      {"foo via 1.2.3.4", "Error: inet prefix is expected rather than \"foo\". @1"},
      {"10.4.0.0/16 via bar", "Error: inet address is expected rather than \"bar\". @17"},
      {"10.4.0.0/16 via", "Command line is not complete. Try option \"help\" @16"},
      {"10.4.0.0/16 via 192.0.2.2 extra", "Error: either \"to\" is duplicate, or \"extra\" is a garbage. @27"},
      {"10.11.0.0/33 dev eth0", "Error: inet prefix is expected rather than \"10.11.0.0/33\". @1"},
      {"10.18.0.0/16 metric abc dev eth0", "Error: argument \"abc\" is wrong: \"metric\" value is invalid @21"},
      {"10.3.0.0/16 dev eth9", "Cannot find device \"eth9\" @17"},
  };
  for (const auto& c : cases) EXPECT_EQ(add(h, c.cmd), c.expect) << c.cmd;
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
  ASSERT_EQ(add(h, "198.18.0.0/24 via 192.0.2.9 onlink dev eth0"), "OK");
  EXPECT_EQ(add(h, "198.18.1.0/24 via 192.0.2.255 onlink dev eth0"), "Error: Nexthop has invalid gateway. @19");
  EXPECT_EQ(add(h, "198.18.1.0/24 via 192.0.2.9 onlink"), "Error: Nexthop device required for onlink. @19");
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
