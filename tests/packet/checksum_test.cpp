#include "packet/checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "packet/grammar.h"
#include "packet/mangle.h"
#include "test_util.h"

namespace nfemu::packet {
namespace {

// The textbook definition, one big-endian word at a time.
uint16_t reference_checksum(const std::vector<uint8_t>& d) {
  uint32_t s = 0;
  for (size_t i = 0; i < d.size(); i += 2) {
    uint16_t w = static_cast<uint16_t>(d[i] << 8 | (i + 1 < d.size() ? d[i + 1] : 0));
    s += w;
    s = (s & 0xffff) + (s >> 16);
  }
  return static_cast<uint16_t>(~s);
}

TEST(ChecksumTest, Rfc1071Example) {
  // RFC 1071 section 3: the sum of these words is 0xddf2.
  std::vector<uint8_t> d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(csum_fold(csum_bytes(d)), 0xddf2);
  EXPECT_EQ(inet_checksum(d), 0x220d);
}

TEST(ChecksumTest, KnownIpv4Header) {
  // 192.168.0.1 -> 192.168.0.199 UDP, checksum 0xb861.
  std::vector<uint8_t> h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                            0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_TRUE(inet_checksum_ok(h));
  h[10] = h[11] = 0;
  EXPECT_EQ(inet_checksum(h), 0xb861);
}

TEST(ChecksumTest, EmptyAndOddLengths) {
  EXPECT_EQ(inet_checksum({}), 0xffff);
  std::vector<uint8_t> one = {0xab};
  EXPECT_EQ(inet_checksum(one), static_cast<uint16_t>(~0xab00));
  std::vector<uint8_t> three = {0x01, 0x02, 0x03};
  EXPECT_EQ(inet_checksum(three), reference_checksum(three));
}

TEST(ChecksumTest, MatchesReferenceForAllLengthsAndAlignments) {
  std::mt19937 rng(1);
  std::vector<uint8_t> big(400);
  for (auto& b : big) b = static_cast<uint8_t>(rng());
  for (size_t off = 0; off < 8; ++off) {
    for (size_t len = 0; len + off <= big.size(); len += 1 + len / 16) {
      std::vector<uint8_t> d(big.begin() + off, big.begin() + off + len);
      ASSERT_EQ(inet_checksum(std::span(big.data() + off, len)), reference_checksum(d)) << off << " " << len;
    }
  }
  std::vector<uint8_t> ff(1000, 0xff);
  EXPECT_EQ(inet_checksum(ff), reference_checksum(ff));
}

TEST(ChecksumTest, ChainedEvenSpansEqualOneSpan) {
  std::vector<uint8_t> d = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  uint32_t s = csum_bytes(std::span(d).first(4));
  s = csum_bytes(std::span(d).subspan(4), s);
  EXPECT_EQ(csum_finish(s), inet_checksum(d));
}

TEST(ChecksumTest, PseudoHeaderSum) {
  // 10.0.0.1 -> 10.0.0.2, TCP, 20 bytes: 0x0a00+0x0001+0x0a00+0x0002+6+20
  EXPECT_EQ(pseudo_header_sum(0x0a000001, 0x0a000002, 6, 20), 0x0a00u + 1 + 0x0a00 + 2 + 6 + 20);
  // Carries fold back in.
  EXPECT_EQ(pseudo_header_sum(0xffffffff, 0xffffffff, 0xff, 0xffff), csum_add(csum_add(0xffff, 0xffff),
                                                                              csum_add(0xffff + 0xff, 0xffff + 0xffff)));
}

TEST(ChecksumTest, Replace2And4MatchRecomputeOnRandomBuffers) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> d(6 + 2 * (rng() % 20));
    for (auto& b : d) b = static_cast<uint8_t>(rng());
    if (iter % 97 == 0) std::fill(d.begin(), d.end(), 0);  // the all-zero corner
    d[0] = 0x45;  // never all zero: an IPv4-like first word
    d[2] = d[3] = 0;
    uint16_t check = inet_checksum(d);
    size_t pos = 4 + 2 * (rng() % ((d.size() - 4) / 2));
    if (rng() % 2 && pos + 4 <= d.size()) {
      uint32_t from = load32(&d[pos]), to = static_cast<uint32_t>(rng());
      if (iter % 5 == 0) to = from;
      store32(&d[pos], to);
      csum_replace4(check, from, to);
    } else {
      uint16_t from = load16(&d[pos]), to = static_cast<uint16_t>(rng());
      if (iter % 7 == 0) to = static_cast<uint16_t>(~from);
      store16(&d[pos], to);
      csum_replace2(check, from, to);
    }
    ASSERT_EQ(check, inet_checksum(d)) << "iteration " << iter;
  }
}

// The property NAT depends on: rewriting addresses, ports, TTL and TOS
// incrementally yields exactly the checksums of a full recomputation.
TEST(ChecksumTest, IncrementalRewriteEqualsFullRecomputeOnRandomPackets) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 3000; ++iter) {
    PacketSpec s = testing::random_spec(rng, 64);
    Packet p = build_packet(s);
    // Random payload bytes so sums are not dominated by zeros.
    auto pay = p.ip().payload();
    size_t hdr = s.kind == SpecKind::Tcp ? 20 : 8;
    for (size_t i = hdr; i < pay.size(); ++i) pay[i] = static_cast<uint8_t>(rng());
    fill_checksums(p.ip());
    for (int k = 0; k < 4; ++k) {
      switch (rng() % 5) {
        case 0: rewrite_addr(p.ip(), Side::Src, static_cast<uint32_t>(rng())); break;
        case 1: rewrite_addr(p.ip(), Side::Dst, static_cast<uint32_t>(rng())); break;
        case 2: rewrite_port(p.ip(), rng() % 2 ? Side::Src : Side::Dst, static_cast<uint16_t>(rng())); break;
        case 3: rewrite_ttl(p.ip(), static_cast<uint8_t>(rng())); break;
        case 4: rewrite_tos(p.ip(), static_cast<uint8_t>(rng())); break;
      }
    }
    std::vector<uint8_t> incremental(p.data().begin(), p.data().end());
    fill_checksums(p.ip());
    std::vector<uint8_t> full(p.data().begin(), p.data().end());
    ASSERT_EQ(incremental, full) << "iteration " << iter << ": " << format_spec(s);
    EXPECT_TRUE(p.ip().checksum_ok());
    EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Ok);
  }
}

TEST(ChecksumTest, UdpZeroChecksumStaysAbsentUnderRewrite) {
  auto p = parse_packet("udp 192.0.2.1:1000 > 192.0.2.2:2000 payload 4");
  ASSERT_TRUE(p);
  UdpView u(p->ip().payload());
  u.set_checksum(0);
  EXPECT_EQ(check_l4_checksum(p->ip()), L4Checksum::None);
  rewrite_addr(p->ip(), Side::Src, 0xc6336401);
  rewrite_port(p->ip(), Side::Dst, 53);
  EXPECT_EQ(u.checksum(), 0);
  EXPECT_TRUE(p->ip().checksum_ok());
}

TEST(ChecksumTest, UdpComputedZeroIsSentAsAllOnes) {
  // Search for a UDP datagram whose checksum computes to 0 and check it is
  // stored as 0xffff, with verification accepting it.
  PacketSpec s = default_spec(SpecKind::Udp);
  s.src = 0x0a000001;
  s.dst = 0x0a000002;
  s.dport = 1;
  bool found = false;
  for (uint32_t port = 0; port < 65536 && !found; ++port) {
    s.sport = static_cast<uint16_t>(port);
    Packet p = build_packet(s);
    UdpView u(p.ip().payload());
    u.set_checksum(0);
    uint32_t sum = pseudo_header_sum(s.src, s.dst, kIpProtoUdp, 8);
    if (csum_finish(csum_bytes(p.ip().payload(), sum)) != 0) continue;
    found = true;
    fill_checksums(p.ip());
    EXPECT_EQ(u.checksum(), 0xffff);
    EXPECT_EQ(check_l4_checksum(p.ip()), L4Checksum::Ok);
  }
  EXPECT_TRUE(found);
}

// csum_bytes adds 64-bit words with end-around carry (an add-with-carry
// chain on x86-64): every length, alignment and the carry-heavy all-ones
// and nearly-all-ones data fold to what the word-by-word definition gives,
// including 0xffff (not 0) for nonzero data whose sum is a multiple of it.
TEST(ChecksumTest, WideSumMatchesWordByWordDefinition) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(300 + 8);
  for (int fill = 0; fill < 4; ++fill) {
    for (size_t off = 0; off < 8; ++off) {
      for (size_t len = 0; len <= 300; ++len) {
        for (auto& b : buf) {
          switch (fill) {
            case 0: b = static_cast<uint8_t>(rng()); break;
            case 1: b = 0xff; break;
            case 2: b = 0; break;
            default: b = rng() % 16 == 0 ? static_cast<uint8_t>(rng()) : 0xff; break;
          }
        }
        std::vector<uint8_t> d(buf.begin() + static_cast<ptrdiff_t>(off),
                               buf.begin() + static_cast<ptrdiff_t>(off + len));
        std::span<const uint8_t> s(buf.data() + off, len);
        ASSERT_EQ(csum_fold(csum_bytes(s)), static_cast<uint16_t>(~reference_checksum(d)))
            << "fill " << fill << " offset " << off << " length " << len;
        ASSERT_EQ(csum_fold(csum_bytes(s, 0x1234)), csum_fold(csum_add(0x1234, csum_bytes(s))));
      }
    }
  }
}

TEST(ChecksumTest, VerificationDetectsEveryBitFlip) {
  auto p = parse_packet("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S payload 10");
  ASSERT_TRUE(p);
  for (size_t i = 20; i < p->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      p->data()[i] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_EQ(check_l4_checksum(p->ip()), L4Checksum::Bad) << i << ":" << bit;
      p->data()[i] ^= static_cast<uint8_t>(1 << bit);
    }
  }
  EXPECT_EQ(check_l4_checksum(p->ip()), L4Checksum::Ok);
}

}  // namespace
}  // namespace nfemu::packet
