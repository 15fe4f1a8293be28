// nfemu replay: the merge of several captures, bad input counted or refused
// with its file and frame, and a replay through a small DNAT + DROP
// ruleset whose counters, output pcap and --diff are checked packet by
// packet. The host path itself is tested in tests/stack and tests/net.
#include "replay/replay.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "icmp/icmp.h"
#include "packet/grammar.h"
#include "pcapng_writer.h"
#include "packet/mangle.h"
#include "packet/pcap_io.h"
#include "ruleset/restore.h"

namespace nfemu::replay {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / fmt::format("nfemu-replay-test-{}-{}", getpid(), counter_++);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
  static inline int counter_ = 0;
};

constexpr packet::Mac kPeer = {0x02, 0xaa, 0, 0, 0, 1};
constexpr packet::Mac kFwWan = {0x02, 0, 0, 0, 0, 1};
constexpr packet::Mac kFwLan = {0x02, 0, 0, 0, 0, 2};

std::vector<uint8_t> eth_frame(std::string_view spec, packet::Mac src = kPeer, packet::Mac dst = kFwWan) {
  auto s = packet::parse_packet_spec(spec);
  EXPECT_TRUE(s) << spec;
  packet::Packet p = packet::build_packet(*s);
  p.set_mac_header({dst, src, packet::kEtherTypeIpv4});
  auto f = p.frame();
  return {f.begin(), f.end()};
}

std::vector<uint8_t> raw_frame(uint16_t ethertype, size_t payload) {
  std::vector<uint8_t> f(14 + payload, 0);
  packet::write_ethernet(f, {kFwWan, kPeer, ethertype});
  return f;
}

// An 802.1Q frame of VLAN `vid` (fw has no VLAN interfaces: counted).
std::vector<uint8_t> vlan_frame(uint16_t vid) {
  auto f = raw_frame(0x8100, 50);
  f[14] = static_cast<uint8_t>(vid >> 8);
  f[15] = static_cast<uint8_t>(vid);
  f[16] = 0x08;  // IPv4 inside
  return f;
}

struct Rec {
  uint64_t ts_us;
  std::vector<uint8_t> bytes;
  uint32_t orig_len = 0;  // on the wire, when the capture cut the frame
};

void write_pcap(const std::string& path, const std::vector<Rec>& recs, int linktype = packet::kLinkTypeEthernet) {
  auto w = packet::PcapWriter::open(path, linktype);
  ASSERT_TRUE(w) << w.error().message;
  for (const auto& r : recs) w->write(r.ts_us, r.bytes, r.orig_len);
  ASSERT_TRUE(w->close());
}

// (input, frame number) in merge order.
std::vector<std::pair<size_t, uint64_t>> merge_all(const std::vector<Input>& in, uint64_t window,
                                                   std::string* error = nullptr) {
  std::vector<std::pair<size_t, uint64_t>> out;
  auto m = Merger::open(in, {.window_us = window});
  EXPECT_TRUE(m) << m.error().message;
  uint64_t last = 0;
  while (true) {
    auto f = m->next();
    if (!f) {
      if (error) *error = f.error().message;
      break;
    }
    if (!*f) break;
    EXPECT_GE((*f)->ts_us, last);
    last = (*f)->ts_us;
    out.emplace_back((*f)->input, (*f)->frame_no);
  }
  return out;
}

TEST(MergeTest, TwoCapturesInterleaveByTimestampTiesInInputOrder) {
  TempDir d;
  auto f = eth_frame("udp 198.51.100.10:1 > 203.0.113.4:2");
  write_pcap(d.file("a.pcap"), {{1, f}, {3, f}, {5, f}});
  write_pcap(d.file("b.pcap"), {{2, f}, {3, f}, {4, f}, {9, f}});
  auto order = merge_all({{"eth0", d.file("a.pcap")}, {"eth1", d.file("b.pcap")}}, 0);
  std::vector<std::pair<size_t, uint64_t>> want = {{0, 1}, {1, 1}, {0, 2}, {1, 2}, {1, 3}, {0, 3}, {1, 4}};
  EXPECT_EQ(order, want);
}

TEST(MergeTest, SortsWithinTheWindowAndRefusesBeyondIt) {
  TempDir d;
  auto f = eth_frame("udp 198.51.100.10:1 > 203.0.113.4:2");
  write_pcap(d.file("a.pcap"), {{100, f}, {95, f}, {120, f}, {50, f}});
  std::string err;
  auto order = merge_all({{"eth0", d.file("a.pcap")}}, 10, &err);
  // Frame 2 is 5 us late: sorted. Frame 4 is 70 us late: refused, named.
  std::vector<std::pair<size_t, uint64_t>> want = {{0, 2}, {0, 1}};
  EXPECT_EQ(order, want);
  EXPECT_NE(err.find("a.pcap: frame 4"), std::string::npos) << err;
  EXPECT_NE(err.find("earlier than frame 3"), std::string::npos) << err;
  EXPECT_NE(err.find("reorder window"), std::string::npos) << err;

  err.clear();
  order = merge_all({{"eth0", d.file("a.pcap")}}, 0, &err);
  // Without a window the first frame is out before the second is read.
  EXPECT_EQ(order.size(), 1u);
  EXPECT_NE(err.find("a.pcap: frame 2"), std::string::npos) << err;
}

TEST(MergeTest, TruncatedCaptureEndsThatInputWithAWarning) {
  TempDir d;
  auto f = eth_frame("udp 198.51.100.10:1 > 203.0.113.4:2");
  write_pcap(d.file("a.pcap"), {{1, f}, {2, f}, {3, f}});
  write_pcap(d.file("b.pcap"), {{4, f}});
  fs::resize_file(d.file("a.pcap"), fs::file_size(d.file("a.pcap")) - 5);
  auto m = Merger::open({{"eth0", d.file("a.pcap")}, {"eth1", d.file("b.pcap")}});
  ASSERT_TRUE(m);
  int n = 0;
  while (true) {
    auto fr = m->next();
    ASSERT_TRUE(fr);
    if (!*fr) break;
    ++n;
  }
  EXPECT_EQ(n, 3);  // two of a.pcap, then b.pcap's
  ASSERT_EQ(m->warnings().size(), 1u);
  EXPECT_NE(m->warnings()[0].find("a.pcap: truncated or corrupt after frame 2"), std::string::npos)
      << m->warnings()[0];
}

// A classic pcap file written byte by byte: header fields as given, in the
// file's byte order (big-endian when `swap`).
struct RawRecord {
  uint32_t sec, usec, caplen, len;
  size_t data_bytes;  // bytes actually written (a cut record when < caplen)
};
void write_raw_pcap(const std::string& path, uint32_t magic, uint32_t snaplen, const std::vector<RawRecord>& recs,
                    bool swap, size_t cut_header = 0) {
  std::string out;
  auto u32 = [&](uint32_t v) {
    if (swap) v = __builtin_bswap32(v);
    out.append(reinterpret_cast<const char*>(&v), 4);
  };
  auto u16 = [&](uint16_t v) {
    if (swap) v = static_cast<uint16_t>(v << 8 | v >> 8);
    out.append(reinterpret_cast<const char*>(&v), 2);
  };
  u32(magic);
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(snaplen);
  u32(1);
  uint8_t fill = 0;
  for (const auto& r : recs) {
    u32(r.sec);
    u32(r.usec);
    u32(r.caplen);
    u32(r.len);
    for (size_t i = 0; i < r.data_bytes; ++i) out.push_back(static_cast<char>(fill++));
  }
  if (cut_header) out.append(cut_header, '\x01');
  std::ofstream(path, std::ios::binary) << out;
}

// The Merger reads plain records of classic files from a mapping and hands
// everything else to libpcap at that offset: whatever the file, it yields
// exactly the frames (times, lengths, bytes) and the end libpcap alone
// gives.
TEST(MergeTest, MappedReadingAgreesWithLibpcap) {
  TempDir d;
  struct Case {
    std::string name;
    uint32_t magic, snaplen;
    std::vector<RawRecord> recs;
    bool swap;
    size_t cut_header = 0;
  };
  std::vector<Case> cases = {
      {"plain", 0xa1b2c3d4, 65535, {{1, 5, 60, 60, 60}, {1, 7, 1500, 1514, 1500}, {2, 0, 14, 14, 14}}, false},
      {"swapped", 0xa1b2c3d4, 65535, {{1, 5, 60, 60, 60}, {3, 999999, 100, 200, 100}}, true},
      {"nanosecond", 0xa1b23c4d, 65535, {{1, 5000, 60, 60, 60}, {1, 999999999, 60, 60, 60}}, false},
      // caplen over the snaplen: libpcap keeps the first snaplen bytes.
      {"over-snaplen", 0xa1b2c3d4, 100, {{1, 1, 60, 60, 60}, {1, 2, 120, 120, 120}, {1, 3, 60, 60, 60}}, false},
      {"over-maximum", 0xa1b2c3d4, 65535, {{1, 1, 60, 60, 60}, {1, 2, 300000, 300000, 0}}, false},
      {"caplen-over-len", 0xa1b2c3d4, 65535, {{1, 1, 60, 40, 60}, {1, 2, 60, 60, 60}}, false},
      {"odd-times", 0xa1b2c3d4, 65535, {{5, 2000000, 60, 60, 60}, {0x80000001, 1, 60, 60, 60}}, false},
      {"cut-data", 0xa1b2c3d4, 65535, {{1, 1, 60, 60, 60}, {1, 2, 60, 60, 30}}, false},
      {"cut-header", 0xa1b2c3d4, 65535, {{1, 1, 60, 60, 60}}, false, 7},
      {"empty", 0xa1b2c3d4, 65535, {}, false},
  };
  for (const auto& c : cases) {
    std::string path = d.file(c.name + ".pcap");
    write_raw_pcap(path, c.magic, c.snaplen, c.recs, c.swap, c.cut_header);
    // libpcap alone.
    std::vector<packet::OwnedPcapFrame> want;
    std::string want_error;
    {
      auto r = packet::PcapReader::open(path);
      ASSERT_TRUE(r) << c.name;
      while (true) {
        auto f = r->next();
        if (!f) {
          want_error = f.error().message;
          break;
        }
        if (!*f) break;
        want.push_back({(*f)->ts_us, (*f)->orig_len, {(*f)->data.begin(), (*f)->data.end()}});
      }
    }
    auto m = Merger::open({{"eth0", path}}, {.window_us = 1u << 31});
    ASSERT_TRUE(m) << c.name << ": " << m.error().message;
    std::vector<packet::OwnedPcapFrame> got;
    while (true) {
      auto f = m->next();
      ASSERT_TRUE(f) << c.name << ": " << f.error().message;
      if (!*f) break;
      got.push_back({(*f)->ts_us, (*f)->orig_len, {(*f)->data.begin(), (*f)->data.end()}});
    }
    ASSERT_EQ(got.size(), want.size()) << c.name;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].ts_us, want[i].ts_us) << c.name << " frame " << i + 1;
      EXPECT_EQ(got[i].orig_len, want[i].orig_len) << c.name << " frame " << i + 1;
      EXPECT_EQ(got[i].data, want[i].data) << c.name << " frame " << i + 1;
    }
    if (want_error.empty()) {
      EXPECT_TRUE(m->warnings().empty()) << c.name;
    } else {
      ASSERT_EQ(m->warnings().size(), 1u) << c.name << ": libpcap said " << want_error;
      // Same words as libpcap's, after "FILE: truncated or corrupt after frame N: ".
      std::string pcap_words = want_error.substr(want_error.find(": ") + 2);
      EXPECT_NE(m->warnings()[0].find(fmt::format("after frame {}: {}", want.size(), pcap_words)), std::string::npos)
          << c.name << ": " << m->warnings()[0] << " vs " << want_error;
    }
    if (want_error.empty() && c.snaplen >= 65535) {
      EXPECT_EQ(m->bytes_read(), fs::file_size(path)) << c.name;
    }
  }
}

// A window holding hundreds of frames (the ring grows past its first 64
// slots and wraps) with late frames scattered through it: they are moved
// back to their place, ties keep file order.
TEST(MergeTest, LateFramesInALargeWindowAreSortedAcrossRingGrowthAndWrap) {
  TempDir d;
  auto f = eth_frame("udp 198.51.100.10:1 > 203.0.113.4:2");
  std::vector<Rec> recs;
  std::vector<std::pair<uint64_t, uint64_t>> want;  // (ts, frame number)
  for (uint64_t i = 0; i < 1000; ++i) {
    // Sparse first (the window holds ~50 frames: the ring wraps), then
    // dense (it holds them all: the ring grows while wrapped). Every 7th
    // frame is up to 300 us late; every 11th repeats the time before it
    // (a tie).
    uint64_t ts = i < 200 ? 10000 + i * 100 : 30000 + (i - 200) * 2;
    if (i % 7 == 3) ts -= i < 200 ? 10 * (i % 30) : 2 * (i % 30);
    if (i % 11 == 5) ts = recs.back().ts_us;
    recs.push_back({ts, f});
    want.emplace_back(ts, i + 1);
  }
  std::stable_sort(want.begin(), want.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  write_pcap(d.file("a.pcap"), recs);
  for (size_t batch : {size_t{1}, size_t{5}, size_t{64}}) {
    auto m = Merger::open({{"eth0", d.file("a.pcap")}}, {.window_us = 5000});
    ASSERT_TRUE(m) << m.error().message;
    std::vector<std::pair<uint64_t, uint64_t>> got;
    std::vector<MergedFrame> out(batch);
    while (size_t n = m->next(std::span<MergedFrame>(out))) {
      for (size_t i = 0; i < n; ++i) got.emplace_back(out[i].ts_us, out[i].frame_no);
    }
    EXPECT_FALSE(m->failed());
    EXPECT_EQ(got, want) << "batches of " << batch;
  }
}

// Reading in batches hands out the same frames as one at a time, and every
// frame of a batch keeps its bytes until the next call, also those libpcap
// read (a nanosecond file is not mapped: its records live in recycled
// buffers). An error comes after the frames read before it.
TEST(MergeTest, BatchesYieldTheSameFramesBytesIntactAndTheErrorLast) {
  TempDir d;
  for (bool nano : {false, true}) {
    uint32_t unit = nano ? 1000 : 1;  // of the sub-second field, per microsecond
    std::vector<RawRecord> recs;
    for (uint32_t i = 0; i < 40; ++i) recs.push_back({1, 1000 * (i + 1) * unit, 60 + i, 60 + i, 60 + i});
    recs.push_back({0, 5 * unit, 60, 60, 60});  // a second early: beyond a 100 us window
    recs.push_back({1, 999000 * unit, 60, 60, 60});
    std::string path = d.file(nano ? "ns.pcap" : "us.pcap");
    write_raw_pcap(path, nano ? 0xa1b23c4d : 0xa1b2c3d4, 65535, recs, false);
    // One at a time, the bytes copied right away.
    std::vector<std::pair<uint64_t, std::vector<uint8_t>>> want;
    std::string want_error;
    {
      auto m = Merger::open({{"eth0", path}}, {.window_us = 100});
      ASSERT_TRUE(m);
      while (true) {
        auto f = m->next();
        if (!f) {
          want_error = f.error().message;
          break;
        }
        if (!*f) break;
        want.emplace_back((*f)->frame_no, std::vector<uint8_t>((*f)->data.begin(), (*f)->data.end()));
      }
    }
    // Frame 40 still waits for the window when frame 41 is refused.
    ASSERT_EQ(want.size(), 39u);
    EXPECT_NE(want_error.find("frame 41"), std::string::npos) << want_error;
    auto m = Merger::open({{"eth0", path}}, {.window_us = 100});
    ASSERT_TRUE(m);
    std::vector<std::pair<uint64_t, std::vector<uint8_t>>> got;
    std::array<MergedFrame, 8> out;
    while (size_t n = m->next(std::span<MergedFrame>(out))) {
      // Only now, after the whole batch was read, are its bytes looked at.
      for (size_t i = 0; i < n; ++i)
        got.emplace_back(out[i].frame_no, std::vector<uint8_t>(out[i].data.begin(), out[i].data.end()));
    }
    EXPECT_EQ(got, want) << (nano ? "libpcap" : "mapped");
    ASSERT_TRUE(m->failed());
    EXPECT_EQ(m->error().message, want_error);
    // The error sticks: frame 40 is not handed out after it.
    EXPECT_EQ(m->next(std::span<MergedFrame>(out)), 0u);
    auto again = m->next();
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().message, want_error);
  }
}

TEST(MergeTest, NonEthernetLinkTypeIsRefusedByName) {
  TempDir d;
  write_pcap(d.file("wifi.pcap"), {{1, raw_frame(0x0800, 30)}}, 105);  // IEEE802_11
  auto m = Merger::open({{"eth0", d.file("wifi.pcap")}});
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("wifi.pcap: link type IEEE802_11"), std::string::npos) << m.error().message;
}

TEST(MergeTest, CorruptFileHeaderIsRefused) {
  TempDir d;
  std::ofstream(d.file("junk.pcap")) << "this is not a capture at all, not even close";
  auto m = Merger::open({{"eth0", d.file("junk.pcap")}});
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("junk.pcap"), std::string::npos);
}

// fw: wan 203.0.113.1/24 (eth side of the captures), lan 198.51.100.1/24.
// DNAT tcp/8080 to the LAN server, telnet dropped by rule 1, forwarding on.
constexpr std::string_view kScenario = R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables = [
  "-t nat -A PREROUTING -i wan -p tcp --dport 8080 -j DNAT --to-destination 198.51.100.10:80",
  "-A FORWARD -p tcp --dport 23 -j DROP",
  "-A FORWARD -p udp --dport 53 -j LOG --log-prefix 'dns: '",
]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
mac = "02:00:00:00:00:02"
)";

scenario::Scenario load(std::string_view text) {
  auto sc = scenario::load_scenario_text(text, "test.toml", ".");
  EXPECT_TRUE(sc) << sc.error().format("test.toml");
  return std::move(*sc);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Frames of the replay fixture: 1 DNATed SYN, 2 telnet (dropped), 3 IPv6,
// 4 ARP, 5 DNS (logged, forwarded), 6 a frame fw sent itself, 7 VLAN,
// 8 a runt.
std::vector<Rec> fixture() {
  return {
      {1000000, eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags S")},
      {1100000, eth_frame("tcp 203.0.113.10:40001 > 198.51.100.10:23 flags S")},
      {1200000, raw_frame(0x86dd, 40)},
      {1300000, raw_frame(0x0806, 28)},
      {1400000, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53")},
      {1500000, eth_frame("udp 203.0.113.1:5000 > 203.0.113.10:53", kFwWan)},
      {1600000, vlan_frame(7)},
      {1700000, std::vector<uint8_t>(10, 0)},
  };
}

// The fixture written to d, as the wan input of host fw.
ReplayOptions fixture_replay(TempDir& d) {
  write_pcap(d.file("wan.pcap"), fixture());
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}};
  return o;
}

TEST(ReplayTest, DnatAndDropCountersArtifactsAndOutputPcap) {
  TempDir d;
  ReplayOptions o = fixture_replay(d);
  auto sc = load(kScenario);
  o.out_dir = d.file("out");
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(diff.str(), "");
  EXPECT_EQ(r->frames, 8u);
  ASSERT_EQ(r->inputs.size(), 1u);
  const auto& in = r->inputs[0];
  EXPECT_EQ(in.ipv4, 3u);
  EXPECT_EQ(in.ipv6, 1u);
  EXPECT_EQ(in.arp, 1u);
  EXPECT_EQ(in.vlan, 1u);
  EXPECT_EQ(in.runt, 1u);
  EXPECT_EQ(in.own, 1u);
  ASSERT_EQ(r->hosts.size(), 1u);
  const HostStats& h = r->hosts[0];
  EXPECT_EQ(h.replayed, 3u);
  EXPECT_EQ(h.forwarded, 2u);
  EXPECT_EQ(h.dropped, 1u);
  EXPECT_EQ(h.dnat, 1u);
  EXPECT_EQ(h.log_lines, 1u);
  ASSERT_EQ(h.dropped_by.size(), 1u);
  EXPECT_EQ(h.dropped_by.begin()->first, "filter FORWARD rule 1: -A FORWARD -p tcp -m tcp --dport 23 -j DROP");
  EXPECT_EQ(h.dropped_by.begin()->second, 1u);
  EXPECT_EQ(h.out_frames.at("lan"), 2u);
  EXPECT_EQ(h.ct_new, 2u);  // the dropped SYN's entry is never confirmed

  // What left on lan: the SYN with its destination translated, the DNS query.
  int lt = 0;
  auto lan = packet::read_pcap_file(d.file("out/fw/lan.pcap"), &lt);
  ASSERT_TRUE(lan);
  EXPECT_EQ(lt, packet::kLinkTypeEthernet);
  ASSERT_EQ(lan->size(), 2u);
  auto text = [](const packet::OwnedPcapFrame& f) {
    auto p = packet::Packet::from_frame(f.data);
    auto t = packet::format_packet(p->ip());
    return t ? *t : std::string("?");
  };
  EXPECT_EQ(text((*lan)[0]), "tcp 203.0.113.10:40000 > 198.51.100.10:80 flags S ttl 63");
  EXPECT_EQ((*lan)[0].ts_us, 1000000u);  // the capture's clock
  EXPECT_EQ(text((*lan)[1]), "udp 203.0.113.10:5000 > 198.51.100.10:53 ttl 63");
  auto wan = packet::read_pcap_file(d.file("out/fw/wan.pcap"));
  ASSERT_TRUE(wan);
  EXPECT_EQ(wan->size(), 0u);

  std::string save = slurp(d.file("out/fw/iptables-save.txt"));
  EXPECT_NE(save.find("[1:40] -A PREROUTING -i wan -p tcp -m tcp --dport 8080 -j DNAT"), std::string::npos) << save;
  EXPECT_NE(save.find("[1:40] -A FORWARD -p tcp -m tcp --dport 23 -j DROP"), std::string::npos) << save;
  std::string klog = slurp(d.file("out/fw/kern.log"));
  EXPECT_EQ(klog.rfind("dns: IN=wan OUT=lan ", 0), 0u) << klog;
  std::string ct = slurp(d.file("out/fw/conntrack.txt"));
  EXPECT_NE(ct.find("dport=8080 [UNREPLIED] src=198.51.100.10 dst=203.0.113.10 sport=80"), std::string::npos) << ct;
  std::string events = slurp(d.file("out/fw/conntrack-events.txt"));
  EXPECT_EQ(std::count(events.begin(), events.end(), '\n'), 2);
  std::string summary = format_summary(*r);
  EXPECT_NE(summary.find("1  filter FORWARD rule 1"), std::string::npos) << summary;
  EXPECT_EQ(slurp(d.file("out/fw/summary.txt")), summary);
}

// A host's accounting objects: replay counts into them and writes
// nfacct.txt (`nfacct list`), for the candidate's host too (its own
// objects, counted by its own rules); a host without objects writes none.
TEST(ReplayTest, NfacctObjectsAreCountedAndListed) {
  TempDir d;
  std::string text(kScenario);
  const std::string iptables = "iptables = [\n";
  text.replace(text.find(iptables), iptables.size(),
               "nfacct = [\"seen\", \"dns\", \"idle\"]\n" + iptables +
                   "  \"-t raw -A PREROUTING -m nfacct --nfacct-name seen\",\n"
                   "  \"-A FORWARD -p udp --dport 53 -m nfacct --nfacct-name dns\",\n");
  auto sc = load(text);
  ReplayOptions o = fixture_replay(d);
  xt::Ruleset cand;
  auto ok = ruleset::restore("*filter\n-A FORWARD -m nfacct --nfacct-name idle\nCOMMIT\n", cand,
                             {.nfacct = &sc.hosts[0].nfacct});
  ASSERT_TRUE(ok) << ok.error().message;
  o.candidate = std::move(cand);
  o.diff = true;
  o.out_dir = d.file("out");
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  // The three IPv4 frames arrive (the one fw sent itself is not replayed);
  // the DNS query is 28 bytes. The candidate has no DNAT: the SYN to
  // 8080 is delivered locally, so the telnet SYN and the query reach its
  // FORWARD rule.
  EXPECT_EQ(slurp(d.file("out/fw/nfacct.txt")),
            "{ pkts = 00000000000000000003, bytes = 00000000000000000108 } = seen;\n"
            "{ pkts = 00000000000000000001, bytes = 00000000000000000028 } = dns;\n"
            "{ pkts = 00000000000000000000, bytes = 00000000000000000000 } = idle;\n");
  EXPECT_EQ(slurp(d.file("out/candidate/fw/nfacct.txt")),
            "{ pkts = 00000000000000000000, bytes = 00000000000000000000 } = seen;\n"
            "{ pkts = 00000000000000000000, bytes = 00000000000000000000 } = dns;\n"
            "{ pkts = 00000000000000000002, bytes = 00000000000000000068 } = idle;\n");

  auto plain = load(kScenario);
  ReplayOptions p = fixture_replay(d);
  p.out_dir = d.file("plain");
  auto q = replay(plain, p, diff);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_TRUE(fs::exists(d.file("plain/fw/iptables-save.txt")));
  EXPECT_FALSE(fs::exists(d.file("plain/fw/nfacct.txt")));
}

// Without --out the LOG lines are counted, not formatted (nobody reads
// them): the summary is the one the run with --out writes.
TEST(ReplayTest, WithoutOutLogLinesAreCountedAndTheSummaryIsTheSame) {
  TempDir d;
  ReplayOptions o = fixture_replay(d);
  auto sc = load(kScenario);
  std::ostringstream diff;
  auto bare = replay(sc, o, diff);
  ASSERT_TRUE(bare) << bare.error().message;
  o.out_dir = d.file("out");
  auto with_out = replay(sc, o, diff);
  ASSERT_TRUE(with_out) << with_out.error().message;
  ASSERT_EQ(bare->hosts.size(), 1u);
  EXPECT_EQ(bare->hosts[0].log_lines, 1u);
  EXPECT_EQ(format_summary(*bare), format_summary(*with_out));
}

// `before` DNS queries 1 ms apart from 1 s (source ports from 5000), one
// 0.5 s early (beyond ReplayOptions' 1 ms window), then six more from 2 s.
void write_out_of_order_capture(const std::string& path, uint32_t before) {
  std::vector<Rec> recs;
  for (uint32_t i = 0; i < before; ++i)
    recs.push_back({1000000 + i * 1000, eth_frame(fmt::format("udp 203.0.113.10:{} > 198.51.100.10:53", 5000 + i))});
  recs.push_back({500000, eth_frame("udp 203.0.113.10:4999 > 198.51.100.10:53")});  // 0.5 s early
  for (uint32_t i = 0; i < 6; ++i)
    recs.push_back({2000000 + i * 1000, eth_frame(fmt::format("udp 203.0.113.10:{} > 198.51.100.10:53", 6000 + i))});
  write_pcap(path, recs);
}

// Replays d's wan.pcap into d/out: the run fails at frame `bad`, after
// LOGging `logged` frames, the last from port 5000 + logged - 1. Returns
// the options, for a second run.
ReplayOptions expect_replayed_up_to_error(const scenario::Scenario& sc, TempDir& d, int bad, int logged) {
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}};
  o.out_dir = d.file("out");
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  EXPECT_FALSE(r);
  if (!r) {
    EXPECT_NE(r.error().message.find(fmt::format("frame {}", bad)), std::string::npos) << r.error().message;
  }
  std::string klog = slurp(d.file("out/fw/kern.log"));
  EXPECT_EQ(std::count(klog.begin(), klog.end(), '\n'), logged) << klog;
  EXPECT_NE(klog.find(fmt::format("SPT={} ", 5000 + logged - 1)), std::string::npos) << klog;
  return o;
}

// With conntrack the loop reads a few frames ahead of the one it processes
// (to prefetch their conntrack buckets). A capture that turns out of order
// beyond the window still has every frame before the bad one replayed, as
// without read-ahead, before the error.
TEST(ReplayTest, FramesBeforeAnOutOfOrderOneAreAllReplayedWithConntrack) {
  TempDir d;
  write_out_of_order_capture(d.file("wan.pcap"), 6);
  auto sc = load(kScenario);  // its DNAT rule: conntrack is on
  // Frames 1-5: the merger hands out frame 6 only once it knows no earlier
  // one follows within the window, and reading frame 7 fails first.
  expect_replayed_up_to_error(sc, d, 7, 5);
}

// The same without conntrack (no rule needs it) and with --diff: those
// loops read ahead too, and still replay every frame read before the
// error, and number the frames of diff lines as read, not as read ahead.
TEST(ReplayTest, FramesBeforeAnOutOfOrderOneAreAllReplayedWithoutConntrackAndInDiff) {
  TempDir d;
  write_out_of_order_capture(d.file("wan.pcap"), 12);
  auto sc = load(R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables = ["-A FORWARD -p udp --dport 53 -j LOG --log-prefix 'dns: '"]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
mac = "02:00:00:00:00:02"
)");
  // Frames 1-11: frame 12 waits for the window when reading frame 13 fails.
  ReplayOptions o = expect_replayed_up_to_error(sc, d, 13, 11);

  // --diff: the candidate drops DNS from port 5003 and 5009.
  xt::Ruleset cand;
  auto ok = ruleset::restore(
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      "-A FORWARD -p udp --sport 5003 -j DROP\n-A FORWARD -p udp --sport 5009 -j DROP\nCOMMIT\n",
      cand);
  ASSERT_TRUE(ok) << ok.error().message;
  o.candidate = std::move(cand);
  o.diff = true;
  o.out_dir = d.file("out2");
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("frame 13"), std::string::npos) << r.error().message;
  std::string want = fmt::format(
      "frame 4 ({0} #4) at 1.003000 on wan: udp 203.0.113.10:5003 > 198.51.100.10:53\n"
      "  scenario:  out lan 203.0.113.10:5003 > 198.51.100.10:53\n"
      "  candidate: DROP by filter FORWARD rule 1: -A FORWARD -p udp -m udp --sport 5003 -j DROP\n"
      "frame 10 ({0} #10) at 1.009000 on wan: udp 203.0.113.10:5009 > 198.51.100.10:53\n"
      "  scenario:  out lan 203.0.113.10:5009 > 198.51.100.10:53\n"
      "  candidate: DROP by filter FORWARD rule 2: -A FORWARD -p udp -m udp --sport 5009 -j DROP\n",
      d.file("wan.pcap"));
  EXPECT_EQ(diff.str(), want);
  std::string klog = slurp(d.file("out2/fw/kern.log"));
  EXPECT_EQ(std::count(klog.begin(), klog.end(), '\n'), 11) << klog;
}

TEST(ReplayTest, TwoInterfacesMergedAndUnknownInterfaceRefused) {
  TempDir d;
  write_pcap(d.file("wan.pcap"), {{10, eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags S")}});
  write_pcap(d.file("lan.pcap"), {{5, eth_frame("udp 198.51.100.10:53 > 203.0.113.10:5000", kPeer, kFwLan)}});
  auto sc = load(kScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}, {"lan", d.file("lan.pcap")}};
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->hosts[0].out_frames.at("wan"), 1u);
  EXPECT_EQ(r->hosts[0].out_frames.at("lan"), 1u);
  EXPECT_EQ(r->first_us, 5u);

  o.inputs = {{"eth7", d.file("wan.pcap")}};
  auto bad = replay(sc, o, diff);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "--in eth7=" + d.file("wan.pcap") + ": host fw has no interface eth7 (it has wan, lan)");
}

TEST(ReplayTest, DiffListsExactlyThePacketsWhoseFateChanges) {
  TempDir d;
  write_pcap(d.file("wan.pcap"), fixture());
  auto sc = load(kScenario);
  // The candidate forgets the DNAT and lets telnet through; DNS is unchanged.
  xt::Ruleset cand;
  auto ok = ruleset::restore(
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      "-A FORWARD -p udp --dport 53 -j LOG --log-prefix \"dns: \"\nCOMMIT\n",
      cand);
  ASSERT_TRUE(ok) << ok.error().message;
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}};
  o.candidate = std::move(cand);
  o.diff = true;
  o.out_dir = d.file("out");
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->differences, 2u);
  std::string want = fmt::format(
      "frame 1 ({0} #1) at 1.000000 on wan: tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags S\n"
      "  scenario:  out lan 203.0.113.10:40000 > 198.51.100.10:80 [DNAT]\n"
      "  candidate: delivered locally 203.0.113.10:40000 > 203.0.113.1:8080\n"
      "frame 2 ({0} #2) at 1.100000 on wan: tcp 203.0.113.10:40001 > 198.51.100.10:23 flags S\n"
      "  scenario:  DROP by filter FORWARD rule 1: -A FORWARD -p tcp -m tcp --dport 23 -j DROP\n"
      "  candidate: out lan 203.0.113.10:40001 > 198.51.100.10:23\n",
      d.file("wan.pcap"));
  EXPECT_EQ(diff.str(), want);
  ASSERT_EQ(r->hosts.size(), 2u);
  EXPECT_EQ(r->hosts[1].dropped, 0u);
  EXPECT_TRUE(fs::exists(d.file("out/candidate/fw/lan.pcap")));
  EXPECT_NE(format_summary(*r).find("packets whose fate differs: 2"), std::string::npos);
}

// A difference names its frame even when the packet grammar cannot write
// it (a UDP datagram without a checksum here, a real SYN's timestamp
// option in practice), and a real capture's long payload does not fill
// the listing: its text stops after 48 bytes.
TEST(ReplayTest, DiffNamesFramesTheGrammarCannotWriteAndCutsLongData) {
  TempDir d;
  std::string text(100, 'x');
  text.replace(0, 16, "GET / HTTP/1.1\r\n");
  auto no_checksum = eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53 payload 4");
  no_checksum[14 + 20 + 6] = no_checksum[14 + 20 + 7] = 0;  // "no checksum" (RFC 768): valid
  write_pcap(d.file("wan.pcap"), {{1000000, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53 data \"" + text + "\"")},
                                  {1000001, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53 data \"short\"")},
                                  {1000002, no_checksum}});
  auto sc = load(kScenario);
  xt::Ruleset cand;
  ASSERT_TRUE(ruleset::restore("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", cand));
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}};
  o.candidate = std::move(cand);
  o.diff = true;
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->differences, 3u);
  std::string want = fmt::format(
      "frame 1 ({0} #1) at 1.000000 on wan: udp 203.0.113.10:5000 > 198.51.100.10:53 data "
      "\"GET / HTTP/1.1\\r\\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"... (100 bytes of data)\n"
      "  scenario:  out lan 203.0.113.10:5000 > 198.51.100.10:53\n"
      "  candidate: DROP by filter FORWARD policy\n"
      "frame 2 ({0} #2) at 1.000001 on wan: udp 203.0.113.10:5000 > 198.51.100.10:53 data \"short\"\n"
      "  scenario:  out lan 203.0.113.10:5000 > 198.51.100.10:53\n"
      "  candidate: DROP by filter FORWARD policy\n"
      "frame 3 ({0} #3) at 1.000002 on wan: udp 203.0.113.10:5000 > 198.51.100.10:53, 32 bytes\n"
      "  scenario:  out lan 203.0.113.10:5000 > 198.51.100.10:53\n"
      "  candidate: DROP by filter FORWARD policy\n",
      d.file("wan.pcap"));
  EXPECT_EQ(diff.str(), want);
}

// Drops are counted by rule, per chain and table: rule 1 of raw's and of
// mangle's PREROUTING, of a user chain and of FORWARD are four rules; a
// chain's policy is one more. Output interfaces whose names share their
// head or their length are told apart.
constexpr std::string_view kChainsScenario = R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables = [
  "-t raw -A PREROUTING -p udp --dport 7 -j DROP",
  "-t mangle -A PREROUTING -p udp --dport 9 -j DROP",
  "-N BLOCK",
  "-A BLOCK -p tcp --dport 23 -j DROP",
  "-P FORWARD DROP",
  "-A FORWARD -p tcp -j BLOCK",
  "-A FORWARD -p udp --dport 53 -j DROP",
  "-A FORWARD -p udp --dport 1000:2000 -j ACCEPT",
]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
[hosts.fw.interfaces.dmz-segment-01]
addresses = ["192.0.2.1/25"]
[hosts.fw.interfaces.dmz-segment-02]
addresses = ["192.0.2.129/25"]
[hosts.fw.interfaces.site-a]
addresses = ["100.64.1.1/24"]
[hosts.fw.interfaces.site-b]
addresses = ["100.64.2.1/24"]
)";

TEST(ReplayTest, DropsAreCountedByRulePerChainAndTableAndOutputsByName) {
  TempDir d;
  std::vector<Rec> recs;
  uint64_t ts = 1000000;
  auto add = [&](std::string_view spec, int n) {
    for (int i = 0; i < n; ++i) recs.push_back({ts += 1000, eth_frame(spec)});
  };
  add("udp 203.0.113.10:5000 > 198.51.100.10:7", 2);     // raw PREROUTING rule 1
  add("udp 203.0.113.10:5000 > 198.51.100.10:9", 1);     // mangle PREROUTING rule 1
  add("tcp 203.0.113.10:40000 > 198.51.100.10:23 flags S", 3);  // BLOCK rule 1
  add("udp 203.0.113.10:5000 > 198.51.100.10:53", 4);    // FORWARD rule 2
  add("udp 203.0.113.10:5000 > 198.51.100.10:3000", 5);  // FORWARD's policy
  add("udp 203.0.113.10:5000 > 198.51.100.10:1500", 1);
  add("udp 203.0.113.10:5000 > 192.0.2.10:1500", 2);
  add("udp 203.0.113.10:5000 > 192.0.2.200:1500", 3);
  add("udp 203.0.113.10:5000 > 100.64.1.5:1500", 4);
  add("udp 203.0.113.10:5000 > 100.64.2.5:1500", 5);
  add("tcp 203.0.113.10:40001 > 198.51.100.10:23 flags S", 1);  // BLOCK rule 1 again, after the others
  write_pcap(d.file("wan.pcap"), recs);
  auto sc = load(kChainsScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}};
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  const HostStats& h = r->hosts[0];
  EXPECT_EQ(h.dropped, 16u);
  std::map<std::string, uint64_t, std::less<>> want_drops = {
      {"raw PREROUTING rule 1: -A PREROUTING -p udp -m udp --dport 7 -j DROP", 2},
      {"mangle PREROUTING rule 1: -A PREROUTING -p udp -m udp --dport 9 -j DROP", 1},
      {"filter BLOCK rule 1: -A BLOCK -p tcp -m tcp --dport 23 -j DROP", 4},
      {"filter FORWARD rule 2: -A FORWARD -p udp -m udp --dport 53 -j DROP", 4},
      {"filter FORWARD policy", 5},
  };
  EXPECT_EQ(h.dropped_by, want_drops);
  std::map<std::string, uint64_t> want_out = {{"wan", 0},    {"lan", 1},    {"dmz-segment-01", 2},
                                              {"dmz-segment-02", 3}, {"site-a", 4}, {"site-b", 5}};
  EXPECT_EQ(h.out_frames, want_out);
  EXPECT_EQ(h.forwarded, 15u);

  // --diff names the rule or policy of each drop: the candidate (a filter
  // table alone) lets telnet and port 3000 through to lan, and drops what
  // raw and mangle dropped by its policy (no difference: both drop).
  xt::Ruleset cand;
  auto ok = ruleset::restore(
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      "-A FORWARD -p udp --dport 53 -j DROP\n-A FORWARD -p udp --dport 1000:3000 -j ACCEPT\n"
      "-A FORWARD -p tcp --dport 23 -j ACCEPT\nCOMMIT\n",
      cand);
  ASSERT_TRUE(ok) << ok.error().message;
  o.candidate = std::move(cand);
  o.diff = true;
  auto rd = replay(sc, o, diff);
  ASSERT_TRUE(rd) << rd.error().message;
  EXPECT_EQ(rd->differences, 4u + 5u);
  std::string telnet = fmt::format(
      "frame 4 ({0} #4) at 1.004000 on wan: tcp 203.0.113.10:40000 > 198.51.100.10:23 flags S\n"
      "  scenario:  DROP by filter BLOCK rule 1: -A BLOCK -p tcp -m tcp --dport 23 -j DROP\n"
      "  candidate: out lan 203.0.113.10:40000 > 198.51.100.10:23\n",
      d.file("wan.pcap"));
  std::string policy = fmt::format(
      "frame 11 ({0} #11) at 1.011000 on wan: udp 203.0.113.10:5000 > 198.51.100.10:3000\n"
      "  scenario:  DROP by filter FORWARD policy\n"
      "  candidate: out lan 203.0.113.10:5000 > 198.51.100.10:3000\n",
      d.file("wan.pcap"));
  EXPECT_NE(diff.str().find(telnet), std::string::npos) << diff.str();
  EXPECT_NE(diff.str().find(policy), std::string::npos) << diff.str();
  std::map<std::string, uint64_t, std::less<>> want_cand = {
      {"filter FORWARD rule 1: -A FORWARD -p udp -m udp --dport 53 -j DROP", 4},
      {"filter FORWARD policy", 3},
  };
  EXPECT_EQ(rd->hosts[1].dropped_by, want_cand);
}

TEST(ReplayTest, RawIpCaptureIsReplayed) {
  TempDir d;
  auto f = eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53");
  std::vector<uint8_t> ip(f.begin() + 14, f.end());
  std::vector<uint8_t> v6(40, 0);
  v6[0] = 0x60;
  write_pcap(d.file("raw.pcap"), {{1, ip}, {2, v6}}, 12);  // DLT_RAW, LINKTYPE_RAW (101) in the file
  auto sc = load(kScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("raw.pcap")}};
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->inputs[0].ipv4, 1u);
  EXPECT_EQ(r->inputs[0].ipv6, 1u);
  EXPECT_EQ(r->hosts[0].forwarded, 1u);
}

// Host fw with d's wan.pcap arriving on wan.
ReplayOptions wan_replay(TempDir& d) {
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}};
  return o;
}

// The summary of a replay that must succeed (empty, and a failure, if not).
ReplaySummary summary_of(const scenario::Scenario& sc, const ReplayOptions& o) {
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  EXPECT_TRUE(r) << r.error().message;
  return r ? std::move(*r) : ReplaySummary{};
}

// A host with a TCP listener on port 22 and the wan address of the
// fixtures' frames.
constexpr std::string_view kListenerHost = R"(
[hosts.fw]
listen = ["tcp/22"]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
)";

// nfemu's ISN for a client's connection from 203.0.113.10:port to fw's 22.
uint32_t listener_isn(uint16_t port) {
  return icmp::initial_sequence(*packet::parse_ipv4_addr("203.0.113.10"), *packet::parse_ipv4_addr("203.0.113.1"),
                                port, 22);
}

// Replays d's wan.pcap into fw with --out: the summary, and the frames
// that left on wan.
std::pair<ReplaySummary, std::vector<packet::OwnedPcapFrame>> replay_with_wan_out(TempDir& d,
                                                                                  const scenario::Scenario& sc) {
  ReplayOptions o = wan_replay(d);
  o.out_dir = d.file("out");
  auto s = summary_of(sc, o);
  auto wan = packet::read_pcap_file(d.file("out/fw/wan.pcap"));
  EXPECT_TRUE(wan);
  return {std::move(s), wan ? std::move(*wan) : std::vector<packet::OwnedPcapFrame>{}};
}

// What the listener sent on wan: SYN-ACKs by client port, and the ports
// it reset, in order.
struct ListenerAnswers {
  std::map<uint16_t, int> synacks;
  std::vector<uint16_t> resets;
};
ListenerAnswers listener_answers(const std::vector<packet::OwnedPcapFrame>& wan) {
  ListenerAnswers a;
  for (const auto& f : wan) {
    auto p = packet::Packet::from_frame(f.data);
    EXPECT_TRUE(p);
    if (!p) continue;
    packet::ConstTcpView th(p->ip().payload());
    if (th.flags() == (packet::tcp_flag::kSyn | packet::tcp_flag::kAck)) ++a.synacks[th.dport()];
    if (th.has(packet::tcp_flag::kRst)) a.resets.push_back(th.dport());
  }
  return a;
}

// The host's timers follow the capture's clock: a listener's SYN-ACK is
// sent again 1, 3, 7, 15 and 31 s after the SYN (tcp_synack_retries 5),
// each at its own time, and the request sock is gone at 63 s, so the
// handshake's ACK at 70 s meets the listener, which resets it. Before,
// replay ran no host timer: no retransmission, and every request sock
// stayed for the rest of the capture.
TEST(ReplayTest, ListenersRetransmitSynAcksAndForgetRequestsOnTheCapturesClock) {
  TempDir d;
  const uint32_t isn = listener_isn(40000);
  write_pcap(d.file("wan.pcap"),
             {{1'000'000, eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:22 flags S seq 1000")},
              {71'000'000, eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:22 flags A seq 1001 ack " +
                                     std::to_string(isn + 1))}});
  auto [s, frames] = replay_with_wan_out(d, load(kListenerHost));
  const auto* wan = &frames;
  ASSERT_EQ(s.hosts.size(), 1u);
  EXPECT_EQ(s.hosts[0].generated, 7u);
  ASSERT_EQ(wan->size(), 7u);
  const uint64_t at_s[] = {1, 2, 4, 8, 16, 32};
  for (size_t i = 0; i < 6; ++i) {
    auto p = packet::Packet::from_frame((*wan)[i].data);
    ASSERT_TRUE(p);
    packet::ConstTcpView th(p->ip().payload());
    EXPECT_EQ(th.flags(), packet::tcp_flag::kSyn | packet::tcp_flag::kAck) << i;
    EXPECT_EQ(th.seq(), isn) << i;
    EXPECT_EQ((*wan)[i].ts_us, at_s[i] * 1'000'000) << i;
  }
  auto rst = packet::Packet::from_frame((*wan)[6].data);
  ASSERT_TRUE(rst);
  EXPECT_EQ(packet::ConstTcpView(rst->ip().payload()).flags(), packet::tcp_flag::kRst);
  EXPECT_EQ((*wan)[6].ts_us, 71'000'000u);
}

// A capture of a connection to the host itself: the host's SYN-ACK in
// it is the host's own output (skipped), and the client's ACK acknowledges
// that SYN-ACK's ISN, not nfemu's. nfemu resets it, as tcp_check_req would,
// and says why in the summary.
TEST(ReplayTest, HandshakeAcksOfTheCapturedHostsIsnAreCountedAndExplained) {
  TempDir d;
  write_pcap(d.file("wan.pcap"),
             {{1'000'000, eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:22 flags S seq 1000")},
              {1'010'000, eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:22 flags A seq 1001 ack 777001")},
              {1'020'000, eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:22 flags PA seq 1001 ack 777001 payload 10")}});
  auto s = summary_of(load(kListenerHost), wan_replay(d));
  ASSERT_EQ(s.hosts.size(), 1u);
  EXPECT_EQ(s.hosts[0].foreign_isn_acks, 2u);
  EXPECT_EQ(s.hosts[0].generated, 3u);  // the SYN-ACK, two resets
  std::string text = format_summary(s);
  EXPECT_NE(text.find("acknowledging another ISN than nfemu's: 2 (reset)"), std::string::npos) << text;
}

// A SYN flood at a listener (6.18, checked by hand with 140 SYNs 2 ms
// apart): 129 request socks, each SYN-ACK sent at 0, 1 and 3 s (and at 7,
// 15 and 31 s in this longer capture); the other 11 SYNs get SYN cookies,
// sent once. A cookie's ACK makes the connection
// (nothing answers it); a wrong one is reset, as is a right one once the
// listener has sent no cookie for two minutes.
TEST(ReplayTest, ListenerQueueFullSendsSynCookies) {
  TempDir d;
  std::vector<Rec> frames;
  auto isn = listener_isn;
  for (int i = 0; i < 140; ++i)
    frames.push_back({1'000'000 + static_cast<uint64_t>(i) * 2'000,
                      eth_frame(fmt::format("tcp 203.0.113.10:{} > 203.0.113.1:22 flags S seq 1000", 40000 + i))});
  // 40135 and 40136 got cookies: the right ACK, then a wrong one.
  frames.push_back({4'500'000, eth_frame(fmt::format("tcp 203.0.113.10:40135 > 203.0.113.1:22 flags A seq 1001 ack {}",
                                                     isn(40135) + 1))});
  frames.push_back({4'600'000, eth_frame(fmt::format("tcp 203.0.113.10:40136 > 203.0.113.1:22 flags A seq 1001 ack {}",
                                                     isn(40136) + 2))});
  // The right ACK for 40137, but 125 s after the last cookie.
  frames.push_back({126'500'000, eth_frame(fmt::format(
                                     "tcp 203.0.113.10:40137 > 203.0.113.1:22 flags A seq 1001 ack {}", isn(40137) + 1))});
  write_pcap(d.file("wan.pcap"), frames);
  auto [s, wan] = replay_with_wan_out(d, load(kListenerHost));
  auto [synacks, resets] = listener_answers(wan);
  ASSERT_EQ(synacks.size(), 140u);
  for (const auto& [port, n] : synacks) EXPECT_EQ(n, port <= 40128 ? 6 : 1) << port;
  EXPECT_EQ(resets, (std::vector<uint16_t>{40136, 40137}));
}

// Connections nobody accepts fill the listener's accept queue (nfemu's
// listeners, like nfemu verify's, accept none): with more than the backlog
// (128) in it, sk_acceptq_is_full drops a SYN unanswered, and the 130th
// and 131st handshakes never start; their ACKs meet the listener, which
// resets them. A SYN repeated for an open handshake is answered again.
TEST(ReplayTest, AFullAcceptQueueDropsSyns) {
  TempDir d;
  std::vector<Rec> frames;
  for (int i = 0; i < 131; ++i) {
    const auto port = static_cast<uint16_t>(40000 + i);
    const uint64_t t = 1'000'000 + static_cast<uint64_t>(i) * 2'000;
    frames.push_back({t, eth_frame(fmt::format("tcp 203.0.113.10:{} > 203.0.113.1:22 flags S seq 1000", port))});
    frames.push_back({t + 500, eth_frame(fmt::format("tcp 203.0.113.10:{} > 203.0.113.1:22 flags A seq 1001 ack {}",
                                                     port, listener_isn(port) + 1))});
  }
  write_pcap(d.file("wan.pcap"), frames);
  auto [s, wan] = replay_with_wan_out(d, load(kListenerHost));
  auto [synacks, resets] = listener_answers(wan);
  EXPECT_EQ(synacks.size(), 129u);
  EXPECT_EQ(synacks.count(40129), 0u);
  EXPECT_EQ(resets, (std::vector<uint16_t>{40129, 40130}));
  EXPECT_EQ(s.hosts[0].foreign_isn_acks, 0u);

  // With tcp_syncookies 2 every handshake is a cookie's: the first 129
  // ACKs make connections; the last two, right cookies (the listener sent
  // some a moment ago) meeting a full accept queue, are dropped
  // (cookie_v4_check finds no room for the child), not reset.
  std::string always(kListenerHost);
  always.insert(always.find("[hosts.fw.interfaces"), "sysctl = { \"net.ipv4.tcp_syncookies\" = 2 }\n");
  std::filesystem::remove_all(d.file("out"));
  auto [s2, wan2] = replay_with_wan_out(d, load(always));
  auto cookies = listener_answers(wan2);
  EXPECT_EQ(cookies.synacks.size(), 129u);
  EXPECT_TRUE(cookies.resets.empty());
}

// A datagram whose last fragment never comes: its queue expires 30 s
// after the first fragment (ipfrag_time), and as the first fragment came,
// the host answers with Time Exceeded (fragment reassembly), at that time.
TEST(ReplayTest, FragmentQueuesExpireOnTheCapturesClock) {
  TempDir d;
  write_pcap(d.file("wan.pcap"),
             {{1'000'000, eth_frame("udp 203.0.113.10:5000 > 203.0.113.1:9 payload 2000 ipid 9 frag 0+1480 mf")},
              {40'000'000, eth_frame("udp 203.0.113.10:5001 > 203.0.113.1:9")}});
  auto sc = load(R"(
[hosts.fw]
listen = ["udp/9"]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
)");
  auto [s, frames] = replay_with_wan_out(d, sc);
  const auto* wan = &frames;
  ASSERT_EQ(s.hosts.size(), 1u);
  EXPECT_EQ(s.hosts[0].generated, 1u);
  ASSERT_EQ(wan->size(), 1u);
  auto p = packet::Packet::from_frame((*wan)[0].data);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->ip().protocol(), packet::kIpProtoIcmp);
  EXPECT_EQ(p->ip().payload()[0], 11);  // Time Exceeded
  EXPECT_EQ(p->ip().payload()[1], 1);   // fragment reassembly time exceeded
  EXPECT_EQ((*wan)[0].ts_us, 31'000'000u);
}

// SCTP associations are tracked with their states, and named so in the
// summary (once "unknown", the generic tracker's name).
TEST(ReplayTest, SctpAssociationsAreCountedByState) {
  TempDir d;
  write_pcap(d.file("wan.pcap"),
             {{1000000, eth_frame("sctp 203.0.113.10:5000 > 198.51.100.10:38412 chunks INIT init-tag 7")},
              {1100000, eth_frame("sctp 203.0.113.10:5001 > 198.51.100.10:38412 vtag 9 payload 4")}});
  auto s = summary_of(load(kScenario), wan_replay(d));
  ASSERT_EQ(s.hosts.size(), 1u);
  EXPECT_EQ(s.hosts[0].connections, (std::map<std::string, uint64_t>{{"sctp CLOSED [UNREPLIED]", 1}}));
  EXPECT_EQ(s.hosts[0].ct_invalid,  // DATA opens nothing
            (std::map<std::string, uint64_t>{{"no chunk that opens an association", 1}}));
}

// The time match reads the wall clock: a replay's is the capture's (its
// first timestamp is the virtual clock's 0), so business hours are those
// of the traffic, not of the machine replaying it.
TEST(ReplayTest, TimeMatchSeesTheCapturesClock) {
  TempDir d;
  // Saturday 2026-11-28 15:11:00 UTC, then 17:11:00.
  const uint64_t t0 = uint64_t{1'795'878'660} * 1'000'000;
  write_pcap(d.file("wan.pcap"), {{t0, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:9")},
                                  {t0 + 7'200'000'000, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:9")}});
  auto sc = load(R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables = ["-A FORWARD -m time --timestart 09:00 --timestop 17:00 --weekdays Sat --datestart 2026-01-01 -j DROP"]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
)");
  auto s = summary_of(sc, wan_replay(d));
  ASSERT_EQ(s.hosts.size(), 1u);
  EXPECT_EQ(s.hosts[0].dropped, 1u);  // 15:11 inside, 17:11 outside
  EXPECT_EQ(s.hosts[0].forwarded, 1u);
}

// A capture taken on the sending host (checksum offload): its TCP and UDP
// checksums do not verify, so conntrack finds each packet INVALID
// (nf_conntrack_checksum=1) and nothing is NATed. The summary says so and
// why; --fix-checksums recomputes them as the NIC would have.
TEST(ReplayTest, BadChecksumsAreCountedAsInvalidAndFixChecksumsRepairsThem) {
  TempDir d;
  auto corrupt = [](std::vector<uint8_t> f, size_t l4_check_at) {
    f[14 + 20 + l4_check_at] ^= 0x5a;
    return f;
  };
  write_pcap(d.file("wan.pcap"), {
                                     {1, corrupt(eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags S"), 16)},
                                     {2, corrupt(eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53"), 6)},
                                     {3, eth_frame("tcp 203.0.113.11:40000 > 203.0.113.1:8080 flags S")},
                                 });
  auto sc = load(kScenario);
  auto run = [&](bool fix) {
    ReplayOptions o = wan_replay(d);
    o.fix_checksums = fix;
    o.out_dir = d.file(fix ? "fixed" : "asis");
    return summary_of(sc, o);
  };

  ReplaySummary asis = run(false);
  ASSERT_EQ(asis.hosts.size(), 1u);
  const HostStats& a = asis.hosts[0];
  EXPECT_EQ(asis.inputs[0].fixed, 0u);
  EXPECT_EQ(a.ct_invalid, (std::map<std::string, uint64_t>{{"bad checksum", 2}}));
  EXPECT_EQ(a.ct_new, 1u);
  EXPECT_EQ(a.dnat, 1u);
  std::string text = format_summary(asis);
  EXPECT_NE(text.find("  INVALID:              2   packets of ctstate INVALID, by reason:\n"
                      "             2  bad checksum\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("--fix-checksums recomputes them"), std::string::npos) << text;
  EXPECT_EQ(text.find("checksums recomputed"), std::string::npos) << text;

  ReplaySummary fixed = run(true);
  const HostStats& f = fixed.hosts[0];
  EXPECT_EQ(fixed.inputs[0].fixed, 2u);
  EXPECT_TRUE(f.ct_invalid.empty());
  EXPECT_EQ(f.ct_new, 3u);
  EXPECT_EQ(f.dnat, 2u);
  EXPECT_EQ(f.forwarded, 3u);
  text = format_summary(fixed);
  EXPECT_NE(text.find("  checksums recomputed (--fix-checksums): 2 frames\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("INVALID"), std::string::npos) << text;
  // What left carries the checksums the NIC would have written.
  auto lan = packet::read_pcap_file(d.file("fixed/fw/lan.pcap"));
  ASSERT_TRUE(lan);
  ASSERT_EQ(lan->size(), 3u);
  for (const auto& fr : *lan) {
    auto p = packet::Packet::from_frame(fr.data);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->ip().checksum_ok());
    EXPECT_EQ(packet::check_l4_checksum(p->ip()), packet::L4Checksum::Ok);
  }
}

// Only one direction of a connection: its ACKs after the SYN are INVALID
// (the answer was never seen) and the summary says where the rest is.
// With the other side's capture on lan, the same frames are ESTABLISHED.
TEST(ReplayTest, OneSidedCaptureIsExplainedAndTheOtherSideFixesIt) {
  TempDir d;
  write_pcap(d.file("wan.pcap"), {{1000, eth_frame("tcp 203.0.113.10:40000 > 198.51.100.10:22 flags S seq 1000")},
                                  {3000, eth_frame("tcp 203.0.113.10:40000 > 198.51.100.10:22 flags A seq 1001 ack 5001")}});
  constexpr packet::Mac kLanPeer = {0x02, 0xbb, 0, 0, 0, 1};
  write_pcap(d.file("lan.pcap"),
             {{2000, eth_frame("tcp 198.51.100.10:22 > 203.0.113.10:40000 flags SA seq 5000 ack 1001", kLanPeer, kFwLan)}});
  auto sc = load(kScenario);
  auto run = [&](bool both) {
    ReplayOptions o = wan_replay(d);
    if (both) o.inputs.push_back({"lan", d.file("lan.pcap")});
    return summary_of(sc, o);
  };
  ReplaySummary one = run(false);
  ASSERT_EQ(one.hosts.size(), 1u);
  EXPECT_EQ(one.hosts[0].ct_invalid,
            (std::map<std::string, uint64_t>{{"packet (index 3) in dir 0 invalid, state SYN_SENT", 1}}));
  std::string text = format_summary(one);
  EXPECT_NE(text.find("give its capture too: --in IFNAME=FILE.pcap"), std::string::npos) << text;
  ReplaySummary both = run(true);
  EXPECT_TRUE(both.hosts[0].ct_invalid.empty());
  EXPECT_EQ(both.hosts[0].connections.count("tcp ESTABLISHED [ASSURED]"), 1u) << format_summary(both);
  EXPECT_EQ(format_summary(both).find("INVALID"), std::string::npos);
}

// A frame whose payload is not zeros (0xa5...), checksums computed: zeros
// in its place would not verify.
std::vector<uint8_t> filled_frame(std::string_view spec, packet::Mac src = kPeer, packet::Mac dst = kFwWan) {
  auto s = packet::parse_packet_spec(spec);
  EXPECT_TRUE(s) << spec;
  packet::Packet p = packet::build_packet(*s);
  auto l4 = p.ip().payload();
  const size_t header = p.ip().protocol() == packet::kIpProtoTcp ? packet::kTcpMinHeader : packet::kUdpHeader;
  std::fill(l4.begin() + static_cast<std::ptrdiff_t>(header), l4.end(), uint8_t{0xa5});
  packet::fill_checksums(p.ip());
  p.set_mac_header({dst, src, packet::kEtherTypeIpv4});
  auto f = p.frame();
  return {f.begin(), f.end()};
}

// tcpdump -s 96 keeps a frame's first 96 bytes: headers, not payload. With
// --fixlen pad, a datagram whose headers are whole is replayed at its
// length, its missing bytes zeros and its transport checksum taken as
// verified: counters (bytes too), conntrack and what leaves are those of a
// full capture of the same traffic, but for the bytes not captured, which
// the output pcaps leave out as the input did. Without it (the default,
// tcprewrite's --fixlen=del), such datagrams are counted and the summary
// says how many --fixlen pad would replay.
TEST(ReplayTest, CutDatagramsArePaddedWithFixlenPad) {
  TempDir d;
  constexpr packet::Mac kLanPeer = {0x02, 0xbb, 0, 0, 0, 1};
  constexpr size_t kSnaplen = 96;
  const std::vector<Rec> wan = {
      {1000, eth_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags S seq 1000")},
      // DNATed data: the conntrack entry must see it ESTABLISHED, not INVALID (checksum).
      {3000, filled_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags PA seq 1001 ack 5001 payload 1000")},
      {4000, filled_frame("udp 203.0.113.10:5000 > 198.51.100.10:53 payload 500")},  // LOG: LEN=528
      {5000, filled_frame("udp 203.0.113.10:5001 > 203.0.113.1:9 payload 300")},     // fw's closed port: an error
      {6000, filled_frame("tcp 203.0.113.10:40001 > 198.51.100.10:23 flags PA seq 1 ack 1 payload 200")},  // DROP
  };
  const std::vector<Rec> lan = {
      {2000, eth_frame("tcp 198.51.100.10:80 > 203.0.113.10:40000 flags SA seq 5000 ack 1001", kLanPeer, kFwLan)},
  };
  auto cut = [&](std::vector<Rec> recs, size_t snaplen) {
    for (auto& r : recs) {
      r.orig_len = static_cast<uint32_t>(r.bytes.size());
      r.bytes.resize(std::min(r.bytes.size(), snaplen));
    }
    return recs;
  };
  write_pcap(d.file("full-wan.pcap"), wan);
  write_pcap(d.file("full-lan.pcap"), lan);
  auto cut_wan = cut(wan, kSnaplen);
  // A datagram cut inside its TCP header: never replayed.
  cut_wan.push_back(cut({{7000, filled_frame("tcp 203.0.113.10:40002 > 198.51.100.10:80 flags PA payload 100")}},
                        14 + 20 + 10)[0]);
  write_pcap(d.file("cut-wan.pcap"), cut_wan);
  write_pcap(d.file("cut-lan.pcap"), cut(lan, kSnaplen));
  auto sc = load(kScenario);
  auto run = [&](std::string_view capture, ReplayOptions::FixLen fixlen, bool fix_checksums = false) {
    ReplayOptions o;
    o.host = "fw";
    o.inputs = {{"wan", d.file(fmt::format("{}-wan.pcap", capture))}, {"lan", d.file(fmt::format("{}-lan.pcap", capture))}};
    o.fixlen = fixlen;
    o.fix_checksums = fix_checksums;
    o.out_dir = d.file(fmt::format("{}-{}{}", capture, fixlen == ReplayOptions::FixLen::Pad ? "pad" : "del",
                                   fix_checksums ? "-fix" : ""));
    return summary_of(sc, o);
  };

  ReplaySummary full = run("full", ReplayOptions::FixLen::Drop);
  ReplaySummary pad = run("cut", ReplayOptions::FixLen::Pad);
  ASSERT_EQ(pad.hosts.size(), 1u);
  EXPECT_EQ(pad.inputs[0].padded, 4u);
  EXPECT_EQ(pad.inputs[0].cut, 1u);
  EXPECT_EQ(pad.inputs[0].cut_in_headers, 1u);
  EXPECT_EQ(pad.inputs[0].ipv4, 5u);
  EXPECT_TRUE(pad.hosts[0].ct_invalid.empty()) << format_summary(pad);
  EXPECT_EQ(pad.hosts[0].connections, full.hosts[0].connections);
  EXPECT_EQ(pad.hosts[0].connections.count("tcp ESTABLISHED [ASSURED]"), 1u) << format_summary(pad);
  EXPECT_EQ(pad.hosts[0].forwarded, 4u);
  EXPECT_EQ(pad.hosts[0].generated, 1u);  // the port unreachable: its checksum check passed
  EXPECT_EQ(pad.hosts[0].dropped_by, full.hosts[0].dropped_by);
  // Counters in packets and bytes, the connections and the LOG line are
  // the full capture's.
  for (std::string_view f : {"iptables-save.txt", "conntrack.txt", "kern.log"})
    EXPECT_EQ(slurp(d.file(fmt::format("cut-pad/fw/{}", f))), slurp(d.file(fmt::format("full-del/fw/{}", f)))) << f;
  EXPECT_NE(slurp(d.file("cut-pad/fw/iptables-save.txt")).find("[1:528] -A FORWARD -p udp"), std::string::npos);
  // What left: the full replay's frames, as far as the capture had them.
  auto lan_full = packet::read_pcap_file(d.file("full-del/fw/lan.pcap"));
  auto lan_pad = packet::read_pcap_file(d.file("cut-pad/fw/lan.pcap"));
  ASSERT_TRUE(lan_full && lan_pad);
  ASSERT_EQ(lan_pad->size(), 3u);
  ASSERT_EQ(lan_full->size(), 3u);
  for (size_t i = 0; i < lan_pad->size(); ++i) {
    const auto& f = (*lan_full)[i];
    const auto& p = (*lan_pad)[i];
    EXPECT_EQ(p.orig_len, f.orig_len) << i;
    EXPECT_EQ(p.data.size(), std::min<size_t>(f.data.size(), kSnaplen)) << i;
    EXPECT_TRUE(std::equal(p.data.begin(), p.data.end(), f.data.begin())) << i;
  }
  std::string text = format_summary(pad);
  EXPECT_NE(text.find("  cut by the snaplen (--fixlen pad): 4 datagrams replayed at their length, the bytes not "
                      "captured as zeros; 1 cut inside their headers, not replayed\n"),
            std::string::npos)
      << text;

  // --fix-checksums leaves a padded datagram's transport checksum alone:
  // recomputed over the zeros, it would not be the one that left.
  ReplaySummary fixed = run("cut", ReplayOptions::FixLen::Pad, true);
  EXPECT_EQ(fixed.inputs[0].fixed, 0u);
  EXPECT_EQ(slurp(d.file("cut-pad-fix/fw/lan.pcap")), slurp(d.file("cut-pad/fw/lan.pcap")));

  ReplaySummary del = run("cut", ReplayOptions::FixLen::Drop);
  EXPECT_EQ(del.inputs[0].ipv4, 1u);
  EXPECT_EQ(del.inputs[0].cut, 5u);
  EXPECT_EQ(del.inputs[0].padded, 0u);
  text = format_summary(del);
  EXPECT_NE(text.find("  cut by the snaplen: 5 datagrams not replayed (short); --fixlen pad replays the 4 whose "
                      "headers are whole, the bytes not captured as zeros\n"),
            std::string::npos)
      << text;
}

// What --fixlen pad needs whole: an ICMP error's quoted headers too (cut
// inside them: not replayed; cut after them: padded). A datagram longer
// than its frame was on the wire is padded to the frame only, and the host
// drops it as ip_rcv does a truncated one.
TEST(ReplayTest, PaddingNeedsTheQuotedHeadersAndStopsAtTheWire) {
  TempDir d;
  // Port unreachable from a wan host about a UDP datagram fw forwarded,
  // quoting 8 bytes of its payload and more.
  auto quoted = packet::build_packet(*packet::parse_packet_spec("udp 198.51.100.10:5000 > 203.0.113.10:53 payload 200"));
  auto outer = packet::build_packet(*packet::parse_packet_spec("icmp 203.0.113.10 > 198.51.100.10 type 3 code 3 payload 228"));
  auto body = outer.ip().payload();
  std::copy(quoted.data().begin(), quoted.data().end(), body.begin() + 8);
  packet::fill_checksums(outer.ip());
  outer.set_mac_header({kFwWan, kPeer, packet::kEtherTypeIpv4});
  const auto error = std::vector<uint8_t>(outer.frame().begin(), outer.frame().end());
  auto cut_at = [](std::vector<uint8_t> f, size_t n, uint32_t wire = 0) {
    Rec r{0, f, static_cast<uint32_t>(wire ? wire : f.size())};
    r.bytes.resize(n);
    return r;
  };
  std::vector<Rec> recs = {
      cut_at(error, 14 + 20 + 8 + 20 + 4),       // inside the quoted UDP header
      cut_at(error, 14 + 20 + 8 + 20 + 8 + 10),  // after it
      // 528 bytes by its header, 314 on the wire (frame 328 bytes long).
      cut_at(filled_frame("udp 203.0.113.10:5000 > 198.51.100.10:53 payload 500"), 96, 14 + 314),
  };
  for (size_t i = 0; i < recs.size(); ++i) recs[i].ts_us = 1000 * (i + 1);
  write_pcap(d.file("wan.pcap"), recs);
  ReplayOptions o = wan_replay(d);
  o.fixlen = ReplayOptions::FixLen::Pad;
  ReplaySummary sum = summary_of(load(kScenario), o);
  ASSERT_EQ(sum.hosts.size(), 1u);
  EXPECT_EQ(sum.inputs[0].cut_in_headers, 1u);
  EXPECT_EQ(sum.inputs[0].padded, 2u);
  EXPECT_EQ(sum.inputs[0].ipv4, 2u);
  // The ICMP error went on (no connection of its own: fw has none it is
  // about); the short datagram died at the door, before any hook.
  EXPECT_EQ(sum.hosts[0].dropped, 1u) << format_summary(sum);
  EXPECT_EQ(sum.hosts[0].ct_new, 0u) << format_summary(sum);
}

// A frame as a sender with checksum offload hands it to its NIC, and as
// tcpdump shows a TSO send or a GRO aggregate: the TCP or UDP checksum
// field holds the pseudo header's sum (CHECKSUM_PARTIAL).
std::vector<uint8_t> partial_frame(std::string_view spec, packet::Mac src = kPeer, packet::Mac dst = kFwWan) {
  auto f = filled_frame(spec, src, dst);
  auto ip = packet::Ipv4View(std::span<uint8_t>(f).subspan(14));
  uint32_t s = ip.saddr(), d = ip.daddr();
  uint32_t sum = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + ip.protocol() +
                 static_cast<uint32_t>(ip.payload().size());
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  packet::store16(ip.payload().data() + (ip.protocol() == packet::kIpProtoTcp ? 16 : 6), static_cast<uint16_t>(sum));
  EXPECT_TRUE(packet::l4_checksum_partial(ip)) << spec;
  return f;
}

// A partial checksum that happens to verify as a full one too (one in
// 65536: kernel-any.sh met one in CI) is partial on an interface whose
// other datagrams showed partial sums: NAT updates it as a sum, as the
// kernel does with the skb it knows is CHECKSUM_PARTIAL. Conntrack alone
// (nf_conntrack_checksum 0 here, as in kernel-any.sh's phase 1z) cannot
// tell.
TEST(ReplayTest, APartialSumThatAlsoVerifiesIsPartialWhereSendersLeaveSumsToTheNic) {
  TempDir d;
  constexpr packet::Mac kLanPeer = {0x02, 0xbb, 0, 0, 0, 1};
  // The data segment: its field the pseudo header's sum, and its first
  // payload word chosen so that the whole datagram verifies with it.
  auto both = filled_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags PA seq 1001 ack 5001 payload 200");
  {
    auto ip = packet::Ipv4View(std::span<uint8_t>(both).subspan(14));
    auto l4 = ip.payload();
    uint32_t p = packet::pseudo_header_sum(ip.saddr(), ip.daddr(), packet::kIpProtoTcp,
                                           static_cast<uint32_t>(l4.size()));
    while (p >> 16) p = (p & 0xffff) + (p >> 16);
    uint32_t c = *packet::compute_l4_checksum(ip);  // ~(sum without the field)
    uint32_t w = packet::load16(l4.data() + 20) + (~p & 0xffff) + c;
    while (w >> 16) w = (w & 0xffff) + (w >> 16);
    packet::store16(l4.data() + 20, static_cast<uint16_t>(w));
    packet::store16(l4.data() + 16, static_cast<uint16_t>(p));
    ASSERT_EQ(packet::check_l4_checksum(ip), packet::L4Checksum::Ok);
    ASSERT_TRUE(packet::holds_pseudo_header_sum(ip));
  }
  write_pcap(d.file("wan.pcap"),
             {{1000, partial_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags S seq 1000")}, {3000, both}});
  write_pcap(d.file("lan.pcap"),
             {{2000, eth_frame("tcp 198.51.100.10:80 > 203.0.113.10:40000 flags SA seq 5000 ack 1001", kLanPeer, kFwLan)}});
  std::string unverified(kScenario);
  const std::string forwarding = R"("net.ipv4.ip_forward" = 1)";
  unverified.replace(unverified.find(forwarding), forwarding.size(),
                     forwarding + R"(, "net.netfilter.nf_conntrack_checksum" = 0)");
  ReplayOptions o = wan_replay(d);
  o.inputs.push_back({"lan", d.file("lan.pcap")});
  o.out_dir = d.file("out");
  auto sc = load(unverified);
  ReplaySummary s = summary_of(sc, o);
  ASSERT_EQ(s.hosts.size(), 1u);
  EXPECT_EQ(s.hosts[0].partial, 2u);
  auto lan = packet::read_pcap_file(d.file("out/fw/lan.pcap"));
  ASSERT_TRUE(lan);
  ASSERT_EQ(lan->size(), 2u);
  auto p = packet::Packet::from_frame((*lan)[1].data);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ip().daddr(), 0xc633640au);  // DNATed
  EXPECT_TRUE(packet::holds_pseudo_header_sum(p->ip()));  // the translated header's sum
  // --diff works on copies of each frame: what the first run learnt of
  // the interface reaches the interface's next frames all the same, in
  // both runs.
  o.out_dir.clear();
  o.candidate = sc.hosts[0].ruleset;
  o.diff = true;
  ReplaySummary runs = summary_of(sc, o);
  ASSERT_EQ(runs.hosts.size(), 2u);
  EXPECT_EQ(runs.hosts[0].partial, 2u);
  EXPECT_EQ(runs.hosts[1].partial, 2u);
  EXPECT_EQ(runs.differences, 0u);
}

// Partial checksums are taken as good (conntrack: ESTABLISHED, not
// INVALID "bad checksum"), and NAT updates them as sums: what leaves
// carries the partial checksum of its translated header, as the kernel's
// capture of it shows. --fix-checksums fills them instead, as the NIC did
// on the wire.
TEST(ReplayTest, PartialChecksumsAreGoodAndNatUpdatesThemAsSums) {
  TempDir d;
  constexpr packet::Mac kLanPeer = {0x02, 0xbb, 0, 0, 0, 1};
  write_pcap(d.file("wan.pcap"),
             {{1000, partial_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags S seq 1000")},
              {3000, partial_frame("tcp 203.0.113.10:40000 > 203.0.113.1:8080 flags PA seq 1001 ack 5001 payload 3000")}});
  write_pcap(d.file("lan.pcap"),
             {{2000, eth_frame("tcp 198.51.100.10:80 > 203.0.113.10:40000 flags SA seq 5000 ack 1001", kLanPeer, kFwLan)}});
  auto sc = load(kScenario);
  auto run = [&](bool fix) {
    ReplayOptions o = wan_replay(d);
    o.inputs.push_back({"lan", d.file("lan.pcap")});
    o.fix_checksums = fix;
    o.out_dir = d.file(fix ? "fixed" : "asis");
    return summary_of(sc, o);
  };
  ReplaySummary asis = run(false);
  ASSERT_EQ(asis.hosts.size(), 1u);
  EXPECT_EQ(asis.hosts[0].partial, 2u);  // the SYN-ACK's is whole
  EXPECT_TRUE(asis.hosts[0].ct_invalid.empty()) << format_summary(asis);
  EXPECT_EQ(asis.hosts[0].connections.count("tcp ESTABLISHED [ASSURED]"), 1u) << format_summary(asis);
  // The 3040-byte segment came in on a 1500-byte link: an aggregate, forwarded whole.
  EXPECT_EQ(asis.hosts[0].forwarded, 3u);
  EXPECT_NE(format_summary(asis).find("  partial sums:         2   packets whose TCP/UDP checksum field held the pseudo "
                                      "header's sum"),
            std::string::npos)
      << format_summary(asis);
  auto lan = packet::read_pcap_file(d.file("asis/fw/lan.pcap"));
  ASSERT_TRUE(lan);
  ASSERT_EQ(lan->size(), 2u);
  for (const auto& fr : *lan) {
    auto p = packet::Packet::from_frame(fr.data);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->ip().daddr(), 0xc633640au);  // 198.51.100.10: DNATed
    EXPECT_TRUE(p->ip().checksum_ok());
    EXPECT_TRUE(packet::l4_checksum_partial(p->ip()));
  }
  ReplaySummary fixed = run(true);
  EXPECT_EQ(fixed.inputs[0].fixed, 2u);
  EXPECT_EQ(fixed.hosts[0].partial, 0u);
  EXPECT_TRUE(fixed.hosts[0].ct_invalid.empty());
  lan = packet::read_pcap_file(d.file("fixed/fw/lan.pcap"));
  ASSERT_TRUE(lan);
  ASSERT_EQ(lan->size(), 2u);
  for (const auto& fr : *lan) {
    auto p = packet::Packet::from_frame(fr.data);
    ASSERT_TRUE(p);
    EXPECT_EQ(packet::check_l4_checksum(p->ip()), packet::L4Checksum::Ok);
  }
  // With nf_conntrack_checksum = 0 conntrack verifies nothing, but the
  // checksums are still partial ones (the skb's CHECKSUM_PARTIAL): NAT
  // updates them as sums all the same (kernel-any.sh, phase 1z).
  std::string unverified(kScenario);
  const std::string forwarding = R"("net.ipv4.ip_forward" = 1)";
  unverified.replace(unverified.find(forwarding), forwarding.size(),
                     forwarding + R"(, "net.netfilter.nf_conntrack_checksum" = 0)");
  auto sc0 = load(unverified);
  ReplayOptions o = wan_replay(d);
  o.inputs.push_back({"lan", d.file("lan.pcap")});
  o.out_dir = d.file("unverified");
  ReplaySummary none = summary_of(sc0, o);
  ASSERT_EQ(none.hosts.size(), 1u);
  EXPECT_EQ(none.hosts[0].partial, 2u);
  EXPECT_EQ(none.hosts[0].connections.count("tcp ESTABLISHED [ASSURED]"), 1u) << format_summary(none);
  EXPECT_TRUE(slurp(d.file("unverified/fw/lan.pcap")) == slurp(d.file("asis/fw/lan.pcap")))
      << "the DNATed datagrams' checksums differ from the verified run's";
}

// With --fixlen pad, a padded datagram's checksum cannot be verified: a
// field holding the pseudo header's sum is a partial checksum only on an
// interface where whole datagrams showed partial ones. A full checksum that
// happens to equal that sum (here: an all-zero payload and a source port
// picked for it, as kernel-any.sh's phase 2 met by chance) stays a full
// one, which NAT updates as such; after a sender's whole partial datagram,
// its padded ones are partial. Either way what leaves is, as far as the
// capture has it, what the full capture's replay sends (where conntrack
// verifies every checksum).
TEST(ReplayTest, PaddedChecksumsArePartialOnlyWhereWholeDatagramsShowedPartialSums) {
  TempDir d;
  auto sc = load(R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables = ["-t nat -A POSTROUTING -o lan -j MASQUERADE"]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
mac = "02:00:00:00:00:02"
)");
  std::vector<uint8_t> coincident;
  for (int sport = 1024; sport < 65536 && coincident.empty(); ++sport) {
    auto f = eth_frame(fmt::format("udp 203.0.113.10:{} > 198.51.100.10:9 payload 500", sport));
    if (packet::holds_pseudo_header_sum(packet::Ipv4View(std::span<uint8_t>(f).subspan(14)))) coincident = f;
  }
  ASSERT_FALSE(coincident.empty());
  ASSERT_EQ(packet::check_l4_checksum(packet::Ipv4View(std::span<uint8_t>(coincident).subspan(14))),
            packet::L4Checksum::Ok);
  auto replay_both = [&](std::string_view name, const std::vector<Rec>& recs) {
    constexpr size_t kSnaplen = 96;
    std::vector<Rec> cut = recs;
    for (auto& r : cut) {
      r.orig_len = static_cast<uint32_t>(r.bytes.size());
      r.bytes.resize(std::min(r.bytes.size(), kSnaplen));
    }
    write_pcap(d.file(fmt::format("{}-full.pcap", name)), recs);
    write_pcap(d.file(fmt::format("{}-cut.pcap", name)), cut);
    for (std::string_view which : {"full", "cut"}) {
      ReplayOptions o;
      o.host = "fw";
      o.inputs = {{"wan", d.file(fmt::format("{}-{}.pcap", name, which))}};
      o.fixlen = ReplayOptions::FixLen::Pad;
      o.out_dir = d.file(fmt::format("{}-{}", name, which));
      summary_of(sc, o);
    }
    auto full = packet::read_pcap_file(d.file(fmt::format("{}-full/fw/lan.pcap", name)));
    auto padded = packet::read_pcap_file(d.file(fmt::format("{}-cut/fw/lan.pcap", name)));
    ASSERT_TRUE(full && padded);
    ASSERT_EQ(full->size(), recs.size()) << name;
    ASSERT_EQ(padded->size(), recs.size()) << name;
    for (size_t i = 0; i < recs.size(); ++i) {
      const auto& p = (*padded)[i].data;
      EXPECT_TRUE(std::equal(p.begin(), p.end(), (*full)[i].data.begin())) << name << " frame " << i;
    }
  };
  replay_both("coincident", {{1000, coincident}});
  replay_both("partial", {{1000, partial_frame("udp 203.0.113.10:6000 > 198.51.100.10:9 payload 8")},
                          {2000, partial_frame("udp 203.0.113.10:6001 > 198.51.100.10:9 payload 500")}});
}

// Without conntrack (no rule needs it) nothing marks a partial checksum:
// the local stack and REJECT take the field for good by themselves
// (skb_csum_unnecessary: CHECKSUM_PARTIAL), and answer with a RST.
TEST(ReplayTest, PartialChecksumsAreGoodToTheLocalStackAndRejectWithoutConntrack) {
  TempDir d;
  write_pcap(d.file("wan.pcap"),
             {{1000, partial_frame("tcp 203.0.113.10:40000 > 203.0.113.1:22 flags S seq 1000")},
              {2000, partial_frame("tcp 203.0.113.10:40001 > 203.0.113.1:23 flags S seq 1000")}});
  auto sc = load(R"(
[hosts.fw]
iptables = ["-A INPUT -p tcp --dport 23 -j REJECT --reject-with tcp-reset"]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
)");
  ReplaySummary sum = summary_of(sc, wan_replay(d));
  ASSERT_EQ(sum.hosts.size(), 1u);
  EXPECT_EQ(sum.hosts[0].generated, 2u) << format_summary(sum);  // two RSTs
  EXPECT_EQ(sum.hosts[0].out_frames["wan"], 2u);
}

// tcpdump -i any: a 16-byte header whose packet type says the direction;
// what the host sent (PACKET_OUTGOING, 4) is not replayed.
TEST(ReplayTest, LinuxCookedCaptureSkipsOutgoingFrames) {
  TempDir d;
  auto f = eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53");
  auto sll = [&](uint16_t pkttype, uint16_t proto) {
    const std::array<uint8_t, 16> head = {static_cast<uint8_t>(pkttype >> 8), static_cast<uint8_t>(pkttype), 0, 1, 0, 6,
                                          0x02, 0xaa, 0, 0, 0, 1, 0, 0, static_cast<uint8_t>(proto >> 8),
                                          static_cast<uint8_t>(proto)};
    // Sized once and copied into: insert() at the end of a 16-byte vector
    // draws a false -Warray-bounds from GCC 12 -O2 (its reallocation path).
    std::vector<uint8_t> r(head.size() + (f.size() - 14));
    std::copy(head.begin(), head.end(), r.begin());
    std::copy(f.begin() + 14, f.end(), r.begin() + 16);
    return r;
  };
  write_pcap(d.file("any.pcap"), {{1, sll(0, 0x0800)}, {2, sll(4, 0x0800)}, {3, sll(0, 0x86dd)}}, kDltLinuxSll);
  auto sc = load(kScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("any.pcap")}};
  o.out_dir = d.file("out");
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->inputs[0].ipv4, 1u);
  EXPECT_EQ(r->inputs[0].own, 1u);
  EXPECT_EQ(r->inputs[0].ipv6, 1u);
  EXPECT_EQ(r->hosts[0].forwarded, 1u);
  // The LOG line shows the link-layer source the cooked header carried.
  EXPECT_NE(slurp(d.file("out/fw/kern.log")).find("MAC=02:00:00:00:00:01:02:aa:00:00:00:01:08:00"),
            std::string::npos)
      << slurp(d.file("out/fw/kern.log"));
}


// tcpdump -i any since libpcap 1.10 (LINUX_SLL2): a 20-byte header with the
// interface index. IPv4 from `frame` (an Ethernet frame) behind it.
std::vector<uint8_t> sll2(uint32_t ifindex, uint8_t pkttype, const std::vector<uint8_t>& frame,
                          uint16_t proto = 0x0800, packet::Mac src = kPeer) {
  std::vector<uint8_t> r(20 + (frame.size() - 14));
  r[0] = static_cast<uint8_t>(proto >> 8);
  r[1] = static_cast<uint8_t>(proto);
  for (int i = 0; i < 4; ++i) r[4 + i] = static_cast<uint8_t>(ifindex >> (24 - 8 * i));
  r[9] = 1;  // ARPHRD_ETHER
  r[10] = pkttype;
  r[11] = 6;
  std::copy(src.begin(), src.end(), r.begin() + 12);
  std::copy(frame.begin() + 14, frame.end(), r.begin() + 20);
  return r;
}

constexpr uint8_t kPacketHost = 0, kPacketOutgoing = 4;
constexpr packet::Mac kLanPeer = {0x02, 0xbb, 0, 0, 0, 1};

// One capture of every interface of fw: a DNS query in on wan (index 2),
// its answer in on lan (index 3), each also seen going out, the host
// talking to itself on lo (1), a frame of an interface nobody named (9),
// IPv6 and a runt.
std::vector<Rec> any_fixture() {
  auto query = eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53");
  auto answer = eth_frame("udp 198.51.100.10:53 > 203.0.113.10:5000");
  return {
      {1000, sll2(2, kPacketHost, query)},
      {1001, sll2(3, kPacketOutgoing, query, 0x0800, {0x02, 0, 0, 0, 0, 2})},
      {2000, sll2(3, kPacketHost, answer, 0x0800, kLanPeer)},
      {2001, sll2(2, kPacketOutgoing, answer, 0x0800, kFwWan)},
      {3000, sll2(1, kPacketHost, eth_frame("udp 127.0.0.1:1 > 127.0.0.1:2"), 0x0800, {})},
      {4000, sll2(9, kPacketHost, query)},
      {5000, sll2(2, kPacketHost, raw_frame(0x86dd, 40), 0x86dd)},
      {6000, std::vector<uint8_t>(12, 0)},
  };
}

TEST(ReplayTest, AnyCaptureFramesArriveOnTheInterfaceTheirIndexNames) {
  TempDir d;
  write_pcap(d.file("any.pcap"), any_fixture(), kDltLinuxSll2);
  auto sc = load(kScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"any", d.file("any.pcap")}};
  o.ifindex = {{"wan", 2}, {"lan", 3}};
  o.out_dir = d.file("out");
  ReplaySummary r = summary_of(sc, o);
  ASSERT_EQ(r.hosts.size(), 1u);
  const auto& in = r.inputs[0];
  EXPECT_EQ(in.frames, 8u);
  EXPECT_EQ(in.ipv4, 2u);
  EXPECT_EQ(in.own, 3u);  // two forwarded copies going out, lo
  EXPECT_EQ(in.ipv6, 1u);
  EXPECT_EQ(in.runt, 1u);
  EXPECT_EQ(in.unnamed, (std::map<uint32_t, uint64_t>{{9, 1}}));
  using ByIf = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(in.by_interface, (ByIf{{"wan", 1}, {"lan", 1}}));
  const HostStats& h = r.hosts[0];
  EXPECT_EQ(h.forwarded, 2u);
  // The answer arrived on lan, so it is the query's reply and leaves on wan.
  EXPECT_EQ(h.out_frames, (std::map<std::string, uint64_t>{{"lan", 1}, {"wan", 1}}));
  EXPECT_EQ(h.connections, (std::map<std::string, uint64_t>{{"udp", 1}})) << format_summary(r);
  // The query's LOG line: in on wan, from the MAC the cooked header carried.
  std::string klog = slurp(d.file("out/fw/kern.log"));
  EXPECT_NE(klog.find("IN=wan OUT=lan MAC=02:00:00:00:00:01:02:aa:00:00:00:01:08:00"), std::string::npos) << klog;
  std::string text = format_summary(r);
  EXPECT_NE(text.find("any " + d.file("any.pcap") + ": IPv4 replayed on wan 1, lan 1"), std::string::npos) << text;
  EXPECT_NE(text.find("1 frames not replayed: no --ifindex names their interface index: 9 (1 frames)"),
            std::string::npos)
      << text;

  // --own-output: the two copies going out are forwards, lo's frame is
  // the host talking to itself; nothing is replayed, nothing changes.
  o.own_output = true;
  o.out_dir = d.file("out-own");
  ReplaySummary own = summary_of(sc, o);
  EXPECT_EQ(own.own_forwarded, 2u) << format_summary(own);
  EXPECT_EQ(own.hosts[0].own_sent, 0u);
  EXPECT_EQ(own.inputs[0].own, 3u);
  EXPECT_EQ(own.inputs[0].by_interface, in.by_interface);
  EXPECT_EQ(own.hosts[0].out_frames, h.out_frames);
  EXPECT_EQ(own.hosts[0].connections, h.connections);
}

// A trunk: fw has wan and a VLAN device on it, wan.10. A capture of wan
// holds 802.1Q frames; those of VLAN 10 arrive on wan.10 untagged, those
// of a VLAN fw has no device for are counted and not replayed, those of
// VLAN 0 (a priority tag) arrive on wan itself.
TEST(ReplayTest, TaggedFramesArriveOnTheirVlanInterface) {
  TempDir d;
  auto tagged = [](uint16_t vid, std::vector<uint8_t> f) {
    std::vector<uint8_t> t(f.size() + 4);
    std::copy(f.begin(), f.begin() + 12, t.begin());
    const uint8_t tag[] = {0x81, 0x00, static_cast<uint8_t>(vid >> 8), static_cast<uint8_t>(vid)};
    std::copy(std::begin(tag), std::end(tag), t.begin() + 12);
    std::copy(f.begin() + 12, f.end(), t.begin() + 16);
    return t;
  };
  write_pcap(d.file("wan.pcap"), {{1, tagged(10, eth_frame("udp 192.0.2.50:5000 > 198.51.100.10:53"))},
                                  {2, tagged(20, eth_frame("udp 192.0.2.51:5000 > 198.51.100.10:53"))},
                                  {3, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53")},
                                  {4, tagged(0, eth_frame("udp 203.0.113.11:5000 > 198.51.100.10:53"))}});
  std::string text(kScenario);
  text += "[hosts.fw.interfaces.\"wan.10\"]\naddresses = [\"192.0.2.1/24\"]\nmac = \"02:00:00:00:00:01\"\n";
  auto sc = load(text);
  ReplayOptions o = wan_replay(d);
  o.out_dir = d.file("out");
  ReplaySummary r = summary_of(sc, o);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.inputs[0].ipv4, 3u);
  EXPECT_EQ(r.inputs[0].vlan, 1u);
  EXPECT_EQ(r.hosts[0].forwarded, 3u);
  std::string klog = slurp(d.file("out/fw/kern.log"));
  EXPECT_NE(klog.find("IN=wan.10 OUT=lan MAC=02:00:00:00:00:01:02:aa:00:00:00:01:08:00 SRC=192.0.2.50"), std::string::npos)
      << klog;
  EXPECT_NE(klog.find("IN=wan OUT=lan MAC=02:00:00:00:00:01:02:aa:00:00:00:01:08:00 SRC=203.0.113.10"), std::string::npos)
      << klog;
  EXPECT_NE(klog.find("IN=wan OUT=lan MAC=02:00:00:00:00:01:02:aa:00:00:00:01:08:00 SRC=203.0.113.11"), std::string::npos)
      << klog;
  EXPECT_NE(format_summary(r).find("arrives on the host's interface IFNAME.v"), std::string::npos);
}

// The same capture given as one interface's: every incoming frame arrives
// on wan whatever its index, but lo's frames are still the host's own.
TEST(ReplayTest, CookedV2CaptureAsOneInterface) {
  TempDir d;
  write_pcap(d.file("wan.pcap"), any_fixture(), kDltLinuxSll2);
  ReplaySummary r = summary_of(load(kScenario), wan_replay(d));
  ASSERT_EQ(r.hosts.size(), 1u);
  const auto& in = r.inputs[0];
  EXPECT_EQ(in.ipv4, 3u);  // the query, the answer, index 9's
  EXPECT_EQ(in.own, 3u);   // two going out, lo
  EXPECT_TRUE(in.unnamed.empty());
  EXPECT_TRUE(in.by_interface.empty());
  EXPECT_EQ(r.hosts[0].replayed, 3u);
}

TEST(ReplayTest, AnyInputNeedsCookedV2AndIndexesThatNameInterfaces) {
  TempDir d;
  write_pcap(d.file("any.pcap"), any_fixture(), kDltLinuxSll2);
  write_pcap(d.file("wan.pcap"), fixture());
  auto sc = load(kScenario);
  auto error = [&](std::vector<Input> inputs, std::vector<IfIndex> ifindex) {
    ReplayOptions o;
    o.host = "fw";
    o.inputs = std::move(inputs);
    o.ifindex = std::move(ifindex);
    std::ostringstream diff;
    auto r = replay(sc, o, diff);
    return r ? std::string("(no error)") : r.error().message;
  };
  Input any{"any", d.file("any.pcap")};
  auto has = [](const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos ? ::testing::AssertionSuccess()
                                                : ::testing::AssertionFailure() << text;
  };
  EXPECT_TRUE(has(error({any}, {}), "name the indexes with --ifindex IFNAME=INDEX"));
  EXPECT_TRUE(has(error({any}, {}), "the capture's incoming frames (of its first 100000) carry 1 (1 frames, lo), "
                                    "2 (2 frames), 3 (1 frames), 9 (1 frames)"));
  EXPECT_TRUE(has(error({{"any", d.file("wan.pcap")}}, {{"wan", 2}}),
                  "a EN10MB (1) capture does not say which interface each frame came in on"));
  EXPECT_TRUE(has(error({any}, {{"eth7", 2}}), "--ifindex eth7=2: host fw has no interface eth7 (it has wan, lan)"));
  EXPECT_TRUE(has(error({any}, {{"wan", 1}}), "index 1 is lo"));
  EXPECT_TRUE(has(error({any}, {{"wan", 2}, {"lan", 2}}), "--ifindex lan=2: index 2 is also --ifindex wan"));
  EXPECT_TRUE(has(error({any}, {{"wan", 2}, {"wan", 3}}), "--ifindex wan=3: wan is also index 2"));
  EXPECT_TRUE(has(error({{"wan", d.file("wan.pcap")}}, {{"wan", 2}}), "there is none"));
  // A long capture is only sampled for that message: its first 100000 frames.
  std::vector<Rec> many(100001, {1, sll2(2, kPacketHost, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53"))});
  write_pcap(d.file("long.pcap"), many, kDltLinuxSll2);
  EXPECT_TRUE(has(error({{"any", d.file("long.pcap")}}, {}), "(of its first 100000) carry 2 (100000 frames)"));
  // A plain input next to an "any" one keeps its interface.
  EXPECT_EQ(error({{"wan", d.file("wan.pcap")}, any}, {{"lan", 3}}), "(no error)");
}

// A pcapng capture of several interfaces (dumpcap -i wan -i lan -i lo
// -i eth9): given as "any", each frame arrives on the host's interface
// named as its interface block names it, as the same frames given as one
// pcap per interface do; lo's are the host's own; frames of an interface
// the host lacks are counted. Given an interface's name, it is refused.
TEST(ReplayTest, PcapngOfSeveralInterfacesArrivesOnTheInterfacesItsBlocksName) {
  TempDir d;
  constexpr packet::Mac kLanPeer = {0x02, 0xbb, 0, 0, 0, 1};
  auto query = eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53");
  auto answer = eth_frame("udp 198.51.100.10:53 > 203.0.113.10:5000", kLanPeer, kFwLan);
  auto query_out = eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53", kFwLan, kLanPeer);
  auto telnet = eth_frame("tcp 203.0.113.10:40001 > 198.51.100.10:23 flags S");
  testing::PcapngWriter w;
  w.section();
  w.interface(packet::kLinkTypeEthernet, "wan", 9);  // nanoseconds
  w.interface(packet::kLinkTypeEthernet, "lan");
  w.interface(packet::kLinkTypeEthernet, "lo");
  w.interface(packet::kLinkTypeEthernet, "eth9");
  w.enhanced(0, 1000000000, query);
  w.enhanced(1, 1000100, query_out);  // fw forwarding it: its own copy
  w.enhanced(1, 2000000, answer);
  w.enhanced(2, 2500000, eth_frame("udp 127.0.0.1:1 > 127.0.0.1:2"));
  w.enhanced(3, 2600000, query);
  w.enhanced(0, 3000000000, telnet);
  w.save(d.file("all.pcapng"));
  auto sc = load(kScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"any", d.file("all.pcapng")}};
  o.out_dir = d.file("out");
  ReplaySummary r = summary_of(sc, o);
  ASSERT_EQ(r.hosts.size(), 1u);
  const auto& in = r.inputs[0];
  EXPECT_EQ(in.frames, 6u);
  EXPECT_EQ(in.ipv4, 3u);
  EXPECT_EQ(in.own, 2u);  // the copy going out, lo
  EXPECT_EQ(in.unnamed, (std::map<uint32_t, uint64_t>{{3, 1}}));
  using ByIf = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(in.by_interface, (ByIf{{"wan", 2}, {"lan", 1}}));
  std::string text = format_summary(r);
  EXPECT_NE(text.find("any " + d.file("all.pcapng") + ": IPv4 replayed on wan 2, lan 1"), std::string::npos) << text;
  EXPECT_EQ(in.linktype, "pcapng: EN10MB (1)");
  EXPECT_NE(text.find("1 frames not replayed: the host has no interface of the name of the one they were captured "
                      "on: eth9 (1 frames)"),
            std::string::npos)
      << text;

  // The same frames, one pcap per interface.
  write_pcap(d.file("wan.pcap"), {{1000000, query}, {3000000, telnet}});
  write_pcap(d.file("lan.pcap"), {{1000100, query_out}, {2000000, answer}});
  ReplayOptions apart = o;
  apart.inputs = {{"wan", d.file("wan.pcap")}, {"lan", d.file("lan.pcap")}};
  apart.out_dir = d.file("out-apart");
  ReplaySummary a = summary_of(sc, apart);
  ASSERT_EQ(a.hosts.size(), 1u);
  const HostStats& h = r.hosts[0];
  EXPECT_EQ(h.replayed, 3u);
  EXPECT_EQ(h.forwarded, 2u);
  EXPECT_EQ(h.dropped, 1u);
  EXPECT_EQ(h.out_frames, (std::map<std::string, uint64_t>{{"lan", 1}, {"wan", 1}}));
  EXPECT_EQ(h.connections, (std::map<std::string, uint64_t>{{"udp", 1}})) << text;
  EXPECT_EQ(a.hosts[0].replayed, h.replayed);
  EXPECT_EQ(a.hosts[0].out_frames, h.out_frames);
  EXPECT_EQ(a.hosts[0].dropped_by, h.dropped_by);
  EXPECT_EQ(a.hosts[0].connections, h.connections);
  EXPECT_EQ(slurp(d.file("out/fw/wan.pcap")), slurp(d.file("out-apart/fw/wan.pcap")));
  EXPECT_EQ(slurp(d.file("out/fw/lan.pcap")), slurp(d.file("out-apart/fw/lan.pcap")));
  EXPECT_EQ(slurp(d.file("out/fw/iptables-save.txt")), slurp(d.file("out-apart/fw/iptables-save.txt")));

  // A pcapng file without interfaces (nor frames) is an empty capture.
  testing::PcapngWriter empty;
  empty.section();
  empty.save(d.file("empty.pcapng"));
  ReplayOptions none = o;
  none.inputs = {{"any", d.file("empty.pcapng")}};
  none.out_dir.clear();
  EXPECT_EQ(summary_of(sc, none).frames, 0u);

  // dumpcap -i any: one interface, "any", Linux cooked v1, whose frames do
  // not say their interface: refused as the same capture in pcap is.
  testing::PcapngWriter cooked;
  cooked.section();
  cooked.interface(kDltLinuxSll, "any");
  cooked.save(d.file("cooked.pcapng"));
  ReplayOptions any_v1 = o;
  any_v1.inputs = {{"any", d.file("cooked.pcapng")}};
  std::ostringstream ignored;
  auto v1 = replay(sc, any_v1, ignored);
  ASSERT_FALSE(v1);
  EXPECT_NE(v1.error().message.find("a LINUX_SLL (113) capture does not say which interface"), std::string::npos)
      << v1.error().message;

  // With LINUX_SLL2 its frames carry their interface's index: --ifindex
  // names them, as for tcpdump -i any's pcap.
  testing::PcapngWriter cooked2;
  cooked2.section();
  cooked2.interface(kDltLinuxSll2, "any");
  cooked2.save(d.file("cooked2.pcapng"));
  any_v1.inputs = {{"any", d.file("cooked2.pcapng")}};
  auto v2 = replay(sc, any_v1, ignored);
  ASSERT_FALSE(v2);
  EXPECT_NE(v2.error().message.find("name the indexes with --ifindex IFNAME=INDEX"), std::string::npos)
      << v2.error().message;
  any_v1.ifindex = {{"wan", 2}};
  EXPECT_EQ(summary_of(sc, any_v1).frames, 0u);

  // --ifindex has no index to name there.
  ReplayOptions indexed = o;
  indexed.ifindex = {{"wan", 2}};
  std::ostringstream unused;
  auto no_index = replay(sc, indexed, unused);
  ASSERT_FALSE(no_index);
  EXPECT_NE(no_index.error().message.find("--ifindex wan=2: the --in any= captures here are pcapng files"),
            std::string::npos)
      << no_index.error().message;

  // Given an interface's name, a file of several interfaces is refused.
  ReplayOptions as_wan = o;
  as_wan.inputs = {{"wan", d.file("all.pcapng")}};
  std::ostringstream diff;
  auto refused = replay(sc, as_wan, diff);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("--in wan=" + d.file("all.pcapng") +
                                         ": the file holds the frames of 4 interfaces (wan, lan, lo, eth9); give "
                                         "it as --in any="),
            std::string::npos)
      << refused.error().message;
}

// Files of dumpcap's ring buffer joined with cat: each has its own section
// and describes its interfaces again, and a later one may capture an
// interface the first did not. Its frames still arrive on the host's
// interface of that name, with --own-output's first pass too.
TEST(ReplayTest, PcapngInterfacesOfALaterSectionArriveOnTheirHostInterfaces) {
  TempDir d;
  constexpr packet::Mac kLanPeer = {0x02, 0xbb, 0, 0, 0, 1};
  testing::PcapngWriter w;
  w.section();
  w.interface(packet::kLinkTypeEthernet, "wan");
  w.enhanced(0, 1000, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53"));
  w.section();
  w.interface(packet::kLinkTypeEthernet, "lan");
  w.interface(packet::kLinkTypeEthernet, "wan");
  w.enhanced(0, 2000, eth_frame("udp 198.51.100.10:53 > 203.0.113.10:5000", kLanPeer, kFwLan));
  w.enhanced(1, 3000, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53"));
  w.save(d.file("joined.pcapng"));
  auto sc = load(kScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"any", d.file("joined.pcapng")}};
  for (bool own : {false, true}) {
    o.own_output = own;
    ReplaySummary r = summary_of(sc, o);
    ASSERT_EQ(r.hosts.size(), 1u);
    using ByIf = std::vector<std::pair<std::string, uint64_t>>;
    EXPECT_EQ(r.inputs[0].by_interface, (ByIf{{"wan", 2}, {"lan", 1}})) << format_summary(r);
    EXPECT_TRUE(r.inputs[0].unnamed.empty());
    // The answer came in on lan: the query's reply, out on wan.
    EXPECT_EQ(r.hosts[0].out_frames, (std::map<std::string, uint64_t>{{"lan", 2}, {"wan", 1}}));
    EXPECT_EQ(r.hosts[0].connections, (std::map<std::string, uint64_t>{{"udp", 1}}));
  }
}

// epb_flags tell what the scenario's MACs cannot when it gives none: a
// frame the captured host sent (outbound) is its own, a frame received in
// promiscuous mode was for another host. Without the flags, the forwarded
// copy of the query is replayed as if it came in on lan.
TEST(ReplayTest, PcapngDirectionAndReceptionFlagsTellOwnAndOtherHostsFrames) {
  TempDir d;
  constexpr std::string_view kNoMacs = R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
)";
  auto query = eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53");
  auto copy = eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53", kFwLan, {0x02, 0xbb, 0, 0, 0, 1});
  auto stray = eth_frame("udp 203.0.113.20:5000 > 198.51.100.10:53", kPeer, {0x02, 0xcc, 0, 0, 0, 9});
  auto write = [&](const std::string& name, bool flags) {
    testing::PcapngWriter w;
    w.section();
    w.interface(packet::kLinkTypeEthernet, "wan");
    w.interface(packet::kLinkTypeEthernet, "lan");
    const uint32_t in = flags ? PcapngPacket::kInbound | 0x4 : 0;  // unicast
    w.enhanced(0, 1000, query, 0, in);
    w.enhanced(1, 1001, copy, 0, flags ? PcapngPacket::kOutbound : 0);
    w.enhanced(0, 2000, stray, 0, flags ? PcapngPacket::kInbound | PcapngPacket::kPromiscuous : 0);
    w.save(d.file(name));
  };
  write("flags.pcapng", true);
  write("none.pcapng", false);
  auto sc = load(kNoMacs);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"any", d.file("flags.pcapng")}};
  ReplaySummary r = summary_of(sc, o);
  ASSERT_EQ(r.hosts.size(), 1u);
  EXPECT_EQ(r.inputs[0].own, 1u);
  EXPECT_EQ(r.inputs[0].other_host, 1u);
  EXPECT_EQ(r.inputs[0].ipv4, 1u);
  EXPECT_EQ(r.hosts[0].forwarded, 1u);
  o.inputs = {{"any", d.file("none.pcapng")}};
  ReplaySummary without = summary_of(sc, o);
  EXPECT_EQ(without.inputs[0].own, 0u);
  EXPECT_EQ(without.inputs[0].ipv4, 3u);

  // Raw IP and Linux cooked interfaces have no source MAC to tell: the
  // flag alone makes a frame the host's own.
  testing::PcapngWriter other;
  other.section();
  other.interface(kDltRaw, "wan");
  other.interface(kDltLinuxSll, "lan");
  std::vector<uint8_t> raw(query.begin() + 14, query.end());
  std::vector<uint8_t> cooked = {0, 0, 0, 1, 0, 6, 2, 0xaa, 0, 0, 0, 1, 0, 0, 0x08, 0x00};  // to us, from kPeer
  cooked.insert(cooked.end(), raw.begin(), raw.end());
  other.enhanced(0, 1000, raw, 0, PcapngPacket::kOutbound);
  other.enhanced(1, 1001, cooked, 0, PcapngPacket::kOutbound);
  other.enhanced(0, 1002, raw, 0, PcapngPacket::kInbound);
  other.save(d.file("other.pcapng"));
  o.inputs = {{"any", d.file("other.pcapng")}};
  ReplaySummary r2 = summary_of(sc, o);
  EXPECT_EQ(r2.inputs[0].own, 2u) << format_summary(r2);
  EXPECT_EQ(r2.inputs[0].ipv4, 1u);
}

// A pcapng file of one interface is one more capture format: given as
// that interface, it replays as the pcap of the same frames. An
// interface added by a later section is not taken for the first one.
TEST(ReplayTest, PcapngOfOneInterfaceIsReplayedAsItsPcap) {
  TempDir d;
  ReplayOptions o = fixture_replay(d);
  o.out_dir = d.file("out-pcap");
  testing::PcapngWriter w(true);
  w.section();
  w.interface(packet::kLinkTypeEthernet, "eth0", 3);  // milliseconds
  for (const auto& rec : fixture()) w.enhanced(0, rec.ts_us / 1000, rec.bytes);
  w.save(d.file("wan.pcapng"));
  auto sc = load(kScenario);
  ReplaySummary want = summary_of(sc, o);
  ReplayOptions ng = o;
  ng.inputs = {{"wan", d.file("wan.pcapng")}};
  ng.out_dir = d.file("out-ng");
  ReplaySummary got = summary_of(sc, ng);
  ASSERT_EQ(got.hosts.size(), 1u);
  EXPECT_EQ(got.frames, want.frames);
  EXPECT_EQ(got.inputs[0].ipv4, want.inputs[0].ipv4);
  EXPECT_EQ(got.hosts[0].dropped_by, want.hosts[0].dropped_by);
  EXPECT_EQ(got.hosts[0].out_frames, want.hosts[0].out_frames);
  EXPECT_EQ(slurp(d.file("out-ng/fw/lan.pcap")), slurp(d.file("out-pcap/fw/lan.pcap")));
  EXPECT_EQ(slurp(d.file("out-ng/fw/iptables-save.txt")), slurp(d.file("out-pcap/fw/iptables-save.txt")));

  // A second section describing another interface: its frames are
  // counted, not replayed on wan.
  w.section();
  w.interface(packet::kLinkTypeEthernet, "eth1");
  w.enhanced(0, 2000000, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53"));
  w.save(d.file("two-sections.pcapng"));
  ng.inputs = {{"wan", d.file("two-sections.pcapng")}};
  ng.out_dir.clear();
  ReplaySummary more = summary_of(sc, ng);
  EXPECT_EQ(more.inputs[0].unnamed, (std::map<uint32_t, uint64_t>{{1, 1}}));
  EXPECT_EQ(more.hosts[0].replayed, got.hosts[0].replayed);
  std::string text = format_summary(more);
  EXPECT_NE(text.find("1 frames not replayed: captured on another interface than the file's first (eth0); --in any="),
            std::string::npos)
      << text;
}

TEST(MergeTest, PcapngFramesCarryTheirInterfaceAndItsLinkType) {
  TempDir d;
  testing::PcapngWriter w;
  w.section();
  w.interface(packet::kLinkTypeEthernet, "eth0");
  w.interface(kDltRaw, "tun0");
  auto f = eth_frame("udp 198.51.100.10:1 > 203.0.113.4:2");
  std::vector<uint8_t> raw(f.begin() + 14, f.end());
  w.enhanced(1, 20, raw);
  w.enhanced(0, 10, f);  // earlier: sorted within the window
  w.save(d.file("two.pcapng"));
  write_pcap(d.file("b.pcap"), {{15, f}});
  auto m = Merger::open({{"any", d.file("two.pcapng")}, {"eth2", d.file("b.pcap")}}, {.window_us = 100});
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ(m->interfaces(0).size(), 2u);
  EXPECT_EQ(m->interfaces(0)[1].name, "tun0");
  EXPECT_TRUE(m->interfaces(1).empty());
  std::vector<std::tuple<size_t, uint32_t, int, uint64_t, size_t>> got;
  MergedFrame x;
  while (m->next(x)) got.emplace_back(x.input, x.interface, x.linktype, x.ts_us, x.data.size());
  std::vector<std::tuple<size_t, uint32_t, int, uint64_t, size_t>> want = {
      {0, 0, packet::kLinkTypeEthernet, 10, f.size()},
      {1, 0, packet::kLinkTypeEthernet, 15, f.size()},
      {0, 1, kDltRaw, 20, raw.size()}};
  EXPECT_EQ(got, want);
  EXPECT_TRUE(m->warnings().empty());

  // dumpcap's batches: lan's packet 50 ms before wan's last one. Beyond
  // the window, the error says why and what sorts them.
  testing::PcapngWriter batched;
  batched.section();
  batched.interface(packet::kLinkTypeEthernet, "wan");
  batched.interface(packet::kLinkTypeEthernet, "lan");
  batched.enhanced(0, 100000, f);
  batched.enhanced(1, 50000, f);
  batched.save(d.file("batched.pcapng"));
  std::string error;
  merge_all({{"any", d.file("batched.pcapng")}}, 1000, &error);
  EXPECT_NE(error.find("holds each interface's packets in the batches its capture handed them over in: "
                       "--reorder-window 1 sorts those of dumpcap"),
            std::string::npos)
      << error;
  EXPECT_EQ(merge_all({{"any", d.file("batched.pcapng")}}, 1000000).size(), 2u);

  // An interface of a link type replay does not read: refused when
  // described up front, the end of that input (with a warning) later.
  testing::PcapngWriter wifi;
  wifi.section();
  wifi.interface(105, "wlan0");
  wifi.save(d.file("wifi.pcapng"));
  auto refused = Merger::open({{"any", d.file("wifi.pcapng")}});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("interface 0 (wlan0) has link type IEEE802_11"), std::string::npos)
      << refused.error().message;
  w.interface(105, "wlan0");
  w.enhanced(2, 30, f);
  w.enhanced(0, 40, f);
  w.save(d.file("late.pcapng"));
  auto late = Merger::open({{"any", d.file("late.pcapng")}}, {.window_us = 100});
  ASSERT_TRUE(late);
  size_t n = 0;
  while (late->next(x)) ++n;
  EXPECT_EQ(n, 2u);
  ASSERT_EQ(late->warnings().size(), 1u);
  EXPECT_NE(late->warnings()[0].find("frames of interface 2 (wlan0) and later not read"), std::string::npos)
      << late->warnings()[0];

  // From a pipe, libpcap reads it, and cannot tell its interfaces apart:
  // a warning says so.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  testing::PcapngWriter one;
  one.section();
  one.interface(packet::kLinkTypeEthernet, "eth0");
  one.enhanced(0, 10, f);
  ASSERT_EQ(write(fds[1], one.bytes().data(), one.bytes().size()), static_cast<ssize_t>(one.bytes().size()));
  close(fds[1]);
  {
    auto piped = Merger::open({{"eth0", fmt::format("/dev/fd/{}", fds[0])}});
    ASSERT_TRUE(piped) << piped.error().message;
    EXPECT_FALSE(piped->is_pcapng(0));
    ASSERT_TRUE(piped->next(x));
    ASSERT_EQ(piped->warnings().size(), 1u);
    EXPECT_NE(piped->warnings()[0].find("a pcapng stream read from a pipe"), std::string::npos);
  }
  close(fds[0]);

  // A corrupt start is an error; a corrupt block later ends the input.
  auto bytes = w.bytes();
  bytes[4] = 13;  // the section header's length
  std::ofstream(d.file("bad.pcapng"), std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 28);
  auto bad = Merger::open({{"any", d.file("bad.pcapng")}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("bad.pcapng: a corrupt pcapng file: the block at byte 0"), std::string::npos)
      << bad.error().message;
}

namespace {
// The process's resident pages that map files (/proc/self/status), in kB.
long rss_file_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssFile:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}
}  // namespace

// A mapped capture must not stay resident as it is read (issue 5: memory
// bounded by the conntrack table, not by the capture): without giving the
// pages read long ago back, RssFile grows by the whole file (100 MB here).
// Every frame's bytes must still be the file's.
TEST(MergeTest, MappedCaptureDoesNotStayResident) {
  TempDir d;
  constexpr uint32_t kFrames = 100000, kBytes = 1000;
  std::vector<RawRecord> recs;
  for (uint32_t i = 0; i < kFrames; ++i) recs.push_back({1 + i / 1000, i % 1000 * 1000, kBytes, kBytes, kBytes});
  std::string path = d.file("big.pcap");
  write_raw_pcap(path, 0xa1b2c3d4, 65535, recs, false, 0);
  long before = rss_file_kb();
  if (before < 0) GTEST_SKIP() << "no RssFile in /proc/self/status";
  auto m = Merger::open({{"eth0", path}}, {.window_us = 10'000});
  ASSERT_TRUE(m) << m.error().message;
  long peak = before;
  uint32_t n = 0;
  std::vector<uint32_t> order;
  while (true) {
    auto f = m->next();
    ASSERT_TRUE(f) << f.error().message;
    if (!*f) break;
    // Which record this is, from the fill pattern (a byte counter running
    // over all records' data).
    const auto& data = (*f)->data;
    ASSERT_EQ(data.size(), kBytes);
    uint64_t ts = (*f)->ts_us;
    uint32_t rec = static_cast<uint32_t>((ts - 1'000'000) / 1000);
    for (uint32_t j = 0; j < kBytes; j += 97)
      ASSERT_EQ(data[j], static_cast<uint8_t>((uint64_t{rec} * kBytes + j) & 0xff)) << "record " << rec << " byte " << j;
    order.push_back(rec);
    if (++n % 1000 == 0) peak = std::max(peak, rss_file_kb());
  }
  ASSERT_EQ(n, kFrames);
  for (uint32_t i = 0; i < kFrames; ++i) ASSERT_EQ(order[i], i);
  EXPECT_LT(peak - before, 16 * 1024) << "kB of the 100 MB capture stayed resident";
}

// The same bound for a pcapng file, which PcapngReader reads from its
// mapping: a 100 MB file leaves at most a few MB resident.
TEST(MergeTest, MappedPcapngDoesNotStayResident) {
  TempDir d;
  constexpr uint32_t kFrames = 100000, kBytes = 1000;
  std::string path = d.file("big.pcapng");
  {
    testing::PcapngWriter w;
    w.section();
    w.interface(packet::kLinkTypeEthernet, "eth0");
    w.interface(packet::kLinkTypeEthernet, "eth1");
    std::vector<uint8_t> data(kBytes);
    for (uint32_t i = 0; i < kFrames; ++i) {
      data[0] = static_cast<uint8_t>(i);
      data[kBytes - 1] = static_cast<uint8_t>(i >> 8);
      w.enhanced(i % 2, 1'000'000 + uint64_t{i} * 10, data);
    }
    w.save(path);
  }
  long before = rss_file_kb();
  if (before < 0) GTEST_SKIP() << "no RssFile in /proc/self/status";
  auto m = Merger::open({{"any", path}}, {.window_us = 10'000});
  ASSERT_TRUE(m) << m.error().message;
  long peak = before;
  uint32_t n = 0;
  MergedFrame f;
  while (m->next(f)) {
    ASSERT_EQ(f.data.size(), kBytes);
    ASSERT_EQ(f.data[0], static_cast<uint8_t>(n));
    ASSERT_EQ(f.data[kBytes - 1], static_cast<uint8_t>(n >> 8));
    ASSERT_EQ(f.interface, n % 2);
    if (++n % 1000 == 0) peak = std::max(peak, rss_file_kb());
  }
  EXPECT_FALSE(m->failed());
  EXPECT_EQ(n, kFrames);
  EXPECT_LT(peak - before, 16 * 1024) << "kB of the 100 MB capture stayed resident";
}

// A capture cut while replay has it mapped (a rotating tcpdump, a user's
// truncate) must end that input with a warning, not kill the process
// with SIGBUS: a read past the file's new end would. Two cuts: far ahead
// of the reader, in the middle of a record (pages not mapped yet), and
// close ahead of it, inside the frames already read into a 1 s reorder
// window (pages mapped, frames waiting), then again with the file
// written on once the reader has met the cut (a capture rotated in
// place). Either way every frame handed out is whole and the file's, and
// none past the cut is. (A file rewritten before the reader meets the cut
// cannot be told from the original: frames of the window then read the
// new bytes.)
TEST(MergeTest, CaptureCutWhileMappedEndsWithAWarningNotASignal) {
  constexpr uint32_t kFrames = 8000, kBytes = 1000, kRec = 16 + kBytes;
  struct Case {
    uint64_t window_us;
    size_t cut_at;  // the file's new size
    bool rewritten = false;  // 4 MB of new records appended once the cut was met
  };
  for (const Case c : {Case{10'000, 5'000'000 + 500}, Case{1'000'000, 300'000}, Case{1'000'000, 300'000, true}}) {
    SCOPED_TRACE(c.cut_at);
    TempDir d;
    std::vector<RawRecord> recs;
    for (uint32_t i = 0; i < kFrames; ++i) recs.push_back({1 + i / 1000, i % 1000 * 1000, kBytes, kBytes, kBytes});
    std::string path = d.file("cut.pcap");
    write_raw_pcap(path, 0xa1b2c3d4, 65535, recs, false, 0);
    auto m = Merger::open({{"eth0", path}}, {.window_us = c.window_us});
    ASSERT_TRUE(m) << m.error().message;
    uint32_t n = 0;
    auto take = [&] {
      auto f = m->next();
      EXPECT_TRUE(f) << f.error().message;
      if (!f || !*f) return false;
      const auto& data = (*f)->data;
      uint32_t rec = static_cast<uint32_t>(((*f)->ts_us - 1'000'000) / 1000);
      EXPECT_EQ(rec, n);
      EXPECT_EQ(data.size(), kBytes);
      for (uint32_t j = 0; j < data.size(); j += 97)
        if (data[j] != static_cast<uint8_t>((uint64_t{rec} * kBytes + j) & 0xff)) {
          ADD_FAILURE() << "record " << rec << " byte " << j << " is not the file's";
          return false;
        }
      ++n;
      return true;
    };
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(take());
    ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(c.cut_at)), 0);
    if (c.rewritten) {
      ASSERT_TRUE(take());  // reads the next record's header: past the cut
      ASSERT_FALSE(m->warnings().empty());
      std::string more = d.file("more.pcap");
      write_raw_pcap(more, 0xa1b2c3d4, 65535, std::vector<RawRecord>(4000, {9, 0, kBytes, kBytes, kBytes}), false, 0);
      std::ifstream src(more, std::ios::binary);
      src.seekg(24);
      std::ofstream(path, std::ios::binary | std::ios::app) << src.rdbuf();
    }
    while (take()) {
    }
    EXPECT_EQ(n, (c.cut_at - 24) / kRec) << "the frames wholly before the cut";
    ASSERT_FALSE(m->warnings().empty());
    EXPECT_NE(m->warnings()[0].find(fmt::format("cut.pcap: the file was cut to {} bytes while being read", c.cut_at)),
              std::string::npos)
        << m->warnings()[0];
  }
}

// The same for a pcapng file, which PcapngReader reads from the mapping:
// a cut far ahead of the reader, and one inside a 1 s window of frames
// already read. Every frame handed out is whole and the file's; the frames
// wholly before the cut are all handed out.
TEST(MergeTest, PcapngCutWhileMappedEndsWithAWarningNotASignal) {
  constexpr uint32_t kFrames = 8000, kBytes = 1000;
  for (const auto& [window_us, cut_at] : {std::pair<uint64_t, size_t>{10'000, 5'000'000 + 500}, {1'000'000, 300'000}}) {
    SCOPED_TRACE(cut_at);
    TempDir d;
    std::string path = d.file("cut.pcapng");
    size_t header = 0, block = 0;
    {
      testing::PcapngWriter w;
      w.section();
      w.interface(packet::kLinkTypeEthernet, "eth0");
      header = w.bytes().size();
      std::vector<uint8_t> data(kBytes);
      for (uint32_t i = 0; i < kFrames; ++i) {
        for (uint32_t j = 0; j < kBytes; j += 97) data[j] = static_cast<uint8_t>(i + j);
        w.enhanced(0, 1'000'000 + uint64_t{i} * 1000, data);
        if (i == 0) block = w.bytes().size() - header;
      }
      w.save(path);
    }
    auto m = Merger::open({{"any", path}}, {.window_us = window_us});
    ASSERT_TRUE(m) << m.error().message;
    uint32_t n = 0;
    auto take = [&] {
      MergedFrame f;
      if (!m->next(f)) return false;
      const uint32_t rec = static_cast<uint32_t>((f.ts_us - 1'000'000) / 1000);
      EXPECT_EQ(rec, n);
      EXPECT_EQ(f.data.size(), kBytes);
      for (uint32_t j = 0; j < f.data.size(); j += 97)
        if (f.data[j] != static_cast<uint8_t>(rec + j)) {
          ADD_FAILURE() << "record " << rec << " byte " << j << " is not the file's";
          return false;
        }
      ++n;
      return true;
    };
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(take());
    ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(cut_at)), 0);
    while (take()) {
    }
    EXPECT_FALSE(m->failed());
    EXPECT_EQ(n, (cut_at - header) / block) << "the frames wholly before the cut";
    ASSERT_FALSE(m->warnings().empty());
    EXPECT_NE(m->warnings()[0].find(fmt::format("cut.pcapng: the file was cut to {} bytes while being read", cut_at)),
              std::string::npos)
        << m->warnings()[0];
  }
}

// Whether the page holding p is mapped in this process (/proc/self/pagemap
// bit 63), or -1 when that cannot be read.
int page_present(const void* p) {
  static const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  uint64_t entry = 0;
  ssize_t n = pread(fd, &entry, 8, static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / page * 8));
  close(fd);
  return n == 8 ? static_cast<int>(entry >> 63) : -1;
}

// The pages of a mapped capture are mapped a chunk (1 MiB) ahead of the
// reader: a prefetch into a page not mapped yet is dropped. Checked past
// the first 2 MiB, which the first fault may map at once (a file written
// in one go can sit in the page cache as huge folios).
TEST(MergeTest, MappedCaptureIsMappedAheadOfTheReader) {
  TempDir d;
  constexpr uint32_t kFrames = 8000, kBytes = 1000;  // 8 MB
  std::vector<RawRecord> recs;
  for (uint32_t i = 0; i < kFrames; ++i) recs.push_back({1, i, kBytes, kBytes, kBytes});
  std::string path = d.file("ahead.pcap");
  write_raw_pcap(path, 0xa1b2c3d4, 65535, recs, false, 0);
  auto m = Merger::open({{"eth0", path}}, {.window_us = 0});
  ASSERT_TRUE(m) << m.error().message;
  MergedFrame f;
  ASSERT_TRUE(m->next(f));
  const uint8_t* base = f.data.data() - 24 - 16;  // the file header and the record's
  if (page_present(base) != 1) GTEST_SKIP() << "/proc/self/pagemap does not show this process's pages";
  constexpr size_t kMiB = size_t{1} << 20;
  while (f.data.data() < base + 2 * kMiB - 3000) ASSERT_TRUE(m->next(f));
  // The reader is a few KiB short of 2 MiB: the third MiB is mapped, not
  // the sixth. Checked at pages the reader touches itself (every 64 KiB
  // from a chunk's start): the pages between are mapped by the kernel's
  // fault-around, a setting (debugfs fault_around_bytes) a test must not
  // depend on.
  for (size_t off : {2 * kMiB, 2 * kMiB + 256 * 1024, 3 * kMiB - 64 * 1024})
    EXPECT_EQ(page_present(base + off), 1) << "offset " << off;
  EXPECT_EQ(page_present(base + 5 * kMiB + 4096), 0);
}

}  // namespace
// eth_type_trans classes a frame by its destination MAC: one to another
// host's unicast MAC (a promiscuous capture) is PACKET_OTHERHOST, dropped
// by ip_rcv before PREROUTING; one to a group MAC goes through PREROUTING
// but ip_forward forwards only PACKET_HOST, and __icmp_send answers it
// with no error. A cooked capture's packet type says the same. With the
// default MAC (not given in the scenario) every unicast frame is the
// host's: the capture's MACs are not the scenario's anyway.
TEST(ReplayTest, FramesToOtherHostsAndGroupMacsAreNotForwarded) {
  TempDir d;
  constexpr packet::Mac kOther = {0x02, 0xcc, 0, 0, 0, 9}, kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
                        kMulticast = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x07};
  write_pcap(d.file("wan.pcap"), {{1000, eth_frame("udp 203.0.113.10:5000 > 198.51.100.10:53", kPeer, kFwWan)},
                                  {2000, eth_frame("udp 203.0.113.10:5001 > 198.51.100.10:53", kPeer, kOther)},
                                  {3000, eth_frame("udp 203.0.113.10:5002 > 198.51.100.10:53", kPeer, kBroadcast)},
                                  {4000, eth_frame("udp 203.0.113.10:5003 > 198.51.100.10:53 ttl 1", kPeer, kMulticast)},
                                  {5000, eth_frame("udp 203.0.113.10:5004 > 203.0.113.1:9", kPeer, kBroadcast)}});
  auto run = [&](std::string_view text, const std::string& out) {
    auto sc = load(text);
    ReplayOptions o = wan_replay(d);
    o.out_dir = d.file(out);
    return summary_of(sc, o);
  };
  ReplaySummary given = run(kScenario, "given");
  ASSERT_EQ(given.hosts.size(), 1u);
  EXPECT_EQ(given.inputs[0].other_host, 1u);
  EXPECT_EQ(given.inputs[0].ipv4, 4u);
  EXPECT_EQ(given.hosts[0].forwarded, 1u) << format_summary(given);
  // Neither the TTL-exceeded error for the multicast frame nor the port
  // unreachable for the broadcast one to fw's closed port.
  EXPECT_EQ(given.hosts[0].out_frames.at("wan"), 0u) << format_summary(given);
  EXPECT_NE(format_summary(given).find("  for other hosts: 1 frames to a MAC that is not their interface's"),
            std::string::npos)
      << format_summary(given);
  std::string sans_macs(kScenario);
  for (const char* mac : {"mac = \"02:00:00:00:00:01\"\n", "mac = \"02:00:00:00:00:02\"\n"})
    sans_macs.erase(sans_macs.find(mac), std::strlen(mac));
  ReplaySummary implied = run(sans_macs, "implied");
  EXPECT_EQ(implied.inputs[0].other_host, 0u);
  EXPECT_EQ(implied.hosts[0].forwarded, 2u) << format_summary(implied);
}

// fw as its own administrators see it in a capture of wan: it asks a DNS
// server itself, serves ssh, and masquerades lan. Its INPUT takes only
// ssh and answers to what it sent.
constexpr std::string_view kOwnScenario = R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables = [
  "-P INPUT DROP",
  "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
  "-A INPUT -p tcp --dport 22 -j ACCEPT",
  "-A OUTPUT -p udp --dport 123 -j DROP",
  "-t nat -A POSTROUTING -o wan -j MASQUERADE",
]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
mac = "02:00:00:00:00:02"
)";

// The frames of a capture on wan (own ones with fw's MAC as the source)
// and on lan.
struct OwnCapture {
  std::vector<Rec> wan, lan;
};
OwnCapture own_capture() {
  OwnCapture c;
  auto own = [&](uint64_t ts, std::string_view spec) { c.wan.push_back({ts, eth_frame(spec, kFwWan, kPeer)}); };
  auto in = [&](uint64_t ts, std::string_view spec) { c.wan.push_back({ts, eth_frame(spec)}); };
  // fw's DNS query and its answer.
  own(1000000, "udp 203.0.113.1:40000 > 203.0.113.53:53 payload 20");
  in(1001000, "udp 203.0.113.53:53 > 203.0.113.1:40000 payload 60");
  // An ssh client: SYN, fw's SYN-ACK (its ISN 5000), the handshake's ACK,
  // data both ways.
  in(2000000, "tcp 203.0.113.10:50000 > 203.0.113.1:22 flags S seq 100");
  own(2000100, "tcp 203.0.113.1:22 > 203.0.113.10:50000 flags SA seq 5000 ack 101");
  in(2001000, "tcp 203.0.113.10:50000 > 203.0.113.1:22 flags A seq 101 ack 5001");
  own(2002000, "tcp 203.0.113.1:22 > 203.0.113.10:50000 flags PA seq 5001 ack 101 payload 40");
  in(2003000, "tcp 203.0.113.10:50000 > 203.0.113.1:22 flags A seq 101 ack 5041");
  // A lan host's datagram, masqueraded: in on lan, out on wan from fw's
  // address, the same IP id, length and payload.
  c.lan.push_back({3000000, eth_frame("udp 198.51.100.10:6000 > 203.0.113.99:53 ipid 777 payload 30", kPeer, kFwLan)});
  own(3000050, "udp 203.0.113.1:6000 > 203.0.113.99:53 ipid 777 payload 30 ttl 63");
  // A port unreachable fw sent (nfemu makes its own) and NTP its OUTPUT
  // drops (the capture holds it: the candidate's rules are what differ).
  own(4000000, "icmp 203.0.113.1 > 203.0.113.10 type 3 code 3");
  own(5000000, "udp 203.0.113.1:123 > 203.0.113.77:123 payload 48");
  return c;
}

ReplaySummary own_replay(TempDir& d, bool own_output, bool with_lan = true) {
  OwnCapture c = own_capture();
  write_pcap(d.file("wan.pcap"), c.wan);
  write_pcap(d.file("lan.pcap"), c.lan);
  auto sc = load(kOwnScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}};
  if (with_lan) o.inputs.push_back({"lan", d.file("lan.pcap")});
  o.out_dir = d.file(own_output ? "own" : "skipped");
  o.own_output = own_output;
  return summary_of(sc, o);
}

// Without --own-output fw's own frames are skipped: the DNS answer is NEW
// and INPUT drops it, and nfemu's stack resets the ssh client (no socket),
// whose ACKs INPUT then takes as ESTABLISHED no more. With it, what fw's
// sockets sent goes through OUTPUT and POSTROUTING, the answers find
// their connections, nfemu answers nothing to ports fw sent from, and the
// masqueraded forward and the port unreachable are not sent twice.
TEST(ReplayTest, OwnOutputReplaysWhatTheHostsSocketsSent) {
  TempDir d;
  ReplaySummary skipped = own_replay(d, false);
  const HostStats& s = skipped.hosts[0];
  EXPECT_EQ(s.dropped_by.at("filter INPUT policy"), 1u) << format_summary(skipped);  // the DNS answer
  EXPECT_EQ(s.own_sent, 0u);
  EXPECT_NE(format_summary(skipped).find("--own-output replays them"), std::string::npos);

  ReplaySummary own = own_replay(d, true);
  const HostStats& h = own.hosts[0];
  std::string text = format_summary(own);
  EXPECT_EQ(h.own_sent, 4u) << text;     // DNS query, SYN-ACK, data, NTP
  EXPECT_EQ(h.own_out, 3u) << text;
  EXPECT_EQ(h.own_dropped, 1u) << text;  // NTP, by OUTPUT rule 1
  EXPECT_EQ(h.dropped_by.at("filter OUTPUT rule 1: -A OUTPUT -p udp -m udp --dport 123 -j DROP"), 1u) << text;
  EXPECT_FALSE(h.dropped_by.contains("filter INPUT policy")) << text;
  EXPECT_EQ(h.delivered, 4u) << text;  // the DNS answer, SYN, ACKs
  EXPECT_EQ(h.forwarded, 1u) << text;  // the lan datagram
  EXPECT_EQ(h.generated, 0u) << text;  // no RST, SYN-ACK or port unreachable of nfemu's
  EXPECT_EQ(own.own_forwarded, 1u) << text;
  EXPECT_EQ(own.own_answers, 1u) << text;
  EXPECT_EQ(h.out_frames.at("wan"), 4u) << text;  // 3 of fw's and the masqueraded datagram
  EXPECT_EQ(h.connections.at("tcp ESTABLISHED [ASSURED]"), 1u) << text;
  EXPECT_EQ(h.connections.at("udp"), 1u) << text;  // the DNS exchange: a reply seen
  EXPECT_EQ(h.connections.at("udp [UNREPLIED]"), 1u) << text;  // the masqueraded one
  EXPECT_NE(text.find("own frames (--own-output): 4 replayed as the host's output; not replayed: 1 forwards, 1 "
                      "answers"),
            std::string::npos)
      << text;
  auto wan = packet::read_pcap_file(d.file("own/fw/wan.pcap"));
  ASSERT_TRUE(wan);
  ASSERT_EQ(wan->size(), 4u);
  auto first = packet::Packet::from_frame((*wan)[0].data);
  ASSERT_TRUE(first);
  EXPECT_EQ(packet::format_ipv4_addr(first->ip().saddr()), "203.0.113.1");

  // Without lan's capture the masqueraded datagram is the only evidence:
  // it is taken as fw's own.
  TempDir d2;
  ReplaySummary alone = own_replay(d2, true, false);
  EXPECT_EQ(alone.own_forwarded, 0u);
  EXPECT_EQ(alone.hosts[0].own_sent, 5u);
}

// --diff compares the fate of each replayed own frame too.
TEST(ReplayTest, OwnOutputFatesAreCompared) {
  TempDir d;
  OwnCapture c = own_capture();
  write_pcap(d.file("wan.pcap"), c.wan);
  write_pcap(d.file("lan.pcap"), c.lan);
  auto sc = load(kOwnScenario);
  ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", d.file("wan.pcap")}, {"lan", d.file("lan.pcap")}};
  o.own_output = true;
  xt::Ruleset cand;
  auto ok = ruleset::restore(
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      "-A OUTPUT -p udp --dport 53 -j DROP\nCOMMIT\n"
      "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
      "-A POSTROUTING -o wan -j MASQUERADE\nCOMMIT\n",
      cand);
  ASSERT_TRUE(ok) << ok.error().message;
  o.candidate = std::move(cand);
  o.diff = true;
  std::ostringstream diff;
  auto r = replay(sc, o, diff);
  ASSERT_TRUE(r) << r.error().message;
  // The DNS query (dropped by the candidate), NTP (sent by it).
  EXPECT_EQ(r->differences, 2u) << diff.str();
  std::string query = fmt::format(
      "frame 1 ({} #1) at 1.000000 sent by the host on wan: udp 203.0.113.1:40000 > 203.0.113.53:53",
      d.file("wan.pcap"));
  EXPECT_NE(diff.str().find(query), std::string::npos) << diff.str();
  EXPECT_NE(diff.str().find("  candidate: DROP by filter OUTPUT rule 1: -A OUTPUT -p udp -m udp --dport 53 -j DROP"),
            std::string::npos)
      << diff.str();
}

// A transparent service on fw: wan's port 8022 is REDIRECTed to its port
// 22. The capture holds fw's answers as they left, from port 8022; its
// socket sent them from 22, which conntrack saw in OUTPUT before NAT
// rewrote them. Replayed as captured they would be a new connection and
// the client's one would never be answered; nfemu must not reset the
// client's SYN either (the capture shows a socket at the port it asked).
TEST(ReplayTest, OwnOutputOfARedirectedConnectionIsWhatTheSocketSent) {
  TempDir d;
  auto own = [](std::string_view spec) { return eth_frame(spec, kFwWan, kPeer); };
  write_pcap(d.file("wan.pcap"),
             {{1000000, eth_frame("tcp 203.0.113.10:50000 > 203.0.113.1:8022 flags S seq 100")},
              {1000100, own("tcp 203.0.113.1:8022 > 203.0.113.10:50000 flags SA seq 5000 ack 101")},
              {1001000, eth_frame("tcp 203.0.113.10:50000 > 203.0.113.1:8022 flags A seq 101 ack 5001")},
              {1002000, own("tcp 203.0.113.1:8022 > 203.0.113.10:50000 flags PA seq 5001 ack 101 payload 20")},
              {1003000, eth_frame("tcp 203.0.113.10:50000 > 203.0.113.1:8022 flags A seq 101 ack 5021")}});
  auto sc = load(R"(
[hosts.fw]
iptables = [
  "-t nat -A PREROUTING -i wan -p tcp --dport 8022 -j REDIRECT --to-ports 22",
  "-P INPUT DROP",
  "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
  "-A INPUT -p tcp --dport 22 -j ACCEPT",
]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
)");
  ReplayOptions o = wan_replay(d);
  o.own_output = true;
  o.out_dir = d.file("out");
  ReplaySummary r = summary_of(sc, o);
  const HostStats& h = r.hosts[0];
  std::string text = format_summary(r);
  EXPECT_EQ(h.ct_new, 1u) << text;
  EXPECT_EQ(h.connections, (std::map<std::string, uint64_t>{{"tcp ESTABLISHED [ASSURED]", 1}})) << text;
  EXPECT_EQ(h.delivered, 3u) << text;
  EXPECT_EQ(h.own_out, 2u) << text;
  EXPECT_EQ(h.generated, 0u) << text;
  // They leave as captured: from 8022, NAT undoing in OUTPUT what
  // replay undid before it.
  auto wan = packet::read_pcap_file(d.file("out/fw/wan.pcap"));
  ASSERT_TRUE(wan);
  ASSERT_EQ(wan->size(), 2u);
  for (const auto& f : *wan) {
    auto p = packet::Packet::from_frame(f.data);
    ASSERT_TRUE(p);
    EXPECT_EQ(packet::ConstTcpView(p->ip().payload()).sport(), 8022);
    EXPECT_EQ(packet::check_l4_checksum(p->ip()), packet::L4Checksum::Ok);
  }
}

// A protocol the host's stack has no handler for (ESP here) is answered
// with a protocol unreachable, unless the capture shows the host speaking
// it; an own frame to a group address is counted, not replayed.
TEST(ReplayTest, OwnOutputSilencesOtherProtocolsTheHostSpokeAndSkipsGroups) {
  TempDir d;
  write_pcap(d.file("wan.pcap"),
             {{1000000, eth_frame("esp 203.0.113.1 > 203.0.113.10 spi 7 payload 8", kFwWan, kPeer)},
              {1001000, eth_frame("esp 203.0.113.10 > 203.0.113.1 spi 8 payload 8")},
              {1002000, eth_frame("udp 203.0.113.1:5353 > 224.0.0.251:5353 payload 8", kFwWan, kPeer)}});
  auto sc = load(R"(
[hosts.fw]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
)");
  ReplayOptions o = wan_replay(d);
  ReplaySummary skipped = summary_of(sc, o);
  EXPECT_EQ(skipped.hosts[0].generated, 1u) << format_summary(skipped);  // the protocol unreachable
  o.own_output = true;
  ReplaySummary own = summary_of(sc, o);
  const HostStats& h = own.hosts[0];
  EXPECT_EQ(h.generated, 0u) << format_summary(own);
  EXPECT_EQ(h.delivered, 1u);
  EXPECT_EQ(h.own_sent, 1u);
  EXPECT_EQ(h.own_out, 1u);
  EXPECT_EQ(own.own_group, 1u);
  EXPECT_EQ(h.out_frames.at("wan"), 1u);
}

}  // namespace nfemu::replay
