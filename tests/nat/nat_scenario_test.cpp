// tests/scenarios/nat-basics through nfemu: what gw transmits and its
// conntrack table at the end (formats checked in tests/log; the table
// agrees with 6.18 through `nfemu verify`: no port or id is remapped).
#include <gtest/gtest.h>

#include <algorithm>

#include "net/network.h"

namespace nfemu::net {
namespace {

TEST(NatScenarioTest, NatBasics) {
  auto sc = scenario::load_scenario(NFEMU_SCENARIOS "/nat-basics/nat-basics.toml");
  ASSERT_TRUE(sc) << sc.error().format("nat-basics.toml");
  auto net = Network::build(*sc);
  ASSERT_TRUE(net) << net.error().format("nat-basics.toml");
  (*net)->run();
  EXPECT_TRUE((*net)->unsupported().empty());
  const auto& tl = (*net)->timeline();
  auto has = [&](std::string_view line) { return std::find(tl.begin(), tl.end(), line) != tl.end(); };
  EXPECT_TRUE(has("0.500000 gw: transmits on lan: tcp 203.0.113.4:40000 > 100.64.0.80:80 flags S ttl 63"));
  EXPECT_TRUE(has("0.600000 gw: transmits on wan: tcp 203.0.113.1:8080 > 203.0.113.4:40000 flags SA seq 5000 ack 1001 ttl 63"));
  EXPECT_TRUE(has("0.700000 gw: transmits on lan: tcp 203.0.113.4:40000 > 100.64.0.80:80 flags A seq 1001 ack 5001 ttl 63"));
  EXPECT_TRUE(has("1.000000 gw: transmits on wan: udp 203.0.113.1:5000 > 203.0.113.4:53 ttl 63 payload 12"));
  EXPECT_TRUE(has("1.100000 gw: transmits on wan: udp 203.0.113.1:5000 > 203.0.113.5:53 ttl 63 payload 12"));
  EXPECT_TRUE(has("2.000000 gw: transmits on wan: icmp 203.0.113.1 > 203.0.113.4 echo-request ttl 63"));
  const auto& ct = (*net)->record("gw").conntrack_table;
  EXPECT_EQ(ct, (std::vector<std::string>{
      "icmp     1 28 src=100.64.0.10 dst=203.0.113.4 type=8 code=0 id=1 [UNREPLIED] src=203.0.113.4 dst=203.0.113.1 type=0 code=0 id=1 mark=0 use=1",
      "icmp     1 29 src=100.64.0.11 dst=203.0.113.5 type=8 code=0 id=1 [UNREPLIED] src=203.0.113.5 dst=203.0.113.1 type=0 code=0 id=1 mark=0 use=1",
      "tcp      6 431997 ESTABLISHED src=203.0.113.4 dst=203.0.113.1 sport=40000 dport=8080 src=100.64.0.80 dst=203.0.113.4 sport=80 dport=40000 [ASSURED] mark=0 use=1",
      "udp      17 27 src=100.64.0.10 dst=203.0.113.4 sport=5000 dport=53 [UNREPLIED] src=203.0.113.4 dst=203.0.113.1 sport=53 dport=5000 mark=0 use=1",
      "udp      17 28 src=100.64.0.11 dst=203.0.113.5 sport=5000 dport=53 [UNREPLIED] src=203.0.113.5 dst=203.0.113.1 sport=53 dport=5000 mark=0 use=1",
  }));
}

}  // namespace
}  // namespace nfemu::net
