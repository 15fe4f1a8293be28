// PcapngReader: packets with their interface and time, across sections
// and byte orders; corrupt and cut files stop with the block and the
// reason.
#include "replay/pcapng.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pcapng_writer.h"

namespace nfemu::replay {
namespace {

using testing::PcapngWriter;

struct Read {
  uint32_t interface;
  uint64_t ts_us;
  uint32_t orig_len;
  std::vector<uint8_t> data;
  uint32_t flags = 0;
  bool operator==(const Read&) const = default;
};

std::vector<Read> read_all(const std::vector<uint8_t>& file, std::string* error = nullptr,
                           std::vector<PcapngInterface>* ifaces = nullptr) {
  PcapngReader r(file);
  std::vector<Read> out;
  if (r.start()) {
    PcapngPacket p;
    while (r.next(p)) out.push_back({p.interface, p.ts_us, p.orig_len, {p.data.begin(), p.data.end()}, p.flags});
  }
  if (error) *error = r.error();
  if (ifaces) *ifaces = r.interfaces();
  return out;
}

const std::vector<uint8_t> kA = {1, 2, 3, 4, 5};
const std::vector<uint8_t> kB = {9, 8, 7};

TEST(PcapngTest, PacketsKeepTheirInterfaceAndTimesFollowEachInterfacesResolution) {
  for (bool be : {false, true}) {
    PcapngWriter w(be);
    w.section();
    w.interface(1, "eth0");                  // microseconds
    w.interface(1, "eth1", 9);               // nanoseconds
    w.interface(101, "tun0", 0x80 | 20, 7);  // 2^-20 s, 7 s later
    w.other(5, 16);                          // interface statistics: skipped
    w.enhanced(0, 1500000, kA);
    w.enhanced(1, 2000000999, kB, 60, PcapngPacket::kOutbound);
    w.enhanced(2, uint64_t{3} << 20, kA);
    w.obsolete(1, 4000000000, kB);
    w.simple(kA);  // interface 0, the last time seen
    std::string error;
    std::vector<PcapngInterface> ifaces;
    auto got = read_all(w.bytes(), &error, &ifaces);
    EXPECT_EQ(error, "");
    ASSERT_EQ(ifaces.size(), 3u);
    EXPECT_EQ(ifaces[0].name, "eth0");
    EXPECT_EQ(ifaces[2].name, "tun0");
    EXPECT_EQ(ifaces[2].linktype, 101);
    std::vector<Read> want = {{0, 1500000, 5, kA},
                              {1, 2000000, 60, kB, PcapngPacket::kOutbound},
                              {2, 10000000, 5, kA},
                              {1, 4000000, 3, kB},
                              {0, 4000000, 5, kA}};
    EXPECT_EQ(got, want) << (be ? "big-endian" : "little-endian");
  }
}

TEST(PcapngTest, ALaterSectionReusesTheNumbersOfTheInterfacesItDescribesAgain) {
  PcapngWriter w;
  w.section();
  w.interface(1, "wan");
  w.interface(1, "lan");
  w.enhanced(1, 10, kA);
  // As `cat a.pcapng b.pcapng` gives: b's only interface is lan, its
  // number there 0; a second section in the other byte order.
  PcapngWriter second(true);
  second.section();
  second.interface(1, "lan");
  second.interface(1, "dmz");
  second.enhanced(0, 20, kB);
  second.enhanced(1, 30, kB);
  auto file = w.bytes();
  file.insert(file.end(), second.bytes().begin(), second.bytes().end());
  std::vector<PcapngInterface> ifaces;
  auto got = read_all(file, nullptr, &ifaces);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].interface, 1u);
  EXPECT_EQ(got[1].interface, 1u);  // lan again
  EXPECT_EQ(got[2].interface, 2u);  // dmz is new
  ASSERT_EQ(ifaces.size(), 3u);
  EXPECT_EQ(ifaces[2].name, "dmz");
}

TEST(PcapngTest, StartReadsTheInterfacesDescribedBeforeTheFirstPacket) {
  PcapngWriter w;
  w.section();
  w.interface(1, "wan");
  w.interface(1, "lan");
  w.enhanced(0, 1, kA);
  w.interface(1, "late");
  w.enhanced(2, 2, kA);
  PcapngReader r(w.bytes());
  ASSERT_TRUE(r.start());
  EXPECT_EQ(r.interfaces().size(), 2u);
  PcapngPacket p;
  ASSERT_TRUE(r.next(p));
  EXPECT_EQ(p.interface, 0u);
  ASSERT_TRUE(r.next(p));
  EXPECT_EQ(p.interface, 2u);
  EXPECT_EQ(r.interfaces().size(), 3u);
  EXPECT_FALSE(r.next(p));
  EXPECT_EQ(r.error(), "");
  EXPECT_EQ(r.offset(), w.bytes().size());
}

TEST(PcapngTest, CorruptAndCutFilesStopAtTheBlockWithTheReason) {
  auto base = [] {
    PcapngWriter w;
    w.section();
    w.interface(1, "wan");
    w.enhanced(0, 1, kA);
    return w;
  };
  struct Case {
    std::string what;
    std::vector<uint8_t> file;
    size_t packets;
    std::string error;
  };
  std::vector<Case> cases;
  {
    auto w = base();
    auto f = w.bytes();
    f.resize(f.size() - 3);
    cases.push_back({"cut in the last block", f, 0, "cut: a block of"});
  }
  {
    auto w = base();
    w.enhanced(0, 2, kB);
    auto f = w.bytes();
    f[f.size() - 4] ^= 4;  // the trailing length
    cases.push_back({"lengths differ", f, 1, "trailing length"});
  }
  {
    auto w = base();
    w.enhanced(3, 2, kB);
    cases.push_back(
        {"undescribed interface", w.bytes(), 1, "a packet of interface 3, which its section does not describe"});
  }
  {
    PcapngWriter w;
    w.section(2, 0);
    cases.push_back({"version 2", w.bytes(), 0, "pcapng version 2.0"});
  }
  {
    auto w = base();
    auto f = w.bytes();
    f.insert(f.end(), {6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 13, 0, 0, 0});
    cases.push_back({"odd length", f, 1, "a block length of 13 bytes"});
  }
  {
    auto w = base();
    const size_t second = w.bytes().size();
    w.enhanced(0, 2, kB);
    auto f = w.bytes();
    // The second packet's caplen (after type, length, interface, time), past its block.
    f[second + 20] = 200;
    cases.push_back({"caplen past the block", f, 1, "in a block with room for"});
  }
  {
    std::vector<uint8_t> f = {0xd4, 0xc3, 0xb2, 0xa1};
    cases.push_back({"a classic pcap", f, 0, "not a pcapng file"});
  }
  for (const auto& c : cases) {
    std::string error;
    auto got = read_all(c.file, &error);
    EXPECT_EQ(got.size(), c.packets) << c.what;
    EXPECT_NE(error.find(c.error), std::string::npos) << c.what << ": " << error;
  }
}

}  // namespace
}  // namespace nfemu::replay
