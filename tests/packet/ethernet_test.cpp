#include "packet/ethernet.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "packet/addr.h"

namespace nfemu::packet {
namespace {

TEST(MacTest, ParseAndFormat) {
  auto m = parse_mac("02:00:00:00:00:01");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (Mac{2, 0, 0, 0, 0, 1}));
  EXPECT_EQ(format_mac(*m), "02:00:00:00:00:01");
  auto u = parse_mac("0A:bC:de:F0:12:34");
  ASSERT_TRUE(u);
  EXPECT_EQ(format_mac(*u), "0a:bc:de:f0:12:34");
  for (std::string_view bad : {"", "02:00:00:00:00", "02:00:00:00:00:01:", "02-00-00-00-00-01", "2:0:0:0:0:1",
                               "02:00:00:00:00:0g", "02:00:00:00:00:001"})
    EXPECT_FALSE(parse_mac(bad)) << bad;
}

TEST(Ipv4AddrTest, ParseAndFormat) {
  EXPECT_EQ(parse_ipv4_addr("198.51.100.10"), 0xc633640au);
  EXPECT_EQ(parse_ipv4_addr("0.0.0.0"), 0u);
  EXPECT_EQ(parse_ipv4_addr("255.255.255.255"), 0xffffffffu);
  EXPECT_EQ(format_ipv4_addr(0xcb007104), "203.0.113.4");
  for (std::string_view bad : {"", "1.2.3", "1.2.3.4.", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.1234", "a.b.c.d",
                               "1..2.3", " 1.2.3.4", "1.2.3.4 ", "-1.2.3.4"})
    EXPECT_FALSE(parse_ipv4_addr(bad)) << bad;
}

// The formatters write by hand what printf's "%u.%u.%u.%u" and "%02x:..."
// write: every octet value in every position, then random values, against
// printf itself.
TEST(AddrFormatTest, AddressesAndMacsAsPrintfWritesThem) {
  auto printf_addr = [](uint32_t a) {
    char buf[16];
    int n = std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
    return std::string(buf, static_cast<size_t>(n));
  };
  auto printf_mac = [](const Mac& m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return std::string(buf);
  };
  std::vector<uint32_t> addrs;
  for (uint32_t v = 0; v < 256; ++v)
    for (int shift = 0; shift < 32; shift += 8) addrs.push_back(v << shift | (shift ? 0u : 0x01020300u));
  std::mt19937 rng(20261127);
  for (int i = 0; i < 100000; ++i) addrs.push_back(static_cast<uint32_t>(rng()));
  for (uint32_t a : addrs) {
    char buf[16];
    std::memset(buf, 'x', sizeof buf);
    size_t n = format_ipv4_addr(a, buf);
    ASSERT_EQ(std::string(buf, n), printf_addr(a)) << a;
    ASSERT_EQ(buf[n], '\0') << a;  // terminated, as snprintf left it
    ASSERT_EQ(format_ipv4_addr(a), printf_addr(a)) << a;
    Mac m{static_cast<uint8_t>(a), static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a >> 16),
          static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 5), static_cast<uint8_t>(a >> 13)};
    ASSERT_EQ(format_mac(m), printf_mac(m)) << a;
    char mbuf[kMacTextLen];
    ASSERT_EQ(std::string(mbuf, format_mac(m, mbuf)), printf_mac(m)) << a;
  }
}

TEST(EthernetTest, WriteParseRoundTrip) {
  EthernetHeader h{*parse_mac("02:00:00:00:00:02"), *parse_mac("02:00:00:00:00:01"), kEtherTypeIpv4};
  uint8_t frame[20] = {};
  frame[14] = 0x45;
  write_ethernet(frame, h);
  EXPECT_EQ(frame[0], 2);
  EXPECT_EQ(frame[5], 2);
  EXPECT_EQ(frame[11], 1);
  EXPECT_EQ(frame[12], 0x08);
  EXPECT_EQ(frame[13], 0x00);
  auto f = parse_ethernet(frame);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->header, h);
  EXPECT_EQ(f->payload.size(), 6u);
  EXPECT_EQ(f->payload[0], 0x45);
}

TEST(EthernetTest, ShortFrameIsRejected) {
  uint8_t frame[13] = {};
  auto f = parse_ethernet(frame);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message, "truncated Ethernet header: 13 bytes (minimum 14)");
}

}  // namespace
}  // namespace nfemu::packet
