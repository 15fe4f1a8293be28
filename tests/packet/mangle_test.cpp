#include "packet/mangle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

#include "packet/addr.h"
#include "packet/grammar.h"

namespace nfemu::packet {
namespace {

TEST(MangleTest, DnatRewriteKeepsChecksumsValid) {
  Packet p = *parse_packet("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S payload 7");
  rewrite_addr(p.ip(), Side::Dst, *parse_ipv4_addr("100.64.1.4"));
  EXPECT_TRUE(rewrite_port(p.ip(), Side::Dst, 8080));
  EXPECT_EQ(*format_packet(p.ip()), "tcp 198.51.100.10:40000 > 100.64.1.4:8080 flags S payload 7");
  EXPECT_TRUE(p.ip().checksum_ok());
  EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Ok);
}

// A sender with checksum offload (or GRO) leaves the pseudo header's sum
// in the field: CHECKSUM_PARTIAL. NAT updates that sum for an address and
// leaves it for a port (the pseudo header has no ports), so a partial
// checksum stays the translated header's partial checksum; filled, it
// verifies.
TEST(MangleTest, PartialChecksumIsThePseudoHeadersSumAndStaysSoThroughNat) {
  for (const char* spec : {"tcp 198.51.100.10:40000 > 203.0.113.4:80 flags PA payload 700",
                           "udp 198.51.100.10:5000 > 203.0.113.4:53 payload 33"}) {
    Packet p = *parse_packet(spec);
    auto ip = p.ip();
    const bool tcp = ip.protocol() == kIpProtoTcp;
    const size_t at = tcp ? 16 : 6;
    auto l4 = ip.payload();
    std::fill(l4.begin() + (tcp ? 20 : 8), l4.end(), uint8_t{0x5a});
    fill_checksums(ip);
    EXPECT_FALSE(l4_checksum_partial(ip)) << spec;  // a full checksum
    auto pseudo = [&] {
      uint32_t s = ip.saddr(), d = ip.daddr();
      uint32_t sum = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + ip.protocol() +
                     static_cast<uint32_t>(ip.payload().size());
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      return static_cast<uint16_t>(sum);
    };
    store16(l4.data() + at, pseudo());
    EXPECT_TRUE(l4_checksum_partial(ip)) << spec;
    EXPECT_EQ(check_l4_checksum(ip), L4Checksum::Bad) << spec;
    rewrite_addr(ip, Side::Dst, *parse_ipv4_addr("100.64.1.4"), true);
    EXPECT_TRUE(rewrite_port(ip, Side::Dst, 8080, true));
    EXPECT_EQ(load16(l4.data() + at), pseudo()) << spec;
    EXPECT_TRUE(l4_checksum_partial(ip)) << spec;
    EXPECT_TRUE(ip.checksum_ok());
    // Updated as a full checksum instead, it would be neither.
    rewrite_addr(ip, Side::Src, *parse_ipv4_addr("100.64.1.5"), false);
    EXPECT_FALSE(l4_checksum_partial(ip)) << spec;
    fill_checksums(ip);
    EXPECT_EQ(check_l4_checksum(ip), L4Checksum::Ok) << spec;
  }
}

// --fix-checksums: what the sender's NIC would have written.
TEST(MangleTest, RepairChecksumsFixesWhatDoesNotVerifyAndNothingElse) {
  auto broken = [](const char* spec, size_t at, uint8_t flip) {
    Packet p = *parse_packet(spec);
    auto d = p.data();
    d[at] ^= flip;
    return p;
  };
  // TCP checksum at 20 + 16, UDP at 20 + 6, ICMP at 20 + 2; header at 10.
  for (auto [spec, at] : {std::pair{"tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S payload 7", 36},
                          std::pair{"udp 198.51.100.10:5000 > 203.0.113.4:53 payload 30", 26},
                          std::pair{"icmp 198.51.100.10 > 203.0.113.4 echo-request id 7", 22}}) {
    Packet good = *parse_packet(spec);
    Packet l4 = broken(spec, static_cast<size_t>(at), 0x5a);
    ASSERT_EQ(check_l4_checksum(l4.ip()), L4Checksum::Bad) << spec;
    EXPECT_TRUE(repair_checksums(l4.ip())) << spec;
    EXPECT_TRUE(std::equal(l4.data().begin(), l4.data().end(), good.data().begin(), good.data().end())) << spec;

    Packet hdr = broken(spec, 10, 0x5a);
    ASSERT_FALSE(hdr.ip().checksum_ok());
    EXPECT_TRUE(repair_checksums(hdr.ip())) << spec;
    EXPECT_TRUE(std::equal(hdr.data().begin(), hdr.data().end(), good.data().begin(), good.data().end())) << spec;

    Packet same = *parse_packet(spec);
    EXPECT_FALSE(repair_checksums(same.ip())) << spec;
    EXPECT_TRUE(std::equal(same.data().begin(), same.data().end(), good.data().begin(), good.data().end())) << spec;
  }
  // A UDP datagram sent without a checksum keeps none.
  Packet none = *parse_packet("udp 198.51.100.10:5000 > 203.0.113.4:53 payload 30");
  none.data()[26] = none.data()[27] = 0;
  ASSERT_EQ(check_l4_checksum(none.ip()), L4Checksum::None);
  EXPECT_FALSE(repair_checksums(none.ip()));
  EXPECT_EQ(none.data()[26] | none.data()[27], 0);
}

TEST(MangleTest, IcmpQueryIdButNotErrorWord) {
  Packet e = *parse_packet("icmp 192.0.2.1 > 192.0.2.2 echo-request id 7");
  EXPECT_TRUE(rewrite_port(e.ip(), Side::Src, 4000));
  EXPECT_EQ(*format_packet(e.ip()), "icmp 192.0.2.1 > 192.0.2.2 echo-request id 4000");
  Packet u = *parse_packet("icmp 192.0.2.1 > 192.0.2.2 type 3 code 4");
  EXPECT_FALSE(rewrite_port(u.ip(), Side::Src, 4000));
  EXPECT_EQ(IcmpView(u.ip().payload()).rest(), 0u);
}

TEST(MangleTest, LaterFragmentsKeepTheirTransportBytes) {
  Packet p = *parse_packet("udp 192.0.2.1:1 > 192.0.2.2:2 payload 8");
  p.ip().set_frag_offset(2);
  p.ip().update_checksum();
  std::vector<uint8_t> l4(p.ip().payload().begin(), p.ip().payload().end());
  EXPECT_FALSE(rewrite_port(p.ip(), Side::Src, 9));
  rewrite_addr(p.ip(), Side::Src, 0x0a000001);
  EXPECT_TRUE(p.ip().checksum_ok());
  EXPECT_TRUE(std::equal(l4.begin(), l4.end(), p.ip().payload().begin()));
  EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Unchecked);
}

TEST(MangleTest, QuotedTcpHeaderGetsPortsOnly) {
  // Inside an ICMP error only 8 bytes of TCP are quoted: ports change, the
  // absent checksum field is not written (tcp_manip_pkt's hdrsize 8).
  Packet orig = *parse_packet("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S");
  PacketSpec err = default_spec(SpecKind::IcmpType);
  err.icmp_type = icmp_type::kDestUnreach;
  Packet icmp = *build_icmp_error(err, orig.ip(), 20 + 8 + 20 + 8);
  auto q = *parse_icmp_quote(IcmpView(icmp.ip().payload()));
  EXPECT_TRUE(rewrite_port(q.ip, Side::Dst, 8080));
  rewrite_addr(q.ip, Side::Dst, 0x64400104);
  EXPECT_EQ(load16(q.l4.data() + 2), 8080);
  EXPECT_TRUE(q.ip.checksum_ok());
  EXPECT_EQ(icmp.size(), 56u);
}

TEST(MangleTest, TtlAndTos) {
  Packet p = *parse_packet("udp 192.0.2.1:1 > 192.0.2.2:2 ttl 64");
  rewrite_ttl(p.ip(), 63);
  rewrite_tos(p.ip(), 0x10);
  EXPECT_EQ(p.ip().ttl(), 63);
  EXPECT_EQ(p.ip().tos(), 0x10);
  EXPECT_TRUE(p.ip().checksum_ok());
}

}  // namespace
}  // namespace nfemu::packet
