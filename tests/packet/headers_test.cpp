#include "packet/headers.h"

#include <gtest/gtest.h>

#include <vector>

#include "packet/grammar.h"
#include "packet/mangle.h"

namespace nfemu::packet {
namespace {

std::vector<uint8_t> bytes_of(std::string_view text) {
  auto p = parse_packet(text);
  EXPECT_TRUE(p) << p.error().message;
  return {p->data().begin(), p->data().end()};
}

TEST(Ipv4ViewTest, SettersAndGettersRoundTrip) {
  std::vector<uint8_t> b(24, 0);
  Ipv4View ip{std::span<uint8_t>(b)};
  ip.set_version_ihl(4, 6);
  ip.set_tos(0xb8);
  ip.set_total_length(24);
  ip.set_id(0xbeef);
  ip.set_df(true);
  ip.set_mf(true);
  ip.set_frag_offset(0x1234);
  ip.set_ttl(3);
  ip.set_protocol(kIpProtoUdp);
  ip.set_saddr(0xc0000201);
  ip.set_daddr(0xcb007104);
  ip.update_checksum();
  EXPECT_EQ(ip.version(), 4);
  EXPECT_EQ(ip.ihl(), 6);
  EXPECT_EQ(ip.header_len(), 24u);
  EXPECT_EQ(ip.options_len(), 4u);
  EXPECT_EQ(ip.options().size(), 4u);
  EXPECT_EQ(ip.tos(), 0xb8);
  EXPECT_EQ(ip.total_length(), 24);
  EXPECT_EQ(ip.id(), 0xbeef);
  EXPECT_TRUE(ip.df());
  EXPECT_TRUE(ip.mf());
  EXPECT_FALSE(ip.rf());
  EXPECT_EQ(ip.frag_offset(), 0x1234);
  EXPECT_EQ(ip.frag_offset_bytes(), 0x1234u * 8);
  EXPECT_TRUE(ip.is_fragment());
  EXPECT_EQ(ip.ttl(), 3);
  EXPECT_EQ(ip.protocol(), kIpProtoUdp);
  EXPECT_EQ(ip.saddr(), 0xc0000201u);
  EXPECT_EQ(ip.daddr(), 0xcb007104u);
  EXPECT_TRUE(ip.checksum_ok());
  EXPECT_EQ(ip.payload().size(), 0u);
  // Network byte order on the wire.
  EXPECT_EQ(b[0], 0x46);
  EXPECT_EQ(b[4], 0xbe);
  EXPECT_EQ(b[6], 0x60 | 0x12);
  EXPECT_EQ(b[7], 0x34);
  EXPECT_EQ(b[12], 192);
  EXPECT_EQ(b[15], 1);
  ip.set_df(false);
  ip.set_mf(false);
  EXPECT_EQ(ip.frag_offset(), 0x1234);
  EXPECT_FALSE(ip.df());
  ConstIpv4View c = ip;  // mutable converts to const
  EXPECT_EQ(c.id(), 0xbeef);
}

TEST(TcpViewTest, SettersAndGettersRoundTrip) {
  std::vector<uint8_t> b(28, 0);
  TcpView t{std::span<uint8_t>(b)};
  t.set_sport(40000);
  t.set_dport(80);
  t.set_seq(0xdeadbeef);
  t.set_ack_seq(7);
  t.set_data_offset(6);
  t.set_flags(tcp_flag::kSyn | tcp_flag::kAck);
  t.set_window(64240);
  t.set_checksum(0x1234);
  t.set_urg_ptr(9);
  EXPECT_EQ(t.sport(), 40000);
  EXPECT_EQ(t.dport(), 80);
  EXPECT_EQ(t.seq(), 0xdeadbeefu);
  EXPECT_EQ(t.ack_seq(), 7u);
  EXPECT_EQ(t.data_offset(), 6);
  EXPECT_EQ(t.header_len(), 24u);
  EXPECT_EQ(t.reserved(), 0);
  EXPECT_TRUE(t.has(tcp_flag::kSyn));
  EXPECT_TRUE(t.has(tcp_flag::kAck));
  EXPECT_FALSE(t.has(tcp_flag::kFin));
  EXPECT_EQ(t.window(), 64240);
  EXPECT_EQ(t.checksum(), 0x1234);
  EXPECT_EQ(t.urg_ptr(), 9);
  EXPECT_EQ(t.options().size(), 4u);
  EXPECT_EQ(t.payload().size(), 4u);
  EXPECT_EQ(b[12], 0x60);
  EXPECT_EQ(b[13], 0x12);
}

TEST(UdpViewTest, SettersAndGettersRoundTrip) {
  std::vector<uint8_t> b(12, 0);
  UdpView u{std::span<uint8_t>(b)};
  u.set_sport(5000);
  u.set_dport(53);
  u.set_length(12);
  u.set_checksum(0xffff);
  EXPECT_EQ(u.sport(), 5000);
  EXPECT_EQ(u.dport(), 53);
  EXPECT_EQ(u.length(), 12);
  EXPECT_EQ(u.checksum(), 0xffff);
  EXPECT_EQ(u.payload().size(), 4u);
}

TEST(IcmpViewTest, SettersAndGettersRoundTrip) {
  std::vector<uint8_t> b(8, 0);
  IcmpView c{std::span<uint8_t>(b)};
  c.set_type(icmp_type::kEcho);
  c.set_code(0);
  c.set_echo_id(0x1234);
  c.set_echo_seq(0x5678);
  c.update_checksum();
  EXPECT_EQ(c.type(), 8);
  EXPECT_EQ(c.echo_id(), 0x1234);
  EXPECT_EQ(c.echo_seq(), 0x5678);
  EXPECT_EQ(c.rest(), 0x12345678u);
  EXPECT_TRUE(c.checksum_ok());
  EXPECT_FALSE(c.is_error());
  c.set_type(icmp_type::kDestUnreach);
  c.set_code(4);
  c.set_rest(1400);
  EXPECT_EQ(c.next_hop_mtu(), 1400);
  EXPECT_TRUE(c.is_error());
  EXPECT_FALSE(c.checksum_ok());
  for (int t = 0; t < 256; ++t)
    EXPECT_EQ(icmp_is_error(static_cast<uint8_t>(t)), t == 3 || t == 4 || t == 5 || t == 11 || t == 12) << t;
}

TEST(ParseIpv4Test, AcceptsBuiltPacketAndTrimsPadding) {
  auto b = bytes_of("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S");
  b.resize(b.size() + 6, 0xee);  // Ethernet minimum-frame padding
  auto ip = parse_ipv4(std::span<const uint8_t>(b), {.verify_checksum = true});
  ASSERT_TRUE(ip) << ip.error().message;
  EXPECT_EQ(ip->size(), 40u);
  auto tcp = parse_tcp(ip->payload());
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->payload().size(), 0u);
}

struct Corruption {
  size_t offset;
  uint8_t value;
  Ipv4Status status;
  const char* message;
};

// Flip one byte of a valid 40-byte datagram: each check of ip_rcv reports
// its own reason.
TEST(ParseIpv4Test, CorruptionIsRejectedPrecisely) {
  const auto good = bytes_of("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S");
  const Corruption cases[] = {
      {0, 0x44, Ipv4Status::BadIhl, "bad IHL: 4 (minimum 5)"},
      {0, 0x65, Ipv4Status::BadVersion, "bad IP version: 6 (expected 4)"},
      {0, 0x4f, Ipv4Status::Truncated, "truncated IPv4 header: 40 bytes, IHL says 60"},
      {2, 0x01, Ipv4Status::Truncated, "truncated IPv4 datagram: 40 bytes, total length says 296"},
      {3, 0x13, Ipv4Status::BadTotalLength, "bad total length: 19 (header is 20 bytes)"},
      {8, 0x41, Ipv4Status::BadChecksum, "bad IPv4 header checksum"},
      {12, 0xc7, Ipv4Status::BadChecksum, "bad IPv4 header checksum"},
  };
  for (const auto& c : cases) {
    auto b = good;
    b[c.offset] = c.value;
    if (c.status != Ipv4Status::BadChecksum) {
      // Structural checks come before the checksum: fix it so that only the
      // intended defect remains.
      ConstIpv4View probe{std::span<const uint8_t>(b)};
      if (probe.header_len() <= b.size() && probe.ihl() >= 5) Ipv4View(std::span<uint8_t>(b)).update_checksum();
    }
    size_t len = 0;
    EXPECT_EQ(check_ipv4(b, {.verify_checksum = true}, &len), c.status) << c.message;
    auto r = parse_ipv4(std::span<const uint8_t>(b), {.verify_checksum = true});
    ASSERT_FALSE(r) << c.message;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
  }
}

TEST(ParseIpv4Test, ChecksumOnlyVerifiedWhenAsked) {
  auto b = bytes_of("udp 192.0.2.1:1 > 192.0.2.2:2");
  b[10] ^= 0xff;
  EXPECT_TRUE(parse_ipv4(std::span<const uint8_t>(b)));
  auto r = parse_ipv4(std::span<const uint8_t>(b), {.verify_checksum = true});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.substr(0, 25), "bad IPv4 header checksum:");
}

TEST(ParseIpv4Test, TooShortForAHeader) {
  for (size_t n = 0; n < 20; ++n) {
    std::vector<uint8_t> b(n, 0x45);
    EXPECT_EQ(check_ipv4(b, {}, nullptr), Ipv4Status::Truncated);
    auto r = parse_ipv4(std::span<const uint8_t>(b));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "truncated IPv4 header: " + std::to_string(n) + " bytes (minimum 20)");
  }
}

TEST(ParseIpv4Test, EveryTruncationIsRejected) {
  const auto good = bytes_of("udp 192.0.2.1:1 > 192.0.2.2:2 payload 9");
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(parse_ipv4(std::span<const uint8_t>(good.data(), n))) << n;
}

TEST(ParseIpv4Test, OptionsAreExposed) {
  std::vector<uint8_t> b(28, 0);
  Ipv4View ip{std::span<uint8_t>(b)};
  ip.set_version_ihl(4, 7);
  ip.set_total_length(28);
  std::fill(b.begin() + 20, b.end(), 1);  // NOPs
  ip.update_checksum();
  auto r = parse_ipv4(std::span<const uint8_t>(b), {.verify_checksum = true});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->options_len(), 8u);
  EXPECT_EQ(r->payload().size(), 0u);
}

TEST(ParseTransportTest, TcpChecks) {
  std::vector<uint8_t> b(24, 0);
  EXPECT_EQ(parse_tcp(std::span<const uint8_t>(b.data(), 19)).error().message,
            "truncated TCP header: 19 bytes (minimum 20)");
  b[12] = 0x40;
  EXPECT_EQ(parse_tcp(std::span<const uint8_t>(b)).error().message, "bad TCP data offset: 4 (minimum 5)");
  b[12] = 0x70;
  EXPECT_EQ(parse_tcp(std::span<const uint8_t>(b)).error().message,
            "truncated TCP header: 24 bytes, data offset says 28");
  b[12] = 0x60;
  auto t = parse_tcp(std::span<const uint8_t>(b));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->options().size(), 4u);
}

TEST(ParseTransportTest, UdpChecks) {
  std::vector<uint8_t> b(12, 0);
  EXPECT_EQ(parse_udp(std::span<const uint8_t>(b.data(), 7)).error().message,
            "truncated UDP header: 7 bytes (minimum 8)");
  b[5] = 7;
  EXPECT_EQ(parse_udp(std::span<const uint8_t>(b)).error().message, "bad UDP length: 7 (minimum 8)");
  b[5] = 13;
  EXPECT_EQ(parse_udp(std::span<const uint8_t>(b)).error().message,
            "truncated UDP datagram: 12 bytes, length says 13");
  b[5] = 10;
  auto u = parse_udp(std::span<const uint8_t>(b));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->size(), 10u);
  EXPECT_EQ(u->payload().size(), 2u);
}

TEST(ParseTransportTest, IcmpChecks) {
  std::vector<uint8_t> b(8, 0);
  EXPECT_EQ(parse_icmp(std::span<const uint8_t>(b.data(), 7)).error().message,
            "truncated ICMP header: 7 bytes (minimum 8)");
  EXPECT_TRUE(parse_icmp(std::span<const uint8_t>(b)));
}

TEST(IcmpQuoteTest, ViewsTheEmbeddedHeaderAndPorts) {
  auto orig = parse_packet("udp 198.51.100.10:5000 > 203.0.113.4:53 payload 100");
  ASSERT_TRUE(orig);
  PacketSpec err = default_spec(SpecKind::IcmpType);
  err.icmp_type = icmp_type::kDestUnreach;
  err.icmp_code = 3;
  err.src = 0xcb007104;
  err.dst = 0xc633640a;
  auto p = build_icmp_error(err, orig->ip(), 20 + 8 + 20 + 8);
  ASSERT_TRUE(p) << p.error().message;
  auto ip = parse_ipv4(p->data(), {.verify_checksum = true});
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->size(), 56u);
  auto icmp = parse_icmp(ip->payload());
  ASSERT_TRUE(icmp);
  EXPECT_TRUE(icmp->checksum_ok());
  auto q = parse_icmp_quote(*icmp);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->ip.saddr(), 0xc633640au);
  EXPECT_EQ(q->ip.daddr(), 0xcb007104u);
  EXPECT_EQ(q->ip.total_length(), 128);  // the original's, not the quote's
  EXPECT_EQ(q->ip.payload().size(), 8u);  // cut at the quote
  ASSERT_EQ(q->l4.size(), 8u);
  UdpView u(q->l4);
  EXPECT_EQ(u.sport(), 5000);
  EXPECT_EQ(u.dport(), 53);
  EXPECT_EQ(u.length(), 108);

  // Break the quote: each failure is named.
  auto d = p->data();
  d[28] = 0x44;
  EXPECT_EQ(parse_icmp_quote(*icmp).error().message, "bad quoted IHL: 4 (minimum 5)");
  d[28] = 0x55;
  EXPECT_EQ(parse_icmp_quote(*icmp).error().message, "bad quoted IP version: 5 (expected 4)");
  d[28] = 0x4f;
  EXPECT_EQ(parse_icmp_quote(*icmp).error().message, "truncated quoted IPv4 header: 28 bytes, IHL says 60");
  icmp->set_type(icmp_type::kEcho);
  EXPECT_EQ(parse_icmp_quote(*icmp).error().message, "ICMP type 8 is not an error");
}

TEST(IcmpQuoteTest, KernelLimitOf576Bytes) {
  auto big = parse_packet("tcp 198.51.100.10:1 > 203.0.113.4:2 payload 1400");
  auto small = parse_packet("tcp 198.51.100.10:1 > 203.0.113.4:2 payload 10");
  PacketSpec err = default_spec(SpecKind::IcmpType);
  err.icmp_type = icmp_type::kTimeExceeded;
  auto p = build_icmp_error(err, big->ip());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size(), 576u);
  EXPECT_EQ(p->ip().total_length(), 576);
  auto q = build_icmp_error(err, small->ip());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->size(), 28u + 50u);
  EXPECT_EQ(check_l4_checksum(q->ip()), L4Checksum::Ok);
  err.icmp_type = icmp_type::kEcho;
  EXPECT_FALSE(build_icmp_error(err, small->ip()));
}

}  // namespace
}  // namespace nfemu::packet
