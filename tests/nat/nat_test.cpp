// NAT through a host (stack::Host with nat/): bindings made by the NAT
// targets, every packet of a NATed connection rewritten in the right hook,
// ICMP errors related to a NATed connection translated back.
//
// Checked on Linux 6.18 namespaces by kernel-check.sh (same addresses):
//  - SNAT/MASQUERADE of two clients using the same source port: the first
//    keeps its port, the second gets another one in 1024-65535 (the kernel
//    draws it with get_random_u16; nfemu's draw is reproducible instead,
//    so only "kept" / "changed, in range" is compared).
//  - ICMP echo of two clients with the same id behind MASQUERADE: the
//    first keeps id 1, the second gets another id.
//  - An ICMP port unreachable sent by the DNAT target server reaches the
//    client from the public address (outer source rewritten), quoting the
//    datagram as the client sent it (inner destination and port restored),
//    with valid ICMP, inner IP and inner UDP checksums.
//  - The address picked in an SNAT range, with and without --persistent,
//    and the reuse of a source's existing mapping: exactly the kernel's.
#include "nat/nat.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "packet/checksum.h"
#include "packet/grammar.h"
#include "packet/headers.h"
#include "packet/mangle.h"
#include "ruleset/restore.h"
#include "stack/host.h"

namespace nfemu::nat {
namespace {

using packet::Packet;

constexpr uint32_t ip4(int a, int b, int c, int d) {
  return static_cast<uint32_t>(a) << 24 | static_cast<uint32_t>(b) << 16 | static_cast<uint32_t>(c) << 8 |
         static_cast<uint32_t>(d);
}

struct Out {
  std::string ifname;
  Packet pkt;
};

struct Recorder : stack::PathObserver {
  std::vector<Out> sent;
  std::vector<Packet> delivered;
  std::vector<std::string> drops;
  std::vector<std::string> unsupported;
  void on_transmit(const stack::Host&, std::string_view ifname, const Packet& p) override {
    sent.push_back({std::string(ifname), p});
  }
  void on_local_deliver(const stack::Host&, const Packet& p) override { delivered.push_back(p); }
  void on_drop(const stack::Host&, std::string_view reason, const Packet&) override { drops.emplace_back(reason); }
  void on_unsupported(const stack::Host&, std::string_view ext) override { unsupported.emplace_back(ext); }
};

// A router between 198.51.100.0/24 (eth0, "inside") and 203.0.113.0/24
// (eth1, "outside").
struct Router {
  stack::Host host{"fw"};
  Recorder rec;
  uint64_t now = 0;
  explicit Router(std::string_view rules) {
    host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
    host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2});
    host.add_address("eth0", ip4(198, 51, 100, 1), 24);
    host.add_address("eth1", ip4(203, 0, 113, 1), 24);
    host.set_sysctl("net.ipv4.ip_forward", 1);
    auto r = ruleset::restore(rules, host.ruleset());
    EXPECT_TRUE(r) << r.error().format("rules");
    host.set_observer(&rec);
  }
  void in(Packet p, std::string_view ifname) {
    now += 1'000'000;
    host.receive(std::move(p), ifname, now);
  }
  void in(std::string_view spec, std::string_view ifname) {
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p) << p.error().message;
    in(std::move(*p), ifname);
  }
  // The last packet transmitted, as "IFNAME: grammar text" (the text
  // exists only when every checksum is right).
  std::string last() {
    if (rec.sent.empty()) return "(nothing sent)";
    const auto& o = rec.sent.back();
    auto text = packet::format_packet(o.pkt.ip());
    return fmt::format("{}: {}", o.ifname, text ? *text : "unparsable: " + text.error().message);
  }
};

constexpr std::string_view kDnat =
    "*nat\n-A PREROUTING -i eth0 -p tcp --dport 8080 -j DNAT --to-destination 203.0.113.4:80\nCOMMIT\n";

TEST(NatTest, DnatPortForwardCarriesTheHandshake) {
  Router r(kDnat);
  r.in("tcp 198.51.100.10:40000 > 198.51.100.1:8080 flags S seq 1000", "eth0");
  EXPECT_EQ(r.last(), "eth1: tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S ttl 63");
  r.in("tcp 203.0.113.4:80 > 198.51.100.10:40000 flags SA seq 5000 ack 1001", "eth1");
  EXPECT_EQ(r.last(), "eth0: tcp 198.51.100.1:8080 > 198.51.100.10:40000 flags SA seq 5000 ack 1001 ttl 63");
  r.in("tcp 198.51.100.10:40000 > 198.51.100.1:8080 flags A seq 1001 ack 5001", "eth0");
  EXPECT_EQ(r.last(), "eth1: tcp 198.51.100.10:40000 > 203.0.113.4:80 flags A seq 1001 ack 5001 ttl 63");
  EXPECT_TRUE(r.rec.drops.empty());
  EXPECT_TRUE(r.rec.unsupported.empty());
  auto entries = r.host.conntrack().dump(r.now);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].reply.src, ip4(203, 0, 113, 4));
  EXPECT_EQ(entries[0].reply.sport, 80);
  EXPECT_EQ(entries[0].reply.dst, ip4(198, 51, 100, 10));
  namespace st = conntrack::status;
  // DST_NAT, and both manips done (the source one as a null binding).
  EXPECT_EQ(entries[0].status & (st::kNatMask | st::kNatDoneMask), st::kDstNat | st::kNatDoneMask);
}

TEST(NatTest, NatChainIsWalkedOnlyOncePerConnection) {
  Router r(kDnat);
  r.in("tcp 198.51.100.10:40000 > 198.51.100.1:8080 flags S", "eth0");
  r.in("tcp 198.51.100.10:40000 > 198.51.100.1:8080 flags S", "eth0");  // retransmission, still NEW
  auto* nat = r.host.ruleset().find(xt::TableId::Nat);
  ASSERT_NE(nat, nullptr);
  EXPECT_EQ(r.rec.sent.size(), 2u);
  EXPECT_EQ(r.last(), "eth1: tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S ttl 63");
}

constexpr std::string_view kSnat = "*nat\n-A POSTROUTING -o eth1 -j SNAT --to-source 203.0.113.1\nCOMMIT\n";
constexpr std::string_view kMasq = "*nat\n-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n";

void two_clients_same_port(std::string_view rules) {
  Router r(rules);
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53", "eth0");
  EXPECT_EQ(r.last(), "eth1: udp 203.0.113.1:5000 > 203.0.113.4:53 ttl 63");
  r.in("udp 198.51.100.11:5000 > 203.0.113.4:53", "eth0");
  ASSERT_EQ(r.rec.sent.size(), 2u);
  auto out = r.rec.sent.back().pkt.ip();
  EXPECT_EQ(out.saddr(), ip4(203, 0, 113, 1));
  uint16_t remapped = packet::parse_udp(out.payload())->sport();
  EXPECT_NE(remapped, 5000);
  EXPECT_GE(remapped, 1024);  // unprivileged stays unprivileged
  EXPECT_EQ(packet::check_l4_checksum(out), packet::L4Checksum::Ok);
  // The answers reach each client by its own port.
  r.in(fmt::format("udp 203.0.113.4:53 > 203.0.113.1:{}", remapped), "eth1");
  EXPECT_EQ(r.last(), "eth0: udp 203.0.113.4:53 > 198.51.100.11:5000 ttl 63");
  r.in("udp 203.0.113.4:53 > 203.0.113.1:5000", "eth1");
  EXPECT_EQ(r.last(), "eth0: udp 203.0.113.4:53 > 198.51.100.10:5000 ttl 63");
  // Reproducible: the same clash remaps to the same port.
  Router again(rules);
  again.in("udp 198.51.100.10:5000 > 203.0.113.4:53", "eth0");
  again.in("udp 198.51.100.11:5000 > 203.0.113.4:53", "eth0");
  EXPECT_EQ(packet::parse_udp(again.rec.sent.back().pkt.ip().payload())->sport(), remapped);
}

TEST(NatTest, SnatRemapsAClashingSourcePort) { two_clients_same_port(kSnat); }
TEST(NatTest, MasqueradeRemapsAClashingSourcePort) { two_clients_same_port(kMasq); }

TEST(NatTest, SnatPortRangeKeepsAPortInRangeAndRemapsOthersIntoIt) {
  Router r("*nat\n-A POSTROUTING -o eth1 -p tcp -j SNAT --to-source 203.0.113.1:2000-2001\nCOMMIT\n");
  r.in("tcp 198.51.100.10:2001 > 203.0.113.4:80 flags S", "eth0");
  EXPECT_EQ(r.last(), "eth1: tcp 203.0.113.1:2001 > 203.0.113.4:80 flags S ttl 63");
  r.in("tcp 198.51.100.11:40000 > 203.0.113.4:80 flags S", "eth0");
  EXPECT_EQ(r.last(), "eth1: tcp 203.0.113.1:2000 > 203.0.113.4:80 flags S ttl 63");
}

// xt_MASQUERADE: inet_select_addr(out, rt_nexthop(rt, daddr), universe):
// the out device's address in the subnet of the packet's *nexthop* (the
// gateway of its route), not of its destination. With two addresses on
// eth1, a packet routed via 192.0.2.254 leaves from 192.0.2.1, one to a
// connected destination from the address of that subnet; a destination in
// neither subnet would have given the first address (203.0.113.1).
// Checked on the 6.18 kernel (three fresh namespaces, the same addresses
// and routes, iptables-legacy MASQUERADE, tcpdump on the far side): the
// datagram to 198.18.0.5 left as 192.0.2.1 (the gateway's subnet), the one
// to 203.0.113.4 as 203.0.113.1.
TEST(NatTest, MasqueradeTakesTheAddressOfTheNexthopsSubnet) {
  Router r(kMasq);
  r.host.add_address("eth1", ip4(192, 0, 2, 1), 24);
  ASSERT_TRUE(r.host.fib().add({.dst = 0, .plen = 0, .gateway = ip4(192, 0, 2, 254), .dev = "eth1"}));
  r.in("udp 198.51.100.10:5000 > 198.18.0.5:53", "eth0");
  EXPECT_EQ(r.last(), "eth1: udp 192.0.2.1:5000 > 198.18.0.5:53 ttl 63");
  r.in("udp 198.51.100.10:5001 > 203.0.113.4:53", "eth0");
  EXPECT_EQ(r.last(), "eth1: udp 203.0.113.1:5001 > 203.0.113.4:53 ttl 63");
  EXPECT_TRUE(r.rec.drops.empty());
}

TEST(NatTest, PrivilegedSourcePortIsRemappedBelow512) {
  Router r(kMasq);
  r.in("udp 198.51.100.10:123 > 203.0.113.4:123", "eth0");
  r.in("udp 198.51.100.11:123 > 203.0.113.4:123", "eth0");
  uint16_t p = packet::parse_udp(r.rec.sent.back().pkt.ip().payload())->sport();
  EXPECT_NE(p, 123);
  EXPECT_GE(p, 1);
  EXPECT_LE(p, 511);
}

TEST(NatTest, NullBindingRemapsAClashWithoutAnyNatRule) {
  // Two clients forwarded unchanged to one server... and the server's
  // replies to a NATed connection's public port: a connection that already
  // owns 203.0.113.1:5000 (SNATed) makes the router's own null binding of a
  // second one move.
  Router r("*nat\n-A POSTROUTING -s 198.51.100.10 -o eth1 -j SNAT --to-source 198.51.100.11\nCOMMIT\n");
  r.in("udp 198.51.100.10:5000 > 203.0.113.4:53", "eth0");
  EXPECT_EQ(r.last(), "eth1: udp 198.51.100.11:5000 > 203.0.113.4:53 ttl 63");
  r.in("udp 198.51.100.11:5000 > 203.0.113.4:53", "eth0");  // no rule: null binding, clashes
  auto out = r.rec.sent.back().pkt.ip();
  EXPECT_EQ(out.saddr(), ip4(198, 51, 100, 11));
  EXPECT_NE(packet::parse_udp(out.payload())->sport(), 5000);
}

TEST(NatTest, RedirectGoesToThePrimaryAddressOfTheIncomingInterface) {
  Router r("*nat\n-A PREROUTING -i eth0 -p tcp --dport 80 -j REDIRECT --to-ports 3128\nCOMMIT\n");
  r.host.add_address("eth0", ip4(198, 51, 100, 2), 24);  // secondary
  r.in("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S", "eth0");
  ASSERT_EQ(r.rec.delivered.size(), 1u);
  EXPECT_EQ(*packet::format_packet(r.rec.delivered[0].ip()), "tcp 198.51.100.10:40000 > 198.51.100.1:3128 flags S");
  // Nobody listens on 3128: the host's RST goes back translated to the
  // address and port the client asked for.
  ASSERT_EQ(r.rec.sent.size(), 1u);
  EXPECT_EQ(r.last().substr(0, 44), "eth0: tcp 203.0.113.4:80 > 198.51.100.10:400");
}

TEST(NatTest, NetmapMapsThePrefixAndKeepsTheHostBits) {
  Router r(
      "*nat\n-A PREROUTING -d 192.0.2.0/24 -j NETMAP --to 203.0.113.0/24\n"
      "-A POSTROUTING -s 198.51.100.0/24 -o eth1 -j NETMAP --to 100.64.7.0/24\nCOMMIT\n");
  r.in("udp 198.51.100.10:5000 > 192.0.2.7:53", "eth0");
  EXPECT_EQ(r.last(), "eth1: udp 100.64.7.10:5000 > 203.0.113.7:53 ttl 63");
  r.in("udp 203.0.113.7:53 > 100.64.7.10:5000", "eth1");
  EXPECT_EQ(r.last(), "eth0: udp 192.0.2.7:53 > 198.51.100.10:5000 ttl 63");
}

TEST(NatTest, IcmpEchoIdsAreRemappedOnClash) {
  Router r(kMasq);
  r.in("icmp 198.51.100.10 > 203.0.113.4 echo-request id 1 seq 1", "eth0");
  EXPECT_EQ(r.last(), "eth1: icmp 203.0.113.1 > 203.0.113.4 echo-request ttl 63");
  r.in("icmp 198.51.100.11 > 203.0.113.4 echo-request id 1 seq 1", "eth0");
  auto out = r.rec.sent.back().pkt.ip();
  uint16_t id = packet::parse_icmp(out.payload())->echo_id();
  EXPECT_NE(id, 1);
  EXPECT_EQ(packet::check_l4_checksum(out), packet::L4Checksum::Ok);
  r.in(fmt::format("icmp 203.0.113.4 > 203.0.113.1 echo-reply id {} seq 1", id), "eth1");
  EXPECT_EQ(r.last(), "eth0: icmp 203.0.113.4 > 198.51.100.11 echo-reply ttl 63");
  r.in("icmp 203.0.113.4 > 203.0.113.1 echo-reply id 1 seq 1", "eth1");
  EXPECT_EQ(r.last(), "eth0: icmp 203.0.113.4 > 198.51.100.10 echo-reply ttl 63");
}

// The error a host on the outside sends about `offending` (as received).
Packet icmp_error(std::string_view from, std::string_view to, const Packet& offending, size_t max_len = 576) {
  auto spec = packet::parse_packet_spec(fmt::format("icmp {} > {} type 3 code 3", from, to));
  EXPECT_TRUE(spec);
  auto p = packet::build_icmp_error(*spec, offending.ip(), max_len);
  EXPECT_TRUE(p) << p.error().message;
  return *p;
}

void expect_translated_error(size_t max_len) {
  Router r("*nat\n-A PREROUTING -i eth0 -p udp --dport 5353 -j DNAT --to-destination 203.0.113.4:53\nCOMMIT\n");
  r.in("udp 198.51.100.10:5000 > 198.51.100.1:5353 payload 12", "eth0");
  ASSERT_EQ(r.rec.sent.size(), 1u);
  Packet as_received = r.rec.sent.back().pkt;  // what the server got
  r.in(icmp_error("203.0.113.4", "198.51.100.10", as_received, max_len), "eth1");
  ASSERT_EQ(r.rec.sent.size(), 2u) << (r.rec.drops.empty() ? "" : r.rec.drops.back());
  auto out = r.rec.sent.back().pkt.ip();
  EXPECT_EQ(r.rec.sent.back().ifname, "eth0");
  EXPECT_EQ(out.saddr(), ip4(198, 51, 100, 1));  // outer source: the public address
  EXPECT_EQ(out.daddr(), ip4(198, 51, 100, 10));
  EXPECT_TRUE(packet::inet_checksum_ok(out.header()));
  EXPECT_TRUE(packet::inet_checksum_ok(out.payload()));  // ICMP checksum recomputed
  auto icmp = packet::parse_icmp(out.payload());
  ASSERT_TRUE(icmp);
  auto q = packet::parse_icmp_quote(*icmp);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->ip.saddr(), ip4(198, 51, 100, 10));
  EXPECT_EQ(q->ip.daddr(), ip4(198, 51, 100, 1));  // inner: as the client sent it
  EXPECT_TRUE(packet::inet_checksum_ok(q->ip.header()));
  EXPECT_EQ(packet::load16(q->l4.data()), 5000);
  EXPECT_EQ(packet::load16(q->l4.data() + 2), 5353);
  if (q->l4.size() >= 20) {  // whole datagram quoted: its UDP checksum is the client's again
    auto orig = packet::parse_packet("udp 198.51.100.10:5000 > 198.51.100.1:5353 payload 12");
    EXPECT_EQ(packet::load16(q->l4.data() + 6), packet::load16(orig->ip().payload().data() + 6));
  }
}

TEST(NatTest, IcmpErrorRelatedToDnatIsTranslatedBackFullQuote) { expect_translated_error(576); }
TEST(NatTest, IcmpErrorRelatedToDnatIsTranslatedBackMinimalQuote) { expect_translated_error(20 + 8 + 20 + 8); }

TEST(NatTest, IcmpErrorFromARouterOnTheWayGetsThePublicSourceToo) {
  // nf_nat_icmp_reply_translation rewrites the outer source to what the
  // client talked to, whoever sent the error (kernel-check.sh case 4).
  Router r(kDnat);
  r.in("tcp 198.51.100.10:40000 > 198.51.100.1:8080 flags S", "eth0");
  Packet as_sent = r.rec.sent.back().pkt;
  r.in(icmp_error("203.0.113.9", "198.51.100.10", as_sent), "eth1");
  auto out = r.rec.sent.back().pkt.ip();
  EXPECT_EQ(out.saddr(), ip4(198, 51, 100, 1));
  auto q = packet::parse_icmp_quote(*packet::parse_icmp(out.payload()));
  EXPECT_EQ(q->ip.daddr(), ip4(198, 51, 100, 1));
  EXPECT_EQ(packet::load16(q->l4.data() + 2), 8080);
  // The quoted SYN's TCP checksum is valid again for the quoted addresses.
  auto orig = packet::parse_packet("tcp 198.51.100.10:40000 > 198.51.100.1:8080 flags S ttl 63");
  EXPECT_EQ(packet::load16(q->l4.data() + 16), packet::load16(orig->ip().payload().data() + 16));
}

// kernel-check.sh's case 3 and 4: DNAT and MASQUERADE on one connection,
// errors from the server and from a router on the way, each addressed to
// the source they saw; both manips are undone.
TEST(NatTest, IcmpErrorUndoesBothManipsAsTheKernelDoes) {
  Router r(
      "*nat\n-A PREROUTING -i eth0 -p udp --dport 5353 -j DNAT --to-destination 203.0.113.4:54\n"
      "-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n");
  r.in("udp 198.51.100.10:5000 > 198.51.100.1:5353 payload 12", "eth0");
  EXPECT_EQ(r.last(), "eth1: udp 203.0.113.1:5000 > 203.0.113.4:54 ttl 63 payload 12");
  Packet seen = r.rec.sent.back().pkt;
  for (std::string_view from : {"203.0.113.4", "203.0.113.9"}) {
    r.in(icmp_error(from, "203.0.113.1", seen), "eth1");
    auto out = r.rec.sent.back().pkt.ip();
    EXPECT_EQ(r.rec.sent.back().ifname, "eth0");
    EXPECT_EQ(out.saddr(), ip4(198, 51, 100, 1)) << from;
    EXPECT_EQ(out.daddr(), ip4(198, 51, 100, 10)) << from;
    EXPECT_TRUE(packet::inet_checksum_ok(out.payload()));
    auto q = packet::parse_icmp_quote(*packet::parse_icmp(out.payload()));
    ASSERT_TRUE(q);
    EXPECT_EQ(q->ip.saddr(), ip4(198, 51, 100, 10));
    EXPECT_EQ(q->ip.daddr(), ip4(198, 51, 100, 1));
    EXPECT_TRUE(packet::inet_checksum_ok(q->ip.header()));
    EXPECT_EQ(packet::load16(q->l4.data()), 5000);
    EXPECT_EQ(packet::load16(q->l4.data() + 2), 5353);
    auto orig = packet::parse_packet("udp 198.51.100.10:5000 > 198.51.100.1:5353 payload 12");
    EXPECT_EQ(packet::load16(q->l4.data() + 6), packet::load16(orig->ip().payload().data() + 6));  // inner UDP checksum valid
  }
  EXPECT_EQ(r.rec.sent.size(), 3u);
}

TEST(NatTest, IcmpErrorWithBadChecksumIsDroppedByNat) {
  // With nf_conntrack_checksum on, conntrack already finds such an error
  // INVALID (no ct, so no NAT); NAT's own nf_ip_checksum drops it otherwise.
  Router r(kDnat);
  ASSERT_TRUE(r.host.conntrack().set_sysctl("nf_conntrack_checksum", "0"));
  r.in("tcp 198.51.100.10:40000 > 198.51.100.1:8080 flags S", "eth0");
  Packet err = icmp_error("203.0.113.4", "198.51.100.10", r.rec.sent.back().pkt);
  auto l4 = err.ip().payload();
  l4[2] ^= 0x01;
  r.in(std::move(err), "eth1");
  EXPECT_EQ(r.rec.sent.size(), 1u);
  ASSERT_FALSE(r.rec.drops.empty());
  EXPECT_EQ(r.rec.drops.back(), "nat: ICMP error translation failed");
}

TEST(NatTest, DnatInOutputReroutes) {
  Router r("*nat\n-A OUTPUT -d 192.0.2.80 -p tcp -j DNAT --to-destination 203.0.113.4\nCOMMIT\n");
  ASSERT_TRUE(r.host.fib().add({.dst = ip4(192, 0, 2, 0), .plen = 24, .dev = "eth0"}));
  auto p = packet::parse_packet("tcp 198.51.100.1:40000 > 192.0.2.80:80 flags S");
  r.host.send(std::move(*p), 1);
  EXPECT_EQ(r.last(), "eth1: tcp 198.51.100.1:40000 > 203.0.113.4:80 flags S");
}

// What REJECT's error for a DNATed connection meets on its way out of the
// router (icmp-nat-dmz): it carries the connection as RELATED_REPLY, and
// POSTROUTING undoes the DNAT in both headers, so it leaves from the
// public address the client talked to, not from the router's own.
TEST(NatTest, LocallyGeneratedErrorLeavesFromThePublicAddress) {
  Router r("*nat\n-A PREROUTING -d 192.0.2.80 -j DNAT --to-destination 203.0.113.4\nCOMMIT\n");
  r.in("icmp 198.51.100.10 > 192.0.2.80 echo-request id 7 seq 1", "eth0");
  Packet forwarded = r.rec.sent.back().pkt;
  EXPECT_EQ(forwarded.ip().daddr(), ip4(203, 0, 113, 4));
  conntrack::Tuple t{.src = ip4(198, 51, 100, 10), .dst = ip4(192, 0, 2, 80), .sport = 7, .proto = 1, .icmp_type = 8};
  auto* ct = r.host.conntrack().find(t, 0);
  ASSERT_NE(ct, nullptr);
  Packet err = icmp_error("198.51.100.1", "198.51.100.10", forwarded);
  // OUTPUT (destination manip) leaves it alone; POSTROUTING translates.
  ASSERT_TRUE(icmp_reply_translation(*ct, packet::CtInfo::RelatedReply, Hook::LocalOut, err));
  EXPECT_EQ(err.ip().saddr(), ip4(198, 51, 100, 1));
  ASSERT_TRUE(icmp_reply_translation(*ct, packet::CtInfo::RelatedReply, Hook::PostRouting, err));
  EXPECT_EQ(err.ip().saddr(), ip4(192, 0, 2, 80));
  EXPECT_TRUE(packet::inet_checksum_ok(err.ip().header()));
  EXPECT_TRUE(packet::inet_checksum_ok(err.ip().payload()));
  auto q = packet::parse_icmp_quote(*packet::parse_icmp(err.ip().payload()));
  EXPECT_EQ(q->ip.daddr(), ip4(192, 0, 2, 80));
  EXPECT_EQ(packet::load16(q->l4.data() + 4), 7);  // the quoted echo keeps its id
  EXPECT_TRUE(packet::inet_checksum_ok(q->ip.header()));
}

// kernel-check.sh case 6: --random-fully (and --random) skip "keep the
// original port": even a free port moves, within 1024-65535.
TEST(NatTest, RandomFullyMovesAFreePort) {
  Router r("*nat\n-A POSTROUTING -o eth1 -j MASQUERADE --random-fully\nCOMMIT\n");
  r.in("udp 198.51.100.10:7000 > 203.0.113.4:96", "eth0");
  uint16_t p = packet::parse_udp(r.rec.sent.back().pkt.ip().payload())->sport();
  EXPECT_NE(p, 7000);
  EXPECT_GE(p, 1024);
  EXPECT_EQ(r.rec.sent.back().pkt.ip().saddr(), ip4(203, 0, 113, 1));
}

// kernel-check.sh case 5, on Linux 6.18: the same addresses, bit for bit.
TEST(NatCoreTest, SnatAddressRangeChoiceIsTheKernels) {
  Router r(
      "*nat\n"
      "-A POSTROUTING -o eth1 -p udp --dport 97 -j SNAT --to-source 203.0.113.100-203.0.113.103 --persistent\n"
      "-A POSTROUTING -o eth1 -p udp --dport 98 -j SNAT --to-source 203.0.113.100-203.0.113.103 --persistent\n"
      "-A POSTROUTING -o eth1 -p udp --dport 99 -j SNAT --to-source 203.0.113.100-203.0.113.103\n"
      "COMMIT\n");
  std::vector<std::string> got;
  for (int src : {10, 11, 12}) {
    for (auto [dport, sport] : {std::pair{99, 6000}, {98, 6001}, {97, 6000}}) {
      r.in(fmt::format("udp 198.51.100.{}:{} > 203.0.113.4:{}", src, sport, dport), "eth0");
      got.push_back(fmt::format("{}:{}->{}", src, dport, r.rec.sent.back().pkt.ip().saddr() & 0xff));
    }
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"10:97->101", "10:98->103", "10:99->101", "11:97->101", "11:98->103",
                                           "11:99->101", "12:97->103", "12:98->102", "12:99->103"}));
}


// find_appropriate_src (nf_nat_core.c) reuses the mapping of a connection
// from the same source only when same_src() holds *and*
// nf_ct_zone_equal(ct, zone, IP_CT_DIR_ORIGINAL): the zone ids of the
// original direction are compared, whatever the reply direction's are
// (hash_by_src hashes that id too). A new connection whose source already
// has a mapping in another zone gets its own choice (find_best_ips_proto).
//
// The SNAT range has four addresses, so a fresh choice depends on the
// destination (jhash2 of the source, the destination as initval) while a
// reused mapping keeps the first connection's address: the destinations
// are picked so that the two differ, and ignoring the zone would give the
// reused address where the fresh one is expected.
struct ZoneSnat {
  conntrack::Table table;
  uint64_t now = 1'000'000'000;
  // A new UDP connection from 198.51.100.10:6000 to `dst`:53 in `zone`,
  // SNATed into 203.0.113.100-103 and confirmed: the source address it got.
  uint32_t connect(uint32_t dst, conntrack::Zone zone) {
    auto p = packet::parse_packet(fmt::format("udp 198.51.100.10:6000 > 203.0.113.{}:53", dst & 0xff));
    EXPECT_TRUE(p);
    if (!p) return 0;
    now += 1'000'000;
    auto r = table.in(*p, packet::Hook::PreRouting, zone, now);
    EXPECT_TRUE(r.is_new);
    if (!r.ct) return 0;
    Range range{.flags = range_flag::kMapIps, .min_ip = ip4(203, 0, 113, 100), .max_ip = ip4(203, 0, 113, 103)};
    EXPECT_TRUE(setup_info(table, r.ct, range, Manip::Src));
    EXPECT_EQ(table.confirm(*p, now), conntrack::Verdict::Accept);
    uint32_t got = r.ct->tuple[conntrack::kReply].dst;
    EXPECT_EQ(r.ct->tuple[conntrack::kReply].dport, 6000);  // no clash: the port is kept either way
    table.put(*p);
    return got;
  }
};

// alloc_null_binding's shortcut for a destination manip (nat.cpp): for
// every protocol, the same status, reply tuple and result as the full
// setup_info with the null range, before and after confirmation and when
// asked twice; ICMP (whose id may be remapped on a clash) keeps the full path.
TEST(NatCoreTest, DestinationNullBindingIsTheFullSetupsResult) {
  struct Proto {
    const char* text;
    int proto;  // patched into the IP header, -1: as built
  };
  const Proto protos[] = {
      {"tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S", -1},
      {"udp 198.51.100.10:40000 > 203.0.113.4:53", -1},
      {"sctp 198.51.100.10:40000 > 203.0.113.4:38412 chunks INIT", -1},
      {"udp 198.51.100.10:40000 > 203.0.113.4:53", 47},   // GRE
      {"udp 198.51.100.10:40000 > 203.0.113.4:53", 50},   // generic
      {"icmp 198.51.100.10 > 203.0.113.4 echo-request id 7", -1},
  };
  for (const Proto& pr : protos) {
    for (bool clash : {false, true}) {
      for (Manip m : {Manip::Dst, Manip::Src}) {
        SCOPED_TRACE(
            fmt::format("{} proto {} {}{}", pr.text, pr.proto, m == Manip::Dst ? "dst" : "src", clash ? " clash" : ""));
        conntrack::Table fast_table, full_table;
        if (clash) {
          // Another host's connection SNATed to the same source: its reply
          // tuple is the one a null binding of ours would have (an ICMP id
          // is then remapped, even in a destination manip).
          for (conntrack::Table* t : {&fast_table, &full_table}) {
            std::string text = pr.text;
            text.replace(text.find("198.51.100.10"), 13, "192.0.2.50");
            auto p = packet::parse_packet(text);
            ASSERT_TRUE(p);
            if (pr.proto >= 0) p->data()[9] = static_cast<uint8_t>(pr.proto);
            auto r = t->in(*p, packet::Hook::LocalOut, 0, 1000);
            ASSERT_TRUE(r.ct);
            Range snat{.flags = range_flag::kMapIps, .min_ip = ip4(198, 51, 100, 10), .max_ip = ip4(198, 51, 100, 10)};
            ASSERT_TRUE(setup_info(*t, r.ct, snat, Manip::Src));
            ASSERT_EQ(t->confirm(*p, 1000), conntrack::Verdict::Accept);
            t->put(*p);
          }
        }
        auto open = [&](conntrack::Table& t) {
          auto p = packet::parse_packet(pr.text);
          EXPECT_TRUE(p);
          if (pr.proto >= 0) p->data()[9] = static_cast<uint8_t>(pr.proto);
          auto r = t.in(*p, packet::Hook::LocalOut, 0, 1000);
          EXPECT_TRUE(r.ct && r.is_new);
          return std::pair{std::move(*p), r.ct};
        };
        auto [fp, fast] = open(fast_table);
        auto [sp, full] = open(full_table);
        ASSERT_TRUE(fast && full);
        // A destination manip already made elsewhere (as DNAT would) must
        // survive: the null binding starts from the current reply tuple.
        if (m == Manip::Src) {
          Range dnat{.flags = range_flag::kMapIps, .min_ip = ip4(192, 0, 2, 9), .max_ip = ip4(192, 0, 2, 9)};
          ASSERT_TRUE(setup_info(fast_table, fast, dnat, Manip::Dst));
          ASSERT_TRUE(setup_info(full_table, full, dnat, Manip::Dst));
        }
        uint32_t ip = m == Manip::Src ? full->tuple[conntrack::kReply].dst : full->tuple[conntrack::kReply].src;
        Range null_range{.flags = range_flag::kMapIps, .min_ip = ip, .max_ip = ip};
        for (int round = 0; round < 2; ++round) {
          SCOPED_TRACE(round);
          EXPECT_EQ(alloc_null_binding(fast_table, fast, m), setup_info(full_table, full, null_range, m));
          EXPECT_EQ(fast->status, full->status);
          EXPECT_TRUE(fast->tuple[conntrack::kReply] == full->tuple[conntrack::kReply]);
          EXPECT_TRUE(initialized(*fast, m));
        }
        auto verdict = fast_table.confirm(fp, 1000);
        ASSERT_EQ(verdict, full_table.confirm(sp, 1000));
        if (verdict != conntrack::Verdict::Accept) continue;  // the clash stayed: dropped in both
        fast->status &= ~(conntrack::status::kSrcNatDone | conntrack::status::kDstNatDone);
        full->status &= ~(conntrack::status::kSrcNatDone | conntrack::status::kDstNatDone);
        EXPECT_EQ(alloc_null_binding(fast_table, fast, m), setup_info(full_table, full, null_range, m));
        EXPECT_EQ(fast->status, full->status) << "a confirmed entry is left alone";
      }
    }
  }
}

TEST(NatCoreTest, SourceMappingIsReusedOnlyInTheSameOriginalDirectionZone) {
  using conntrack::Zone;
  // Two destinations whose fresh choices differ.
  auto fresh = [](uint32_t dst) {
    ZoneSnat s;
    return s.connect(dst, Zone{});
  };
  const uint32_t first = ip4(203, 0, 113, 4);
  uint32_t first_addr = fresh(first);
  uint32_t second = 0, second_fresh = 0;
  for (int d = 5; d < 60 && !second; ++d)
    if (uint32_t a = fresh(ip4(203, 0, 113, d)); a != first_addr) {
      second = ip4(203, 0, 113, d);
      second_fresh = a;
    }
  ASSERT_NE(second, 0u) << "no destination with another fresh choice";

  struct Case {
    const char* what;
    Zone first_zone, second_zone;
    bool reused;
  };
  const Case cases[] = {
      {"same zone 0", Zone{}, Zone{}, true},
      {"same zone 7", Zone(7), Zone(7), true},
      {"zones 7 and 8", Zone(7), Zone(8), false},
      {"zone 7 and the default zone", Zone(7), Zone{}, false},
      // --zone-orig 7: the original direction is in zone 7, not 0.
      {"--zone-orig 7 and the default zone", Zone(7, 0, Zone::kDirOrig), Zone{}, false},
      {"--zone-orig 7 and --zone 7", Zone(7, 0, Zone::kDirOrig), Zone(7), true},
      // --zone-reply 7: the original direction is in zone 0, as the default.
      {"--zone-reply 7 and the default zone", Zone(7, 0, Zone::kDirReply), Zone{}, true},
      {"--zone-reply 7 and --zone-reply 8", Zone(7, 0, Zone::kDirReply), Zone(8, 0, Zone::kDirReply), true},
      {"--zone-reply 7 and --zone 7", Zone(7, 0, Zone::kDirReply), Zone(7), false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ZoneSnat s;
    EXPECT_EQ(s.connect(first, c.first_zone), first_addr);
    EXPECT_EQ(s.connect(second, c.second_zone), c.reused ? first_addr : second_fresh);
  }
}

}  // namespace
}  // namespace nfemu::nat
