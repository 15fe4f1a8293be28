// The packet path of one host: which hooks and tables a packet crosses,
// in which order, and where it ends.
#include "stack/host.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "packet/addr.h"
#include "packet/bytes.h"
#include "packet/fragment.h"
#include "packet/grammar.h"
#include "packet/mangle.h"
#include "ruleset/restore.h"

namespace nfemu::stack {
namespace {

struct Recorder : PathObserver {
  std::vector<std::string> log;
  void on_table(const Host&, xt::Hook h, xt::TableId t, xt::Verdict v, const packet::Packet&) override {
    log.push_back(fmt::format("{}:{}:{}", xt::table_name(t), xt::hook_chain_name(h), v == xt::Verdict::Accept ? "ACCEPT" : "DROP"));
  }
  void on_rule(const Host&, xt::Hook, const xt::TraceEvent& ev, const packet::Packet& p) override {
    static const char* kinds[] = {"rule", "return", "policy"};
    log.push_back(fmt::format("  {}:{}:{}:{} ttl={}", ev.table, ev.chain, kinds[static_cast<int>(ev.kind)], ev.rulenum,
                              p.ip().ttl()));
  }
  void on_drop(const Host&, std::string_view reason, const packet::Packet&) override {
    log.push_back(fmt::format("drop: {}", reason));
  }
  void on_local_deliver(const Host&, const packet::Packet&) override { log.push_back("deliver"); }
  void on_transmit(const Host&, std::string_view ifname, const packet::Packet& p) override {
    log.push_back(fmt::format("transmit {} ttl={}", ifname, p.ip().ttl()));
  }
};

constexpr uint32_t ip(int a, int b, int c, int d) {
  return static_cast<uint32_t>(a) << 24 | static_cast<uint32_t>(b) << 16 | static_cast<uint32_t>(c) << 8 |
         static_cast<uint32_t>(d);
}

// A router between 198.51.100.0/24 (eth0) and 203.0.113.0/24 (eth1).
struct Router {
  Host host{"fw"};
  Recorder rec;
  explicit Router(std::string_view rules) {
    host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
    host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2}, 1400);
    host.add_address("eth0", ip(198, 51, 100, 1), 24);
    host.add_address("eth1", ip(203, 0, 113, 1), 24);
    host.set_sysctl("net.ipv4.ip_forward", 1);
    auto r = ruleset::restore(rules, host.ruleset());
    EXPECT_TRUE(r) << r.error().format("rules");
    host.set_observer(&rec);
  }
  void in(std::string_view spec, std::string_view ifname = "eth0") {
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p) << p.error().message;
    host.receive(std::move(*p), ifname, 0);
  }
};

TEST(HostTest, ForwardedPacketCrossesHooksInKernelOrder) {
  Router r("*raw\n-A PREROUTING -j ACCEPT\nCOMMIT\n*mangle\nCOMMIT\n*filter\n-A FORWARD -p udp -j ACCEPT\nCOMMIT\n");
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{
                           "  raw:PREROUTING:policy:1 ttl=64", "raw:PREROUTING:ACCEPT",
                           "  mangle:PREROUTING:policy:1 ttl=64", "mangle:PREROUTING:ACCEPT",
                           // TTL is decremented before FORWARD, as ip_forward does.
                           "  mangle:FORWARD:policy:1 ttl=63", "mangle:FORWARD:ACCEPT",
                           "  filter:FORWARD:rule:1 ttl=63", "filter:FORWARD:ACCEPT",
                           "  mangle:POSTROUTING:policy:1 ttl=63", "mangle:POSTROUTING:ACCEPT",
                           "transmit eth1 ttl=63"}));
}

// A table's verdict names itself in the drop: NFQUEUE with no program
// listening queues (the kernel then drops), SYNPROXY steals the SYN it
// answers.
TEST(HostTest, QueuedAndStolenPacketsSaySo) {
  Router r("*filter\n-A FORWARD -p udp -j NFQUEUE --queue-num 3\n"
           "-A FORWARD -p tcp -j SYNPROXY --mss 1460\nCOMMIT\n");
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  r.in("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S mss 1400");
  std::vector<std::string> drops;
  for (const auto& l : r.rec.log)
    if (l.rfind("drop: ", 0) == 0) drops.push_back(l);
  EXPECT_EQ(drops, (std::vector<std::string>{"drop: filter FORWARD QUEUE", "drop: filter FORWARD STOLEN"}));
}

// run_hook finds a hook's tables by a per-TableId index kept across
// packets (Host::table_slots). A ruleset changed through a reference kept
// from ruleset() (same number of tables, the vector's storage reused by the
// assignment) must be seen at the next packet, not the tables of before.
TEST(HostTest, RulesetReplacedThroughAKeptReferenceIsSeen) {
  Router r("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n");
  xt::Ruleset& kept = r.host.ruleset();
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  xt::Ruleset other;
  ASSERT_TRUE(ruleset::restore("*mangle\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", other));
  kept = other;  // one table before and after: the same storage
  ASSERT_EQ(kept.tables().size(), 1u);
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  xt::Ruleset third;
  ASSERT_TRUE(ruleset::restore("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n*mangle\nCOMMIT\n", third));
  kept = third;
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{
                           "  filter:FORWARD:policy:1 ttl=63", "filter:FORWARD:DROP", "drop: filter FORWARD DROP",
                           "  mangle:PREROUTING:policy:1 ttl=64", "mangle:PREROUTING:ACCEPT",
                           "  mangle:FORWARD:policy:1 ttl=63", "mangle:FORWARD:ACCEPT",
                           "  mangle:POSTROUTING:policy:1 ttl=63", "mangle:POSTROUTING:ACCEPT",
                           "transmit eth1 ttl=63",
                           // mangle before filter, whatever the order in the ruleset.
                           "  mangle:PREROUTING:policy:1 ttl=64", "mangle:PREROUTING:ACCEPT",
                           "  mangle:FORWARD:policy:1 ttl=63", "mangle:FORWARD:ACCEPT",
                           "  filter:FORWARD:policy:1 ttl=63", "filter:FORWARD:DROP", "drop: filter FORWARD DROP"}));
}

// The compiled classifier is built when it is chosen (the rules loaded),
// not by the first packet; a table changed later is compiled again by the
// next packet that walks it, with the same verdicts as the linear walk.
TEST(HostTest, CompiledClassifierIsBuiltWhenChosen) {
  Router r("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -p udp --dport 53 -j ACCEPT\nCOMMIT\n");
  r.host.set_classifier(Host::Classifier::Linear);
  EXPECT_TRUE(r.host.classifier_ready());  // nothing to build
  r.host.set_classifier(Host::Classifier::Compiled);
  EXPECT_TRUE(r.host.classifier_ready());
  // Restored afresh each time: new tables, which no compiled form fits.
  auto changed = [] {
    xt::Ruleset rules;
    EXPECT_TRUE(ruleset::restore("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p udp --dport 53 -j DROP\nCOMMIT\n"
                                 "*mangle\nCOMMIT\n",
                                 rules));
    return rules;
  };
  r.host.ruleset() = changed();
  EXPECT_FALSE(r.host.classifier_ready());
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  EXPECT_TRUE(r.host.classifier_ready());  // both tables walked: compiled again
  r.host.ruleset() = changed();
  EXPECT_FALSE(r.host.classifier_ready());
  r.host.set_classifier(Host::Classifier::Compiled);
  EXPECT_TRUE(r.host.classifier_ready());
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{
                           "  mangle:PREROUTING:policy:1 ttl=64", "mangle:PREROUTING:ACCEPT",
                           "  mangle:FORWARD:policy:1 ttl=63", "mangle:FORWARD:ACCEPT",
                           "  filter:FORWARD:rule:1 ttl=63", "filter:FORWARD:DROP", "drop: filter FORWARD DROP",
                           "  mangle:PREROUTING:policy:1 ttl=64", "mangle:PREROUTING:ACCEPT",
                           "  mangle:FORWARD:policy:1 ttl=63", "mangle:FORWARD:ACCEPT",
                           "  filter:FORWARD:rule:1 ttl=63", "filter:FORWARD:DROP", "drop: filter FORWARD DROP"}));
}

// conntrack's point (-200) comes after raw and before mangle, whichever of
// them the ruleset has (Host::table_plan places it among the tables present).
TEST(HostTest, ConntrackRunsAfterRawBeforeMangle) {
  struct CtRecorder : Recorder {
    void on_conntrack(const Host&, xt::Hook h, const packet::Packet&) override {
      log.push_back(fmt::format("conntrack {}", xt::hook_chain_name(h)));
    }
  };
  for (std::string_view rules :
       {"*raw\nCOMMIT\n*mangle\nCOMMIT\n*filter\n-A FORWARD -m state --state NEW -j ACCEPT\nCOMMIT\n",
        "*raw\nCOMMIT\n*filter\n-A FORWARD -m state --state NEW -j ACCEPT\nCOMMIT\n",
        "*mangle\nCOMMIT\n*filter\n-A FORWARD -m state --state NEW -j ACCEPT\nCOMMIT\n"}) {
    Router r(rules);
    CtRecorder rec;
    r.host.set_observer(&rec);
    r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
    std::vector<std::string> pre;
    for (const auto& l : rec.log)
      if (l.find("PREROUTING") != std::string::npos && l[0] != ' ') pre.push_back(l);
    std::vector<std::string> want;
    if (rules.find("*raw") != std::string_view::npos) want.push_back("raw:PREROUTING:ACCEPT");
    want.push_back("conntrack PREROUTING");
    if (rules.find("*mangle") != std::string_view::npos) want.push_back("mangle:PREROUTING:ACCEPT");
    EXPECT_EQ(pre, want) << rules;
  }
}

TEST(HostTest, LocalDeliveryGoesThroughInput) {
  Router r("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
  r.in("tcp 198.51.100.10:40000 > 198.51.100.1:22 flags S");
  r.in("tcp 198.51.100.10:40000 > 203.0.113.1:23 flags S");
  // No socket listens on 22: the host answers the SYN with a RST (tests/icmp).
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{"  filter:INPUT:rule:1 ttl=64", "filter:INPUT:ACCEPT", "deliver",
                                                 "  filter:OUTPUT:policy:1 ttl=64", "filter:OUTPUT:ACCEPT",
                                                 "transmit eth0 ttl=64", "  filter:INPUT:policy:2 ttl=64", "filter:INPUT:DROP",
                                                 "drop: filter INPUT DROP"}));
}

TEST(HostTest, NoForwardingTtlAndMtu) {
  Router r("");
  r.host.set_sysctl("net.ipv4.ip_forward", 0);
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  r.host.set_sysctl("net.ipv4.ip_forward", 1);
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53 ttl 1");
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53 df payload 1400");
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53 payload 1400");
  // The ICMP time exceeded and frag-needed errors go back out eth0 (tests/icmp).
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{"drop: forwarding disabled (net.ipv4.ip_forward = 0)",
                                                 "transmit eth0 ttl=64", "drop: TTL exceeded in transit",
                                                 "transmit eth0 ttl=64",
                                                 "drop: fragmentation needed (DF set, 1428 > MTU 1400)",
                                                 // Without DF: ip_do_fragment, 1396 + 52 bytes.
                                                 "transmit eth1 ttl=63", "transmit eth1 ttl=63"}));
}

// ip_route_input_slow delivers the limited broadcast (brd_input) before it
// looks up a route: a DHCP DISCOVER reaches INPUT on a host whose routes
// do not cover 255.255.255.255 (no default route here).
TEST(HostTest, LimitedBroadcastIsDeliveredWithoutARoute) {
  Router r("*filter\n-A INPUT -p udp --dport 67\nCOMMIT\n");
  r.in("udp 0.0.0.0:68 > 255.255.255.255:67");
  ASSERT_FALSE(r.rec.log.empty());
  EXPECT_EQ(r.rec.log[0], "  filter:INPUT:rule:1 ttl=64");
  EXPECT_NE(std::find(r.rec.log.begin(), r.rec.log.end(), "deliver"), r.rec.log.end()) << fmt::format("{}", r.rec.log);
}

// The rpfilter match asks the host's FIB (HostEffects::reverse_route):
// the route back to the source, its type and device.
TEST(HostTest, RpfilterMatchLooksUpTheRouteBack) {
  Router r(
      "*raw\n-A PREROUTING -s 203.0.113.1 -m rpfilter --accept-local -j DROP\n"
      "-A PREROUTING -m rpfilter --invert -j DROP\nCOMMIT\n");
  ASSERT_TRUE(r.host.fib().add({.dst = ip(198, 18, 0, 0), .plen = 15, .type = RouteType::Blackhole}));
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53", "eth0");  // back via eth0: forwarded
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53", "eth1");  // back via eth0, came in on eth1
  r.in("udp 192.0.2.10:5000 > 203.0.113.4:53", "eth0");     // no route back
  r.in("udp 198.18.0.10:5000 > 203.0.113.4:53", "eth0");    // blackhole: fib_lookup fails
  r.in("udp 203.0.113.1:5000 > 198.51.100.1:53", "eth1");   // local, on eth1: accept-local matches
  r.in("udp 203.0.113.1:5000 > 198.51.100.1:53", "eth0");   // local, on eth0: no
  std::vector<std::string> got;
  for (const auto& l : r.rec.log)
    if (l.rfind("  raw:PREROUTING:rule:", 0) == 0 || l.rfind("transmit", 0) == 0) got.push_back(l);
  EXPECT_EQ(got, (std::vector<std::string>{"transmit eth1 ttl=63", "  raw:PREROUTING:rule:2 ttl=64",
                                           "  raw:PREROUTING:rule:2 ttl=64", "  raw:PREROUTING:rule:2 ttl=64",
                                           "  raw:PREROUTING:rule:1 ttl=64", "  raw:PREROUTING:rule:2 ttl=64"}));
}

// fib_validate_source without rp_filter: a source that is one of the
// host's addresses is martian. An address added between two packets
// counts at the second (Fib::has_address's filter is rebuilt).
TEST(HostTest, SourceAddedAsLocalAddressBetweenPacketsIsMartian) {
  Router r("");
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  r.host.add_address("eth1", ip(198, 51, 100, 10), 32);
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{"transmit eth1 ttl=63", "drop: martian source (a local address)"}));
}

// The source policy of each interface (max(all, DEV) rp_filter, accept_local)
// is combined once per configuration: a sysctl set between packets, or an
// interface added after its sysctls were set, counts at the next packet.
TEST(HostTest, SourcePolicyChangedBetweenPacketsIsSeen) {
  Router r("");
  // From eth0, a source whose route back leaves eth1.
  const char* spoofed = "udp 203.0.113.9:5000 > 198.51.100.7:53";
  r.in(spoofed);
  r.host.set_sysctl("net.ipv4.conf.eth0.rp_filter", 1);
  r.in(spoofed);
  r.host.set_sysctl("net.ipv4.conf.eth0.rp_filter", 2);
  r.in(spoofed);
  r.host.set_sysctl("net.ipv4.conf.eth0.rp_filter", 0);
  r.host.set_sysctl("net.ipv4.conf.all.rp_filter", 1);
  r.in(spoofed);
  r.host.set_sysctl("net.ipv4.conf.all.rp_filter", 0);
  r.in(spoofed);
  // A third interface whose sysctl is set before it exists.
  r.host.set_sysctl("net.ipv4.conf.eth2.rp_filter", 1);
  r.in(spoofed);
  r.host.add_interface("eth2", packet::Mac{2, 0, 0, 0, 0, 3});
  r.host.add_address("eth2", ip(192, 0, 2, 1), 24);
  r.in(spoofed, "eth2");
  // accept_local on eth0: its own address as source is no martian.
  r.in("udp 203.0.113.1:5000 > 198.51.100.7:53");
  r.host.set_sysctl("net.ipv4.conf.eth0.accept_local", 1);
  r.in("udp 203.0.113.1:5000 > 198.51.100.7:53");
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{
                           "transmit eth0 ttl=63",
                           "drop: rp_filter (strict: route back leaves another interface)",
                           "transmit eth0 ttl=63",  // loose: any route back will do
                           "drop: rp_filter (strict: route back leaves another interface)",
                           "transmit eth0 ttl=63", "transmit eth0 ttl=63",
                           "drop: rp_filter (strict: route back leaves another interface)",
                           "drop: martian source (a local address)", "transmit eth0 ttl=63"}));
}

// An interface without its own conf entry has conf/default's (copied at
// creation, written through later: devinet_copy_dflt_conf), combined with
// conf/all as the kernel's IN_DEV_* macros do. Each case as on 6.18 (`nfemu
// verify' sets conf/default before it creates the interfaces).
TEST(HostTest, InterfacesWithoutTheirOwnValueHaveConfDefaults) {
  Router r("");
  const char* spoofed = "udp 203.0.113.9:5000 > 198.51.100.7:53";  // on eth0, route back via eth1
  r.host.set_sysctl("net.ipv4.conf.default.rp_filter", 1);
  r.in(spoofed);
  r.host.set_sysctl("net.ipv4.conf.eth0.rp_filter", 0);  // its own value wins
  r.in(spoofed);
  r.host.set_sysctl("net.ipv4.conf.all.rp_filter", 2);  // max(all, DEV)
  r.in(spoofed);
  r.host.set_sysctl("net.ipv4.conf.default.accept_local", 1);
  r.in("udp 203.0.113.1:5000 > 198.51.100.7:53");
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{"drop: rp_filter (strict: route back leaves another interface)",
                                                 "transmit eth0 ttl=63", "transmit eth0 ttl=63",
                                                 "transmit eth0 ttl=63"}));
}

// IN_DEV_FORWARD: the input interface's own forwarding decides. Writing
// net.ipv4.ip_forward (conf/all/forwarding) sets every interface's when it
// changes, so only a 1 reaches them; conf/default's reaches those without
// their own.
TEST(HostTest, ForwardingIsTheInputInterfaces) {
  Router r("");
  r.host.set_sysctl("net.ipv4.conf.eth0.forwarding", 0);
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  r.in("udp 203.0.113.4:53 > 198.51.100.10:5000", "eth1");
  Router d("");
  d.host.set_sysctl("net.ipv4.ip_forward", 0);
  d.host.set_sysctl("net.ipv4.conf.default.forwarding", 1);
  d.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  d.host.set_sysctl("net.ipv4.conf.eth0.forwarding", 0);
  d.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{
                           "drop: forwarding disabled on the input interface (net.ipv4.conf.IF.forwarding = 0)",
                           "transmit eth0 ttl=63"}));
  EXPECT_EQ(d.rec.log, (std::vector<std::string>{"transmit eth1 ttl=63",
                                                 "drop: forwarding disabled (net.ipv4.ip_forward = 0)"}));
}

// ip_route_input_slow: the destination 0.0.0.0 is martian (0.0.0.0/8 is
// unicast since 5.3), and so is a 127.0.0.0/8 address off lo unless the input interface has route_localnet
// (all || DEV). __mkroute_output: a loopback source leaves only lo, or an
// interface with route_localnet. DNAT to 127.0.0.1 works only with it.
TEST(HostTest, LoopbackAddressesNeedRouteLocalnet) {
  Router r("*nat\n-A PREROUTING -p udp --dport 5300 -j DNAT --to-destination 127.0.0.1:53\nCOMMIT\n");
  const char* to_dnat = "udp 198.51.100.10:5000 > 198.51.100.1:5300";
  r.in(to_dnat);
  r.in("udp 198.51.100.10:5000 > 127.0.0.1:53");
  r.in("udp 127.0.0.9:5000 > 198.51.100.1:53");
  r.in("udp 198.51.100.10:5000 > 0.0.0.0:53");
  r.in("udp 0.1.2.3:5000 > 198.51.100.1:53");  // delivered: port unreachable, no route back
  r.host.set_sysctl("net.ipv4.conf.eth0.route_localnet", 1);
  r.in("udp 198.51.100.10:5001 > 198.51.100.1:5300");  // port unreachable from 127.0.0.1, back by eth0
  r.in("udp 198.51.100.10:5000 > 0.0.0.0:53");          // zeronet whatever route_localnet says
  r.in("udp 203.0.113.9:5000 > 198.51.100.1:5300");     // the error would leave eth1: sendto fails
  r.in("udp 127.0.0.9:5000 > 198.51.100.1:53", "eth1");
  r.host.set_sysctl("net.ipv4.conf.all.route_localnet", 1);
  r.in("udp 203.0.113.9:5001 > 198.51.100.1:5300");
  std::vector<std::string> fates;  // without the chain walks
  for (const auto& line : r.rec.log)
    if (line.starts_with("drop") || line.starts_with("transmit")) fates.push_back(line);
  EXPECT_EQ(fates,
            (std::vector<std::string>{
                "drop: martian destination (loopback, route_localnet off)",
                "drop: martian destination (loopback, route_localnet off)",
                "drop: martian source (loopback, route_localnet off)",
                "drop: martian destination (0.0.0.0)",
                "transmit eth0 ttl=64",
                "drop: martian destination (0.0.0.0)",
                "drop: Invalid argument (sendto fails: a loopback source leaves another device than lo without "
                "route_localnet)",
                "drop: martian source (loopback, route_localnet off)",
                "transmit eth1 ttl=64",
            }));
}

// forward() hands the route's interface to post_routing. An interface
// added meanwhile (here by an observer, during FORWARD) that the route's
// device names must be found as the uncached lookup finds it.
TEST(HostTest, InterfaceAddedDuringForwardIsSeenAtTransmit) {
  struct Adder : Recorder {
    Host* host = nullptr;
    void on_table(const Host& h, xt::Hook hk, xt::TableId t, xt::Verdict v, const packet::Packet& p) override {
      Recorder::on_table(h, hk, t, v, p);
      if (hk == xt::Hook::Forward && !host->find_interface("eth2"))
        host->add_interface("eth2", packet::Mac{2, 0, 0, 0, 0, 3}, 1000);
    }
  };
  Router r("*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n");
  Adder adder;
  adder.host = &r.host;
  r.host.set_observer(&adder);
  // A route through a device the host does not have (yet).
  ASSERT_TRUE(r.host.fib().add({.dst = ip(192, 0, 2, 0), .plen = 24, .dev = "eth2"}));
  std::string seen;
  r.host.on_wire = [&](const Host&, std::string_view ifname, packet::Packet& p) {
    seen += fmt::format("{} {} {};", ifname, packet::format_mac(p.mac_header().src), p.size());
  };
  // 1200 bytes: eth2's MTU (1000) fragments it once eth2 is known.
  r.in("udp 198.51.100.10:5000 > 192.0.2.5:53 payload 1172");
  EXPECT_EQ(seen, "eth2 02:00:00:00:00:03 996;eth2 02:00:00:00:00:03 224;") << fmt::format("{}", fmt::join(adder.log, "|"));
}

// nf_dup_ipv4: the copy leaves for the gateway's link with DF and, taken in
// PREROUTING, one TTL less; it goes through OUTPUT, where the TEE rule
// does not copy it again, then the original is forwarded unchanged.
TEST(HostTest, TeeSendsOneCopyToTheGateway) {
  Router r("*mangle\n-A PREROUTING -j TEE --gateway 198.51.100.7\n-A OUTPUT -j TEE --gateway 198.51.100.7\nCOMMIT\n");
  std::string seen;
  r.host.on_wire = [&](const Host&, std::string_view ifname, packet::Packet& p) {
    seen += fmt::format("{} ttl={} df={};", ifname, p.ip().ttl(), p.ip().df());
  };
  r.in("udp 198.51.100.10:5000 > 203.0.113.20:53");
  EXPECT_EQ(seen, "eth0 ttl=63 df=true;eth1 ttl=63 df=false;");
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{
                           "  mangle:PREROUTING:rule:1 ttl=64", "  mangle:OUTPUT:rule:1 ttl=63",
                           "  mangle:OUTPUT:policy:2 ttl=63", "mangle:OUTPUT:ACCEPT",
                           "  mangle:POSTROUTING:policy:1 ttl=63", "mangle:POSTROUTING:ACCEPT", "transmit eth0 ttl=63",
                           "  mangle:PREROUTING:policy:2 ttl=64", "mangle:PREROUTING:ACCEPT",
                           "  mangle:FORWARD:policy:1 ttl=63", "mangle:FORWARD:ACCEPT",
                           "  mangle:POSTROUTING:policy:1 ttl=63", "mangle:POSTROUTING:ACCEPT", "transmit eth1 ttl=63"}))
      << fmt::format("{}", fmt::join(r.rec.log, "|"));
}

// --oif with no route through it: the copy still leaves by that interface
// (tee_tg4's make_route). No route to the gateway and no --oif: no copy.
TEST(HostTest, TeeOifSendsThroughItsInterfaceWithoutARoute) {
  Router r("*mangle\n-A PREROUTING -p udp --dport 9 -j TEE --gateway 192.0.2.77 --oif eth0\n"
           "-A PREROUTING -p udp --dport 10 -j TEE --gateway 192.0.2.77\nCOMMIT\n");
  std::string seen;
  r.host.on_wire = [&](const Host&, std::string_view ifname, packet::Packet& p) {
    seen += fmt::format("{} dport={};", ifname, p.ip().payload()[3]);
  };
  r.in("udp 198.51.100.10:5000 > 203.0.113.20:9");
  r.in("udp 198.51.100.10:5000 > 203.0.113.20:10");
  EXPECT_EQ(seen, "eth0 dport=9;eth1 dport=9;eth1 dport=10;");
}

TEST(HostTest, MalformedPacketsNeverReachAHook) {
  Router r("*raw\n-A PREROUTING -j ACCEPT\nCOMMIT\n");
  auto p = packet::parse_packet("udp 198.51.100.10:5000 > 203.0.113.4:53");
  ASSERT_TRUE(p);
  p->data()[10] ^= 0xff;  // break the header checksum
  r.host.receive(std::move(*p), "eth0", 0);
  ASSERT_EQ(r.rec.log.size(), 1u);
  EXPECT_NE(r.rec.log[0].find("drop: malformed IPv4"), std::string::npos) << r.rec.log[0];
}

TEST(HostTest, LocallySentPacketsUseOutputAndLoopback) {
  Router r("*filter\n-A OUTPUT -o lo -j ACCEPT\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n");
  auto p = packet::parse_packet("udp 127.0.0.1:5000 > 127.0.0.1:9");
  ASSERT_TRUE(p);
  r.host.add_listener(17, 9);  // else a port unreachable comes back through lo
  r.host.send(std::move(*p), 0);
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{"  filter:OUTPUT:rule:1 ttl=64", "filter:OUTPUT:ACCEPT",
                                                 "transmit lo ttl=64", "  filter:INPUT:rule:1 ttl=64",
                                                 "filter:INPUT:ACCEPT", "deliver"}));
}

// __mkroute_output: an address of eth1 is reached through lo too, not
// sent out of eth1 (checked on 6.18: IN=lo in raw PREROUTING).
TEST(HostTest, PacketsToAnOwnAddressLoopBack) {
  Router r("*filter\n-A OUTPUT -o lo -j ACCEPT\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n");
  auto p = packet::parse_packet("udp 198.51.100.1:5000 > 203.0.113.1:9");
  ASSERT_TRUE(p);
  r.host.add_listener(17, 9);
  r.host.send(std::move(*p), 0);
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{"  filter:OUTPUT:rule:1 ttl=64", "filter:OUTPUT:ACCEPT",
                                                 "transmit lo ttl=64", "  filter:INPUT:rule:1 ttl=64",
                                                 "filter:INPUT:ACCEPT", "deliver"}));
}

// loopback_xmit keeps the packet's conntrack entry: a packet DNATed in
// OUTPUT to a local port comes back in through lo as the same connection
// (one entry, one NEW event), not as a second connection to the new port.
TEST(HostTest, LoopedBackPacketsKeepTheirConnection) {
  Router r("*nat\n-A OUTPUT -p udp --dport 9 -j DNAT --to-destination 127.0.0.1:10\nCOMMIT\n"
           "*filter\n-A INPUT -i lo -m state --state NEW -j ACCEPT\n-A INPUT -i lo -j DROP\nCOMMIT\n");
  r.host.add_listener(17, 10);
  auto p = packet::parse_packet("udp 127.0.0.1:5000 > 127.0.0.1:9");
  ASSERT_TRUE(p);
  r.host.send(std::move(*p), 0);
  EXPECT_EQ(r.rec.log.back(), "deliver");
  EXPECT_EQ(r.host.conntrack().count(), 1u);
  auto events = r.host.conntrack().take_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].view.reply.sport, 10);  // the reply comes from the DNATed port
}

TEST(HostTest, WireFramesCarryMacsOfBothEnds) {
  Router r("");
  packet::Mac peer{2, 0, 0, 0, 0, 9};
  r.host.neighbour = [&](std::string_view, uint32_t) { return peer; };
  std::string seen;
  r.host.on_wire = [&](const Host&, std::string_view ifname, packet::Packet& p) {
    auto eth = p.mac_header();
    seen = fmt::format("{} {} > {}", ifname, packet::format_mac(eth.src), packet::format_mac(eth.dst));
  };
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
  EXPECT_EQ(seen, "eth1 02:00:00:00:00:02 > 02:00:00:00:00:09");
}

// A scenario's wire peer is fixed per interface (build_host sets it): it is
// the destination of every frame out of that interface, and `neighbour` is
// asked only for interfaces without one.
TEST(HostTest, InterfacePeerIsTheDestinationMacBeforeNeighbour) {
  Host host{"fw"};
  host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
  host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2}).peer = packet::Mac{2, 0, 0, 0, 0, 7};
  host.add_interface("eth2", packet::Mac{2, 0, 0, 0, 0, 3});
  host.add_address("eth0", ip(198, 51, 100, 1), 24);
  host.add_address("eth1", ip(203, 0, 113, 1), 24);
  host.add_address("eth2", ip(192, 0, 2, 1), 24);
  host.set_sysctl("net.ipv4.ip_forward", 1);
  std::vector<std::string> asked;
  host.neighbour = [&](std::string_view ifname, uint32_t) {
    asked.emplace_back(ifname);
    return packet::Mac{2, 0, 0, 0, 0, 9};
  };
  std::vector<std::string> seen;
  host.on_wire = [&](const Host&, std::string_view ifname, packet::Packet& p) {
    seen.push_back(fmt::format("{} > {}", ifname, packet::format_mac(p.mac_header().dst)));
  };
  for (auto spec : {"udp 198.51.100.10:5000 > 203.0.113.4:53", "udp 198.51.100.10:5000 > 192.0.2.4:53"}) {
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p) << p.error().message;
    host.receive(std::move(*p), "eth0", 0);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"eth1 > 02:00:00:00:00:07", "eth2 > 02:00:00:00:00:09"}));
  EXPECT_EQ(asked, std::vector<std::string>{"eth2"});
}

// nf_defrag_ipv4 at -400: with conntrack active the raw table already sees
// the reassembled datagram, so `-f` never matches; the whole datagram is
// forwarded and fragmented again for eth1's 1400-byte MTU (1396+1396+276).
TEST(HostTest, ConntrackDefragBeforeRaw) {
  // The filter rule takes the conntrack reference (nf_ct_netns_get).
  Router r("*raw\n-A PREROUTING -f -j DROP\nCOMMIT\n*filter\n-A FORWARD -m state --state INVALID -j DROP\nCOMMIT\n");
  ASSERT_TRUE(r.host.conntrack_enabled());
  auto whole = packet::parse_packet("udp 198.51.100.10:5000 > 203.0.113.4:9 payload 3000");
  ASSERT_TRUE(whole);
  std::vector<packet::Packet> frags;
  ASSERT_TRUE(packet::fragment_ipv4(whole->data(), 1500,
                                    [&](std::span<const uint8_t> f) { frags.emplace_back(f); }));
  ASSERT_EQ(frags.size(), 3u);
  for (auto& f : frags) r.host.receive(std::move(f), "eth0", 0);
  size_t drops = 0, out = 0;
  for (const auto& l : r.rec.log) {
    drops += l.starts_with("drop:");
    out += l == "transmit eth1 ttl=63";
  }
  EXPECT_EQ(drops, 0u);
  EXPECT_EQ(out, 3u);
}

// ip_do_fragment with frag_max_size: fragments of 996 bytes that conntrack's
// defrag rebuilt leave eth1 (MTU 1400) as 996-byte fragments again.
TEST(HostTest, DefraggedDatagramKeepsItsFragmentSize) {
  Router r("");
  std::vector<size_t> sizes;
  struct Sizes : Recorder {
    std::vector<size_t>* out;
    void on_transmit(const Host&, std::string_view, const packet::Packet& p) override { out->push_back(p.size()); }
  } rec;
  rec.out = &sizes;
  r.host.set_observer(&rec);
  auto whole = packet::parse_packet("udp 198.51.100.10:5000 > 203.0.113.4:9 payload 3000");
  ASSERT_TRUE(whole);
  std::vector<packet::Packet> frags;
  ASSERT_TRUE(packet::fragment_ipv4(whole->data(), 1000, [&](std::span<const uint8_t> f) { frags.emplace_back(f); }));
  for (auto& f : frags) r.host.receive(std::move(f), "eth0", 0);
  EXPECT_EQ(sizes, (std::vector<size_t>{996, 996, 996, 100}));
}

// A TCP datagram longer than the MTU of the link it came in on is a GRO or
// TSO aggregate (tcpdump shows them on the firewall: 7292-byte segments
// through a 1500-byte veth here). ip_forward lets it through when its
// segments fit the way out (taken as full-size segments of the way in),
// and it leaves whole, as through a TSO device. Anything else longer than
// the way out's MTU is a datagram of its own: frag needed with DF,
// fragments without.
TEST(HostTest, TcpAggregatesLeaveWholeWhenTheirSegmentsFit) {
  Router r("");  // eth0 1500, eth1 1400
  struct Sizes : Recorder {
    void on_transmit(const Host&, std::string_view ifname, const packet::Packet& p) override {
      log.push_back(fmt::format("transmit {} {}", ifname, p.size()));
    }
  } rec;
  r.host.set_observer(&rec);
  r.in("tcp 203.0.113.4:80 > 198.51.100.10:40000 flags A df payload 5000", "eth1");  // 1400 in, 1500 out
  r.in("tcp 203.0.113.4:80 > 198.51.100.10:40000 flags A payload 5000", "eth1");     // no DF: whole too
  r.in("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags A df payload 5000");          // 1500 in, 1400 out
  r.in("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags A df payload 1420");          // fits 1500 in: no aggregate
  r.in("udp 203.0.113.4:53 > 198.51.100.10:5000 df payload 3000", "eth1");           // UDP: no aggregate
  EXPECT_EQ(rec.log, (std::vector<std::string>{
                         "transmit eth0 5040",
                         "transmit eth0 5040",
                         "transmit eth0 576",  // the frag needed error, quoting the datagram
                         "drop: fragmentation needed (DF set, 5040 > MTU 1400)",
                         "transmit eth0 576",
                         "drop: fragmentation needed (DF set, 1460 > MTU 1400)",
                         "transmit eth1 576",
                         "drop: fragmentation needed (DF set, 3028 > MTU 1500)",
                     }));
}

// ip_forward: a packet routed back out of the link it came in on, from a
// source on that link, gets an ICMP host redirect (gateway: the next hop)
// after the TTL decrement and before FORWARD, whatever FORWARD decides;
// ip_rt_send_redirect sends the n-th to a source 20 ms << n after the last.
// (With a nat table, nat drops a redirect about a connection whose NAT is
// not done yet, a new one's: kernel-any.sh checks that on the kernel.)
// send_redirects is conf/all OR conf/DEV, and an interface without its own
// value has conf/default's (the harness sets it before the interfaces
// exist): checked on 6.18 by IcmpOutRedirects, all=0 dev=0: none, all=0:
// sent, all=1 dev=0: sent, all=0 default=0 before the link: none.
TEST(HostTest, HairpinForwardingSendsPacedRedirects) {
  using Sysctls = std::vector<std::pair<std::string, int>>;
  const std::vector<std::pair<Sysctls, bool>> cases = {
      {{}, true},
      {{{"all", 0}, {"eth0", 0}}, false},
      {{{"all", 0}}, true},
      {{{"all", 1}, {"eth0", 0}}, true},
      {{{"all", 0}, {"default", 0}}, false},
      {{{"all", 0}, {"default", 0}, {"eth0", 1}}, true},
  };
  for (const auto& [sysctls, on] : cases) {
    Router r("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n");
    ASSERT_TRUE(r.host.fib().add({.dst = ip(192, 0, 2, 0), .plen = 24, .gateway = ip(198, 51, 100, 254), .dev = "eth0"}));
    for (const auto& [conf, value] : sysctls)
      r.host.set_sysctl(fmt::format("net.ipv4.conf.{}.send_redirects", conf), value);
    const bool off = !on;
    struct Redirects : Recorder {
      std::vector<std::string> sent;
      void on_transmit(const Host&, std::string_view ifname, const packet::Packet& p) override {
        auto ip = p.ip();
        auto icmp = ip.payload();
        auto quoted = packet::ConstIpv4View(icmp.subspan(8));
        sent.push_back(fmt::format("{} {} > {} type {} code {} gw {} quoting ttl {} to {}", ifname,
                                   packet::format_ipv4_addr(ip.saddr()), packet::format_ipv4_addr(ip.daddr()),
                                   icmp[0], icmp[1], packet::format_ipv4_addr(packet::load32(icmp.data() + 4)),
                                   quoted.ttl(), packet::format_ipv4_addr(quoted.daddr())));
      }
    } rec;
    r.host.set_observer(&rec);
    auto at = [&](std::string_view spec, uint64_t ms) {
      auto p = packet::parse_packet(spec);
      ASSERT_TRUE(p);
      r.host.receive(std::move(*p), "eth0", ms * 1'000'000);
    };
    at("udp 198.51.100.10:5000 > 198.51.100.20:53", 1000);
    at("udp 198.51.100.10:5000 > 198.51.100.20:53", 1030);  // 30 ms: not yet (40 ms for the second)
    at("udp 198.51.100.10:5000 > 192.0.2.9:53", 1050);      // 50 ms: the second, via the gateway
    at("udp 192.0.2.7:5000 > 198.51.100.20:53", 2000);      // a source behind a gateway: none
    at("udp 198.51.100.10:5000 > 203.0.113.4:53", 3000);    // out of another link: none
    if (off) {
      EXPECT_TRUE(rec.sent.empty()) << fmt::format("{}", fmt::join(rec.sent, "|"));
      continue;
    }
    EXPECT_EQ(rec.sent, (std::vector<std::string>{
                            "eth0 198.51.100.1 > 198.51.100.10 type 5 code 1 gw 198.51.100.20 quoting ttl 63 to 198.51.100.20",
                            "eth0 198.51.100.1 > 198.51.100.10 type 5 code 1 gw 198.51.100.254 quoting ttl 63 to 192.0.2.9",
                        }));
  }
}

// ip_route_input_rcu: a multicast destination is the host's when its
// interface joined the group, and every IPv4 interface joins 224.0.0.1;
// any other group is dropped after PREROUTING, never forwarded by a
// unicast route (kernel-checked in tests/replay/kernel-any.sh).
TEST(HostTest, MulticastIsDeliveredForAllHostsAndNeverForwarded) {
  Router r("*filter\n-A INPUT -d 224.0.0.1 -j ACCEPT\n-A FORWARD -j ACCEPT\nCOMMIT\n");
  ASSERT_TRUE(r.host.fib().add({.dst = 0, .plen = 0, .gateway = ip(203, 0, 113, 254), .dev = "eth1"}));
  r.in("udp 198.51.100.10:5000 > 224.0.0.1:9 ttl 1");
  r.in("udp 198.51.100.10:5353 > 224.0.0.251:5353");
  r.in("udp 224.0.0.9:5000 > 224.0.0.1:9");  // a multicast source: martian
  EXPECT_EQ(r.rec.log, (std::vector<std::string>{
                           "  filter:INPUT:rule:1 ttl=1", "filter:INPUT:ACCEPT", "deliver",
                           "drop: multicast group not joined",
                           "drop: martian source (multicast or broadcast)",
                       }));
}

// CHECKSUM --checksum-fill fills a checksum left for the NIC, but not a
// TCP aggregate's (checksum_tg: skb_is_gso): its segments get theirs
// when the aggregate is cut. Kernel-checked in tests/replay/kernel-any.sh
// (phase 1o); here without conntrack, which would otherwise mark them.
TEST(HostTest, ChecksumFillLeavesTcpAggregatesPartial) {
  Router r("*mangle\n-A POSTROUTING -p tcp -j CHECKSUM --checksum-fill\nCOMMIT\n");
  struct Sums : Recorder {
    std::vector<bool> partial;
    void on_transmit(const Host&, std::string_view, const packet::Packet& p) override {
      partial.push_back(packet::l4_checksum_partial(p.ip()));
    }
  } rec;
  r.host.set_observer(&rec);
  for (const char* spec : {"tcp 203.0.113.4:80 > 198.51.100.10:40000 flags A df payload 1000",    // a segment
                           "tcp 203.0.113.4:80 > 198.51.100.10:40000 flags A df payload 5000"}) {  // > eth1's 1400
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p);
    auto ip = p->ip();
    uint32_t s = ip.saddr(), d = ip.daddr();
    uint32_t sum = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + ip.protocol() +
                   static_cast<uint32_t>(ip.payload().size());
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    packet::store16(ip.payload().data() + 16, static_cast<uint16_t>(sum));
    ASSERT_TRUE(packet::l4_checksum_partial(ip));
    r.host.receive(std::move(*p), "eth1", 0);
  }
  EXPECT_EQ(rec.partial, (std::vector<bool>{false, true}));
}

// An observer that says it does not watch NAT steps (nfemu replay) gets no
// on_nat call and costs no snapshot; the packet is translated all the same.
// One that watches sees each step with the datagram's start before it.
struct NatWatcher : Recorder {
  bool watch = true;
  std::vector<uint32_t> before_saddr;
  uint32_t sent_saddr = 0;
  bool watches_nat() const override { return watch; }
  void on_nat(const Host&, xt::Hook, NatStep, std::span<const uint8_t> before, const packet::Packet&) override {
    EXPECT_GE(before.size(), 20u);
    before_saddr.push_back(before.size() >= 16 ? ip(before[12], before[13], before[14], before[15]) : 0);
  }
  void on_transmit(const Host&, std::string_view, const packet::Packet& p) override { sent_saddr = p.ip().saddr(); }
};

TEST(HostTest, OnlyAnObserverThatWatchesNatIsToldOfNatSteps) {
  for (bool watch : {true, false}) {
    Router r("*nat\n-A POSTROUTING -o eth1 -j SNAT --to-source 203.0.113.1\nCOMMIT\n");
    NatWatcher w;
    w.watch = watch;
    r.host.set_observer(&w);
    r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
    r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
    EXPECT_EQ(w.sent_saddr, ip(203, 0, 113, 1)) << "watch=" << watch;
    if (watch) {
      // PREROUTING (Walked, then Bound) and POSTROUTING of both packets.
      EXPECT_EQ(w.before_saddr, std::vector<uint32_t>(4, ip(198, 51, 100, 10)));
    } else {
      EXPECT_TRUE(w.before_saddr.empty());
    }
  }
}

struct LogReader : Recorder {
  bool text = true;
  std::vector<std::string> lines;
  bool wants_log_text() const override { return text; }
  void on_kernel_log(const Host&, const std::string& line) override { lines.push_back(line); }
};

// A LOG line and a TRACE line per packet; an observer that wants no text
// is told of as many lines, each empty (nfemu replay without --out).
TEST(HostTest, LogTextIsFormattedOnlyForAnObserverThatWantsIt) {
  for (bool text : {true, false}) {
    Router r("*raw\n-A PREROUTING -p udp -j TRACE\nCOMMIT\n*filter\n-A FORWARD -j LOG --log-prefix \"fwd \"\nCOMMIT\n");
    LogReader reader;
    reader.text = text;
    r.host.set_observer(&reader);
    r.in("udp 198.51.100.10:5000 > 203.0.113.4:53");
    r.in("tcp 198.51.100.10:5000 > 203.0.113.4:80 flags S");
    // udp: TRACE lines (raw rule, then policies) and its LOG line; tcp: LOG.
    ASSERT_GE(reader.lines.size(), 3u) << "text=" << text;
    size_t logs = 0, traces = 0;
    for (const auto& l : reader.lines) {
      if (text) {
        EXPECT_TRUE(l.starts_with("fwd IN=eth0 OUT=eth1 ") || l.starts_with("TRACE: ")) << l;
        logs += l.starts_with("fwd ");
        traces += l.starts_with("TRACE: ");
      } else {
        EXPECT_EQ(l, "");
      }
    }
    if (text) {
      EXPECT_EQ(logs, 2u);
      EXPECT_GE(traces, 2u);
    }
    static size_t with_text = 0;
    if (text) with_text = reader.lines.size();
    else EXPECT_EQ(reader.lines.size(), with_text);
  }
}

}  // namespace
}  // namespace nfemu::stack
