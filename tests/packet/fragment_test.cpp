// ip_do_fragment as kernel 6.18 did it in the fragments-f scenario: a
// 3028-byte UDP datagram forwarded out of a 1500-byte MTU link leaves as
// 1500 + 1500 + 68 bytes, offsets 0, 185, 370 (8-byte units), MF on all
// but the last, same ID, valid header checksums.
#include "packet/fragment.h"

#include <gtest/gtest.h>

#include <vector>

#include "packet/headers.h"

namespace nfemu::packet {
namespace {

std::vector<uint8_t> datagram(size_t total, size_t optlen = 0) {
  std::vector<uint8_t> d(total);
  const size_t hlen = 20 + optlen;
  Ipv4View ip(d);
  ip.set_version_ihl(4, static_cast<uint8_t>(hlen / 4));
  ip.set_total_length(static_cast<uint16_t>(total));
  ip.set_id(0x1234);
  ip.set_ttl(63);
  ip.set_protocol(17);
  ip.set_saddr(0xc0000201);
  ip.set_daddr(0xcb007109);
  for (size_t i = hlen; i < total; ++i) d[i] = static_cast<uint8_t>(i);
  ip.update_checksum();
  return d;
}

TEST(Fragment, ThreeFragmentsLikeTheKernel) {
  auto d = datagram(3028);
  std::vector<std::vector<uint8_t>> frags;
  ASSERT_TRUE(fragment_ipv4(d, 1500, [&](std::span<const uint8_t> f) { frags.emplace_back(f.begin(), f.end()); }));
  ASSERT_EQ(frags.size(), 3u);
  const size_t sizes[] = {1500, 1500, 68};
  const uint16_t fields[] = {0x2000 | 0, 0x2000 | 185, 370};
  std::vector<uint8_t> joined(d.begin(), d.begin() + 20);
  for (size_t i = 0; i < 3; ++i) {
    ConstIpv4View ip(frags[i]);
    EXPECT_EQ(frags[i].size(), sizes[i]);
    EXPECT_EQ(ip.total_length(), sizes[i]);
    EXPECT_EQ(ip.frag_field(), fields[i]);
    EXPECT_EQ(ip.id(), 0x1234);
    EXPECT_TRUE(ip.checksum_ok());
    joined.insert(joined.end(), frags[i].begin() + 20, frags[i].end());
  }
  EXPECT_EQ(joined, d);
  EXPECT_FALSE(fragment_ipv4(d, 3028, [](std::span<const uint8_t>) { FAIL(); }));
}

TEST(Fragment, LaterFragmentsKeepOnlyCopiedOptions) {
  auto d = datagram(1000, 8);
  // Record route (7, not copied) of length 3, then a copied option (0x94
  // router alert, length 4), then END.
  const uint8_t opts[] = {7, 3, 4, 0x94, 4, 0, 0, 0};
  std::copy(std::begin(opts), std::end(opts), d.begin() + 20);
  Ipv4View(d).update_checksum();
  std::vector<std::vector<uint8_t>> frags;
  ASSERT_TRUE(fragment_ipv4(d, 600, [&](std::span<const uint8_t> f) { frags.emplace_back(f.begin(), f.end()); }));
  ASSERT_EQ(frags.size(), 2u);
  EXPECT_TRUE(std::equal(frags[0].begin() + 20, frags[0].begin() + 28, std::begin(opts)));
  const uint8_t later[] = {1, 1, 1, 0x94, 4, 0, 0, 0};
  EXPECT_TRUE(std::equal(frags[1].begin() + 20, frags[1].begin() + 28, std::begin(later)));
  EXPECT_EQ(ConstIpv4View(frags[0]).total_length(), 28u + 568u);  // (600 - 28) & ~7
  EXPECT_TRUE(ConstIpv4View(frags[1]).checksum_ok());
}

TEST(Fragment, ForwardedNonLastFragmentKeepsMf) {
  auto d = datagram(1028);
  Ipv4View ip(d);
  ip.set_frag_field(0x2000 | 10);
  ip.update_checksum();
  std::vector<uint16_t> fields;
  ASSERT_TRUE(fragment_ipv4(d, 520, [&](std::span<const uint8_t> f) { fields.push_back(ConstIpv4View(f).frag_field()); }));
  EXPECT_EQ(fields, (std::vector<uint16_t>{0x2000 | 10, 0x2000 | 72, 0x2000 | 134}));
}

}  // namespace
}  // namespace nfemu::packet
