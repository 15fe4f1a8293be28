// check_l4_checksum sums the segment once, checksum field included; its
// verdict must be the kernel's: nf_ip_checksum with CHECKSUM_NONE sums the
// datagram from its IP header on (pseudo header added for TCP and UDP) and
// wants the folded sum to be -0, whatever value the field holds. The
// reference below does exactly that, on the whole datagram. Random
// packets, checksum fields that are right, wrong, 0, 0xffff or one bit
// off, and the corners where a comparison with the computed checksum
// would part from it: segments summing to -0 with a field of 0xffff, an
// all-zero ICMP message, fragments, short headers.
#include <gtest/gtest.h>

#include <random>

#include "packet/checksum.h"
#include "packet/grammar.h"
#include "packet/mangle.h"
#include "test_util.h"

namespace nfemu::packet {
namespace {

size_t check_offset(uint8_t proto) { return proto == kIpProtoTcp ? 16 : proto == kIpProtoUdp ? 6 : 2; }

// What the kernel does (the IP header must be valid: ip_rcv drops it
// otherwise, before conntrack).
L4Checksum reference_check(ConstIpv4View ip) {
  if (!compute_l4_checksum(ip)) return L4Checksum::Unchecked;  // fragment, short, not TCP/UDP/ICMP
  uint16_t have = load16(ip.payload().data() + check_offset(ip.protocol()));
  if (ip.protocol() == kIpProtoUdp && have == 0) return L4Checksum::None;
  EXPECT_TRUE(inet_checksum_ok(ip.header()));
  uint32_t sum = ip.protocol() == kIpProtoIcmp ? 0
                                               : pseudo_header_sum(ip.saddr(), ip.daddr(), ip.protocol(),
                                                                   static_cast<uint32_t>(ip.payload().size()));
  sum = csum_bytes(ip.payload(), csum_bytes(ip.header(), sum));
  return csum_fold(sum) == 0xffff ? L4Checksum::Ok : L4Checksum::Bad;
}

// The whole segment's sum with the pseudo header, field included.
uint32_t segment_sum(ConstIpv4View ip) {
  auto l4 = ip.payload();
  uint32_t sum = ip.protocol() == kIpProtoIcmp
                     ? 0
                     : pseudo_header_sum(ip.saddr(), ip.daddr(), ip.protocol(), static_cast<uint32_t>(l4.size()));
  return csum_bytes(l4, sum);
}

TEST(CheckL4Test, SameVerdictAsTheKernelsSumOfTheWholeDatagram) {
  std::mt19937 rng(11);
  int counts[4] = {};
  int forced = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    PacketSpec s = testing::random_spec(rng, 200);
    if (iter % 50 == 0) s.frag_off = 8, s.mf = true;
    Packet p = build_packet(s);
    Ipv4View ip = p.ip();
    if (!ip.is_fragment()) {
      auto pay = ip.payload();
      size_t hdr = s.kind == SpecKind::Tcp ? 20 : 8;
      for (size_t i = hdr; i < pay.size(); ++i) pay[i] = static_cast<uint8_t>(rng());
      fill_checksums(ip);
    }
    if (iter % 97 == 1) ip.set_protocol(static_cast<uint8_t>(rng()));  // mostly unknown protocols
    if (iter % 89 == 2) ip.set_total_length(static_cast<uint16_t>(20 + rng() % 24));  // short transport header
    auto l4 = ip.payload();
    uint8_t proto = ip.protocol();
    bool known = proto == kIpProtoTcp || proto == kIpProtoUdp || proto == kIpProtoIcmp;
    if (!ip.is_fragment() && known && l4.size() >= check_offset(proto) + 2) {
      uint8_t* field = l4.data() + check_offset(proto);
      switch (rng() % 7) {
        case 0: break;  // as filled
        case 1: store16(field, 0); break;
        case 2: store16(field, 0xffff); break;
        case 3: store16(field, static_cast<uint16_t>(rng())); break;
        case 4: field[rng() % 2] ^= static_cast<uint8_t>(1 << rng() % 8); break;
        case 5: l4[rng() % l4.size()] ^= static_cast<uint8_t>(1 << rng() % 8); break;
        default: {
          // Field 0xffff and another word adjusted so that the whole
          // segment sums to -0: the computed checksum is then 0.
          store16(field, 0xffff);
          uint32_t total = segment_sum(ip);
          uint16_t w = load16(l4.data());
          store16(l4.data(), static_cast<uint16_t>(csum_add(w, static_cast<uint16_t>(~total))));
          if (segment_sum(ip) == 0xffff) ++forced;
          break;
        }
      }
    }
    ip.update_checksum();
    L4Checksum want = reference_check(ip);
    ++counts[static_cast<int>(want)];
    ASSERT_EQ(check_l4_checksum(ip), want) << "iteration " << iter << ": " << format_spec(s);
  }
  // Every verdict and the -0 corner were reached.
  for (int c : counts) EXPECT_GT(c, 100);
  EXPECT_GT(forced, 1000);
}

TEST(CheckL4Test, AllZeroIcmpAndAllOnesFieldCorners) {
  // An ICMP message of zeros only (field 0): it sums to +0, which the IP
  // header's -0 makes -0 in the kernel's sum.
  PacketSpec s = default_spec(SpecKind::IcmpEcho);
  s.icmp_type = icmp_type::kEchoReply;
  s.echo_id = 0;
  s.echo_seq = 0;
  s.payload = 16;
  Packet p = build_packet(s);
  auto l4 = p.ip().payload();
  std::fill(l4.begin(), l4.end(), 0);
  EXPECT_EQ(reference_check(p.ip()), L4Checksum::Ok);
  EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Ok);
  // Field 0xffff on the same zeros: -0.
  store16(l4.data() + 2, 0xffff);
  EXPECT_EQ(reference_check(p.ip()), L4Checksum::Ok);
  EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Ok);
  // Field 0xffff and one word 0xffff: the segment sums to -0 and the
  // checksum computed for it would be 0. The kernel takes it (a TCP SYN
  // built so, sent over a veth with rx checksum offload off, became NEW
  // on 6.18; the same SYN with a wrong field INVALID).
  store16(l4.data() + 4, 0xffff);
  EXPECT_EQ(reference_check(p.ip()), L4Checksum::Ok);
  EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Ok);
  // One bit off: bad.
  store16(l4.data() + 4, 0xfffe);
  EXPECT_EQ(reference_check(p.ip()), L4Checksum::Bad);
  EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Bad);
}

// check_ipv4 sums a 20-byte header inline (header_checksum_ok in
// headers.cpp); its verdict must be inet_checksum_ok's for every header,
// with a right field, 0 or 0xffff where both are right, a bit off, or noise.
TEST(CheckL4Test, Ipv4HeaderChecksumSameAsInetChecksumOk) {
  std::mt19937 rng(13);
  int good = 0, bad = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    uint8_t h[20];
    for (auto& b : h) b = static_cast<uint8_t>(iter % 3 == 0 ? rng() : rng() % 4 == 0 ? rng() : 0xff);
    h[0] = 0x45;
    store16(h + 2, 20);
    store16(h + 10, 0);
    uint16_t c = inet_checksum(h);
    switch (iter % 5) {
      case 0: store16(h + 10, c); break;
      case 1: store16(h + 10, c == 0xffff ? 0 : c == 0 ? 0xffff : c); break;
      case 2: store16(h + 10, c); h[rng() % 20] ^= static_cast<uint8_t>(1 << rng() % 8); break;
      case 3: store16(h + 10, static_cast<uint16_t>(rng())); break;
      default: {
        // A header of ones but its first word: sums that carry everywhere.
        std::fill(h + 2, h + 20, 0xff);
        store16(h + 10, static_cast<uint16_t>(iter & 0xffff));
        break;
      }
    }
    if (h[0] != 0x45 || load16(h + 2) != 20) continue;  // a flip there fails earlier checks
    size_t len = 0;
    bool ok = check_ipv4(std::span<const uint8_t>(h), {.verify_checksum = true}, &len) == Ipv4Status::Ok;
    ASSERT_EQ(ok, inet_checksum_ok(h)) << "iteration " << iter;
    ++(ok ? good : bad);
  }
  EXPECT_GT(good, 30000);
  EXPECT_GT(bad, 30000);
}

// csum_replace2/4 add their terms as integers and fold once; the former
// definition folded after each term with csum_add. Same value for every
// input: random ones and the all-zero and all-ones corners.
TEST(CheckL4Test, ReplaceSameAsChainedAdds) {
  auto chained2 = [](uint16_t check, uint16_t from, uint16_t to) {
    uint32_t s = csum_add(static_cast<uint16_t>(~check), static_cast<uint16_t>(~from));
    return static_cast<uint16_t>(~csum_fold(csum_add(s, to)));
  };
  auto chained4 = [](uint16_t check, uint32_t from, uint32_t to) {
    uint32_t s = static_cast<uint16_t>(~check);
    s = csum_add(s, static_cast<uint16_t>(~(from >> 16)));
    s = csum_add(s, static_cast<uint16_t>(~from));
    s = csum_add(s, to >> 16);
    s = csum_add(s, to & 0xffff);
    return static_cast<uint16_t>(~csum_fold(s));
  };
  const uint32_t edges[] = {0, 1, 0xfffe, 0xffff, 0x10000, 0xffff0000, 0xfffeffff, 0xffffffff};
  for (uint32_t c : edges)
    for (uint32_t f : edges)
      for (uint32_t t : edges) {
        uint16_t a = static_cast<uint16_t>(c), b = static_cast<uint16_t>(c);
        csum_replace2(a, static_cast<uint16_t>(f), static_cast<uint16_t>(t));
        ASSERT_EQ(a, chained2(static_cast<uint16_t>(c), static_cast<uint16_t>(f), static_cast<uint16_t>(t)));
        csum_replace4(b, f, t);
        ASSERT_EQ(b, chained4(static_cast<uint16_t>(c), f, t)) << std::hex << c << " " << f << " " << t;
      }
  std::mt19937 rng(17);
  for (int i = 0; i < 300000; ++i) {
    uint16_t c = static_cast<uint16_t>(rng());
    uint32_t f = static_cast<uint32_t>(rng()), t = static_cast<uint32_t>(rng());
    if (i % 4 == 1) t = f;
    if (i % 4 == 2) t = ~f;
    uint16_t a = c, b = c;
    csum_replace2(a, static_cast<uint16_t>(f), static_cast<uint16_t>(t));
    ASSERT_EQ(a, chained2(c, static_cast<uint16_t>(f), static_cast<uint16_t>(t)));
    csum_replace4(b, f, t);
    ASSERT_EQ(b, chained4(c, f, t));
  }
}

}  // namespace
}  // namespace nfemu::packet
