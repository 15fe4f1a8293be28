// compare_dirs: each outputs.md normalisation both ways (what it may hide
// is hidden, everything next to it still shows), on files built here.
#include "verify/compare.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "packet/bytes.h"
#include "packet/ethernet.h"
#include "packet/grammar.h"
#include "packet/pcap_io.h"
#include "verify/compare_internal.h"

namespace nfemu::verify {
namespace {

namespace fs = std::filesystem;
using detail::normalize_kern_log_line;
using detail::split_conntrack_line;

class TempDirs {
 public:
  TempDirs() {
    char tmpl[] = "/tmp/nfemu-compare-XXXXXX";
    root_ = mkdtemp(tmpl);
    fs::create_directories(left());
    fs::create_directories(right());
  }
  ~TempDirs() { fs::remove_all(root_); }
  std::string left() const { return root_ + "/kernel"; }
  std::string right() const { return root_ + "/nfemu"; }

 private:
  std::string root_;
};

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<uint8_t> frame_of(std::string_view spec, uint16_t ethertype = packet::kEtherTypeIpv4) {
  std::vector<uint8_t> f(packet::kEthernetHeader);
  packet::write_ethernet(f, {{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, ethertype});
  auto p = packet::parse_packet(spec);
  EXPECT_TRUE(p.ok()) << spec;
  if (p) f.insert(f.end(), p->data().begin(), p->data().end());
  return f;
}

std::vector<uint8_t> arp_frame() {
  std::vector<uint8_t> f(42, 0);
  packet::write_ethernet(f, {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {2, 0, 0, 0, 0, 1}, packet::kEtherTypeArp});
  return f;
}

void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& frames, uint64_t ts0 = 1000000) {
  fs::create_directories(fs::path(path).parent_path());
  auto w = packet::PcapWriter::open(path);
  ASSERT_TRUE(w.ok());
  uint64_t ts = ts0;
  for (const auto& f : frames) w->write(ts++, f);
  ASSERT_TRUE(w->close().ok());
}

Comparison compare(const TempDirs& d) {
  auto r = compare_dirs(d.left(), d.right());
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
  return r ? *r : Comparison{};
}

// Both sides get `left` and `right` as HOST/FILE; true when they agree.
Comparison compare_texts(const std::string& file, const std::string& left, const std::string& right) {
  TempDirs d;
  write_file(d.left() + "/fw/" + file, left);
  write_file(d.right() + "/fw/" + file, right);
  return compare(d);
}

Comparison compare_pcaps(const std::vector<std::vector<uint8_t>>& left,
                         const std::vector<std::vector<uint8_t>>& right) {
  TempDirs d;
  write_pcap(d.left() + "/fw/eth0.pcap", left);
  write_pcap(d.right() + "/fw/eth0.pcap", right, 5000000);
  return compare(d);
}

TEST(CompareDirsTest, IdenticalDirectoriesAgree) {
  TempDirs d;
  for (const auto& side : {d.left(), d.right()}) {
    write_file(side + "/fw/kern.log", "a \nb \n");
    write_file(side + "/client/iptables-save.txt", "*filter\nCOMMIT\n");
  }
  Comparison c = compare(d);
  EXPECT_TRUE(c.agree);
  EXPECT_EQ(c.files, 2u);
  EXPECT_TRUE(c.diff.empty());
}

TEST(CompareDirsTest, FileOnOneSideOnly) {
  TempDirs d;
  write_file(d.left() + "/fw/kern.log", "x\n");
  write_file(d.right() + "/router/kern.log", "x\n");
  Comparison c = compare(d);
  EXPECT_FALSE(c.agree);
  ASSERT_EQ(c.differences.size(), 2u);
  EXPECT_EQ(c.differences[0].path, "fw/kern.log");
  EXPECT_EQ(c.differences[0].summary, "missing in nfemu");
  EXPECT_EQ(c.differences[1].path, "router/kern.log");
  EXPECT_EQ(c.differences[1].summary, "only in nfemu");
  EXPECT_NE(c.diff.find("--- kernel/fw/kern.log\n+++ nfemu/fw/kern.log\n(missing in nfemu)\n"), std::string::npos)
      << c.diff;
}

TEST(CompareDirsTest, UnreadableDirectoryIsAnError) {
  auto r = compare_dirs("/nonexistent/nfemu-compare", "/tmp");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a directory"), std::string::npos);
}

TEST(CompareDirsTest, LabelsNameTheSides) {
  TempDirs d;
  write_file(d.left() + "/h/other.txt", "one\n");
  write_file(d.right() + "/h/other.txt", "two\n");
  auto r = compare_dirs(d.left(), d.right(), {.left_label = "expected", .right_label = "run"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->diff, "--- expected/h/other.txt\n+++ run/h/other.txt\n@@ -1,1 +1,1 @@\n-one\n+two\n");
}

// ---- pcap

TEST(ComparePcapTest, TimestampsAreIgnored) {
  auto f = frame_of("udp 192.0.2.1:1000 > 198.51.100.2:53 payload 4");
  EXPECT_TRUE(compare_pcaps({f, f}, {f, f}).agree);
}

TEST(ComparePcapTest, ArpFramesAreDropped) {
  auto f = frame_of("udp 192.0.2.1:1000 > 198.51.100.2:53");
  EXPECT_TRUE(compare_pcaps({arp_frame(), f, arp_frame()}, {f}).agree);
  // Not any other EtherType.
  auto v6 = frame_of("udp 192.0.2.1:1000 > 198.51.100.2:53", 0x86dd);
  Comparison c = compare_pcaps({f, v6}, {f});
  EXPECT_FALSE(c.agree);
  ASSERT_EQ(c.differences.size(), 1u);
  EXPECT_EQ(c.differences[0].summary, "1 of 2 frames differ (2 vs 1)");
}

TEST(ComparePcapTest, IpIdOfEchoReplyIsIgnoredButNotOfEchoRequest) {
  EXPECT_TRUE(compare_pcaps({frame_of("icmp 192.0.2.1 > 198.51.100.2 echo-reply ipid 7")},
                            {frame_of("icmp 192.0.2.1 > 198.51.100.2 echo-reply ipid 4242")})
                  .agree);
  Comparison c = compare_pcaps({frame_of("icmp 192.0.2.1 > 198.51.100.2 echo-request ipid 7")},
                               {frame_of("icmp 192.0.2.1 > 198.51.100.2 echo-request ipid 8")});
  EXPECT_FALSE(c.agree);
  ASSERT_EQ(c.differences.size(), 1u);
  EXPECT_EQ(c.differences[0].summary, "1 of 1 frames differ");
  EXPECT_NE(c.diff.find("-02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 len 84 id 7 ttl 64 icmp 192.0.2.1 > "
                        "198.51.100.2 echo-request id 1 seq 1 len 56\n"),
            std::string::npos)
      << c.diff;
  EXPECT_NE(c.diff.find("+02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 len 84 id 8 "), std::string::npos);
  // The hex rows show which bytes: the ID and the header checksum, in row 0x10.
  EXPECT_NE(c.diff.find("\n-    0010  0054 0007"), std::string::npos) << c.diff;
  EXPECT_NE(c.diff.find("\n+    0010  0054 0008"), std::string::npos) << c.diff;
  EXPECT_EQ(c.diff.find("-    0000"), std::string::npos) << c.diff;
}

TEST(ComparePcapTest, OtherFieldsOfHostGeneratedPacketsStillCount) {
  // The ID is ignored on an echo reply, its TTL is not.
  EXPECT_FALSE(compare_pcaps({frame_of("icmp 192.0.2.1 > 198.51.100.2 echo-reply ipid 7")},
                             {frame_of("icmp 192.0.2.1 > 198.51.100.2 echo-reply ipid 7 ttl 63")})
                   .agree);
  // RST: ID ignored, ports not.
  EXPECT_TRUE(compare_pcaps({frame_of("tcp 192.0.2.1:80 > 198.51.100.2:4000 flags RA seq 0 ack 5 ipid 1")},
                            {frame_of("tcp 192.0.2.1:80 > 198.51.100.2:4000 flags RA seq 0 ack 5 ipid 9")})
                  .agree);
  EXPECT_FALSE(compare_pcaps({frame_of("tcp 192.0.2.1:80 > 198.51.100.2:4000 flags RA seq 0 ack 5")},
                             {frame_of("tcp 192.0.2.1:81 > 198.51.100.2:4000 flags RA seq 0 ack 5")})
                   .agree);
  // A plain SYN is the scenario's own packet: its ID counts.
  EXPECT_FALSE(compare_pcaps({frame_of("tcp 198.51.100.2:4000 > 192.0.2.1:80 flags S ipid 1")},
                             {frame_of("tcp 198.51.100.2:4000 > 192.0.2.1:80 flags S ipid 2")})
                   .agree);
}

TEST(ComparePcapTest, IcmpErrorIdIgnoredButNotTheQuotedPacketsId) {
  auto error = [](uint16_t outer_id, uint16_t inner_id) {
    auto offending = packet::parse_packet(fmt::format("udp 198.51.100.2:4000 > 203.0.113.9:53 ipid {}", inner_id));
    EXPECT_TRUE(offending.ok());
    auto spec = packet::parse_packet_spec(fmt::format("icmp 192.0.2.1 > 198.51.100.2 type 11 ipid {}", outer_id));
    EXPECT_TRUE(spec.ok());
    auto e = packet::build_icmp_error(*spec, offending->ip());
    EXPECT_TRUE(e.ok());
    // Sized once and copied into: insert() at the end of a 14-byte vector
    // draws a false -Warray-bounds from GCC 12 -O2 (its reallocation path).
    std::vector<uint8_t> f(packet::kEthernetHeader + e->data().size());
    packet::write_ethernet(f, {{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, packet::kEtherTypeIpv4});
    std::copy(e->data().begin(), e->data().end(), f.begin() + packet::kEthernetHeader);
    return f;
  };
  EXPECT_TRUE(compare_pcaps({error(1, 50)}, {error(999, 50)}).agree);
  Comparison c = compare_pcaps({error(1, 50)}, {error(1, 51)});
  EXPECT_FALSE(c.agree);
  EXPECT_NE(c.diff.find("icmp 192.0.2.1 > 198.51.100.2 type 11 code 0 [IPv4 len 28 id 50 ttl 64 udp "
                        "198.51.100.2:4000 > 203.0.113.9:53 len 8]"),
            std::string::npos)
      << c.diff;
  EXPECT_NE(c.diff.find("IPv4 len 56 id * ttl 64 icmp"), std::string::npos) << c.diff;
}

// A listener's connection: the client's SYN, the SYN-ACK with the
// listener's ISN, the client's ACK and data from the listener.
std::vector<std::vector<uint8_t>> handshake(uint32_t isn, uint32_t client_ack_delta = 1, uint16_t synack_id = 0) {
  return {
      frame_of("tcp 198.51.100.2:4000 > 192.0.2.1:80 flags S seq 1000"),
      frame_of(fmt::format("tcp 192.0.2.1:80 > 198.51.100.2:4000 flags SA seq {} ack 1001 ipid {}", isn, synack_id)),
      frame_of(fmt::format("tcp 198.51.100.2:4000 > 192.0.2.1:80 flags A seq 1001 ack {}", isn + client_ack_delta)),
      frame_of(fmt::format("tcp 192.0.2.1:80 > 198.51.100.2:4000 flags PA seq {} ack 1001 payload 10", isn + 1)),
  };
}

TEST(ComparePcapTest, ListenerIsnsAreMappedToTheirOrder) {
  EXPECT_TRUE(compare_pcaps(handshake(123456789, 1, 5), handshake(0xfffffff0u, 1, 77)).agree);
  // The client acknowledging one byte too many is a difference.
  Comparison c = compare_pcaps(handshake(123456789), handshake(0xfffffff0u, 2));
  EXPECT_FALSE(c.agree);
  EXPECT_NE(c.diff.find("-02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 len 40 id 1 ttl 64 tcp 198.51.100.2:4000 > "
                        "192.0.2.1:80 flags A seq 1001 ack isn#1+1 win 64240 len 0"),
            std::string::npos)
      << c.diff;
  EXPECT_NE(c.diff.find("+02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 len 40 id 1 ttl 64 tcp 198.51.100.2:4000 > "
                        "192.0.2.1:80 flags A seq 1001 ack isn#1+2 "),
            std::string::npos);
  EXPECT_EQ(c.differences.at(0).summary, "1 of 4 frames differ");
  // The client's own sequence numbers are not mapped.
  auto other = handshake(123456789);
  other[0] = frame_of("tcp 198.51.100.2:4000 > 192.0.2.1:80 flags S seq 1001");
  EXPECT_FALSE(compare_pcaps(handshake(123456789), other).agree);
}

TEST(ComparePcapTest, SecondListenerGetsTheSecondNumber) {
  auto two = [](uint32_t a, uint32_t b) {
    auto f = handshake(a);
    auto g = handshake(b);
    // Same client port, other listener port: another connection.
    for (auto& spec : {fmt::format("tcp 192.0.2.1:81 > 198.51.100.2:4000 flags SA seq {} ack 1001", b),
                       fmt::format("tcp 198.51.100.2:4000 > 192.0.2.1:81 flags A seq 1001 ack {}", b + 1)})
      f.push_back(frame_of(spec));
    return f;
  };
  EXPECT_TRUE(compare_pcaps(two(10, 20), two(3000000000u, 7)).agree);
  EXPECT_TRUE(compare_pcaps(two(10, 20), two(10, 10)).agree);  // numbered per connection
  auto wrong = two(10, 20);
  wrong.back() = frame_of("tcp 198.51.100.2:4000 > 192.0.2.1:81 flags A seq 1001 ack 22");
  Comparison c = compare_pcaps(two(10, 20), wrong);
  EXPECT_FALSE(c.agree);
  EXPECT_NE(c.diff.find("+02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 len 40 id 1 ttl 64 tcp 198.51.100.2:4000 > "
                        "192.0.2.1:81 flags A seq 1001 ack isn#2+2 "),
            std::string::npos)
      << c.diff;
}

std::vector<uint8_t> with_timestamps(std::string_view spec, uint32_t tsval, uint32_t tsecr) {
  // 12 bytes of payload become nop, nop, timestamps: a 32-byte TCP header.
  auto f = frame_of(std::string(spec) + " payload 12");
  uint8_t* tcp = f.data() + packet::kEthernetHeader + 20;
  tcp[12] = 8 << 4;
  uint8_t opts[12] = {1, 1, 8, 10};
  packet::store32(opts + 4, tsval);
  packet::store32(opts + 8, tsecr);
  std::copy(opts, opts + 12, tcp + 20);
  return f;
}

TEST(ComparePcapTest, TcpTimestampValuesAreIgnoredNotTheRest) {
  const char* syn = "tcp 198.51.100.2:4000 > 192.0.2.1:80 flags S seq 1000";
  EXPECT_TRUE(compare_pcaps({with_timestamps(syn, 1, 2)}, {with_timestamps(syn, 3000, 4000)}).agree);
  Comparison c = compare_pcaps({with_timestamps(syn, 1, 2)},
                               {with_timestamps("tcp 198.51.100.2:4000 > 192.0.2.1:80 flags S seq 1001", 1, 2)});
  EXPECT_FALSE(c.agree);
  EXPECT_NE(c.diff.find("opts nop,nop,ts * len 0"), std::string::npos) << c.diff;
}

// ---- kern.log

TEST(CompareKernLogTest, IdOfHostGeneratedPacketsOnly) {
  const std::string reply =
      "IN= OUT=eth0 SRC=192.0.2.1 DST=198.51.100.2 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=4711 PROTO=ICMP TYPE=0 "
      "CODE=0 ID=1 SEQ=1 ";
  // The IP ID goes, the echo identifier stays.
  EXPECT_EQ(normalize_kern_log_line(reply),
            "IN= OUT=eth0 SRC=192.0.2.1 DST=198.51.100.2 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=* PROTO=ICMP TYPE=0 "
            "CODE=0 ID=1 SEQ=1 ");
  const std::string request =
      "IN=eth0 OUT= SRC=198.51.100.2 DST=192.0.2.1 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=4711 PROTO=ICMP TYPE=8 "
      "CODE=0 ID=1 SEQ=1 ";
  EXPECT_EQ(normalize_kern_log_line(request), request);
  const std::string error =
      "FW IN= OUT=eth0 SRC=192.0.2.1 DST=198.51.100.2 LEN=56 TOS=0x00 PREC=0xC0 TTL=64 ID=33 PROTO=ICMP TYPE=11 "
      "CODE=0 [SRC=198.51.100.2 DST=203.0.113.9 LEN=28 TOS=0x00 PREC=0x00 TTL=1 ID=50 PROTO=UDP SPT=4000 DPT=53 "
      "LEN=8 ] ";
  std::string norm = normalize_kern_log_line(error);
  EXPECT_NE(norm.find("TTL=64 ID=* PROTO=ICMP"), std::string::npos) << norm;
  EXPECT_NE(norm.find("TTL=1 ID=50 PROTO=UDP"), std::string::npos) << norm;
  const std::string synack =
      "IN= OUT=eth0 SRC=192.0.2.1 DST=198.51.100.2 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=TCP SPT=80 "
      "DPT=4000 WINDOW=64240 RES=0x00 ACK SYN URGP=0 ";
  EXPECT_NE(normalize_kern_log_line(synack).find("TTL=64 ID=* DF"), std::string::npos);
  const std::string syn =
      "IN= OUT=eth0 SRC=192.0.2.1 DST=198.51.100.2 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=9 PROTO=TCP SPT=80 "
      "DPT=4000 SEQ=5 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0 ";
  EXPECT_EQ(normalize_kern_log_line(syn), syn);  // ACK= is a field, not the flag
  const std::string rst =
      "IN= OUT=eth0 SRC=192.0.2.1 DST=198.51.100.2 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=9 PROTO=TCP SPT=80 "
      "DPT=4000 WINDOW=0 RES=0x00 ACK RST URGP=0 ";
  EXPECT_NE(normalize_kern_log_line(rst).find(" ID=* "), std::string::npos);
  // The quote of an ICMP error is judged on its own fields: a quoted
  // SYN-ACK carries the listener's random ID, a quoted UDP datagram does not.
  const std::string quoting =
      "IN=eth1 OUT= SRC=203.0.113.9 DST=192.0.2.1 LEN=68 TOS=0x00 PREC=0x00 TTL=64 ID=3 PROTO=ICMP TYPE=3 CODE=1 "
      "[SRC=192.0.2.1 DST=203.0.113.9 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=77 PROTO=TCP SPT=80 DPT=4000 ACK SYN ] ";
  norm = normalize_kern_log_line(quoting);
  EXPECT_NE(norm.find("TTL=64 ID=* PROTO=ICMP TYPE=3"), std::string::npos) << norm;
  EXPECT_NE(norm.find("TTL=64 ID=* PROTO=TCP SPT=80"), std::string::npos) << norm;
  // Flags inside the quote do not make the outer packet host-generated.
  const std::string forwarded_quote =
      "IN=eth1 OUT= SRC=203.0.113.9 DST=192.0.2.1 LEN=68 TOS=0x00 PREC=0x00 TTL=64 ID=3 PROTO=ICMP TYPE=8 CODE=0 "
      "[SRC=192.0.2.1 DST=203.0.113.9 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=77 PROTO=UDP SPT=80 DPT=4000 LEN=20 ] ";
  EXPECT_EQ(normalize_kern_log_line(forwarded_quote), forwarded_quote);
}

TEST(CompareKernLogTest, ThroughCompareDirs) {
  const std::string a = "IN= OUT=eth0 SRC=192.0.2.1 DST=198.51.100.2 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=";
  const std::string reply = " PROTO=ICMP TYPE=0 CODE=0 ID=1 SEQ=1 \n";
  const std::string request = " PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=1 \n";
  EXPECT_TRUE(compare_texts("kern.log", a + "1" + reply, a + "2" + reply).agree);
  Comparison c = compare_texts("kern.log", a + "1" + request, a + "2" + request);
  EXPECT_FALSE(c.agree);
  EXPECT_EQ(c.differences.at(0).summary, "1 of 1 lines differ");
  // A missing final newline is not normalised away.
  EXPECT_FALSE(compare_texts("kern.log", "x \n", "x ").agree);
}

// ---- conntrack

TEST(CompareConntrackTest, SplitsTimeoutAndConntrackId) {
  auto l = split_conntrack_line("tcp      6 117 ESTABLISHED src=192.0.2.1 dst=198.51.100.2 sport=4000 dport=80 "
                                "src=198.51.100.2 dst=192.0.2.1 sport=80 dport=4000 [ASSURED] mark=0 use=1 id=3456");
  EXPECT_EQ(l.timeout, 117);
  EXPECT_EQ(l.key.substr(0, 28), "tcp      6 * ESTABLISHED src");
  EXPECT_NE(l.text.find("use=1 id=*"), std::string::npos);
  auto icmp = split_conntrack_line(
      "    [NEW] icmp     1 30 src=198.51.100.10 dst=203.0.113.4 type=8 code=0 id=1 [UNREPLIED] src=203.0.113.4 "
      "dst=198.51.100.10 type=0 code=0 id=1");
  EXPECT_EQ(icmp.timeout, 30);
  EXPECT_EQ(icmp.text.find("id=*"), std::string::npos);  // echo identifiers stay
  auto destroy = split_conntrack_line(" [DESTROY] udp      17 src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2");
  EXPECT_EQ(destroy.timeout, -1);
}

TEST(CompareConntrackTest, TimeoutWithinOneSecond) {
  const std::string head = "udp      17 ";
  const std::string tail = " src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2 [UNREPLIED] src=198.51.100.2 "
                           "dst=192.0.2.1 sport=2 dport=1 mark=0 use=1\n";
  EXPECT_TRUE(compare_texts("conntrack.txt", head + "29" + tail, head + "28" + tail).agree);
  EXPECT_TRUE(compare_texts("conntrack.txt", head + "29" + tail, head + "30" + tail).agree);
  Comparison c = compare_texts("conntrack.txt", head + "29" + tail, head + "27" + tail);
  EXPECT_FALSE(c.agree);
  EXPECT_EQ(c.differences.at(0).summary, "1 of 1 lines differ");
  // Only the timeout column is fuzzy.
  EXPECT_FALSE(compare_texts("conntrack.txt", head + "29" + tail, "udp      17 29 src=192.0.2.2" + tail.substr(15))
                   .agree);
  // The event stream too; conntrack ids never count.
  EXPECT_TRUE(compare_texts("conntrack-events.txt", "    [NEW] " + head + "30" + tail.substr(0, tail.size() - 1) +
                                                        " id=1\n",
                            "    [NEW] " + head + "29" + tail.substr(0, tail.size() - 1) + " id=99\n")
                  .agree);
  // Echo identifiers do.
  const std::string icmp = "icmp     1 29 src=192.0.2.1 dst=198.51.100.2 type=8 code=0 id=";
  EXPECT_FALSE(compare_texts("conntrack.txt", icmp + "1 mark=0 use=1\n", icmp + "2 mark=0 use=1\n").agree);
}

TEST(CompareConntrackTest, TableOrderIgnoresTheTimeout) {
  // Sorted as text, 100 s comes before 99 s; one second less and the kernel
  // prints the other entry first.
  const std::string a = " src=192.0.2.1 dst=198.51.100.2 sport=1 dport=2 mark=0 use=1\n";
  const std::string b = " src=192.0.2.9 dst=198.51.100.2 sport=1 dport=2 mark=0 use=1\n";
  EXPECT_TRUE(compare_texts("conntrack.txt", "udp      17 100" + a + "udp      17 99" + b,
                            "udp      17 99" + b + "udp      17 99" + a)
                  .agree);
  // conntrack-events.txt keeps its order.
  EXPECT_FALSE(compare_texts("conntrack-events.txt", " [NEW] udp      17 30" + a + " [NEW] udp      17 30" + b,
                             " [NEW] udp      17 30" + b + " [NEW] udp      17 30" + a)
                   .agree);
}

// ---- iptables-save and other files

TEST(CompareIptablesSaveTest, OnlyTheGeneratedAndCompletedComments) {
  auto save = [](const std::string& stamp, const std::string& rule) {
    return "# Generated by iptables-save v1.8.9 on " + stamp + "\n*filter\n:INPUT ACCEPT [0:0]\n" + rule +
           "COMMIT\n# Completed on " + stamp + "\n";
  };
  EXPECT_TRUE(compare_texts("iptables-save.txt", save("Thu Nov 26 10:00:00 2026", "[1:84] -A INPUT -j ACCEPT\n"),
                            save("Fri Nov 27 11:11:11 2026", "[1:84] -A INPUT -j ACCEPT\n"))
                  .agree);
  Comparison c = compare_texts("iptables-save.txt", save("x", "[1:84] -A INPUT -j ACCEPT\n"),
                               save("x", "[2:168] -A INPUT -j ACCEPT\n"));
  EXPECT_FALSE(c.agree);
  EXPECT_NE(c.diff.find("-[1:84] -A INPUT -j ACCEPT\n+[2:168] -A INPUT -j ACCEPT\n"), std::string::npos) << c.diff;
  EXPECT_FALSE(compare_texts("iptables-save.txt", "# a comment\n", "# another\n").agree);
}

TEST(CompareOtherFilesTest, ComparedAsBytes) {
  EXPECT_TRUE(compare_texts("notes.txt", "same\n", "same\n").agree);
  EXPECT_FALSE(compare_texts("notes.txt", "ID=1\n", "ID=2\n").agree);
  Comparison c = compare_texts("blob.bin", std::string("a\0b", 3), std::string("a\0c", 3));
  EXPECT_FALSE(c.agree);
  EXPECT_EQ(c.differences.at(0).summary, "binary files differ");
}

// ---- the diff itself

TEST(CompareDiffTest, UnifiedHunksWithTwoLinesOfContext) {
  std::string left, right;
  for (int i = 1; i <= 20; ++i) {
    left += fmt::format("l{}\n", i);
    right += fmt::format("l{}\n", i == 5 ? 50 : i == 15 ? 150 : i);
  }
  right += "l21\n";
  Comparison c = compare_texts("x.txt", left, right);
  ASSERT_FALSE(c.agree);
  // Byte for byte what `diff -U2` prints (checked), file headers aside.
  EXPECT_EQ(c.diff,
            "--- kernel/fw/x.txt\n+++ nfemu/fw/x.txt\n"
            "@@ -3,5 +3,5 @@\n l3\n l4\n-l5\n+l50\n l6\n l7\n"
            "@@ -13,5 +13,5 @@\n l13\n l14\n-l15\n+l150\n l16\n l17\n"
            "@@ -19,2 +19,3 @@\n l19\n l20\n+l21\n");
  EXPECT_EQ(c.differences.at(0).summary, "3 of 21 lines differ (20 vs 21)");
}

TEST(CompareDiffTest, BigInputsStayCheapAndTheOutputIsCut) {
  std::string left, right;
  for (int i = 0; i < 5000; ++i) {
    left += fmt::format("a{}\n", i);
    right += fmt::format("b{}\n", i);
  }
  Comparison c = compare_texts("x.txt", left, right);
  EXPECT_FALSE(c.agree);
  EXPECT_EQ(c.differences.at(0).summary, "5000 of 5000 lines differ");
  EXPECT_NE(c.diff.find("(diff cut after 400 lines)"), std::string::npos);
  EXPECT_LT(c.diff.size(), 10000u);
}

// ---- robustness: the normalisers read captured bytes and foreign text

TEST(CompareRobustnessTest, MangledFramesAndLinesNeverReadOutOfBounds) {
  // Run under the asan preset to make this bite; here it checks termination
  // and that normalising twice changes nothing more (idempotence).
  std::vector<std::vector<uint8_t>> seeds = handshake(77);
  seeds.push_back(with_timestamps("tcp 198.51.100.2:4000 > 192.0.2.1:80 flags SA seq 5", 1, 2));
  seeds.push_back(frame_of("icmp 192.0.2.1 > 198.51.100.2 echo-reply"));
  {
    auto offending = packet::parse_packet("tcp 192.0.2.1:80 > 198.51.100.2:4000 flags SA seq 9 ack 3");
    auto spec = packet::parse_packet_spec("icmp 203.0.113.1 > 192.0.2.1 type 3 code 4");
    auto e = packet::build_icmp_error(*spec, offending->ip());
    std::vector<uint8_t> f(packet::kEthernetHeader);
    packet::write_ethernet(f, {{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, packet::kEtherTypeIpv4});
    f.insert(f.end(), e->data().begin(), e->data().end());
    seeds.push_back(f);
  }
  uint32_t rng = 12345;
  auto next = [&rng] {
    rng = rng * 1103515245 + 12345;
    return rng >> 8;
  };
  detail::PcapNormalizer norm;
  size_t kept = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> f = seeds[next() % seeds.size()];
    for (int k = next() % 6; k > 0; --k) f[next() % f.size()] = static_cast<uint8_t>(next());
    if (next() % 3 == 0) f.resize(next() % (f.size() + 1));
    std::string line;
    if (norm.normalize(f, &line)) {
      ++kept;
      EXPECT_FALSE(line.empty());
    }
  }
  EXPECT_GT(kept, 10000u);
  // Normalised captures are a fixed point (a listener's first ISN is
  // already 1<<24 the second time).
  {
    detail::PcapNormalizer a, b;
    std::vector<std::vector<uint8_t>> once = seeds;
    for (auto& f : once) a.normalize(f);
    auto twice = once;
    for (auto& f : twice) b.normalize(f);
    EXPECT_EQ(once, twice);
    EXPECT_NE(once, seeds);
  }
  const std::vector<std::string> words = {"SRC=1.2.3.4", "TTL=64", "ID=7", "PROTO=ICMP", "PROTO=TCP", "TYPE=3",
                                          "[SRC=5.6.7.8", "]", "ACK", "SYN", "RST", "ID=", "TTL=", "[NEW]",
                                          "tcp", "6", "117", "99999999999999999999999", "id=4", "code=0",
                                          "", " ", "=", "TYPE="};
  for (int iter = 0; iter < 5000; ++iter) {
    std::string line;
    for (int k = next() % 12; k > 0; --k) line += words[next() % words.size()] + (next() % 4 ? " " : "  ");
    std::string once = normalize_kern_log_line(line);
    EXPECT_EQ(normalize_kern_log_line(once), once);
    auto ct = split_conntrack_line(line);
    EXPECT_EQ(split_conntrack_line(ct.text).text, ct.text);
  }
}

}  // namespace
}  // namespace nfemu::verify
