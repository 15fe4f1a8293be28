#include "scenario/scenario.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "packet/addr.h"
#include "scenario/routes.h"

namespace nfemu::scenario {
namespace {

const std::string kData = NFEMU_SCENARIO_DATA;
const std::string kScenarios = NFEMU_SCENARIOS_DIR;

Result<Scenario> load(std::string_view text, const LoadOptions& opts = {}) {
  return load_scenario_text(text, "t.toml", kData, opts);
}

// The error as the CLI prints it, or "OK".
std::string err(std::string_view text, const LoadOptions& opts = {}) {
  auto sc = load(text, opts);
  if (sc) return "OK";
  return sc.error().format("t.toml");
}

uint32_t ip(std::string_view s) { return *packet::parse_ipv4_addr(s); }

// The examples of shared/spec/scenario.md, verbatim, plus the hosts its
// link example names so that the whole file is consistent.
constexpr std::string_view kSpecExample = R"(
[hosts.fw]                                  # NAME: [a-z][a-z0-9_-]{0,14}
sysctl = { "net.ipv4.ip_forward" = 1 }      # optional; kernel defaults for the rest
iptables-save = "fw.rules"                  # optional; iptables-save format, path relative to this file
iptables = [                                # optional; applied after the file, in order
  "-t nat -A PREROUTING -d 203.0.113.4 -j DNAT --to 100.64.1.4",
  "-A FORWARD -d 100.64.1.5 -j REJECT",
]
routes = ["default via 192.0.2.2"]          # optional; `ip route add` syntax
listen = ["tcp/22", "udp/53"]               # optional; sockets bound to all addresses

[hosts.fw.interfaces.eth0]                  # IFNAME: at most 15 characters, as in Linux
addresses = ["192.0.2.1/24"]                # `ip addr add` syntax; the connected route is implicit
mac = "02:00:00:00:00:01"                   # optional; default below
mtu = 1500                                  # optional

[hosts.client.interfaces.c0]
addresses = ["198.51.100.10/24"]

[hosts.router.interfaces.r0]
addresses = ["198.51.100.1/24"]

[[links]]
between = ["client:c0", "router:r0"]        # a point-to-point cable, like a veth pair

[[traffic]]
at = 0.5                                    # virtual seconds from the start, non-decreasing
from = "client"                             # sent by this host's own stack ...
packet = "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S"

[[traffic]]
at = 1.0
on = "fw:eth0"                              # ... or arriving on this interface from the wire
packet = "udp 198.51.100.10:5000 > 203.0.113.4:53 payload 12"
)";

TEST(ScenarioTest, SpecExampleLoads) {
  auto sc = load(kSpecExample);
  ASSERT_TRUE(sc) << sc.error().format("t.toml");
  ASSERT_EQ(sc->hosts.size(), 3u);
  EXPECT_EQ(sc->hosts[0].name, "fw");
  EXPECT_EQ(sc->hosts[1].name, "client");
  EXPECT_EQ(sc->hosts[2].name, "router");

  const Host& fw = sc->hosts[0];
  EXPECT_EQ(fw.line, 2);
  EXPECT_EQ(fw.sysctl_int("net.ipv4.ip_forward", 0), 1);
  EXPECT_EQ(fw.sysctls.size(), 1u);
  ASSERT_EQ(fw.interfaces.size(), 2u);
  EXPECT_EQ(fw.interfaces[1].name, "eth0");
  EXPECT_EQ(packet::format_mac(fw.interfaces[1].mac), "02:00:00:00:00:01");
  EXPECT_EQ(fw.interfaces[1].mtu, 1500u);
  ASSERT_EQ(fw.interfaces[1].addresses.size(), 1u);
  EXPECT_EQ(fw.interfaces[1].addresses[0].addr, ip("192.0.2.1"));
  EXPECT_EQ(fw.interfaces[1].addresses[0].prefix_len, 24);
  ASSERT_EQ(fw.listeners.size(), 2u);
  EXPECT_EQ(fw.listeners[0], (Listener{Proto::Tcp, 22}));
  EXPECT_EQ(fw.listeners[1], (Listener{Proto::Udp, 53}));

  // The rules file's INPUT rule, then the two `iptables` entries.
  const xt::Table* filter = fw.ruleset.find(xt::TableId::Filter);
  const xt::Table* nat = fw.ruleset.find(xt::TableId::Nat);
  ASSERT_TRUE(filter && nat);
  EXPECT_EQ(filter->find("INPUT")->rules.size(), 1u);
  EXPECT_EQ(filter->find("FORWARD")->rules.size(), 1u);
  EXPECT_EQ(nat->find("PREROUTING")->rules.size(), 1u);
  EXPECT_EQ(fw.rule_count(), 3u);

  // The user's route, resolved to eth0 (index 1), after the kernel's.
  const Route& def = fw.routes.back();
  EXPECT_EQ(def.origin, RouteOrigin::User);
  EXPECT_EQ(def.dst, 0u);
  EXPECT_EQ(def.prefix_len, 0);
  EXPECT_EQ(def.via, ip("192.0.2.2"));
  EXPECT_EQ(def.dev, 1);
  EXPECT_EQ(def.scope, kScopeUniverse);
  EXPECT_EQ(def.line, 9);
  EXPECT_EQ(def.text, "default via 192.0.2.2");

  ASSERT_EQ(sc->links.size(), 1u);
  EXPECT_EQ(sc->links[0].a, (Endpoint{1, 1}));
  EXPECT_EQ(sc->links[0].b, (Endpoint{2, 1}));
  EXPECT_EQ(sc->links[0].line, 23);
  EXPECT_EQ(sc->peer({1, 1}), (Endpoint{2, 1}));
  EXPECT_EQ(sc->peer({2, 1}), (Endpoint{1, 1}));
  EXPECT_FALSE(sc->peer({0, 1}));  // fw:eth0 is a wire interface

  ASSERT_EQ(sc->traffic.size(), 2u);
  const Traffic& t0 = sc->traffic[0];
  EXPECT_EQ(t0.at, 0.5);
  EXPECT_EQ(t0.at_ns, 500000000);
  EXPECT_EQ(t0.origin, Origin::From);
  EXPECT_EQ(t0.host, 1u);
  EXPECT_EQ(t0.packet.kind, packet::SpecKind::Tcp);
  EXPECT_EQ(t0.packet.dport, 80);
  EXPECT_EQ(t0.line, 26);
  const Traffic& t1 = sc->traffic[1];
  EXPECT_EQ(t1.origin, Origin::On);
  EXPECT_EQ(t1.host, 0u);
  EXPECT_EQ(t1.iface, 1u);
  EXPECT_EQ(t1.packet.payload, 12u);
  EXPECT_EQ(sc->end_ns, 2000000000);
  EXPECT_EQ(sc->end_time, 2.0);
}

TEST(ScenarioTest, Defaults) {
  auto sc = load(R"(
[hosts.fw.interfaces.eth0]
[hosts.fw.interfaces.eth1]
addresses = ["198.51.100.1/24"]
)");
  ASSERT_TRUE(sc) << sc.error().format("t.toml");
  const Host& fw = sc->hosts[0];
  ASSERT_EQ(fw.interfaces.size(), 3u);
  const Interface& lo = fw.interfaces[0];
  EXPECT_EQ(lo.name, "lo");
  EXPECT_TRUE(lo.loopback);
  EXPECT_EQ(lo.mtu, 65536u);
  EXPECT_EQ(packet::format_mac(lo.mac), "00:00:00:00:00:00");
  ASSERT_EQ(lo.addresses.size(), 1u);
  EXPECT_EQ(lo.addresses[0], (Address{ip("127.0.0.1"), 8}));
  // printf 'fw/eth0' | sha256sum -> 1d70f2e7e135a24f...
  EXPECT_EQ(packet::format_mac(fw.interfaces[1].mac), "02:1d:70:f2:e7:e1");
  // printf 'fw/eth1' | sha256sum -> 36fed6752b938b80...
  EXPECT_EQ(packet::format_mac(fw.interfaces[2].mac), "02:36:fe:d6:75:2b");
  EXPECT_EQ(fw.interfaces[1].mtu, 1500u);
  EXPECT_TRUE(fw.interfaces[1].addresses.empty());
  EXPECT_TRUE(fw.sysctls.empty());
  EXPECT_TRUE(fw.ruleset.tables().empty());
  EXPECT_EQ(fw.conntrack_max, 262144);
  EXPECT_EQ(fw.sysctl_int("net.ipv4.ip_forward", 0), 0);
  // Without traffic the run still lasts one second.
  EXPECT_TRUE(sc->traffic.empty());
  EXPECT_EQ(sc->end_ns, 1000000000);
}

TEST(ScenarioTest, KernelRoutesFromAddresses) {
  auto sc = load(R"(
[hosts.h.interfaces.eth0]
addresses = ["192.0.2.1/24", "192.0.2.9/255.255.255.0", "198.18.0.1/31"]
[hosts.h.interfaces.lo]
addresses = ["203.0.113.53/32"]
)");
  ASSERT_TRUE(sc) << sc.error().format("t.toml");
  const Host& h = sc->hosts[0];
  EXPECT_EQ(h.interfaces[1].addresses[2], (Address{ip("198.18.0.1"), 31}));
  EXPECT_FALSE(h.interfaces[1].addresses[0].secondary);
  EXPECT_TRUE(h.interfaces[1].addresses[1].secondary);
  // What `ip route show table all` lists in a namespace configured so.
  EXPECT_EQ(address_type(h, ip("127.1.2.3")), RouteType::Local);
  EXPECT_EQ(address_type(h, ip("127.255.255.255")), RouteType::Broadcast);
  EXPECT_EQ(address_type(h, ip("203.0.113.53")), RouteType::Local);
  EXPECT_EQ(address_type(h, ip("192.0.2.9")), RouteType::Local);
  EXPECT_EQ(address_type(h, ip("192.0.2.255")), RouteType::Broadcast);
  EXPECT_EQ(address_type(h, ip("192.0.2.0")), RouteType::Unicast);
  EXPECT_EQ(address_type(h, ip("198.18.0.1")), RouteType::Local);
  EXPECT_EQ(address_type(h, ip("198.18.0.0")), RouteType::Unicast);  // /31: no broadcast
  const Route* c = lookup_route(h, ip("192.0.2.77"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, RouteType::Unicast);
  EXPECT_EQ(c->dev, 1);
  EXPECT_EQ(c->scope, kScopeLink);
  EXPECT_EQ(c->src, ip("192.0.2.1"));  // the primary, not the secondary
  EXPECT_FALSE(lookup_route(h, ip("8.8.8.8")));
  // The secondary has a local route but no connected route of its own.
  int connected = 0;
  for (const auto& r : h.routes)
    if (r.table == RouteTable::Main && r.dst == ip("192.0.2.0")) ++connected;
  EXPECT_EQ(connected, 1);
}

TEST(ScenarioTest, HostsAndInterfacesKeepFileOrder) {
  auto sc = load(R"(
[hosts.zeta.interfaces.z9]
[hosts.zeta.interfaces.a1]
[hosts.alpha]
[hosts.mid]
)");
  ASSERT_TRUE(sc) << sc.error().format("t.toml");
  ASSERT_EQ(sc->hosts.size(), 3u);
  EXPECT_EQ(sc->hosts[0].name, "zeta");
  EXPECT_EQ(sc->hosts[1].name, "alpha");
  EXPECT_EQ(sc->hosts[2].name, "mid");
  EXPECT_EQ(sc->hosts[0].interfaces[1].name, "z9");
  EXPECT_EQ(sc->hosts[0].interfaces[2].name, "a1");
  EXPECT_EQ(sc->host_index("mid"), 2);
  EXPECT_EQ(sc->host_index("nope"), -1);
}

TEST(ScenarioTest, SysctlsNestedKeysAndStrings) {
  auto sc = load(R"(
[hosts.h.interfaces.eth0]
[hosts.h.sysctl]
net.ipv4.ip_forward = "1"
"net.ipv4.conf.eth0.rp_filter" = 2
"net.netfilter.nf_conntrack_max" = 1000
"net.ipv4.ip_local_port_range" = "1024   2048"
)");
  ASSERT_TRUE(sc) << sc.error().format("t.toml");
  const Host& h = sc->hosts[0];
  EXPECT_EQ(h.sysctl_int("net.ipv4.ip_forward", 0), 1);
  EXPECT_EQ(h.sysctl_int("net.ipv4.conf.eth0.rp_filter", 0), 2);
  EXPECT_EQ(h.conntrack_max, 1000);
  EXPECT_EQ(std::get<std::string>(h.sysctls.at("net.ipv4.ip_local_port_range")), "1024 2048");
}

TEST(ScenarioTest, TrafficTimes) {
  auto sc = load(R"(
[hosts.a]
[[traffic]]
at = 0
from = "a"
packet = "icmp 192.0.2.1 > 192.0.2.2 echo-request"
[[traffic]]
at = 0.1
from = "a"
packet = "icmp 192.0.2.1 > 192.0.2.2 echo-request seq 2"
[[traffic]]
at = 0.1
from = "a"
packet = "icmp 192.0.2.1 > 192.0.2.2 echo-request seq 3"
[[traffic]]
at = 3
from = "a"
packet = "icmp 192.0.2.1 > 192.0.2.2 type 13"
)");
  ASSERT_TRUE(sc) << sc.error().format("t.toml");
  ASSERT_EQ(sc->traffic.size(), 4u);
  EXPECT_EQ(sc->traffic[1].at_ns, 100000000);
  EXPECT_EQ(sc->traffic[2].at_ns, 100000000);  // equal times keep file order
  EXPECT_EQ(sc->traffic[2].packet.echo_seq, 3);
  EXPECT_EQ(sc->end_ns, 4000000000);

  EXPECT_EQ(err(R"([hosts.a]
[[traffic]]
at = 2
from = "a"
packet = "udp 192.0.2.1:1 > 192.0.2.2:2"
[[traffic]]
at = 1.5
from = "a"
packet = "udp 192.0.2.1:1 > 192.0.2.2:2"
)"),
            "t.toml:7:6: error: traffic at 1.5 s comes after traffic at 2 s (line 2): `at' must not decrease");
}

// One test per error class, each with its exact position.
TEST(ScenarioErrorTest, TomlSyntax) {
  EXPECT_EQ(err("[hosts.a]\nsysctl = {\n"), "t.toml:2:11: error: Error while parsing inline table: expected key or "
                                            "closing '}', saw '\\n'");
  EXPECT_EQ(err("[hosts.a]\n[hosts.a]\n"), "t.toml:2:1: error: Error while parsing table header: cannot redefine existing table 'hosts.a'");
}

TEST(ScenarioErrorTest, UnknownKeys) {
  EXPECT_EQ(err("[hosts.a]\n[host.b]\n"), "t.toml:2:2: error: unknown key `host' at the top level");
  EXPECT_EQ(err("[hosts.fw]\nroute = []\n"), "t.toml:2:1: error: unknown key `route' in [hosts.fw]");
  EXPECT_EQ(err("[hosts.fw.interfaces.eth0]\naddress = [\"192.0.2.1/24\"]\n"),
            "t.toml:2:1: error: unknown key `address' in [hosts.fw.interfaces.eth0]");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\n[[links]]\nbetween = [\"a:e\", \"a:e\"]\nbetwen = 1\n"),
            "t.toml:4:1: error: unknown key `betwen' in [[links]]");
  EXPECT_EQ(err("[hosts.a]\n[[traffic]]\nat = 1\nfrom = \"a\"\npacket = \"udp 192.0.2.1:1 > 192.0.2.2:2\"\nwhen = 2\n"),
            "t.toml:6:1: error: unknown key `when' in [[traffic]]");
  // Among several unknown keys the first in the file is named.
  EXPECT_EQ(err("[hosts.fw]\nzz = 1\naa = 2\n"), "t.toml:2:1: error: unknown key `zz' in [hosts.fw]");
}

TEST(ScenarioErrorTest, Structure) {
  EXPECT_EQ(err(""), "t.toml:1:1: error: a scenario needs at least one host: no [hosts.NAME] table");
  EXPECT_EQ(err("hosts = 3\n"), "t.toml:1:9: error: `hosts' must be a table of hosts ([hosts.NAME]), not an integer");
  EXPECT_EQ(err("[hosts]\nfw = 1\n"), "t.toml:2:6: error: host `fw' must be a table ([hosts.fw]), not an integer");
  EXPECT_EQ(err("[hosts.a]\n[links]\n"), "t.toml:2:1: error: `links' must be an array of tables ([[links]])");
  EXPECT_EQ(err("[hosts.a]\nroutes = \"default via 192.0.2.1\"\n"),
            "t.toml:2:10: error: `routes' must be an array of strings, not a string");
  EXPECT_EQ(err("[hosts.a]\niptables = [\"-P INPUT DROP\", 3]\n"),
            "t.toml:2:30: error: `iptables' entries must be strings, not an integer");
}

TEST(ScenarioErrorTest, Names) {
  EXPECT_EQ(err("[hosts.Fw]\n"),
            "t.toml:1:8: error: invalid host name `Fw': it must match [a-z][a-z0-9_-]{0,14}");
  EXPECT_EQ(err("[hosts.a234567890123456]\n"),
            "t.toml:1:8: error: invalid host name `a234567890123456': it must match [a-z][a-z0-9_-]{0,14}");
  EXPECT_EQ(err("[hosts.a.interfaces.e234567890123456]\n"),
            "t.toml:1:21: error: interface name `e234567890123456' is longer than 15 characters");
  EXPECT_EQ(err("[hosts.a.interfaces.\"e:1\"]\n"),
            "t.toml:1:21: error: interface name `e:1' contains `:', which Linux refuses");
  EXPECT_EQ(err("[hosts.a.interfaces.\"e%d\"]\n"),
            "t.toml:1:21: error: interface name `e%d' contains `%', which Linux expands to a number");
  EXPECT_EQ(err("[hosts.a.interfaces.all]\n"), "t.toml:1:21: error: interface name `all' is taken by net.ipv4.conf.all");
  // 15 characters is fine.
  EXPECT_EQ(err("[hosts.a23456789012345.interfaces.e23456789012345]\n"), "OK");
}

TEST(ScenarioErrorTest, Interfaces) {
  EXPECT_EQ(err("[hosts.a.interfaces.e]\naddresses = [\"192.0.2.1/24\", \"192.0.2.300/24\"]\n"),
            "t.toml:2:30: error: Error: inet prefix is expected rather than \"192.0.2.300/24\".");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\naddresses = [\"192.0.2.1/33\"]\n"),
            "t.toml:2:14: error: Error: inet prefix is expected rather than \"192.0.2.1/33\".");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\naddresses = [\"192.0.2.1/24 brd +\"]\n"),
            "t.toml:2:28: error: nfemu reads only ADDRESS/PREFIXLEN here (no brd, peer, scope...)");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\naddresses = [\"192.0.2.1/24\", \"192.0.2.1/24\"]\n"),
            "t.toml:2:30: error: RTNETLINK answers: File exists (192.0.2.1/24 is already on e)");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\naddresses = [\"default\"]\n"),
            "t.toml:2:14: error: Error: inet prefix is expected rather than \"default\".");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\nmac = \"02:00:00:00:00\"\n"),
            "t.toml:2:7: error: invalid MAC address `02:00:00:00:00': expected six hex bytes as 02:00:00:00:00:01");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\nmac = \"01:00:5e:00:00:01\"\n"),
            "t.toml:2:7: error: RTNETLINK answers: Cannot assign requested address (01:00:5e:00:00:01 is a "
            "multicast address)");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\nmtu = 67\n"), "t.toml:2:7: error: mtu 67 is out of range (68..65535)");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\nmtu = \"1500\"\n"), "t.toml:2:7: error: `mtu' must be an integer, not a string");
  EXPECT_EQ(err("[hosts.a.interfaces.lo]\nmac = \"02:00:00:00:00:01\"\n"), "t.toml:2:7: error: lo has no MAC address to set");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\ngroup = -1\n"), "t.toml:2:9: error: group -1 is out of range (0..4294967295)");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\ngroup = 4294967296\n"),
            "t.toml:2:9: error: group 4294967296 is out of range (0..4294967295)");
  EXPECT_EQ(err("[hosts.a.interfaces.e]\ngroup = \"default\"\n"),
            "t.toml:2:9: error: `group' must be an integer, not a string");
  EXPECT_EQ(err("[hosts.a.interfaces.lo]\ngroup = 4294967295\n"), "OK");
  // Same address on two interfaces, and the same address with two prefix lengths: Linux takes both.
  EXPECT_EQ(err("[hosts.a.interfaces.e]\naddresses = [\"192.0.2.1/24\", \"192.0.2.1/25\"]\n"
                "[hosts.a.interfaces.f]\naddresses = [\"192.0.2.1/24\"]\n"),
            "OK");
}

TEST(ScenarioErrorTest, Sysctls) {
  EXPECT_EQ(err("[hosts.a]\nsysctl = { \"net.ipv4.ip_forwrd\" = 1 }\n"),
            "t.toml:2:12: error: unknown sysctl `net.ipv4.ip_forwrd' (nfemu models only the sysctls listed in "
            "src/scenario/sysctl.cpp)");
  EXPECT_EQ(err("[hosts.a]\nsysctl = { \"net.ipv4.ip_forward\" = 2 }\n"),
            "t.toml:2:36: error: value 2 is out of range for net.ipv4.ip_forward (0..1)");
  EXPECT_EQ(err("[hosts.a]\nsysctl = { \"net.ipv4.ip_forward\" = true }\n"),
            "t.toml:2:36: error: sysctl values are integers or strings, as written to /proc/sys; "
            "net.ipv4.ip_forward is a boolean");
  // IP sets: located in their string; made before the rules that name them.
  EXPECT_EQ(err("[hosts.a]\nipset = [\"create s hash:ip\", \"add s 192.0.2.300\"]\n"),
            "t.toml:2:31: error: syntax error: `192.0.2.300' is not an IPv4 address");
  EXPECT_EQ(err("[hosts.a]\niptables = [\"-A INPUT -m set --match-set s src -j DROP\"]\n"),
            "t.toml:2:30: error: Set s doesn't exist.");
  EXPECT_EQ(err("[hosts.a]\nipset = [\"create s hash:ip\"]\niptables = [\"-A INPUT -m set --match-set s src -j DROP\"]\n"),
            "OK");
  EXPECT_EQ(err("[hosts.a]\nsysctl = { \"net.ipv4.ip_forward\" = 1, \"net.ipv4.conf.all.forwarding\" = 0 }\n"),
            "t.toml:2:72: error: net.ipv4.conf.all.forwarding and net.ipv4.ip_forward are the same setting and the "
            "file gives them different values; keep one");
  EXPECT_EQ(err("[hosts.a]\nsysctl = { \"net.ipv4.ip_forward\" = 1, \"net.ipv4.conf.all.forwarding\" = 1 }\n"), "OK");
  EXPECT_EQ(err("[hosts.a]\nsysctl = { \"net.ipv4.conf.eth0.rp_filter\" = 1 }\n"),
            "t.toml:2:12: error: unknown sysctl `net.ipv4.conf.eth0.rp_filter': this host has no interface `eth0'");
  EXPECT_EQ(err("[hosts.a]\n[hosts.a.sysctl]\nnet.ipv4.icmp_ratelimt = 1\n"),
            "t.toml:3:10: error: unknown sysctl `net.ipv4.icmp_ratelimt' (nfemu models only the sysctls listed in "
            "src/scenario/sysctl.cpp)");
  EXPECT_EQ(err("[hosts.a.sysctl]\na.b.c.d.e.f.g.h.i.j.k = 1\n"),
            "t.toml:2:17: error: unknown sysctl `a.b.c.d.e.f.g.h.i...': nested too deep");
}

TEST(ScenarioErrorTest, Routes) {
  constexpr std::string_view kHost = "[hosts.a.interfaces.eth0]\naddresses = [\"192.0.2.1/24\"]\n[hosts.a]\n";
  auto with = [&](std::string_view routes) { return err(std::string(kHost) + "routes = " + std::string(routes) + "\n"); };
  EXPECT_EQ(with(R"(["default via 192.0.2.2", "10.0.0.0/8 via 192.0.2.300"])"),
            "t.toml:4:52: error: Error: inet address is expected rather than \"192.0.2.300\".");
  EXPECT_EQ(with(R"(["defualt via 192.0.2.2"])"),
            "t.toml:4:12: error: Error: inet prefix is expected rather than \"defualt\".");
  EXPECT_EQ(with(R"(["default via 198.51.100.1"])"), "t.toml:4:24: error: Error: Nexthop has invalid gateway.");
  EXPECT_EQ(with(R"(["default via 192.0.2.2 dev eth1"])"), "t.toml:4:38: error: Cannot find device \"eth1\"");
  EXPECT_EQ(with(R"(["192.0.2.0/24 dev eth0"])"), "t.toml:4:12: error: RTNETLINK answers: File exists");
  // An escaped string cannot be mapped column by column: the value's column.
  EXPECT_EQ(with(R"(["default via \u0078"])"), "t.toml:4:11: error: Error: inet address is expected rather than \"x\".");
  // Literal strings map too.
  EXPECT_EQ(with(R"(['blackhole 192.0.2.0/24 dev eth0'])"),
            "t.toml:4:39: error: Error: Gateway, device and multipath can not be specified for this route type.");
}

TEST(ScenarioErrorTest, Listen) {
  EXPECT_EQ(err("[hosts.a]\nlisten = [\"tcp/22\", \"sctp/1\"]\n"),
            "t.toml:2:21: error: invalid listener `sctp/1': expected tcp/PORT or udp/PORT");
  EXPECT_EQ(err("[hosts.a]\nlisten = [\"udp/70000\"]\n"), "t.toml:2:16: error: invalid port `70000' (1..65535)");
  EXPECT_EQ(err("[hosts.a]\nlisten = [\"udp/0\"]\n"), "t.toml:2:16: error: invalid port `0' (1..65535)");
  EXPECT_EQ(err("[hosts.a]\nlisten = [\"tcp/22\", \"tcp/22\"]\n"), "t.toml:2:21: error: duplicate listener `tcp/22'");
}

// Accounting objects: as `nfacct add` makes them, before the rules (which
// the kernel refuses when their object does not exist).
TEST(ScenarioErrorTest, NfacctObjects) {
  EXPECT_EQ(err("[hosts.a]\nnfacct = [\"web\", \"web\"]\n"),
            "t.toml:2:18: error: duplicate nfacct object `web' (`nfacct add' fails: Device or resource busy)");
  EXPECT_EQ(err("[hosts.a]\nnfacct = [\"\"]\n"),
            "t.toml:2:11: error: nfacct object name `' must have 1 to 31 characters (nfacct and iptables cut a longer one)");
  EXPECT_EQ(err("[hosts.a]\nnfacct = [\"a1234567890123456789012345678901\"]\n"),
            "t.toml:2:11: error: nfacct object name `a1234567890123456789012345678901' must have 1 to 31 characters "
            "(nfacct and iptables cut a longer one)");
  EXPECT_EQ(err("[hosts.a]\nnfacct = \"web\"\n"), "t.toml:2:10: error: `nfacct' must be an array of strings, not a string");
  // Rules come after the objects; one naming an object the host lacks is
  // refused at its entry.
  std::string missing = err("[hosts.a]\niptables = [\"-A INPUT -m nfacct --nfacct-name web\"]\n");
  EXPECT_EQ(missing.rfind("t.toml:2:", 0), 0u) << missing;
  EXPECT_NE(missing.find("accounting object `web' does not exist"), std::string::npos) << missing;
  EXPECT_EQ(err("[hosts.a]\nnfacct = [\"web\"]\niptables = [\"-A INPUT -m nfacct --nfacct-name web\"]\n"), "OK");
}

TEST(ScenarioErrorTest, IptablesEntries) {
  // The column of the word the ruleset parser blames (here the option, not
  // its value), mapped to file columns.
  EXPECT_EQ(err("[hosts.a]\niptables = [\"-P INPUT DROP\", \"-A FORWARD -p tcp --dport 99999 -j ACCEPT\"]\n"),
            "t.toml:2:49: error: invalid port/service `99999' specified");
  EXPECT_EQ(err("[hosts.a]\niptables = [\n  \"iptables -t nat -A PREROUTING -j DNAT\",\n]\n"),
            "t.toml:3:13: error: DNAT: option \"--to-destination\" must be specified");
  EXPECT_EQ(err("[hosts.a]\niptables = ['-A INPUT -m comment --comment \"unterminated']\n"),
            "t.toml:2:44: error: unterminated double quote");
  // Entries apply in order: the chain exists for the second entry.
  EXPECT_EQ(err("[hosts.a]\niptables = [\"-N logdrop\", \"-A INPUT -j logdrop\", \"-A logdrop -j DROP\"]\n"), "OK");
}

TEST(ScenarioErrorTest, RulesFile) {
  // A rules file error names the rules file and the rule's own line.
  auto sc = load("[hosts.a]\niptables-save = \"bad.rules\"\n");
  ASSERT_FALSE(sc);
  EXPECT_EQ(sc.error().format("t.toml"),
            kData + "/bad.rules:6:1: error: Couldn't load target `NO_SUCH_CHAIN':No such file or directory");
  EXPECT_EQ(err("[hosts.a]\niptables-save = \"missing.rules\"\n"),
            "t.toml:2:17: error: cannot read `" + kData + "/missing.rules': No such file or directory");
  EXPECT_EQ(err("[hosts.a]\niptables-save = \"\"\n"), "t.toml:2:17: error: cannot read `" + kData + "/': Is a directory");
  EXPECT_EQ(err("[hosts.a]\niptables-save = [\"fw.rules\"]\n"),
            "t.toml:2:17: error: `iptables-save' must be a string, not an array");
}

TEST(ScenarioTest, IpsetFileThenLinesThenRules) {
  // `ipset save` output as fail2ban leaves it; the rules bind its sets.
  auto sc = load("[hosts.a]\nipset-save = \"f2b.sets\"\nipset = [\"add f2b-sshd 192.0.2.8\"]\n"
                 "iptables = [\"-A INPUT -p tcp --dport 22 -m set --match-set f2b-sshd src -j REJECT\"]\n");
  ASSERT_TRUE(sc) << sc.error().format("t.toml");
  const auto& h = sc->hosts[0];
  ASSERT_EQ(h.ipsets.size(), 1u);
  EXPECT_EQ(h.ipsets.set(0).elements.size(), 2u);
  EXPECT_EQ(h.ipsets.set(0).elements[0].expires_ns, 412'000'000'000u);
  EXPECT_EQ(h.ipsets.set(0).elements[1].expires_ns, 600'000'000'000u);  // the set's default
  EXPECT_TRUE(h.ipset_restore.ends_with("\nadd f2b-sshd 192.0.2.8\n")) << h.ipset_restore;
  // An error in the file names the file and its line.
  EXPECT_EQ(err("[hosts.a]\nipset-save = \"bad.sets\"\n"),
            kData + "/bad.sets:2:1: error: timeout cannot be used: set was created without timeout support");
  EXPECT_EQ(err("[hosts.a]\nipset-save = \"missing.sets\"\n"),
            "t.toml:2:14: error: cannot read `" + kData + "/missing.sets': No such file or directory");
}

TEST(ScenarioTest, RulesFileCountersAreIgnored) {
  // As iptables-restore without --counters.
  auto sc = load("[hosts.a]\niptables-save = \"counters.rules\"\n");
  ASSERT_TRUE(sc) << sc.error().format("t.toml");
  const xt::Chain* input = sc->hosts[0].ruleset.find(xt::TableId::Filter)->find("INPUT");
  EXPECT_EQ(input->policy, xt::Policy::Drop);
  EXPECT_EQ(input->counters.packets, 0u);
  EXPECT_EQ(input->rules.at(0).counters.packets, 0u);
}

TEST(ScenarioErrorTest, Links) {
  constexpr std::string_view kHosts = "[hosts.a.interfaces.e0]\n[hosts.a.interfaces.e1]\n[hosts.b.interfaces.e0]\n";
  auto with = [&](std::string_view links) { return err(std::string(kHosts) + std::string(links)); };
  EXPECT_EQ(with("[[links]]\nbetween = [\"a:e0\", \"c:e0\"]\n"), "t.toml:5:21: error: unknown host `c'");
  EXPECT_EQ(with("[[links]]\nbetween = [\"a:e0\", \"b:e9\"]\n"), "t.toml:5:23: error: host `b' has no interface `e9'");
  EXPECT_EQ(with("[[links]]\nbetween = [\"a:e0\", \"b\"]\n"), "t.toml:5:21: error: expected HOST:IFNAME, not `b'");
  EXPECT_EQ(with("[[links]]\nbetween = [\"a:e0\", \"b:e0\"]\n[[links]]\nbetween = [\"a:e1\", \"b:e0\"]\n"),
            "t.toml:7:20: error: interface b:e0 is already in the link of line 4");
  EXPECT_EQ(with("[[links]]\nbetween = [\"a:e0\", \"a:e0\"]\n"),
            "t.toml:5:20: error: a link needs two different interfaces");
  EXPECT_EQ(with("[[links]]\nbetween = [\"a:lo\", \"b:e0\"]\n"),
            "t.toml:5:12: error: lo cannot be linked: it is the host's loopback");
  EXPECT_EQ(with("[[links]]\nbetween = [\"a:e0\"]\n"),
            "t.toml:5:11: error: `between' must be an array of two \"HOST:IFNAME\" strings");
  EXPECT_EQ(with("[[links]]\n"), "t.toml:4:1: error: a link needs `between = [\"HOST:IFNAME\", \"HOST:IFNAME\"]'");
  // Two interfaces of one host may be cabled together, like a veth pair.
  EXPECT_EQ(with("[[links]]\nbetween = [\"a:e0\", \"a:e1\"]\n"), "OK");
}

TEST(ScenarioErrorTest, Traffic) {
  constexpr std::string_view kHosts = "[hosts.a.interfaces.e0]\n[[traffic]]\n";
  auto with = [&](std::string_view t) { return err(std::string(kHosts) + std::string(t)); };
  EXPECT_EQ(with("at = 1\nfrom = \"b\"\npacket = \"udp 192.0.2.1:1 > 192.0.2.2:2\"\n"),
            "t.toml:4:8: error: unknown host `b'");
  EXPECT_EQ(with("at = 1\non = \"a:e1\"\npacket = \"udp 192.0.2.1:1 > 192.0.2.2:2\"\n"),
            "t.toml:4:9: error: host `a' has no interface `e1'");
  EXPECT_EQ(with("at = 1\non = \"a:lo\"\npacket = \"udp 192.0.2.1:1 > 192.0.2.2:2\"\n"),
            "t.toml:4:6: error: nothing arrives on lo from a wire: use `from' to send from a host");
  EXPECT_EQ(with("at = 1\nfrom = \"a\"\non = \"a:e0\"\npacket = \"udp 192.0.2.1:1 > 192.0.2.2:2\"\n"),
            "t.toml:5:6: error: `from' and `on' exclude each other: a packet is sent by a host or arrives on an "
            "interface");
  EXPECT_EQ(with("at = 1\npacket = \"udp 192.0.2.1:1 > 192.0.2.2:2\"\n"),
            "t.toml:2:1: error: a traffic entry needs `from = \"HOST\"' or `on = \"HOST:IFNAME\"'");
  EXPECT_EQ(with("from = \"a\"\n"), "t.toml:2:1: error: a traffic entry needs `at' (seconds from the start)");
  EXPECT_EQ(with("at = 1\nfrom = \"a\"\n"), "t.toml:2:1: error: a traffic entry needs `packet'");
  EXPECT_EQ(with("at = -1\nfrom = \"a\"\n"), "t.toml:3:6: error: `at' must be between 0 and 1e9 seconds, not -1");
  EXPECT_EQ(with("at = nan\nfrom = \"a\"\n"), "t.toml:3:6: error: `at' must be between 0 and 1e9 seconds, not nan");
  EXPECT_EQ(with("at = \"1s\"\nfrom = \"a\"\n"), "t.toml:3:6: error: `at' must be a number of seconds, not a string");
  // Packet errors point inside the packet string.
  EXPECT_EQ(with("at = 1\nfrom = \"a\"\npacket = \"tcp 198.51.100.10:40000 > 203.0.113.4:70000 flags S\"\n"),
            "t.toml:5:49: error: port out of range: 70000 (maximum 65535)");
  EXPECT_EQ(with("at = 1\nfrom = \"a\"\npacket = 'tcp 198.51.100.10:1 > 203.0.113.4:2 flags SX'\n"),
            "t.toml:5:54: error: unknown flag letter 'X' in flags (expected S A F R P U E C)");
}

TEST(ScenarioErrorTest, Limits) {
  LoadOptions small;
  small.limits.max_hosts = 2;
  small.limits.max_interfaces_per_host = 1;
  small.limits.max_traffic = 1;
  small.limits.max_rules_per_host = 2;
  small.limits.max_routes_per_host = 1;
  EXPECT_EQ(err("[hosts.a]\n[hosts.b]\n[hosts.c]\n", small), "t.toml:3:8: error: too many hosts: the limit is 2");
  // lo does not count.
  EXPECT_EQ(err("[hosts.a.interfaces.lo]\n[hosts.a.interfaces.e0]\n", small), "OK");
  EXPECT_EQ(err("[hosts.a.interfaces.e0]\n[hosts.a.interfaces.e1]\n", small),
            "t.toml:2:21: error: too many interfaces on host `a': the limit is 1");
  EXPECT_EQ(err("[hosts.a]\niptables = [\"-A INPUT\", \"-A INPUT\", \"-A INPUT\"]\n", small),
            "t.toml:2:37: error: host `a' has 3 rules: the limit is 2");
  EXPECT_EQ(err("[hosts.a]\niptables-save = \"fw.rules\"\niptables = [\"-A INPUT\", \"-A INPUT\"]\n", small),
            "t.toml:3:25: error: host `a' has 3 rules: the limit is 2");
  EXPECT_EQ(err("[hosts.a.interfaces.e0]\naddresses = [\"192.0.2.1/24\"]\n[hosts.a]\n"
                "routes = [\"default via 192.0.2.2\", \"198.18.0.0/15 via 192.0.2.3\"]\n",
                small),
            "t.toml:4:10: error: host `a' has 2 routes: the limit is 1");
  constexpr std::string_view kTwo =
      "[hosts.a]\n[[traffic]]\nat = 0\nfrom = \"a\"\npacket = \"udp 192.0.2.1:1 > 192.0.2.2:2\"\n"
      "[[traffic]]\nat = 0\nfrom = \"a\"\npacket = \"udp 192.0.2.1:1 > 192.0.2.2:2\"\n";
  EXPECT_EQ(err(kTwo, small), "t.toml:6:1: error: too many traffic entries: the limit is 1");
  EXPECT_EQ(err(kTwo), "OK");
  // The documented defaults.
  Limits d;
  EXPECT_EQ(d.max_hosts, 64u);
  EXPECT_EQ(d.max_interfaces_per_host, 32u);
  EXPECT_EQ(d.max_traffic, 100000u);
  EXPECT_EQ(d.max_rules_per_host, 1000000u);
}

TEST(ScenarioTest, LoadScenarioReadsFilesRelativeToIt) {
  auto sc = load_scenario(kData + "/relative.toml");
  ASSERT_TRUE(sc) << sc.error().format("relative.toml");
  EXPECT_EQ(sc->path, kData + "/relative.toml");
  EXPECT_EQ(sc->hosts[0].rule_count(), 1u);
  auto missing = load_scenario(kData + "/no-such-file.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().format("x.toml"), "x.toml: error: cannot read scenario: No such file or directory");
}

// The shipped examples load, and say what their comments say.
class ExampleTest : public ::testing::Test {
 protected:
  Scenario load_example(const std::string& name) {
    auto sc = load_scenario(kScenarios + "/" + name + "/" + name + ".toml");
    if (!sc && sc.error().message.find("Couldn't load match") != std::string::npos) {
      skipped_ = sc.error().format(name + ".toml");
      return {};
    }
    EXPECT_TRUE(sc) << sc.error().format(name + ".toml");
    return sc ? *sc : Scenario{};
  }
  std::string skipped_;
};

TEST_F(ExampleTest, IcmpNatDmz) {
  Scenario sc = load_example("icmp-nat-dmz");
  if (!skipped_.empty()) GTEST_SKIP() << "SKIPPED: this build lacks a match the example uses: " << skipped_;
  ASSERT_EQ(sc.hosts.size(), 3u);
  const Host* fw = sc.find_host("fw");
  ASSERT_TRUE(fw);
  // The file's four rules, then CONNMARK, LOG and TRACE.
  EXPECT_EQ(fw->rule_count(), 7u);
  const xt::Table* nat = fw->ruleset.find(xt::TableId::Nat);
  ASSERT_TRUE(nat);
  EXPECT_EQ(nat->find("POSTROUTING")->rules.size(), 1u);  // the SNAT that never fires
  EXPECT_TRUE(fw->ruleset.find(xt::TableId::Raw));
  EXPECT_TRUE(fw->ruleset.find(xt::TableId::Mangle));
  const Route& def = fw->routes.back();
  EXPECT_EQ(def.via, ip("198.18.42.2"));
  EXPECT_EQ(fw->interfaces[static_cast<size_t>(def.dev)].name, "eth0");
  EXPECT_FALSE(sc.peer({static_cast<size_t>(sc.host_index("fw")), 2}));  // eth1: the DMZ wire
  ASSERT_EQ(sc.traffic.size(), 2u);
  EXPECT_EQ(sc.traffic[0].packet.dst, ip("203.0.113.4"));
  EXPECT_EQ(sc.traffic[1].packet.dst, ip("100.64.1.5"));
  EXPECT_EQ(sc.end_ns, 3000000000);
}

TEST_F(ExampleTest, TcpPortForward) {
  Scenario sc = load_example("tcp-port-forward");
  if (!skipped_.empty()) GTEST_SKIP() << "SKIPPED: this build lacks a match the example uses: " << skipped_;
  const Host* server = sc.find_host("server");
  ASSERT_TRUE(server);
  EXPECT_EQ(server->listeners.size(), 2u);
  EXPECT_EQ(sc.find_host("gw")->ruleset.find(xt::TableId::Filter)->find("FORWARD")->policy, xt::Policy::Drop);
  EXPECT_EQ(sc.traffic.size(), 4u);
}

TEST_F(ExampleTest, WireEdge) {
  Scenario sc = load_example("wire-edge");
  if (!skipped_.empty()) GTEST_SKIP() << "SKIPPED: this build lacks a match the example uses: " << skipped_;
  ASSERT_EQ(sc.hosts.size(), 1u);
  const Host& edge = sc.hosts[0];
  EXPECT_TRUE(sc.links.empty());
  EXPECT_EQ(edge.interfaces[0].addresses.size(), 2u);  // 127.0.0.1/8 and the resolver address
  EXPECT_EQ(edge.find_interface("uplink")->mtu, 1400u);
  EXPECT_EQ(packet::format_mac(edge.find_interface("uplink")->mac), "02:00:5e:00:00:01");
  EXPECT_EQ(address_type(edge, ip("203.0.113.53")), RouteType::Local);
  const Route* bh = lookup_route(edge, ip("192.0.2.130"));
  EXPECT_FALSE(bh);  // the best match is the blackhole
  for (const auto& t : sc.traffic) EXPECT_EQ(t.origin, Origin::On);
}

}  // namespace
}  // namespace nfemu::scenario
