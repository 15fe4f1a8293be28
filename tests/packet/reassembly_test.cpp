// ip_defrag before LOCAL_IN, as the fragments-f scenario showed on 6.18:
// three fragments (1500 + 1500 + 68 bytes) become one 3028-byte datagram
// with a clear frag field, in any arrival order.
#include "packet/reassembly.h"

#include <gtest/gtest.h>

#include <vector>

#include "packet/fragment.h"
#include "packet/headers.h"

namespace nfemu::packet {
namespace {

std::vector<uint8_t> datagram(size_t total, uint16_t id) {
  std::vector<uint8_t> d(total);
  Ipv4View ip(d);
  ip.set_version_ihl(4, 5);
  ip.set_total_length(static_cast<uint16_t>(total));
  ip.set_id(id);
  ip.set_ttl(63);
  ip.set_protocol(17);
  ip.set_saddr(0xc633640a);
  ip.set_daddr(0xcb007114);
  for (size_t i = 20; i < total; ++i) d[i] = static_cast<uint8_t>(i * 7);
  ip.update_checksum();
  return d;
}

std::vector<std::vector<uint8_t>> split(const std::vector<uint8_t>& d, size_t mtu) {
  std::vector<std::vector<uint8_t>> out;
  EXPECT_TRUE(fragment_ipv4(d, mtu, [&](std::span<const uint8_t> f) { out.emplace_back(f.begin(), f.end()); }));
  return out;
}

TEST(Reassembly, InOrderAndReversed) {
  auto d = datagram(3028, 777);
  auto f = split(d, 1500);
  Reassembler r;
  EXPECT_FALSE(r.add(f[0], 0));
  EXPECT_FALSE(r.add(f[1], 1));
  auto whole = r.add(f[2], 2);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, d);
  EXPECT_EQ(r.queues(), 0u);
  EXPECT_FALSE(r.add(f[2], 3));
  EXPECT_FALSE(r.add(f[1], 4));
  whole = r.add(f[0], 5);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, d);
}

TEST(Reassembly, QueuesByIdAndExpireAfter30s) {
  auto a = split(datagram(2000, 1), 1100);
  auto b = split(datagram(2000, 2), 1100);
  ASSERT_EQ(a.size(), 2u);
  Reassembler r;
  EXPECT_FALSE(r.add(a[0], 0));
  EXPECT_FALSE(r.add(b[1], 0));
  EXPECT_EQ(r.queues(), 2u);
  EXPECT_FALSE(r.add(a[1], 30'000'000'000ull));  // a's queue is gone
  EXPECT_EQ(r.queues(), 1u);
  ASSERT_TRUE(r.add(a[0], 30'000'000'001ull));
}

}  // namespace
}  // namespace nfemu::packet
