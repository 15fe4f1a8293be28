#include "packet/pcap_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "packet/grammar.h"

namespace nfemu::packet {
namespace {

namespace fs = std::filesystem;

class PcapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("nfemu_pcap_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }

  static Packet framed(std::string_view text) {
    Packet p = *parse_packet(text);
    p.set_mac_header({*parse_mac("02:00:00:00:00:02"), *parse_mac("02:00:00:00:00:01")});
    return p;
  }

  // Writes the scenario examples, one a second plus a few microseconds.
  std::string write_examples() {
    auto file = path("x.pcap");
    auto w = PcapWriter::open(file);
    EXPECT_TRUE(w) << w.error().message;
    for (size_t i = 0; i < examples().size(); ++i) w->write(i * 1000000 + 7 * i, framed(examples()[i]).frame());
    EXPECT_TRUE(w->close());
    return file;
  }
  static const std::vector<std::string>& examples() {
    static const std::vector<std::string> v = {
        "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S",
        "udp 198.51.100.10:5000 > 203.0.113.4:9999 payload 12",
        "icmp 198.51.100.10 > 203.0.113.4 echo-request",
        "tcp 203.0.113.4:80 > 198.51.100.10:40000 flags SA seq 77 ack 1001 df",
    };
    return v;
  }

  fs::path dir_;
};

TEST_F(PcapTest, WriteThenReadBack) {
  auto file = write_examples();
  // Classic pcap magic (microseconds), version 2.4, snaplen, Ethernet.
  std::ifstream in(file, std::ios::binary);
  uint32_t hdr[6];
  in.read(reinterpret_cast<char*>(hdr), sizeof hdr);
  EXPECT_EQ(hdr[0], 0xa1b2c3d4u);
  EXPECT_EQ(hdr[4], 262144u);
  EXPECT_EQ(hdr[5], 1u);

  int lt = 0;
  auto frames = read_pcap_file(file, &lt);
  ASSERT_TRUE(frames) << frames.error().message;
  EXPECT_EQ(lt, kLinkTypeEthernet);
  ASSERT_EQ(frames->size(), examples().size());
  for (size_t i = 0; i < frames->size(); ++i) {
    const auto& f = (*frames)[i];
    EXPECT_EQ(f.ts_us, i * 1000000 + 7 * i);
    Packet want = framed(examples()[i]);
    EXPECT_EQ(f.orig_len, want.frame().size());
    ASSERT_TRUE(std::equal(f.data.begin(), f.data.end(), want.frame().begin(), want.frame().end()));
    auto p = Packet::from_frame(f.data);
    ASSERT_TRUE(p);
    auto text = format_packet(p->ip());
    ASSERT_TRUE(text);
    EXPECT_EQ(*text, examples()[i]);
  }
}

TEST_F(PcapTest, ReaderReportsLinkTypeAndSnaplen) {
  auto file = path("raw.pcap");
  auto w = PcapWriter::open(file, 12 /* DLT_RAW */, 128);
  ASSERT_TRUE(w) << w.error().message;
  Packet p = *parse_packet("udp 192.0.2.1:1 > 192.0.2.2:2 payload 200");
  w->write(5, p.data());
  ASSERT_TRUE(w->close());
  auto r = PcapReader::open(file);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->linktype(), 12);
  EXPECT_EQ(r->snaplen(), 128);
  auto f = r->next();
  ASSERT_TRUE(f && *f);
  EXPECT_EQ((*f)->data.size(), 128u);  // cut at snaplen
  EXPECT_EQ((*f)->orig_len, 228u);
  auto end = r->next();
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

TEST_F(PcapTest, NanosecondFilesAreReadInMicroseconds) {
  // A hand-made nanosecond pcap (magic a1b23c4d) with one 3-byte record at
  // 5 s + 123456789 ns.
  auto file = path("ns.pcap");
  std::ofstream out(file, std::ios::binary);
  const uint32_t hdr[6] = {0xa1b23c4d, 0x00040002, 0, 0, 65535, 1};
  const uint32_t rec[4] = {5, 123456789, 3, 60};
  out.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
  out.write(reinterpret_cast<const char*>(rec), sizeof rec);
  out.write("abc", 3);
  out.close();
  int lt = 0;
  auto frames = read_pcap_file(file, &lt);
  ASSERT_TRUE(frames) << frames.error().message;
  ASSERT_EQ(frames->size(), 1u);
  EXPECT_EQ((*frames)[0].ts_us, 5123456u);
  EXPECT_EQ((*frames)[0].orig_len, 60u);
  EXPECT_EQ((*frames)[0].data, (std::vector<uint8_t>{'a', 'b', 'c'}));
  EXPECT_EQ(lt, kLinkTypeEthernet);
}

TEST_F(PcapTest, TruncatedFileIsAnErrorNotACrash) {
  auto file = write_examples();
  auto size = fs::file_size(file);
  // Every cut point: inside the file header, a record header or a record.
  for (uintmax_t cut : {uintmax_t{0}, uintmax_t{10}, uintmax_t{24 + 5}, uintmax_t{24 + 16 + 20}, size - 1}) {
    auto cutfile = path("cut.pcap");
    fs::copy_file(file, cutfile, fs::copy_options::overwrite_existing);
    fs::resize_file(cutfile, cut);
    auto frames = read_pcap_file(cutfile);
    EXPECT_FALSE(frames) << "cut at " << cut;
    if (!frames) {
      EXPECT_NE(frames.error().message.find(cutfile), std::string::npos);
    }
  }
}

TEST_F(PcapTest, CorruptAndMissingFiles) {
  auto file = path("garbage.pcap");
  std::ofstream(file) << "this is not a pcap file at all, not even close";
  auto r = PcapReader::open(file);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("garbage.pcap: "), std::string::npos);
  EXPECT_FALSE(PcapReader::open(path("missing.pcap")));
  EXPECT_FALSE(PcapWriter::open(path("no/such/dir/x.pcap")));

  // A record header claiming an absurd length.
  auto good = write_examples();
  std::fstream f(good, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(24 + 8);
  uint32_t huge = 0x7fffffff;
  f.write(reinterpret_cast<char*>(&huge), 4);
  f.close();
  EXPECT_FALSE(read_pcap_file(good));
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// An independent decoder: tcpdump must read our file, and agree with our
// checksums (-vv prints "correct" or "incorrect" for each).
TEST_F(PcapTest, TcpdumpReadsTheFile) {
  const char* tcpdump = "/usr/bin/tcpdump";
  if (access(tcpdump, X_OK) != 0) GTEST_SKIP() << "tcpdump is not installed: cannot cross-check pcap output";
  auto file = write_examples();
  std::string out = run(std::string(tcpdump) + " -r " + file + " -nn 2>&1");
  EXPECT_NE(out.find("link-type EN10MB (Ethernet), snapshot length 262144"), std::string::npos) << out;
  EXPECT_NE(out.find(" IP 198.51.100.10.40000 > 203.0.113.4.80: Flags [S], seq 1000, win 64240, length 0\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(" IP 198.51.100.10.5000 > 203.0.113.4.9999: UDP, length 12\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" IP 198.51.100.10 > 203.0.113.4: ICMP echo request, id 1, seq 1, length 64\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(" IP 203.0.113.4.80 > 198.51.100.10.40000: Flags [S.], seq 77, ack 1001, win 64240, length 0\n"),
            std::string::npos)
      << out;

  std::string vv = run(std::string(tcpdump) + " -r " + file + " -nn -vv 2>&1");
  EXPECT_EQ(vv.find("incorrect"), std::string::npos) << vv;
  EXPECT_EQ(vv.find("bad cksum"), std::string::npos) << vv;
  size_t correct = 0;
  for (size_t pos = 0; (pos = vv.find("(correct)", pos)) != std::string::npos; ++pos) ++correct;
  EXPECT_EQ(correct, 2u) << vv;  // the two TCP segments
  EXPECT_NE(vv.find("[udp sum ok] UDP, length 12"), std::string::npos) << vv;
  EXPECT_EQ(vv.find("wrong icmp cksum"), std::string::npos) << vv;
  EXPECT_NE(vv.find("ttl 64, id 1, offset 0, flags [none], proto TCP (6), length 40"), std::string::npos) << vv;
  EXPECT_NE(vv.find("flags [DF], proto TCP (6), length 40"), std::string::npos) << vv;
}

}  // namespace
}  // namespace nfemu::packet
