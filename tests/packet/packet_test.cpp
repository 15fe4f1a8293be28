#include "packet/packet.h"

#include <gtest/gtest.h>

#include "packet/grammar.h"

namespace nfemu::packet {
namespace {

TEST(PacketTest, MetadataDefaultsAndIfNames) {
  Packet p;
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(p.data().empty());
  EXPECT_TRUE(p.meta.in.empty());
  EXPECT_EQ(p.meta.mark, 0u);
  EXPECT_EQ(p.meta.ct, nullptr);
  EXPECT_FALSE(p.meta.trace);
  EXPECT_EQ(p.meta.hook, Hook::None);
  p.meta.in.set("eth0");
  p.meta.out = std::string_view("averyveryverylongname");
  EXPECT_EQ(p.meta.in.view(), "eth0");
  EXPECT_EQ(p.meta.out.view(), "averyveryverylo");  // cut at 15 as IFNAMSIZ
  EXPECT_EQ(to_string(Hook::LocalIn), "INPUT");
  static_assert(static_cast<int>(CtInfo::EstablishedReply) == 3);
  static_assert(sizeof(PacketMeta) <= 64, "metadata stays one cache line");
}

// IfName compares as two 64-bit words, which holds only while the bytes
// past the name are zero: a name set over a longer one must equal the
// same name set fresh, and names differing in their last byte or length
// must differ.
// IfName::set copies a name with overlapping loads by length class (1-3,
// 4-7, 8-15 bytes, cut at 15): every length, set over a longer name and
// over a shorter one, holds exactly the name's bytes and zeros after them.
TEST(PacketTest, IfNameSetEveryLength) {
  const std::string full = "abcdefghijklmnopqrst";
  for (size_t n = 0; n <= full.size(); ++n) {
    std::string name = full.substr(0, n);
    std::string want = name.substr(0, IfName::kMax);
    for (const char* before : {"", "x", "zzzzzzzzzzzzzzzzzzzz"}) {
      IfName a(before);
      a.set(name);
      EXPECT_EQ(a.view(), want) << n << " over " << before;
      char raw[16];
      std::memcpy(raw, &a, 16);
      for (size_t i = want.size(); i < IfName::kMax; ++i) EXPECT_EQ(raw[i], 0) << n << " byte " << i;
      EXPECT_EQ(a, IfName(want));
    }
  }
}

TEST(PacketTest, IfNamesCompareByValueWhateverTheyHeldBefore) {
  IfName reused("averyveryverylongname");
  reused.set("eth1");
  EXPECT_EQ(reused, IfName("eth1"));
  EXPECT_EQ(reused.view(), "eth1");
  EXPECT_FALSE(reused == IfName("eth10"));
  EXPECT_FALSE(IfName("eth") == IfName("eth1"));
  EXPECT_FALSE(IfName("abcdefghijklmno") == IfName("abcdefghijklmnp"));  // 15th byte
  EXPECT_EQ(IfName("abcdefghijklmnoXYZ"), IfName("abcdefghijklmno"));   // both cut at 15
  EXPECT_EQ(IfName(), IfName(""));
  EXPECT_FALSE(IfName() == IfName("a"));
}

TEST(PacketTest, MacHeaderSitsInHeadroom) {
  Packet p = *parse_packet("udp 192.0.2.1:1 > 192.0.2.2:2");
  EXPECT_FALSE(p.has_mac_header());
  EXPECT_EQ(p.frame().size(), 28u);
  const uint8_t* l3 = p.data().data();
  EthernetHeader h{*parse_mac("02:00:00:00:00:02"), *parse_mac("02:00:00:00:00:01")};
  p.set_mac_header(h);
  ASSERT_TRUE(p.has_mac_header());
  EXPECT_EQ(p.mac_header(), h);
  auto f = p.frame();
  EXPECT_EQ(f.size(), 42u);
  EXPECT_EQ(f.data() + 14, l3);  // contiguous, not copied
  EXPECT_EQ(f[12], 0x08);
  auto back = Packet::from_frame(f);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->mac_header(), h);
  EXPECT_TRUE(std::equal(back->data().begin(), back->data().end(), p.data().begin(), p.data().end()));
  p.clear_mac_header();
  EXPECT_EQ(p.frame().size(), 28u);
}

TEST(PacketTest, AssignReusesCapacity) {
  Packet p = *parse_packet("tcp 1.1.1.1:1 > 2.2.2.2:2 payload 1000");
  const uint8_t* before = p.data().data();
  Packet small = *parse_packet("udp 1.1.1.1:1 > 2.2.2.2:2");
  p.assign(small.data());
  EXPECT_EQ(p.data().data(), before);
  EXPECT_EQ(p.size(), 28u);
  p.resize(30);
  EXPECT_EQ(p.data()[28], 0);
  EXPECT_EQ(p.data()[29], 0);
}

}  // namespace
}  // namespace nfemu::packet
