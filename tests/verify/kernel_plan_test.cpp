// The planning half of `nfemu verify` (no root needed): which namespaces,
// commands, neighbours, rules, sockets and bytes a scenario turns into, and
// the pure parts of the kernel log reading (kmsg records, attribution).
// The commands themselves were run on Linux 6.1 by `nfemu verify` on
// tests/verify/smoke/ and tests/scenarios/.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "packet/grammar.h"
#include "verify/kernel_plan.h"
#include "verify/kernel_run.h"

namespace nfemu::verify {
namespace {

constexpr std::string_view kScenario = R"(
[hosts.client]
routes = ["default via 198.51.100.1"]
iptables = ["iptables -A OUTPUT -p udp -m comment --comment 'two words' -j ACCEPT"]
[hosts.client.interfaces.c0]
addresses = ["198.51.100.10/24"]
mac = "02:00:00:00:00:10"

[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1, "net.ipv4.conf.eth1.forwarding" = 0, "net.ipv4.conf.default.rp_filter" = 2, "net.netfilter.nf_conntrack_udp_timeout" = 10, "net.netfilter.nf_conntrack_max" = 100 }
iptables-save = "fw.rules"
iptables = [
  "-t nat -A PREROUTING -i eth1 -p tcp --dport 80 -j DNAT --to-destination 203.0.113.80:8080",
  "-A INPUT -j LOG --log-prefix \"fw in: \"",
]
listen = ["tcp/22", "udp/53"]
[hosts.fw.interfaces.eth0]
addresses = ["198.51.100.1/24"]
mac = "02:00:00:00:00:01"
[hosts.fw.interfaces.eth1]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:02"

[[links]]
between = ["client:c0", "fw:eth0"]

[[traffic]]
at = 0.5
from = "client"
packet = "udp 198.51.100.10:5000 > 203.0.113.7:53"

[[traffic]]
at = 1
on = "fw:eth1"
packet = "tcp 203.0.113.9:4000 > 203.0.113.1:80 flags S"

[[traffic]]
at = 1.5
on = "fw:eth0"
packet = "icmp 198.51.100.10 > 198.51.100.1 echo-request"
)";

constexpr std::string_view kRules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                                    "-A FORWARD -d 203.0.113.66 -j ACCEPT\nCOMMIT\n";

struct Planned {
  scenario::Scenario sc;
  std::vector<RawRules> raw;
  KernelPlan plan;
  std::filesystem::path dir;

  Planned() {
    dir = std::filesystem::temp_directory_path() / ("kernel_plan_test." + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "s.toml") << kScenario;
    std::ofstream(dir / "fw.rules") << kRules;
    auto s = scenario::load_scenario((dir / "s.toml").string());
    EXPECT_TRUE(s) << s.error().format("s.toml");
    sc = std::move(*s);
    auto r = read_raw_rules((dir / "s.toml").string(), sc);
    EXPECT_TRUE(r);
    raw = std::move(*r);
    auto p = plan_kernel(sc, raw, "nfvT");
    EXPECT_TRUE(p) << p.error().message;
    plan = std::move(*p);
  }
  ~Planned() { std::filesystem::remove_all(dir); }

  // Index of the first setup command equal to argv (-1 when absent).
  long find(const std::vector<std::string>& argv) const {
    auto it = std::find_if(plan.setup.begin(), plan.setup.end(), [&](const Command& c) { return c.argv == argv; });
    return it == plan.setup.end() ? -1 : it - plan.setup.begin();
  }
};

using V = std::vector<std::string>;

TEST(KernelPlanTest, NamespacesPerHostAndOneForTheWire) {
  Planned p;
  EXPECT_EQ(p.plan.host_ns, (V{"nfvT-client", "nfvT-fw"}));
  EXPECT_EQ(p.plan.wire_ns, "nfvT-wire");
  EXPECT_EQ(p.plan.namespaces, (V{"nfvT-client", "nfvT-fw", "nfvT-wire"}));
  EXPECT_EQ(p.find({"ip", "netns", "add", "nfvT-client"}), 0);
  EXPECT_GE(p.find({"ip", "netns", "add", "nfvT-wire"}), 0);
  EXPECT_GE(p.find({"ip", "netns", "exec", "nfvT-fw", "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"}),
            0);
}

TEST(KernelPlanTest, LinksAreVethPairsAndWiresHaveAHiddenPeer) {
  Planned p;
  long link = p.find({"ip", "link", "add", "c0", "netns", "nfvT-client", "type", "veth", "peer", "name", "eth0",
                      "netns", "nfvT-fw"});
  long wire = p.find({"ip", "link", "add", "eth1", "netns", "nfvT-fw", "type", "veth", "peer", "name", "w0", "netns",
                      "nfvT-wire"});
  EXPECT_GE(link, 0);
  EXPECT_GE(wire, 0);
  EXPECT_GE(p.find({"ip", "-n", "nfvT-wire", "link", "set", "w0", "address", "02:00:00:00:00:00", "mtu", "65535", "up"}), 0);
  EXPECT_GE(p.find({"ip", "-n", "nfvT-fw", "link", "set", "eth1", "address", "02:00:00:00:00:02", "mtu", "1500"}), 0);
  EXPECT_GE(p.find({"ip", "-n", "nfvT-fw", "addr", "add", "203.0.113.1/24", "dev", "eth1"}), 0);
  // conf.default before any interface exists, so that it applies to them.
  long dflt = p.find({"ip", "netns", "exec", "nfvT-fw", "sysctl", "-q", "-w", "net.ipv4.conf.default.rp_filter=2"});
  EXPECT_GE(dflt, 0);
  EXPECT_LT(dflt, link);
  // The global forwarding switch sets every interface's: before eth1's own.
  long fwd = p.find({"ip", "netns", "exec", "nfvT-fw", "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"});
  long fwd_eth1 = p.find({"ip", "netns", "exec", "nfvT-fw", "sysctl", "-q", "-w", "net.ipv4.conf.eth1.forwarding=0"});
  EXPECT_GT(fwd, link);
  EXPECT_GT(fwd_eth1, fwd);
  long route = p.find({"ip", "-n", "nfvT-client", "route", "add", "default", "via", "198.51.100.1"});
  EXPECT_GT(route, p.find({"ip", "-n", "nfvT-client", "link", "set", "c0", "up"}));
  // Offloads off on the host side, or captured TCP checksums are partial.
  long eth = p.find({"ip", "netns", "exec", "nfvT-fw", "ethtool", "-K", "eth1", "tx", "off", "tso", "off", "gso", "off",
                     "gro", "off"});
  ASSERT_GE(eth, 0);
  EXPECT_FALSE(p.plan.setup[static_cast<size_t>(eth)].may_fail);
}

TEST(KernelPlanTest, NeighboursResolveWhatTheEmulatorResolves) {
  Planned p;
  // One `ip -batch -' per namespace, a neighbour a line.
  auto neigh = [&](const std::string& ns, const std::string& addr, const std::string& mac, const std::string& dev) {
    long at = p.find({"ip", "-n", ns, "-batch", "-"});
    if (at < 0) return -1L;
    std::string line = "neigh replace " + addr + " lladdr " + mac + " dev " + dev + " nud permanent\n";
    return p.plan.setup[static_cast<size_t>(at)].input.find(line) == std::string::npos ? -1L : at;
  };
  // Link: the peer's addresses, with the peer's MAC, both ways.
  EXPECT_GE(neigh("nfvT-client", "198.51.100.1", "02:00:00:00:00:01", "c0"), 0);
  EXPECT_GE(neigh("nfvT-fw", "198.51.100.10", "02:00:00:00:00:10", "eth0"), 0);
  // Wire: traffic addresses, a DNAT target and a rules-file address in the
  // subnet, all behind the wire's MAC.
  EXPECT_GE(neigh("nfvT-fw", "203.0.113.7", "02:00:00:00:00:00", "eth1"), 0);
  EXPECT_GE(neigh("nfvT-fw", "203.0.113.9", "02:00:00:00:00:00", "eth1"), 0);
  EXPECT_GE(neigh("nfvT-fw", "203.0.113.80", "02:00:00:00:00:00", "eth1"), 0);
  EXPECT_GE(neigh("nfvT-fw", "203.0.113.66", "02:00:00:00:00:00", "eth1"), 0);
  // Never the host's own address, never outside the subnet.
  EXPECT_EQ(neigh("nfvT-fw", "203.0.113.1", "02:00:00:00:00:00", "eth1"), -1);
  EXPECT_EQ(neigh("nfvT-fw", "198.51.100.10", "02:00:00:00:00:00", "eth1"), -1);
}

TEST(KernelPlanTest, RulesAreTheTextsAsWritten) {
  Planned p;
  ASSERT_EQ(p.plan.rules.size(), 4u);
  EXPECT_EQ(p.plan.rules[0].argv, (V{"ip", "netns", "exec", "nfvT-client", "iptables-legacy", "-w", "-A", "OUTPUT", "-p",
                                     "udp", "-m", "comment", "--comment", "two words", "-j", "ACCEPT"}));
  EXPECT_EQ(p.plan.rules[0].origin_line, 4);
  EXPECT_EQ(p.plan.rules[1].argv, (V{"ip", "netns", "exec", "nfvT-fw", "iptables-legacy-restore"}));
  EXPECT_EQ(p.plan.rules[1].input, kRules);
  EXPECT_EQ(p.plan.rules[3].argv.back(), "fw in: ");
  for (const auto& r : p.plan.rules) EXPECT_TRUE(r.is_rule);
  // net.netfilter sysctls after the rules; nf_conntrack_max cannot be set.
  ASSERT_EQ(p.plan.late_sysctls.size(), 1u);
  EXPECT_EQ(p.plan.late_sysctls[0].argv.back(), "net.netfilter.nf_conntrack_udp_timeout=10");
  ASSERT_EQ(p.plan.notes.size(), 1u);
  EXPECT_NE(p.plan.notes[0].find("nf_conntrack_max"), std::string::npos);
}

TEST(KernelPlanTest, CapturesListenersAndTraffic) {
  Planned p;
  ASSERT_EQ(p.plan.captures.size(), 3u);  // c0, eth0, eth1; never lo
  EXPECT_EQ(p.plan.captures[2].ifname, "eth1");
  ASSERT_EQ(p.plan.listeners.size(), 2u);
  EXPECT_EQ(p.plan.listeners[0].proto, 6);
  EXPECT_EQ(p.plan.listeners[1].port, 53);
  EXPECT_EQ(p.plan.end_ns, 2'500'000'000);
  ASSERT_EQ(p.plan.traffic.size(), 3u);

  const Injection& from = p.plan.traffic[0];
  EXPECT_TRUE(from.from);
  EXPECT_EQ(from.ns, "nfvT-client");
  EXPECT_EQ(from.at_ns, 500'000'000);
  auto spec = packet::parse_packet_spec("udp 198.51.100.10:5000 > 203.0.113.7:53");
  auto built = packet::build_packet(*spec);  // the span below must not outlive it
  auto bytes = built.data();
  EXPECT_EQ(from.bytes, std::vector<uint8_t>(bytes.begin(), bytes.end()));
  EXPECT_EQ(from.dst, 0xcb007107u);

  const Injection& wire = p.plan.traffic[1];
  EXPECT_FALSE(wire.from);
  EXPECT_EQ(wire.ns, "nfvT-wire");
  EXPECT_EQ(wire.ifname, "w0");
  EXPECT_FALSE(wire.strip_from_peer);
  ASSERT_GT(wire.bytes.size(), 14u);
  EXPECT_EQ(std::vector<uint8_t>(wire.bytes.begin(), wire.bytes.begin() + 14),
            (std::vector<uint8_t>{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 0, 8, 0}));

  const Injection& link = p.plan.traffic[2];
  EXPECT_EQ(link.ns, "nfvT-client");
  EXPECT_EQ(link.ifname, "c0");
  EXPECT_TRUE(link.strip_from_peer);
  EXPECT_EQ(link.peer_host, 0u);
  EXPECT_EQ(link.peer_ifname, "c0");
  EXPECT_EQ(std::vector<uint8_t>(link.bytes.begin(), link.bytes.begin() + 12),
            (std::vector<uint8_t>{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x10}));
}

TEST(KernelPlanTest, WhatTheRawSocketChangesIsNoted) {
  auto sc = scenario::load_scenario_text(R"(
[hosts.a]
[hosts.a.interfaces.e0]
addresses = ["192.0.2.1/24"]
[[traffic]]
at = 0
from = "a"
packet = "udp 192.0.2.1:1 > 192.0.2.2:2 ipid 0"
)",
                                         "raw.toml", ".");
  ASSERT_TRUE(sc) << sc.error().format("raw.toml");
  auto plan = plan_kernel(*sc, std::vector<RawRules>(1), "nfvR");
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->notes.size(), 1u);
  EXPECT_NE(plan->notes[0].find("the kernel's raw socket replaces IPv4 ID 0"), std::string::npos);
  EXPECT_EQ(plan->notes[0].rfind("raw.toml:", 0), 0u) << plan->notes[0];
  EXPECT_FALSE(plan->wire_ns.empty());
}

TEST(KernelPlanTest, RunIdsFitNamespaceNames) {
  std::string id = make_run_id();
  EXPECT_EQ(id.rfind("nfv", 0), 0u);
  EXPECT_LE(id.size() + 1 + 15, 64u);
}

TEST(KernelPlanTest, AddressesInText) {
  EXPECT_EQ(addresses_in_text("-d 192.0.2.0/24 -j DNAT --to-destination 100.64.1.4:80-100.64.1.5"),
            (std::vector<uint32_t>{0xc0000200, 0x64400104, 0x64400105}));
  EXPECT_TRUE(addresses_in_text("--dport 80 -m u32 --u32 0x1.2.3").empty());
  EXPECT_TRUE(addresses_in_text("1.2.3.4.5").empty());
  // Every address of a NAT range, and of NETMAP's --to prefix.
  EXPECT_EQ(addresses_in_text("--to-source 192.0.2.10-192.0.2.12:1024-2048"),
            (std::vector<uint32_t>{0xc000020a, 0xc000020b, 0xc000020c}));
  EXPECT_EQ(addresses_in_text("-j NETMAP --to 198.51.100.0/28").size(), 1u + 16u);  // the word, then the prefix
  EXPECT_EQ(addresses_in_text("-d 198.51.100.0/28").size(), 1u);
}

TEST(KernelLogTest, KmsgRecordsReadAsDmesgPrintsThem) {
  EXPECT_EQ(kmsg_text("4,1234,5678,-;edge drop: IN=eth0 OUT= \n SUBSYSTEM=net\n"), "edge drop: IN=eth0 OUT= ");
  EXPECT_EQ(kmsg_text("6,1,2,-;a\\x5cb\\x0a"), "a\\b\n");
  EXPECT_FALSE(kmsg_text("garbage"));
}

TEST(KernelLogTest, LinesGoToTheHostWhoseInterfaceAndRulesFit) {
  Planned p;
  bool amb = true;
  // eth0 exists only on fw.
  EXPECT_EQ(attribute_log_line(p.sc, p.raw,
                               "fw in: IN=eth0 OUT= MAC=02:00:00:00:00:01:02:00:00:00:00:10:08:00 SRC=198.51.100.10 ",
                               &amb),
            1);
  EXPECT_FALSE(amb);
  // OUTPUT lines have no MAC; c0 is the client's.
  EXPECT_EQ(attribute_log_line(p.sc, p.raw, "x: IN= OUT=c0 SRC=198.51.100.10 ", &amb), 0);
  EXPECT_EQ(attribute_log_line(p.sc, p.raw, "TRACE: raw:PREROUTING:policy:2 IN=eth9 OUT= ", &amb), -1);
  EXPECT_EQ(attribute_log_line(p.sc, p.raw, "no netfilter line", &amb), -1);
  // A MAC that is not the interface's: not this host.
  EXPECT_EQ(attribute_log_line(p.sc, p.raw, "fw in: IN=eth0 OUT= MAC=02:00:00:00:00:99:02:00:00:00:00:10:08:00 ", &amb),
            -1);
}

TEST(KernelLogTest, SameInterfaceNamesAreToldApartByMacPrefixAndAddress) {
  constexpr std::string_view kTwins = R"(
[hosts.a]
iptables = ["-A OUTPUT -j LOG --log-prefix 'out: '"]
[hosts.a.interfaces.eth0]
addresses = ["192.0.2.1/24"]
mac = "02:00:00:00:00:0a"
[hosts.b]
iptables = ["-A OUTPUT -j LOG --log-prefix 'out: '", "-A INPUT -j LOG --log-prefix 'b in: '"]
[hosts.b.interfaces.eth0]
addresses = ["192.0.2.2/24"]
mac = "02:00:00:00:00:0b"
[[links]]
between = ["a:eth0", "b:eth0"]
)";
  auto sc = scenario::load_scenario_text(kTwins, "twins.toml", ".");
  ASSERT_TRUE(sc) << sc.error().format("twins.toml");
  std::vector<RawRules> raw(2);
  raw[0].lines.push_back({"-A OUTPUT -j LOG --log-prefix 'out: '", 3});
  raw[1].lines.push_back({"-A OUTPUT -j LOG --log-prefix 'out: '", 7});
  raw[1].lines.push_back({"-A INPUT -j LOG --log-prefix 'b in: '", 7});
  bool amb = false;
  // By the destination MAC of an incoming frame.
  EXPECT_EQ(attribute_log_line(*sc, raw, "x: IN=eth0 OUT= MAC=02:00:00:00:00:0a:02:00:00:00:00:0b:08:00 SRC=192.0.2.2 ",
                               &amb),
            0);
  // By the prefix only one host's rules hold.
  EXPECT_EQ(attribute_log_line(*sc, raw, "b in: IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 ", &amb), 1);
  EXPECT_FALSE(amb);
  // By the source address of an outgoing packet.
  EXPECT_EQ(attribute_log_line(*sc, raw, "out: IN= OUT=eth0 SRC=192.0.2.2 DST=192.0.2.1 ", &amb), 1);
  EXPECT_FALSE(amb);
  // Nothing tells them apart: the first, flagged.
  EXPECT_EQ(attribute_log_line(*sc, raw, "out: IN= OUT=eth0 SRC=198.51.100.7 DST=192.0.2.1 ", &amb), 0);
  EXPECT_TRUE(amb);
}

}  // namespace
}  // namespace nfemu::verify
