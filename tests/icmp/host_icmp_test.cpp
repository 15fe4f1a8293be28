// What a host answers, end to end through its hooks: echo replies, resets,
// SYN-ACKs, port/protocol unreachables, forwarding errors, REJECT, source
// address choice, rate limits on the virtual clock, and the icmp-nat-dmz
// story.
//
// Checked on kernel 6.18 with tests/icmp/kernel-check.sh (client c ---
// router r --- server b; r2/b0 MTU 1400; REJECT rules and a TCP listener on
// b); every datagram the client received is in kernel-observed-*.txt and
// the expectations below quote it ("kernel:"). Not compared: IP ID (the
// kernel's differs, outputs.md ignores it) and the SYN-ACK's ISN.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "icmp/icmp.h"
#include "net/network.h"
#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "scenario/scenario.h"
#include "stack/host.h"

namespace nfemu::stack {
namespace {

std::string fmt_or(packet::ConstIpv4View ip) {
  auto t = packet::format_packet(ip);
  return t ? *t : "(not in the grammar)";
}

constexpr uint32_t ip4(int a, int b, int c, int d) {
  return static_cast<uint32_t>(a) << 24 | static_cast<uint32_t>(b) << 16 | static_cast<uint32_t>(c) << 8 |
         static_cast<uint32_t>(d);
}

struct Wire {
  std::string ifname;
  packet::Packet pkt;
  uint64_t at;
};

struct Capture : PathObserver {
  std::vector<std::string> rules;
  void on_rule(const Host&, xt::Hook, const xt::TraceEvent& ev, const packet::Packet& p) override {
    if (ev.kind == xt::TraceEvent::Kind::Rule)
      rules.push_back(fmt::format("{}:{}:{} ctinfo={}", ev.table, ev.chain, ev.rulenum,
                                  p.meta.ct ? static_cast<int>(p.meta.ctinfo) : -1));
  }
};

// r: eth0 198.51.100.1/24 toward the client, eth1 203.0.113.1/24 (MTU 1400)
// toward the server side, unreachable 192.0.2.0/25, prohibit
// 192.0.2.128/25, blackhole 100.64.8.0/24, no default route.
struct Router {
  Host host{"r"};
  Capture cap;
  std::vector<Wire> out;
  uint64_t now = 0;
  explicit Router(std::string_view rules = "") {
    host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
    host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2}, 1400);
    host.add_address("eth0", ip4(198, 51, 100, 1), 24);
    host.add_address("eth1", ip4(203, 0, 113, 1), 24);
    EXPECT_TRUE(host.fib().add({.dst = ip4(192, 0, 2, 0), .plen = 25, .type = RouteType::Unreachable}));
    EXPECT_TRUE(host.fib().add({.dst = ip4(192, 0, 2, 128), .plen = 25, .type = RouteType::Prohibit}));
    EXPECT_TRUE(host.fib().add({.dst = ip4(100, 64, 8, 0), .plen = 24, .type = RouteType::Blackhole}));
    host.set_sysctl("net.ipv4.ip_forward", 1);
    if (!rules.empty()) {
      auto r = ruleset::restore(rules, host.ruleset());
      EXPECT_TRUE(r) << r.error().format("rules");
    }
    host.set_observer(&cap);
    host.on_wire = [this](const Host&, std::string_view ifname, packet::Packet& p) {
      out.push_back({std::string(ifname), p, now});
    };
  }
  void in(std::string_view spec, std::string_view ifname = "eth0") {
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p) << p.error().message;
    host.receive(std::move(*p), ifname, now);
  }
  // The datagrams sent back toward the client.
  std::vector<packet::Packet> answers() const {
    std::vector<packet::Packet> v;
    for (const auto& w : out)
      if (w.ifname == "eth0") v.push_back(w.pkt);
    return v;
  }
};

std::string text(const packet::Packet& p) { return fmt_or(p.ip()); }
uint8_t icmp_type(const packet::Packet& p) { return p.ip().payload()[0]; }
uint8_t icmp_code(const packet::Packet& p) { return p.ip().payload()[1]; }

TEST(HostIcmp, EchoReplyFromTheAddressPinged) {
  Router r;
  r.in("icmp 198.51.100.10 > 203.0.113.1 echo-request id 1 seq 1 tos 16");
  auto a = r.answers();
  ASSERT_EQ(a.size(), 1u);
  // kernel: tos=0x10 len=84 frag=0x0000 ttl=64 type=0 rest=00010001
  auto ip = a[0].ip();
  EXPECT_EQ(ip.saddr(), ip4(203, 0, 113, 1));
  EXPECT_EQ(ip.tos(), 0x10);
  EXPECT_EQ(ip.total_length(), 84);
  EXPECT_FALSE(ip.df());
  EXPECT_EQ(ip.ttl(), 64);
  EXPECT_EQ(icmp_type(a[0]), 0);
  r.host.set_sysctl("net.ipv4.icmp_echo_ignore_all", 1);
  r.in("icmp 198.51.100.10 > 203.0.113.1 echo-request id 1 seq 2");
  EXPECT_EQ(r.answers().size(), 1u);
}

TEST(HostIcmp, EchoToBroadcastIgnoredByDefault) {
  Router r;
  r.in("icmp 198.51.100.10 > 198.51.100.255 echo-request");
  EXPECT_TRUE(r.answers().empty());
  r.host.set_sysctl("net.ipv4.icmp_echo_ignore_broadcasts", 0);
  r.in("icmp 198.51.100.10 > 198.51.100.255 echo-request");
  ASSERT_EQ(r.answers().size(), 1u);
  EXPECT_EQ(r.answers()[0].ip().saddr(), ip4(198, 51, 100, 1));
}

TEST(HostIcmp, ResetForAClosedPort) {
  Router r;
  // kernel: tos=0x10 len=40 id=0 frag=0x4000 ttl=64 81>40000 seq=0 ack=1001 flags=0x14 win=0
  r.in("tcp 198.51.100.10:40000 > 198.51.100.1:81 flags S seq 1000 tos 16");
  // kernel: tos=0x00 seq=7777 ack=0 flags=0x04
  r.in("tcp 198.51.100.10:40001 > 198.51.100.1:81 flags A seq 5000 ack 7777");
  r.in("tcp 198.51.100.10:40002 > 198.51.100.1:81 flags R seq 5000");  // no answer to a reset
  auto a = r.answers();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(text(a[0]), "tcp 198.51.100.1:81 > 198.51.100.10:40000 flags RA seq 0 ack 1001 win 0 tos 16 ipid 0 df");
  EXPECT_EQ(text(a[1]), "tcp 198.51.100.1:81 > 198.51.100.10:40001 flags R seq 7777 win 0 ipid 0 df");
}

TEST(HostIcmp, BadChecksumGetsNoAnswer) {
  Router r;
  auto p = packet::parse_packet("udp 198.51.100.10:40000 > 198.51.100.1:9999");
  ASSERT_TRUE(p);
  p->data()[26] ^= 0xff;  // UDP checksum
  r.host.receive(std::move(*p), "eth0", 0);
  auto t = packet::parse_packet("tcp 198.51.100.10:40000 > 198.51.100.1:81 flags S");
  t->data()[36] ^= 0xff;
  r.host.receive(std::move(*t), "eth0", 0);
  EXPECT_TRUE(r.answers().empty());
}

TEST(HostIcmp, ListenerAnswersSynAndAcceptsTheHandshake) {
  Router r;
  r.host.add_listener(6, 80);
  EXPECT_TRUE(r.host.has_listener(6, 80));
  EXPECT_FALSE(r.host.has_listener(17, 80));
  // kernel (b0 MTU 1400): len=44 frag=0x4000 ttl=64 80>40008 ack=2001 doff=6 flags=0x12 win=65280 opts=02040550
  r.in("tcp 203.0.113.10:40008 > 203.0.113.1:80 flags S seq 2000", "eth1");
  ASSERT_EQ(r.out.size(), 1u);
  auto sa = r.out[0].pkt;
  EXPECT_EQ(r.out[0].ifname, "eth1");
  packet::ConstTcpView t(sa.ip().payload());
  EXPECT_EQ(t.flags(), 0x12);
  EXPECT_EQ(t.ack_seq(), 2001u);
  EXPECT_EQ(t.window(), 65280);
  EXPECT_EQ(packet::load16(t.options().data() + 2), 1360);
  EXPECT_TRUE(sa.ip().df());
  EXPECT_EQ(sa.ip().ttl(), 64);
  uint32_t isn = t.seq();
  // The handshake's ACK is taken silently; a stray ACK is reset.
  r.in(fmt::format("tcp 203.0.113.10:40008 > 203.0.113.1:80 flags A seq 2001 ack {}", isn + 1), "eth1");
  EXPECT_EQ(r.out.size(), 1u);
  r.in("tcp 203.0.113.10:40009 > 203.0.113.1:80 flags A seq 9 ack 12345", "eth1");
  ASSERT_EQ(r.out.size(), 2u);
  EXPECT_EQ(packet::ConstTcpView(r.out[1].pkt.ip().payload()).flags(), 0x04);
  // UDP listener: no port unreachable.
  r.host.add_listener(17, 53);
  r.in("udp 198.51.100.10:40000 > 198.51.100.1:53");
  EXPECT_EQ(r.out.size(), 2u);
}

TEST(HostIcmp, PortUnreachableFromTheLocalDestination) {
  Router r;
  // kernel: tos=0xd0 len=576 ttl=64 type=3 code=3 quoted=548
  r.in("udp 198.51.100.10:40000 > 203.0.113.1:9999 tos 17 payload 600");
  auto a = r.answers();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].ip().saddr(), ip4(203, 0, 113, 1));  // the original destination, not eth0's address
  EXPECT_EQ(a[0].ip().tos(), 0xd0);
  EXPECT_EQ(a[0].ip().total_length(), 576);
  EXPECT_EQ(icmp_type(a[0]), 3);
  EXPECT_EQ(icmp_code(a[0]), 3);
}

TEST(HostIcmp, ProtocolUnreachable) {
  Router r;
  auto p = packet::parse_packet("udp 198.51.100.10:1 > 198.51.100.1:2");
  ASSERT_TRUE(p);
  p->ip().set_protocol(200);  // kernel: type=3 code=2 for protocol 200
  p->ip().update_checksum();
  r.host.receive(std::move(*p), "eth0", 0);
  auto a = r.answers();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(icmp_code(a[0]), 2);
}

TEST(HostIcmp, TimeExceededAndFragNeededWhenForwarding) {
  Router r;
  // kernel: 198.51.100.1 tos=0xc4 len=56 ttl=64 type=11 code=0, inner TTL 1
  r.in("udp 198.51.100.10:40003 > 203.0.113.2:9999 ttl 1 tos 4");
  // kernel: tos=0xc0 len=576 type=3 code=4 rest=00000578, inner TTL 64
  r.in("udp 198.51.100.10:40004 > 203.0.113.2:9999 df payload 1400");
  // Without DF the packet is forwarded (fragmentation is not modelled).
  auto a = r.answers();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].ip().saddr(), ip4(198, 51, 100, 1));
  EXPECT_EQ(a[0].ip().tos(), 0xc4);
  EXPECT_EQ(a[0].ip().total_length(), 56);
  EXPECT_EQ(icmp_type(a[0]), 11);
  EXPECT_EQ(a[0].ip().payload()[8 + 8], 1);  // quoted TTL as received
  EXPECT_EQ(icmp_type(a[1]), 3);
  EXPECT_EQ(icmp_code(a[1]), 4);
  EXPECT_EQ(packet::load32(a[1].ip().payload().data() + 4), 1400u);
  EXPECT_EQ(a[1].ip().payload()[8 + 8], 64);
  EXPECT_EQ(a[1].ip().total_length(), 576);
  // No time exceeded about an ICMP error.
  r.in("icmp 198.51.100.10 > 203.0.113.2 type 3 code 3 ttl 1");
  EXPECT_EQ(r.answers().size(), 2u);
  r.in("icmp 198.51.100.10 > 203.0.113.2 echo-request ttl 1");
  EXPECT_EQ(r.answers().size(), 3u);
}

TEST(HostIcmp, UnreachableRoutes) {
  Router r;
  // kernel: code=1 (unreachable), 13 (prohibit), 0 (no route), all from 198.51.100.1
  r.in("udp 198.51.100.10:40005 > 192.0.2.5:9999");
  r.now = 2'100'000'000;
  r.in("udp 198.51.100.10:40006 > 192.0.2.200:9999");
  r.now = 4'200'000'000;
  r.in("udp 198.51.100.10:40007 > 100.64.9.9:9999");
  r.now = 6'300'000'000;
  r.in("udp 198.51.100.10:40007 > 100.64.8.9:9999");  // blackhole: silent
  auto a = r.answers();
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(icmp_code(a[0]), 1);
  EXPECT_EQ(icmp_code(a[1]), 13);
  EXPECT_EQ(icmp_code(a[2]), 0);
  for (const auto& p : a) {
    EXPECT_EQ(p.ip().saddr(), ip4(198, 51, 100, 1));
    EXPECT_EQ(p.ip().tos(), 0xc0);
  }
  // Without forwarding, ip_error stays silent.
  r.host.set_sysctl("net.ipv4.ip_forward", 0);
  r.now = 20'000'000'000;
  r.in("udp 198.51.100.10:40005 > 192.0.2.5:9999");
  EXPECT_EQ(r.answers().size(), 3u);
}

TEST(HostIcmp, RejectEveryType) {
  Router r(
      "*filter\n"
      "-A FORWARD -p udp --dport 1 -j REJECT --reject-with icmp-net-unreachable\n"
      "-A FORWARD -p udp --dport 2 -j REJECT --reject-with icmp-host-unreachable\n"
      "-A FORWARD -p udp --dport 3 -j REJECT --reject-with icmp-proto-unreachable\n"
      "-A FORWARD -p udp --dport 4 -j REJECT\n"
      "-A FORWARD -p udp --dport 5 -j REJECT --reject-with icmp-net-prohibited\n"
      "-A FORWARD -p udp --dport 6 -j REJECT --reject-with icmp-host-prohibited\n"
      "-A FORWARD -p udp --dport 7 -j REJECT --reject-with icmp-admin-prohibited\n"
      "-A FORWARD -p tcp --dport 8 -j REJECT --reject-with tcp-reset\n"
      "COMMIT\n");
  for (int port = 1; port <= 7; ++port) {
    r.now = static_cast<uint64_t>(port) * 2'000'000'000;
    r.in(fmt::format("udp 198.51.100.10:40000 > 203.0.113.2:{}", port));
  }
  r.in("tcp 198.51.100.10:40010 > 203.0.113.2:8 flags S seq 3000 tos 16");
  auto a = r.answers();
  ASSERT_EQ(a.size(), 8u);
  const int codes[] = {0, 1, 2, 3, 9, 10, 13};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(icmp_type(a[i]), 3);
    EXPECT_EQ(icmp_code(a[i]), codes[i]) << i;
    EXPECT_EQ(a[i].ip().saddr(), ip4(198, 51, 100, 1));  // forwarded: the route back's source
  }
  // nf_send_reset: from the original destination, TOS 0, DF (kernel: tos=0x00 frag=0x4000 seq=0 ack=3001)
  EXPECT_EQ(text(a[7]), "tcp 203.0.113.2:8 > 198.51.100.10:40010 flags RA seq 0 ack 3001 win 0 ipid 0 df");
  // Nothing was forwarded.
  for (const auto& w : r.out) EXPECT_EQ(w.ifname, "eth0");
}

TEST(HostIcmp, ErrorIsRelatedToTheOffendingConnection) {
  Router r(
      "*mangle\n"
      "-A OUTPUT -m state --state RELATED -j ACCEPT\n"
      "COMMIT\n"
      "*filter\n"
      "-A FORWARD -j REJECT\n"
      "COMMIT\n");
  r.in("udp 198.51.100.10:40000 > 203.0.113.2:53");
  ASSERT_EQ(r.answers().size(), 1u);
  // ctinfo 4: IP_CT_RELATED_REPLY, as nf_ct_attach sets it.
  EXPECT_NE(std::find(r.cap.rules.begin(), r.cap.rules.end(), "mangle:OUTPUT:1 ctinfo=4"), r.cap.rules.end());
  EXPECT_EQ(r.host.conntrack().count(), 0u);  // the rejected connection never confirmed
}

TEST(HostIcmp, SourceChoiceWithInboundIfaddr) {
  // fw: eth0 198.18.42.1/24 toward the router, eth1 100.64.1.1/24, default
  // via 198.18.42.2 with preferred source 100.64.1.1.
  Host fw("fw");
  fw.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
  fw.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2});
  fw.add_address("eth0", ip4(198, 18, 42, 1), 24);
  fw.add_address("eth1", ip4(100, 64, 1, 1), 24);
  ASSERT_TRUE(fw.fib().add({.dst = 0, .plen = 0, .gateway = ip4(198, 18, 42, 2), .dev = "eth0",
                            .prefsrc = ip4(100, 64, 1, 1)}));
  fw.set_sysctl("net.ipv4.ip_forward", 1);
  std::vector<packet::Packet> out;
  fw.on_wire = [&](const Host&, std::string_view, packet::Packet& p) { out.push_back(p); };
  auto in = [&](uint64_t t) {
    auto p = packet::parse_packet("udp 198.51.100.10:40000 > 100.64.1.5:53 ttl 1");
    fw.receive(std::move(*p), "eth0", t);
  };
  in(0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ip().saddr(), ip4(100, 64, 1, 1));  // the route back's preferred source
  fw.set_sysctl("net.ipv4.icmp_errors_use_inbound_ifaddr", 1);
  in(2'000'000'000);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].ip().saddr(), ip4(198, 18, 42, 1));  // eth0's primary address
  // A local destination always answers from itself.
  auto p = packet::parse_packet("udp 198.51.100.10:40000 > 100.64.1.1:9");
  fw.receive(std::move(*p), "eth0", 4'000'000'000);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].ip().saddr(), ip4(100, 64, 1, 1));
}

// kernel-observed-srcchoice.txt: router with 100.64.0.1/32 on lo and
// `198.51.100.10/32 dev r1 src 100.64.0.1`: time exceeded from 100.64.0.1,
// then, with icmp_errors_use_inbound_ifaddr = 1, from 198.51.100.1.
TEST(HostIcmp, SourceChoiceAsTheKernel) {
  Router r;
  r.host.add_address("lo", ip4(100, 64, 0, 1), 32);
  ASSERT_TRUE(r.host.fib().add({.dst = ip4(198, 51, 100, 10), .plen = 32, .dev = "eth0", .prefsrc = ip4(100, 64, 0, 1),
                                .scope = Scope::Link}));
  r.in("udp 198.51.100.10:40003 > 203.0.113.2:9999 ttl 1 tos 4");
  r.host.set_sysctl("net.ipv4.icmp_errors_use_inbound_ifaddr", 1);
  r.now = 2'100'000'000;
  r.in("udp 198.51.100.10:40003 > 203.0.113.2:9999 ttl 1 tos 4");
  auto a = r.answers();
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].ip().saddr(), ip4(100, 64, 0, 1));
  EXPECT_EQ(a[1].ip().saddr(), ip4(198, 51, 100, 1));
}

TEST(HostIcmp, RateLimitOverVirtualTime) {
  Router r;
  // kernel-observed-burst.txt: 10 at once -> 6, 3 more 1.05 s later -> 1.
  for (int i = 0; i < 10; ++i) r.in(fmt::format("udp 198.51.100.10:{} > 198.51.100.1:9999", 41000 + i));
  EXPECT_EQ(r.answers().size(), 6u);
  r.now = 1'050'000'000;
  for (int i = 0; i < 3; ++i) r.in(fmt::format("udp 198.51.100.10:{} > 198.51.100.1:9999", 42000 + i));
  EXPECT_EQ(r.answers().size(), 7u);
  // Frag-needed and echo replies are not limited.
  for (int i = 0; i < 10; ++i) r.in("udp 198.51.100.10:40004 > 203.0.113.2:9999 df payload 1400");
  for (int i = 0; i < 10; ++i) r.in("icmp 198.51.100.10 > 198.51.100.1 echo-request");
  EXPECT_EQ(r.answers().size(), 27u);
  // ip_error and the peer check share one bucket: two errors in a burst.
  Router u;
  for (int i = 0; i < 5; ++i) u.in("udp 198.51.100.10:1 > 192.0.2.5:9");
  EXPECT_EQ(u.answers().size(), 2u);
}

TEST(HostIcmp, GlobalLimitAcrossPeersAndRatemask) {
  Router r;
  r.host.set_sysctl("net.ipv4.icmp_msgs_burst", 3);
  // Five senders, one error each: the per-peer buckets allow all, the
  // global one only its burst; 20 ms later it has refilled.
  for (int i = 0; i < 5; ++i) r.in(fmt::format("udp 198.51.100.{}:1 > 198.51.100.1:9", 20 + i));
  EXPECT_EQ(r.answers().size(), 3u);
  r.now = 20'000'000;
  r.in("udp 198.51.100.30:1 > 198.51.100.1:9");
  EXPECT_EQ(r.answers().size(), 4u);
  // Echo replies count once icmp_ratemask includes type 0.
  Router e;
  e.host.set_sysctl("net.ipv4.icmp_ratemask", 0x1819);
  for (int i = 0; i < 10; ++i) e.in("icmp 198.51.100.10 > 198.51.100.1 echo-request");
  EXPECT_EQ(e.answers().size(), 6u);
}

TEST(HostIcmp, NoErrorAboutFragmentsOrBroadcasts) {
  Router r;
  auto p = packet::parse_packet("udp 198.51.100.10:40000 > 203.0.113.2:9999 ttl 1");
  p->ip().set_frag_offset(8);
  p->ip().update_checksum();
  r.host.receive(std::move(*p), "eth0", 0);
  r.in("udp 198.51.100.10:40000 > 198.51.100.255:9999");
  EXPECT_TRUE(r.answers().empty());
}

// The motivating case: REJECT in fw's FORWARD; the error about the
// non-NATed 100.64.1.5 leaves fw from 198.18.42.1, the preferred source of
// its route back to the client, and the border router drops it.
TEST(HostIcmp, IcmpNatDmzErrorFromTheInterconnectAddress) {
  auto sc = scenario::load_scenario(NFEMU_SCENARIOS_DIR "/icmp-nat-dmz/icmp-nat-dmz.toml");
  ASSERT_TRUE(sc) << sc.error().format("icmp-nat-dmz.toml");
  auto n = net::Network::build(*sc);
  ASSERT_TRUE(n) << n.error().format("icmp-nat-dmz.toml");
  (*n)->run();
  const auto& fw = (*n)->record("fw").captures.at("eth0");
  std::vector<std::string> errors;
  for (const auto& f : fw) {
    auto pkt = packet::Packet::from_frame(f.bytes);
    ASSERT_TRUE(pkt);
    auto ip = pkt->ip();
    if (ip.protocol() == 1 && ip.payload()[0] == 3) {
      packet::ConstIpv4View inner(ip.payload().subspan(8));
      errors.push_back(fmt::format("{:08x} > {:08x} about {:08x}", ip.saddr(), ip.daddr(), inner.daddr()));
    }
  }
  // The second error: from 198.18.42.1 (c612 2a01) to the client about 100.64.1.5.
  EXPECT_NE(std::find(errors.begin(), errors.end(), "c6122a01 > c633640a about 64400105"), errors.end())
      << fmt::format("{}", fmt::join(errors, "; "));
}

}  // namespace
}  // namespace nfemu::stack

namespace nfemu::stack {
namespace {

// The line kernel-check.sh prints for a datagram, without timestamp and IP
// ID; the quoted transport checksum is masked (the kernel probe's payload
// bytes are not zeros, the scenario grammar's are).
std::string probe_line(packet::ConstIpv4View p) {
  auto addr = [](uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255); };
  std::string line = fmt::format("{} > {} tos=0x{:02x} len={} frag=0x{:04x} ttl={} proto={}", addr(p.saddr()),
                                 addr(p.daddr()), p.tos(), p.total_length(), p.frag_field(), p.ttl(), p.protocol());
  auto t = p.payload();
  if (p.protocol() == 1) {
    line += fmt::format(" icmp type={} code={} rest={:08x} quoted={}", t[0], t[1], packet::load32(t.data() + 4),
                        t.size() - 8);
    if (t[0] == 3 || t[0] == 11) {
      line += " inner=";
      for (size_t i = 8; i < 36 && i < t.size(); ++i) line += i >= 34 ? "xx" : fmt::format("{:02x}", t[i]);
    }
  } else if (p.protocol() == 6) {
    packet::ConstTcpView th(t);
    bool synack = th.flags() == 0x12;
    line += fmt::format(" tcp {}>{} seq={} ack={} doff={} flags=0x{:02x} win={} opts=", th.sport(), th.dport(),
                        synack ? std::string("ISN") : std::to_string(th.seq()), th.ack_seq(), th.data_offset(),
                        th.flags(), th.window());
    for (uint8_t b : th.options()) line += fmt::format("{:02x}", b);
  }
  return line;
}

TEST(HostIcmp, ScenarioAnswersEqualTheKernels) {
  auto sc = scenario::load_scenario(NFEMU_SCENARIOS_DIR "/icmp-answers/icmp-answers.toml");
  ASSERT_TRUE(sc) << sc.error().format("icmp-answers.toml");
  auto n = net::Network::build(*sc);
  ASSERT_TRUE(n) << n.error().format("icmp-answers.toml");
  (*n)->run();
  std::vector<std::string> got;
  for (const auto& f : (*n)->record("client").captures.at("c0")) {
    auto pkt = packet::Packet::from_frame(f.bytes);
    ASSERT_TRUE(pkt);
    if (pkt->ip().saddr() != ip4(198, 51, 100, 10)) got.push_back(probe_line(pkt->ip()));
  }
  std::ifstream in(NFEMU_SOURCE_DIR "/tests/icmp/kernel-observed-cases.txt");
  ASSERT_TRUE(in);
  std::vector<std::string> want;
  for (std::string l; std::getline(in, l);) {
    l = std::regex_replace(l, std::regex("^[0-9]+\\.[0-9]+ | id=[0-9]+"), "");
    l = std::regex_replace(l, std::regex("seq=[0-9]+( ack=[0-9]+ doff=6 flags=0x12)"), "seq=ISN$1");
    l = std::regex_replace(l, std::regex("(inner=[0-9a-f]{52})[0-9a-f]{4}"), "$1xxxx");
    // The grammar cannot say protocol 200: that case is ProtocolUnreachable.
    if (l.find("code=2 ") == std::string::npos) want.push_back(l);
  }
  EXPECT_EQ(want.size(), 14u);
  EXPECT_EQ(got, want);
}

// kernel-observed-dmz.txt: the server forwards to 100.64.1.0/24 behind
// eth1 and REJECTs 100.64.1.5; the error leaves from b0's 203.0.113.2, the
// preferred source of the route back, quoting the request with TTL 62. The
// kernel line has TTL 63: the router between decremented it.
TEST(HostIcmp, RejectInForwardFromTheRouteBacksSourceAsTheKernel) {
  Host b("server");
  b.add_interface("b0", packet::Mac{2, 0, 0, 0, 0, 1}, 1400);
  b.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2});
  b.add_address("b0", ip4(203, 0, 113, 2), 24);
  b.add_address("eth1", ip4(100, 64, 1, 1), 24);
  ASSERT_TRUE(b.fib().add({.dst = 0, .plen = 0, .gateway = ip4(203, 0, 113, 1)}));
  b.set_sysctl("net.ipv4.ip_forward", 1);
  ASSERT_TRUE(ruleset::restore("*filter\n-A FORWARD -d 100.64.1.5 -j REJECT\nCOMMIT\n", b.ruleset()));
  std::vector<std::string> out;
  b.on_wire = [&](const Host&, std::string_view ifname, packet::Packet& p) {
    out.push_back(fmt::format("{} {}", ifname, probe_line(p.ip())));
  };
  auto req = packet::parse_packet("icmp 198.51.100.10 > 100.64.1.5 echo-request id 2 seq 1 ttl 63");
  b.receive(std::move(*req), "b0", 0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0],
            "b0 203.0.113.2 > 198.51.100.10 tos=0xc0 len=112 frag=0x0000 ttl=64 proto=1 icmp type=3 code=3 "
            "rest=00000000 quoted=84 inner=45000054000100003e01ed25c633640a644001050800f7fc0002xxxx");
}

}  // namespace
}  // namespace nfemu::stack
