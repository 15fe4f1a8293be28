#include "packet/grammar.h"

#include <gtest/gtest.h>

#include <random>

#include "packet/mangle.h"
#include "packet/sctp.h"
#include "test_util.h"

namespace nfemu::packet {
namespace {

PacketSpec parse_ok(std::string_view text) {
  auto r = parse_packet_spec(text);
  EXPECT_TRUE(r) << text << ": " << r.error().message;
  return r ? *r : PacketSpec{};
}

void expect_error(std::string_view text, std::string_view message, int col) {
  auto r = parse_packet_spec(text);
  ASSERT_FALSE(r) << text;
  EXPECT_EQ(r.error().message, message) << text;
  EXPECT_EQ(r.error().col, col) << text;
  EXPECT_EQ(r.error().line, 0) << text;
}

TEST(GrammarTest, TcpDefaultsAreTheSpecs) {
  PacketSpec s = parse_ok("tcp 198.51.100.10:40000 > 203.0.113.4:80");
  EXPECT_EQ(s.kind, SpecKind::Tcp);
  EXPECT_EQ(s.src, 0xc633640au);
  EXPECT_EQ(s.sport, 40000);
  EXPECT_EQ(s.dst, 0xcb007104u);
  EXPECT_EQ(s.dport, 80);
  EXPECT_EQ(s.tcp_flags, 0);
  EXPECT_EQ(s.seq, 1000u);
  EXPECT_EQ(s.ack, 0u);
  EXPECT_EQ(s.win, 64240);
  EXPECT_EQ(s.ttl, 64);
  EXPECT_EQ(s.tos, 0);
  EXPECT_EQ(s.ipid, 1);
  EXPECT_FALSE(s.df);
  EXPECT_EQ(s.payload, 0u);

  Packet p = build_packet(s);
  ASSERT_EQ(p.size(), 40u);
  auto ip = p.ip();
  EXPECT_EQ(ip.version(), 4);
  EXPECT_EQ(ip.ihl(), 5);
  EXPECT_EQ(ip.tos(), 0);
  EXPECT_EQ(ip.total_length(), 40);
  EXPECT_EQ(ip.id(), 1);
  EXPECT_EQ(ip.frag_field(), 0);
  EXPECT_EQ(ip.ttl(), 64);
  EXPECT_EQ(ip.protocol(), kIpProtoTcp);
  EXPECT_TRUE(ip.checksum_ok());
  TcpView t(ip.payload());
  EXPECT_EQ(t.data_offset(), 5);
  EXPECT_EQ(t.seq(), 1000u);
  EXPECT_EQ(t.ack_seq(), 0u);
  EXPECT_EQ(t.window(), 64240);
  EXPECT_EQ(t.urg_ptr(), 0);
  EXPECT_EQ(check_l4_checksum(ip), L4Checksum::Ok);
}

TEST(GrammarTest, KnownBytesOfASyn) {
  // Hand-checked bytes of the scenario example; checksums as tcpdump -vv
  // reports them.
  auto p = parse_packet("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S");
  ASSERT_TRUE(p);
  const uint8_t want_ip[20] = {0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06,
                               0x00, 0x00, 198,  51,   100,  10,   203,  0,    113,  4};
  auto d = p->data();
  for (size_t i = 0; i < 20; ++i)
    if (i != 10 && i != 11) {
      EXPECT_EQ(d[i], want_ip[i]) << i;
    }
  EXPECT_EQ(d[20 + 13], tcp_flag::kSyn);
  EXPECT_EQ(load16(&d[22]), 80);
}

TEST(GrammarTest, UdpAndIcmpDefaults) {
  PacketSpec u = parse_ok("udp 198.51.100.10:5000 > 203.0.113.4:53 payload 12");
  EXPECT_EQ(u.kind, SpecKind::Udp);
  EXPECT_EQ(u.payload, 12u);
  Packet up = build_packet(u);
  EXPECT_EQ(up.size(), 20u + 8 + 12);
  EXPECT_EQ(UdpView(up.ip().payload()).length(), 20);
  EXPECT_NE(UdpView(up.ip().payload()).checksum(), 0);

  PacketSpec e = parse_ok("icmp 198.51.100.10 > 203.0.113.4 echo-request");
  EXPECT_EQ(e.kind, SpecKind::IcmpEcho);
  EXPECT_EQ(e.icmp_type, 8);
  EXPECT_EQ(e.echo_id, 1);
  EXPECT_EQ(e.echo_seq, 1);
  EXPECT_EQ(e.payload, 56u);
  Packet ep = build_packet(e);
  EXPECT_EQ(ep.size(), 84u);  // ping's default size
  IcmpView c(ep.ip().payload());
  EXPECT_EQ(c.type(), 8);
  EXPECT_EQ(c.code(), 0);
  EXPECT_EQ(c.echo_id(), 1);
  EXPECT_EQ(c.echo_seq(), 1);
  EXPECT_TRUE(c.checksum_ok());

  EXPECT_EQ(parse_ok("icmp 1.2.3.4 > 5.6.7.8 echo-reply").icmp_type, 0);

  PacketSpec t = parse_ok("icmp 198.51.100.10 > 203.0.113.4 type 3 code 3");
  EXPECT_EQ(t.kind, SpecKind::IcmpType);
  EXPECT_EQ(t.icmp_type, 3);
  EXPECT_EQ(t.icmp_code, 3);
  EXPECT_EQ(t.payload, 0u);
  EXPECT_EQ(build_packet(t).size(), 28u);
}

TEST(GrammarTest, AllOptionsHexAndAnyOrder) {
  PacketSpec s = parse_ok(
      "tcp 192.0.2.1:0x50 > 192.0.2.2:65535 payload 3 df "
      "ipid 0xffff tos 0x10 ttl 1 win 0 ack 4294967295 "
      "seq 0xFFFFFFFF flags CEUPRFAS");
  EXPECT_EQ(s.sport, 80);
  EXPECT_EQ(s.dport, 65535);
  EXPECT_EQ(s.payload, 3u);
  EXPECT_TRUE(s.df);
  EXPECT_EQ(s.ipid, 0xffff);
  EXPECT_EQ(s.tos, 0x10);
  EXPECT_EQ(s.ttl, 1);
  EXPECT_EQ(s.win, 0);
  EXPECT_EQ(s.ack, 0xffffffffu);
  EXPECT_EQ(s.seq, 0xffffffffu);
  EXPECT_EQ(s.tcp_flags, 0xff);
  Packet p = build_packet(s);
  EXPECT_TRUE(p.ip().df());
  EXPECT_EQ(format_spec(s),
            "tcp 192.0.2.1:80 > 192.0.2.2:65535 flags SFRPAUEC "
            "seq 4294967295 ack 4294967295 win 0 ttl 1 tos 16 "
            "ipid 65535 df payload 3");

  PacketSpec e = parse_ok("icmp 192.0.2.1 > 192.0.2.2 echo-reply seq 7 id 9 payload 0 \t ttl 2");
  EXPECT_EQ(e.echo_id, 9);
  EXPECT_EQ(e.echo_seq, 7);
  EXPECT_EQ(e.payload, 0u);
  EXPECT_EQ(e.ttl, 2);
}

TEST(GrammarTest, FlagLetters) {
  EXPECT_EQ(parse_ok("tcp 1.1.1.1:1 > 2.2.2.2:2 flags SA").tcp_flags, tcp_flag::kSyn | tcp_flag::kAck);
  EXPECT_EQ(parse_ok("tcp 1.1.1.1:1 > 2.2.2.2:2 flags PA").tcp_flags, tcp_flag::kPsh | tcp_flag::kAck);
  EXPECT_EQ(parse_ok("tcp 1.1.1.1:1 > 2.2.2.2:2 flags R").tcp_flags, tcp_flag::kRst);
  EXPECT_EQ(parse_ok("tcp 1.1.1.1:1 > 2.2.2.2:2 flags F").tcp_flags, tcp_flag::kFin);
  EXPECT_EQ(parse_ok("tcp 1.1.1.1:1 > 2.2.2.2:2 flags U").tcp_flags, tcp_flag::kUrg);
  EXPECT_EQ(parse_ok("tcp 1.1.1.1:1 > 2.2.2.2:2 flags E").tcp_flags, tcp_flag::kEce);
  EXPECT_EQ(parse_ok("tcp 1.1.1.1:1 > 2.2.2.2:2 flags C").tcp_flags, tcp_flag::kCwr);
}

TEST(GrammarTest, ErrorsNameTheColumn) {
  expect_error("", "empty packet description", 1);
  expect_error("gre 1.1.1.1:1 > 2.2.2.2:2", "unknown protocol 'gre' (expected tcp, udp, sctp, icmp, esp, ah, ipcomp or dccp)", 1);
  expect_error("tcp", "missing SRC:PORT after the protocol", 5);
  expect_error("tcp 1.1.1.1 > 2.2.2.2:2", "expected ADDRESS:PORT, got '1.1.1.1'", 5);
  expect_error("tcp 1.1.1.256:1 > 2.2.2.2:2", "bad IPv4 address: '1.1.1.256'", 5);
  expect_error("tcp 01.1.1.1:1 > 2.2.2.2:2", "bad IPv4 address: '01.1.1.1'", 5);
  expect_error("tcp 1.1.1.1:70000 > 2.2.2.2:2", "port out of range: 70000 (maximum 65535)", 13);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:http", "bad number for port: 'http'", 25);
  expect_error("tcp 1.1.1.1: > 2.2.2.2:2", "missing port in '1.1.1.1:'", 13);
  expect_error("tcp 1.1.1.1:1 2.2.2.2:2", "expected '>' after the source, got '2.2.2.2:2'", 15);
  expect_error("tcp 1.1.1.1:1 >", "missing DST:PORT after '>'", 17);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 flags SX", "unknown flag letter 'X' in flags (expected S A F R P U E C)", 34);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 flags s", "unknown flag letter 's' in flags (expected S A F R P U E C)", 33);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 flags SAS", "duplicate flag letter 'S' in flags", 35);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 flags", "missing value after 'flags'", 27);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 ttl 256", "ttl out of range: 256 (maximum 255)", 31);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 ttl -1", "bad number for ttl: '-1'", 31);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 ttl 1 ttl 2", "duplicate option 'ttl'", 33);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 seq 4294967296", "seq out of range: 4294967296 (maximum 4294967295)", 31);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 seq 99999999999999999999999",
               "seq out of range: 99999999999999999999999 (maximum 4294967295)", 31);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 win 0x10000", "win out of range: 0x10000 (maximum 65535)", 31);
  expect_error("tcp 1.1.1.1:1 > 2.2.2.2:2 payload 65496", "payload too large: 65496 (maximum 65495 for tcp)", 35);
  expect_error("udp 1.1.1.1:1 > 2.2.2.2:2 payload 65508", "payload too large: 65508 (maximum 65507 for udp)", 35);
  expect_error("udp 1.1.1.1:1 > 2.2.2.2:2 flags S", "'flags' is not an option of udp packets", 27);
  expect_error("udp 1.1.1.1:1 > 2.2.2.2:2 bogus 1", "unknown option 'bogus'", 27);
  expect_error("icmp 1.1.1.1 > 2.2.2.2", "missing echo-request, echo-reply or type N after the destination", 24);
  expect_error("icmp 1.1.1.1 > 2.2.2.2 ping",
               "expected echo-request, echo-reply or type N after the "
               "destination, got 'ping'",
               24);
  expect_error("icmp 1.1.1.1:1 > 2.2.2.2 echo-request", "bad IPv4 address: '1.1.1.1:1'", 6);
  expect_error("icmp 1.1.1.1 > 2.2.2.2 type", "missing value after 'type'", 24);
  expect_error("icmp 1.1.1.1 > 2.2.2.2 type 256", "type out of range: 256 (maximum 255)", 29);
  expect_error("icmp 1.1.1.1 > 2.2.2.2 type 3 id 4", "'id' is not an option of icmp type packets", 31);
  expect_error("icmp 1.1.1.1 > 2.2.2.2 echo-request code 1", "'code' is not an option of icmp echo packets", 37);
  expect_error("icmp 1.1.1.1 > 2.2.2.2 echo-request seq 65536", "seq out of range: 65536 (maximum 65535)", 41);
  expect_error("  tcp 1.1.1.1:1 > 2.2.2.2:99999", "port out of range: 99999 (maximum 65535)", 27);
}

TEST(GrammarTest, PrintsCanonicalText) {
  for (std::string_view text : {
           "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S",
           "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags SA seq 5 ack 1001 "
           "win 1000 ttl 63 df payload 10",
           "tcp 0.0.0.0:0 > 255.255.255.255:65535",
           "udp 198.51.100.10:5000 > 203.0.113.4:53 payload 12",
           "icmp 198.51.100.10 > 203.0.113.4 echo-request",
           "icmp 198.51.100.10 > 203.0.113.4 echo-reply id 300 seq 2 payload 0",
           "icmp 198.51.100.10 > 203.0.113.4 type 11",
           "icmp 198.51.100.10 > 203.0.113.4 type 3 code 13 tos 192 ipid 0 "
           "payload 4",
       }) {
    auto p = parse_packet(text);
    ASSERT_TRUE(p) << text;
    auto printed = format_packet(p->ip());
    ASSERT_TRUE(printed) << printed.error().message;
    EXPECT_EQ(*printed, text);
  }
  // Non-canonical input prints canonically.
  auto p = parse_packet("tcp 1.2.3.4:0x10 > 5.6.7.8:1 df flags AS ttl 64 seq 1000");
  EXPECT_EQ(*format_packet(p->ip()), "tcp 1.2.3.4:16 > 5.6.7.8:1 flags SA df");
  // An ICMP type 8 written in the type form prints as an echo.
  auto t8 = parse_packet("icmp 1.2.3.4 > 5.6.7.8 type 8");
  EXPECT_EQ(*format_packet(t8->ip()), "icmp 1.2.3.4 > 5.6.7.8 echo-request id 0 seq 0 payload 0");
}

TEST(GrammarTest, RoundTripProperty) {
  std::mt19937 rng(2024);
  int sctp = 0, ipsec = 0, ipcomp = 0, dccp = 0;
  for (int i = 0; i < 6000; ++i) {
    PacketSpec s = testing::random_spec(rng, 300, true);
    sctp += s.kind == SpecKind::Sctp;
    ipsec += s.kind == SpecKind::Esp || s.kind == SpecKind::Ah;
    ipcomp += s.kind == SpecKind::Ipcomp;
    dccp += s.kind == SpecKind::Dccp;
    std::string text = format_spec(s);
    auto back = parse_packet_spec(text);
    ASSERT_TRUE(back) << text << ": " << back.error().message;
    ASSERT_EQ(*back, s) << text;
    Packet p = build_packet(s);
    auto from_bytes = spec_from_packet(p.ip());
    ASSERT_TRUE(from_bytes) << text << ": " << from_bytes.error().message;
    ASSERT_EQ(*from_bytes, s) << text;
    Packet q = build_packet(*back);
    ASSERT_TRUE(std::equal(p.data().begin(), p.data().end(), q.data().begin(), q.data().end())) << text;
  }
  EXPECT_GT(sctp, 550);    // a ninth of the kinds
  EXPECT_GT(ipsec, 1100);  // two ninths
  EXPECT_GT(ipcomp, 550);
  EXPECT_GT(dccp, 550);
}

TEST(GrammarTest, DccpHeader) {
  auto p = parse_packet("dccp 198.51.100.10:5000 > 203.0.113.20:6000 type ack opts 1,32,3,7 payload 5");
  ASSERT_TRUE(p) << p.error().message;
  auto d = p->data().subspan(20);
  ASSERT_EQ(d.size(), 16u + 8 + 4 + 5);
  EXPECT_EQ(p->ip().protocol(), 33);
  EXPECT_EQ(load16(d.data()), 5000);
  EXPECT_EQ(load16(d.data() + 2), 6000);
  EXPECT_EQ(d[4], (16 + 8 + 4) / 4);  // Data Offset: generic header, acknowledgement, options
  EXPECT_EQ(d[8], 3 << 1 | 1);        // type ACK, X
  EXPECT_EQ(d[15], 1);                // sequence number 1
  EXPECT_EQ(d[24], 1);
  EXPECT_EQ(d[27], 7);
  uint32_t sum = pseudo_header_sum(p->ip().saddr(), p->ip().daddr(), 33, static_cast<uint32_t>(d.size()));
  EXPECT_EQ(csum_fold(csum_bytes(d, sum)), 0xffff);
  EXPECT_EQ(*format_packet(p->ip()), "dccp 198.51.100.10:5000 > 203.0.113.20:6000 type ACK opts 1,32,3,7 payload 5");
  auto req = parse_packet("dccp 198.51.100.10:5000 > 203.0.113.20:6000");
  ASSERT_TRUE(req);
  EXPECT_EQ(req->size(), 20u + 16 + 4);  // REQUEST: a service code
  expect_error("dccp 198.51.100.10:1 > 203.0.113.20:2 opts 1,0",
               "the last option byte is 0 (Padding): padding is added, leave it out", 44);
  expect_error("dccp 198.51.100.10:1 > 203.0.113.20:2 type 16",
               "unknown DCCP type '16' (a name as iptables writes it, or 0 to 15)", 44);
  expect_error("dccp 198.51.100.10:1 > 203.0.113.20:2 type bogus",
               "unknown DCCP type 'bogus' (a name as iptables writes it, or 0 to 15)", 44);
  expect_error("dccp 198.51.100.10:1 > 203.0.113.20:2 opts 1,,2", "bad number for option byte: ''", 46);
  expect_error("dccp 198.51.100.10:1 > 203.0.113.20:2 cpi 5", "'cpi' is not an option of dccp packets", 39);
}

TEST(GrammarTest, IpcompHeader) {
  auto p = parse_packet("ipcomp 198.51.100.10 > 203.0.113.20 cpi 0x1234 payload 8");
  ASSERT_TRUE(p) << p.error().message;
  auto d = p->data();
  ASSERT_EQ(d.size(), 20u + 4 + 8);
  EXPECT_EQ(p->ip().protocol(), 108);
  EXPECT_EQ(d[20], 59);  // next header: none
  EXPECT_EQ(d[21], 0);   // flags
  EXPECT_EQ(d[22], 0x12);
  EXPECT_EQ(d[23], 0x34);
  EXPECT_EQ(*format_packet(p->ip()), "ipcomp 198.51.100.10 > 203.0.113.20 cpi 4660 payload 8");
  auto big = parse_packet_spec("ipcomp 198.51.100.10 > 203.0.113.20 cpi 65536");
  EXPECT_FALSE(big);
  EXPECT_FALSE(parse_packet_spec("ipcomp 198.51.100.10 > 203.0.113.20 spi 5"));
}

// ESP and AH headers as RFC 4303 and 4302 lay them out; the rest of the
// datagram is zeros, with no transport checksum.
TEST(GrammarTest, EspAndAhHeaders) {
  auto esp = parse_packet("esp 192.0.2.1 > 198.51.100.2 spi 0x1234 seq 7 payload 16");
  ASSERT_TRUE(esp) << esp.error().message;
  ASSERT_EQ(esp->size(), 20u + 8u + 16u);
  EXPECT_EQ(esp->ip().protocol(), 50);
  const uint8_t esp_head[8] = {0, 0, 0x12, 0x34, 0, 0, 0, 7};
  EXPECT_TRUE(std::equal(std::begin(esp_head), std::end(esp_head), esp->data().begin() + 20));
  EXPECT_EQ(*format_packet(esp->ip()), "esp 192.0.2.1 > 198.51.100.2 spi 4660 seq 7 payload 16");
  auto ah = parse_packet("ah 192.0.2.1 > 198.51.100.2");
  ASSERT_TRUE(ah) << ah.error().message;
  const uint8_t ah_head[12] = {59, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  ASSERT_EQ(ah->size(), 32u);
  EXPECT_EQ(ah->ip().protocol(), 51);
  EXPECT_TRUE(std::equal(std::begin(ah_head), std::end(ah_head), ah->data().begin() + 20));
  EXPECT_EQ(*format_packet(ah->ip()), "ah 192.0.2.1 > 198.51.100.2");
  // An AH with an integrity check value is beyond the grammar.
  auto icv = *ah;
  icv.data()[21] = 4;
  EXPECT_FALSE(format_packet(icv.ip()));
  // Errors name the word.
  auto e = parse_packet_spec("esp 192.0.2.1 > 198.51.100.2 spi 4294967296");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().col, 34);
  auto f = parse_packet_spec("ah 192.0.2.1 > 198.51.100.2 flags S");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message, "'flags' is not an option of ah packets");
  auto g = parse_packet_spec("esp 192.0.2.1:5 > 198.51.100.2");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().col, 5);
}

TEST(GrammarTest, DataGivesThePayloadBytes) {
  auto s = parse_packet_spec(R"(tcp 192.0.2.2:40000 > 198.51.100.10:21 flags PA data "PORT 192,0,2,2,156,65\r\n")");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->data, "PORT 192,0,2,2,156,65\r\n");
  EXPECT_EQ(s->payload, 23u);
  Packet p = build_packet(*s);
  ASSERT_EQ(p.size(), 20u + 20u + 23u);
  EXPECT_EQ(std::string(p.data().begin() + 40, p.data().end()), "PORT 192,0,2,2,156,65\r\n");
  EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Ok);
  // Escapes, UDP, and the bytes read back from the wire.
  auto u = parse_packet_spec(R"(udp 1.1.1.1:1 > 2.2.2.2:2 data "a\"b\\c\t\x00\xFF")");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->data, std::string("a\"b\\c\t\0\xff", 8));
  EXPECT_EQ(format_spec(*u), R"(udp 1.1.1.1:1 > 2.2.2.2:2 data "a\"b\\c\t\x00\xff")");
  Packet q = build_packet(*u);
  EXPECT_EQ(check_l4_checksum(q.ip()), L4Checksum::Ok);
  auto back = spec_from_packet(q.ip());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, *u);
  // All zeros is the payload N form; empty data is no payload.
  EXPECT_EQ(format_spec(*parse_packet_spec(R"(udp 1.1.1.1:1 > 2.2.2.2:2 data "\x00\x00")")),
            "udp 1.1.1.1:1 > 2.2.2.2:2 payload 2");
  EXPECT_EQ(parse_packet_spec(R"(udp 1.1.1.1:1 > 2.2.2.2:2 data "")")->payload, 0u);
  // A fragment of a datagram with data carries its bytes.
  auto f = parse_packet(R"(udp 1.1.1.1:1 > 2.2.2.2:2 data "0123456789abcdef" frag 8)");
  ASSERT_TRUE(f) << f.error().message;
  // Offset 8 of the IP payload: past the UDP header, the data itself.
  EXPECT_EQ(std::string(f->data().begin() + 20, f->data().end()), "0123456789abcdef");
}

TEST(GrammarTest, DataErrorsNameTheColumn) {
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 data "abc)", "unterminated string: a closing \" is missing", 32);
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 data "abc\")", "unterminated string: a closing \" is missing", 32);
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 data abc)", "data is a quoted string: data \"TEXT\"", 32);
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 data "a\qb")", "unknown escape '\\q' (\\r \\n \\t \\\\ \\\" \\xHH)", 34);
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 data "\x4")", "\\x takes two hex digits", 33);
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 data "\xg1")", "\\x takes two hex digits", 33);
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 payload 3 data "a")", "data and payload both give the payload: use one", 37);
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 data "a" payload 3)", "data and payload both give the payload: use one", 36);
  expect_error(R"(icmp 1.1.1.1 > 2.2.2.2 echo-request data "a")", "'data' is not an option of icmp echo packets", 37);
  expect_error(R"(tcp 1.1.1.1:1 > 2.2.2.2:2 data "a" data "b")", "duplicate option 'data'", 36);
}

TEST(GrammarTest, TcpMssOption) {
  auto p = parse_packet("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S mss 1460 payload 3");
  ASSERT_TRUE(p);
  auto l4 = p->ip().payload();
  ASSERT_EQ(l4.size(), 20u + 4 + 3);
  EXPECT_EQ(l4[12] >> 4, 6);  // data offset: one option word
  EXPECT_EQ(l4[20], 2);
  EXPECT_EQ(l4[21], 4);
  EXPECT_EQ(load16(l4.data() + 22), 1460);
  EXPECT_EQ(*format_packet(p->ip()), "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S mss 1460 payload 3");
  EXPECT_EQ(*format_packet(parse_packet("tcp 1.2.3.4:1 > 5.6.7.8:2 mss 0")->ip()), "tcp 1.2.3.4:1 > 5.6.7.8:2 mss 0");

  // Any other option, or the MSS option in another form, is not the grammar's.
  auto nop = parse_packet("tcp 1.2.3.4:1 > 5.6.7.8:2 mss 1460");
  nop->ip().payload()[20] = 1;
  fill_checksums(nop->ip());
  EXPECT_EQ(format_packet(nop->ip()).error().message,
            "not expressible in the packet grammar: TCP options other than MSS, SACK-permitted, timestamps, window "
            "scale and SACK as Linux lays them out");
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 mss 65536", "mss out of range: 65536 (maximum 65535)", 31);
  expect_error("udp 1.2.3.4:1 > 5.6.7.8:2 mss 1", "'mss' is not an option of udp packets", 27);
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 mss 1 payload 65495", "datagram longer than 65535 bytes", 1);
}

// ts and wscale as a Linux SYN carries them (tcp_options_write): MSS;
// SACK-permitted and timestamps in one word pair (NOP, NOP before the
// timestamps without SACK-permitted); NOP, window scale.
TEST(GrammarTest, TcpTimestampAndWindowScaleOptions) {
  const std::string syn = "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S mss 1460 sackok ts 3000:0 wscale 7";
  auto p = parse_packet(syn);
  ASSERT_TRUE(p);
  auto l4 = p->ip().payload();
  ASSERT_EQ(l4.size(), 20u + 20);
  EXPECT_EQ(l4[12] >> 4, 10);
  EXPECT_EQ(std::vector<uint8_t>(l4.begin() + 20, l4.end()),
            (std::vector<uint8_t>{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x0b, 0xb8, 0, 0, 0, 0, 1, 3, 3, 7}));
  EXPECT_EQ(*format_packet(p->ip()), syn);
  auto a = parse_packet("tcp 1.2.3.4:1 > 5.6.7.8:2 flags A ts 4294967295:17 sack 1:2");
  ASSERT_TRUE(a);
  l4 = a->ip().payload();
  EXPECT_EQ(std::vector<uint8_t>(l4.begin() + 20, l4.begin() + 24), (std::vector<uint8_t>{1, 1, 8, 10}));
  EXPECT_EQ(*format_packet(a->ip()), "tcp 1.2.3.4:1 > 5.6.7.8:2 flags A ts 4294967295:17 sack 1:2");
  EXPECT_EQ(*format_packet(parse_packet("tcp 1.2.3.4:1 > 5.6.7.8:2 wscale 14")->ip()), "tcp 1.2.3.4:1 > 5.6.7.8:2 wscale 14");
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 ts 5", "timestamps '5' are not TSVAL:TSECR", 30);
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 ts 5:x", "bad number for TSecr: 'x'", 32);
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 wscale 256", "wscale out of range: 256 (maximum 255)", 34);
  expect_error("udp 1.2.3.4:1 > 5.6.7.8:2 wscale 1", "'wscale' is not an option of udp packets", 27);
  // Timestamps alone after the other options: not Linux's layout.
  auto late = parse_packet("tcp 1.2.3.4:1 > 5.6.7.8:2 mss 1460 wscale 2");
  auto opt = late->ip().payload().subspan(20, 8);
  std::rotate(opt.begin(), opt.begin() + 4, opt.end());
  fill_checksums(late->ip());
  EXPECT_FALSE(format_packet(late->ip()));
}

// sackok and sack: Linux's layout (tcp_options_write), MSS first, each
// SACK option behind two NOPs; 40 bytes of options at most.
TEST(GrammarTest, TcpSackOptions) {
  auto p = parse_packet("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S mss 1460 sackok");
  ASSERT_TRUE(p);
  auto l4 = p->ip().payload();
  ASSERT_EQ(l4.size(), 20u + 8);
  EXPECT_EQ(l4[12] >> 4, 7);
  EXPECT_EQ(std::vector<uint8_t>(l4.begin() + 20, l4.end()), (std::vector<uint8_t>{2, 4, 0x05, 0xb4, 1, 1, 4, 2}));
  EXPECT_EQ(*format_packet(p->ip()), "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S mss 1460 sackok");

  const std::string text = "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags A seq 5 ack 1001 sack 2001:3001,4294967295:7";
  auto a = parse_packet(text);
  ASSERT_TRUE(a);
  l4 = a->ip().payload();
  ASSERT_EQ(l4.size(), 20u + 4 + 16);
  EXPECT_EQ(l4[12] >> 4, 10);
  EXPECT_EQ(std::vector<uint8_t>(l4.begin() + 20, l4.begin() + 24), (std::vector<uint8_t>{1, 1, 5, 18}));
  EXPECT_EQ(load32(l4.data() + 24), 2001u);
  EXPECT_EQ(load32(l4.data() + 28), 3001u);
  EXPECT_EQ(load32(l4.data() + 32), 4294967295u);
  EXPECT_EQ(load32(l4.data() + 36), 7u);
  EXPECT_EQ(check_l4_checksum(a->ip()), L4Checksum::Ok);
  EXPECT_EQ(*format_packet(a->ip()), text);

  // Four blocks beside MSS and SACK-permitted do not fit; three do.
  EXPECT_TRUE(parse_packet("tcp 1.2.3.4:1 > 5.6.7.8:2 mss 1 sackok sack 1:2,3:4,5:6"));
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 mss 1 sackok sack 1:2,3:4,5:6,7:8",
               "TCP options of 44 bytes: at most 40 fit (mss 4, sackok 4, ts 12 (with sackok too), wscale 4, sack 4 + "
               "8 a block)",
               1);
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 sack 1:2,3:4,5:6,7:8,9:10", "more than 4 SACK blocks", 48);
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 sack 1:2,3", "SACK block '3' is not LEFT:RIGHT", 36);
  expect_error("tcp 1.2.3.4:1 > 5.6.7.8:2 sack 1:x", "bad number for SACK right edge: 'x'", 34);
  expect_error("udp 1.2.3.4:1 > 5.6.7.8:2 sackok", "'sackok' is not an option of udp packets", 27);
  // The options in another order are not the grammar's.
  auto swapped = parse_packet("tcp 1.2.3.4:1 > 5.6.7.8:2 mss 1460 sackok");
  auto opt = swapped->ip().payload().subspan(20, 8);
  std::rotate(opt.begin(), opt.begin() + 4, opt.end());
  fill_checksums(swapped->ip());
  EXPECT_FALSE(format_packet(swapped->ip()));
}

TEST(GrammarTest, SctpChunksAndChecksum) {
  PacketSpec d = parse_ok("sctp 198.51.100.10:5000 > 203.0.113.4:38412");
  EXPECT_EQ(d.kind, SpecKind::Sctp);
  ASSERT_EQ(d.nchunks, 1);
  EXPECT_EQ(d.chunk_type[0], sctp_cid::kData);
  // 20 IP + 12 common header + a DATA chunk of 16 bytes.
  EXPECT_EQ(packet_length(d), 48u);

  auto p = parse_packet(
      "sctp 1.2.3.4:1 > 5.6.7.8:2 vtag 0x01020304 chunks "
      "INIT,ABORT:T init-tag 7");
  ASSERT_TRUE(p);
  auto l4 = p->ip().payload();
  ASSERT_EQ(l4.size(), 12u + 20 + 4);
  EXPECT_EQ(l4[4], 1);
  EXPECT_EQ(l4[7], 4);
  EXPECT_EQ(l4[12], sctp_cid::kInit);
  EXPECT_EQ(load16(l4.data() + 14), 20);
  EXPECT_EQ(load32(l4.data() + 16), 7u);  // initiate tag
  EXPECT_EQ(l4[32], sctp_cid::kAbort);
  EXPECT_EQ(l4[33], kSctpChunkFlagT);
  EXPECT_TRUE(sctp_checksum_ok(l4));
  std::vector<uint8_t> copy(l4.begin(), l4.end());
  copy[20] ^= 1;
  EXPECT_FALSE(sctp_checksum_ok(copy));

  // RFC 3720 B.4: 32 bytes of zeros have CRC32c 0x8a9136aa, stored
  // least significant byte first as sctp_compute_cksum stores it.
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(sctp_crc32c(zeros), 0x8a9136aau);
  sctp_fill_checksum(zeros);
  EXPECT_EQ(zeros[8], 0xaa);
  EXPECT_EQ(zeros[11], 0x8a);

  expect_error("sctp 1.2.3.4:1 > 5.6.7.8:2 chunks INIT,BOGUS",
               "unknown SCTP chunk 'BOGUS' (a name such as DATA, INIT, "
               "INIT_ACK, SACK, HEARTBEAT, ABORT, SHUTDOWN, COOKIE_ECHO, or a "
               "type number)",
               40);
  expect_error("sctp 1.2.3.4:1 > 5.6.7.8:2 chunks INIT payload 4",
               "payload is the user data of a DATA chunk: this packet has none", 1);
  expect_error("sctp 1.2.3.4:1 > 5.6.7.8:2 flags S", "'flags' is not an option of sctp packets", 28);
  // A chunk longer than the packet (found by fuzz_packet: read past the end).
  auto cut = parse_packet("sctp 1.2.3.4:1 > 5.6.7.8:2 chunks INIT");
  store16(cut->ip().payload().data() + 14, 200);
  sctp_fill_checksum(cut->ip().payload());
  EXPECT_EQ(format_packet(cut->ip()).error().message,
            "not expressible in the packet grammar: SCTP chunks the grammar cannot write");
  EXPECT_EQ(*format_packet(parse_packet("sctp 1.2.3.4:1 > 5.6.7.8:2 chunks 6:T,14")->ip()),
            "sctp 1.2.3.4:1 > 5.6.7.8:2 chunks ABORT:T,SHUTDOWN_COMPLETE");
}

TEST(GrammarTest, UnprintablePacketsSayWhy) {
  auto expect_why = [](Packet p, std::string_view why) {
    auto r = format_packet(p.ip());
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().message, "not expressible in the packet grammar: " + std::string(why));
  };
  auto base = [] { return *parse_packet("tcp 1.2.3.4:1 > 5.6.7.8:2 payload 4"); };
  Packet p = base();
  // TCP and UDP bytes print as data; an ICMP payload has no such form.
  p.data()[43] = 1;
  fill_checksums(p.ip());
  EXPECT_EQ(*format_packet(p.ip()), R"(tcp 1.2.3.4:1 > 5.6.7.8:2 data "\x00\x00\x00\x01")");
  Packet echo = *parse_packet("icmp 1.2.3.4 > 5.6.7.8 echo-request");
  echo.data()[30] = 1;
  fill_checksums(echo.ip());
  expect_why(echo, "non-zero payload bytes");
  p = base();
  p.data()[20 + 17] ^= 1;
  expect_why(p, "wrong transport checksum");
  p = base();
  p.data()[10] ^= 1;
  expect_why(p, "wrong IPv4 header checksum");
  p = base();
  p.ip().set_mf(true);
  expect_why(p, "a fragment");
  p = base();
  TcpView(p.ip().payload()).set_urg_ptr(1);
  expect_why(p, "TCP urgent pointer");
  p = base();
  p.ip().set_protocol(47);
  p.ip().update_checksum();
  expect_why(p, "IP protocol 47");
  auto u = *parse_packet("udp 1.2.3.4:1 > 5.6.7.8:2");
  UdpView(u.ip().payload()).set_checksum(0);
  expect_why(u, "UDP without checksum");
  PacketSpec e = default_spec(SpecKind::IcmpType);
  e.icmp_type = 3;
  e.icmp_rest = 1500;
  expect_why(build_packet(e), "ICMP header word after the checksum is not zero");
}

// `frag OFF[+LEN]` and `mf` slice the whole datagram: its transport
// checksum covers all of it, so the pieces reassemble into what the text
// without them builds.
TEST(GrammarTest, Fragments) {
  PacketSpec whole = parse_ok("udp 198.51.100.10:5000 > 203.0.113.20:9 ipid 7 payload 40");
  Packet w = build_packet(whole);
  ASSERT_EQ(w.size(), 68u);
  PacketSpec a = parse_ok("udp 198.51.100.10:5000 > 203.0.113.20:9 ipid 7 payload 40 frag 0+24 mf");
  PacketSpec b = parse_ok("udp 198.51.100.10:5000 > 203.0.113.20:9 ipid 7 payload 40 frag 24");
  EXPECT_EQ(a.frag_off, 0);
  EXPECT_EQ(a.frag_len, 24u);
  EXPECT_TRUE(a.mf);
  EXPECT_TRUE(b.is_fragment());
  Packet pa = build_packet(a), pb = build_packet(b);
  ASSERT_EQ(pa.size(), 44u);
  ASSERT_EQ(pb.size(), 20u + 24u);
  EXPECT_EQ(pa.ip().frag_field(), 0x2000);
  EXPECT_EQ(pb.ip().frag_field(), 3);
  EXPECT_EQ(pa.ip().total_length(), 44);
  EXPECT_TRUE(pa.ip().checksum_ok());
  EXPECT_TRUE(pb.ip().checksum_ok());
  auto wd = w.data(), ad = pa.data(), bd = pb.data();
  EXPECT_TRUE(std::equal(ad.begin() + 20, ad.end(),
                         wd.begin() + 20));  // the UDP header and checksum
  EXPECT_TRUE(std::equal(bd.begin() + 20, bd.end(), wd.begin() + 44));
  EXPECT_EQ(format_spec(a), "udp 198.51.100.10:5000 > 203.0.113.20:9 ipid 7 payload 40 frag 0+24 mf");
  EXPECT_EQ(format_spec(b), "udp 198.51.100.10:5000 > 203.0.113.20:9 ipid 7 payload 40 frag 24");
  EXPECT_EQ(parse_ok(format_spec(a)), a);
  EXPECT_EQ(parse_ok("tcp 1.1.1.1:1 > 2.2.2.2:2 df mf").frag_len, PacketSpec::kFragToEnd);
  EXPECT_FALSE(spec_from_packet(pb.ip()));
  expect_error("udp 1.1.1.1:1 > 2.2.2.2:2 payload 40 frag 4", "fragment offset 4 is not a multiple of 8", 43);
  expect_error("udp 1.1.1.1:1 > 2.2.2.2:2 payload 40 frag 8+x", "bad number for fragment length: 'x'", 45);
  expect_error("udp 1.1.1.1:1 > 2.2.2.2:2 payload 40 frag 40+16",
               "fragment beyond the datagram's 48 bytes after its IP header", 43);
  expect_error("udp 1.1.1.1:1 > 2.2.2.2:2 frag 16", "fragment beyond the datagram's 8 bytes after its IP header", 32);
}

}  // namespace
}  // namespace nfemu::packet
