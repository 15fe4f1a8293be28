// A listener's SYN-ACK retransmissions on the virtual clock, and the
// sockets a handshake's segments carry. Checked on
// Linux 6.18 (corpus scenarios local-answers, owner-output, recent-hitcount
// via nfemu verify): an unacknowledged SYN-ACK is sent again, byte for byte
// (same ISN and options, IP ID 0 with DF), 1 s, 3 s, 7 s ... after the first
// (reqsk_timer_handler, TCP_TIMEOUT_INIT doubling, tcp_synack_retries 5).
#include <gtest/gtest.h>

#include "packet/grammar.h"
#include "packet/headers.h"
#include "ruleset/restore.h"
#include "stack/host.h"

namespace nfemu::stack {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

struct Server {
  Host host{"srv"};
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> sent;  // time, IP datagram
  uint64_t now = 0;
  Server() {
    host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
    host.add_address("eth0", 0xC6336414, 24);  // 198.51.100.20
    host.add_listener(packet::kIpProtoTcp, 80);
    host.on_wire = [this](const Host&, std::string_view, packet::Packet& p) {
      auto b = p.ip().bytes();
      sent.emplace_back(now, std::vector<uint8_t>(b.begin(), b.end()));
    };
    host.neighbour = [](std::string_view, uint32_t) { return packet::Mac{2, 0, 0, 0, 0, 9}; };
  }
  void in(std::string_view spec, uint64_t t) {
    run(t);
    now = t;
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p) << p.error().message;
    host.receive(std::move(*p), "eth0", t);
  }
  void run(uint64_t until) {
    while (auto t = host.next_timer()) {
      if (*t > until) break;
      now = *t;
      host.run_timers(*t);
    }
  }
  std::vector<uint64_t> times() const {
    std::vector<uint64_t> out;
    for (const auto& s : sent) out.push_back(s.first);
    return out;
  }
};

constexpr const char* kSyn = "tcp 198.51.100.10:40000 > 198.51.100.20:80 flags S seq 1000";

uint32_t be32(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint32_t>(b[off]) << 24 | static_cast<uint32_t>(b[off + 1]) << 16 |
         static_cast<uint32_t>(b[off + 2]) << 8 | b[off + 3];
}
uint8_t tcp_flags(const std::vector<uint8_t>& b) { return b[33]; }
std::string segment(const char* flags, uint32_t seq, uint32_t ack) {
  return std::string("tcp 198.51.100.10:40000 > 198.51.100.20:80 flags ") + flags + " seq " + std::to_string(seq) +
         " ack " + std::to_string(ack);
}

TEST(HostTimersTest, UnacknowledgedSynAckIsRetransmittedWithBackoff) {
  Server s;
  s.in(kSyn, 0);
  s.run(100 * kSec);
  // 0 (answer), then 1, 3, 7, 15, 31 s; the request expires at 63 s.
  EXPECT_EQ(s.times(), (std::vector<uint64_t>{0, 1 * kSec, 3 * kSec, 7 * kSec, 15 * kSec, 31 * kSec}));
  for (const auto& p : s.sent) EXPECT_EQ(p.second, s.sent[0].second);
  EXPECT_FALSE(s.host.next_timer());
  // The request sock is gone: the late ACK meets the listener and is reset.
  uint32_t isn = be32(s.sent[0].second, 24);
  s.in(segment("A", 1001, isn + 1), 101 * kSec);
  ASSERT_EQ(s.sent.size(), 7u);
  EXPECT_TRUE(tcp_flags(s.sent.back().second) & packet::tcp_flag::kRst);
}

TEST(HostTimersTest, TheHandshakeAckStopsTheTimer) {
  Server s;
  s.in(kSyn, 0);
  s.run(2 * kSec);
  uint32_t isn = be32(s.sent[0].second, 24);
  s.in(segment("A", 1001, isn + 1), 2 * kSec);
  s.run(100 * kSec);
  EXPECT_EQ(s.times(), (std::vector<uint64_t>{0, 1 * kSec}));
  EXPECT_FALSE(s.host.next_timer());
}

TEST(HostTimersTest, AnInWindowRstDropsTheRequest) {
  Server s;
  s.in(kSyn, 0);
  // Out of the window: ignored, the timer runs on.
  s.in(segment("R", 1001 + 200000, 0), kSec / 2);
  EXPECT_TRUE(s.host.next_timer());
  s.in(segment("R", 1001, 0), 2 * kSec);
  s.run(100 * kSec);
  EXPECT_EQ(s.times(), (std::vector<uint64_t>{0, 1 * kSec}));
}

TEST(HostTimersTest, ARetransmittedSynIsAnsweredWithoutRearmingTheTimer) {
  Server s;
  s.in(kSyn, 0);
  s.in(kSyn, kSec / 2);
  s.run(4 * kSec);
  EXPECT_EQ(s.times(), (std::vector<uint64_t>{0, kSec / 2, 1 * kSec, 3 * kSec}));
  EXPECT_EQ(s.sent[1].second, s.sent[0].second);
}

// tcp_v4_early_demux, before the route lookup: a segment of a connection
// the host has gets its socket as skb->sk, which INPUT's cgroup match reads
// (cgroup_mt_v2: full sockets only; nfemu's are in the root cgroup, class
// id 0). The SYN has none (listeners are not in the established hash), the
// handshake's later segments the request sock (not full), the segments
// after the third ACK the child. Not for fragments, nor with
// net.ipv4.tcp_early_demux off.
TEST(HostTimersTest, EarlyDemuxGivesAConnectionsSegmentsItsSocket) {
  Server s;
  auto r = ruleset::restore(
      "*filter\n-A INPUT -m cgroup --path /\n-A INPUT -m cgroup ! --path /\n-A INPUT -m cgroup --cgroup 0\nCOMMIT\n",
      s.host.ruleset());
  ASSERT_TRUE(r) << r.error().format("rules");
  auto counts = [&] {
    std::vector<uint64_t> out;
    for (const auto& rule : s.host.ruleset().find(xt::TableId::Filter)->find("INPUT")->rules)
      out.push_back(rule.counters.packets);
    return out;
  };
  using V = std::vector<uint64_t>;
  s.in(kSyn, 0);
  EXPECT_EQ(counts(), (V{0, 0, 0}));
  uint32_t isn = be32(s.sent[0].second, 24);
  s.in(segment("R", 1001 + 200000, 0), kSec / 10);  // out of the window: ignored
  s.in(segment("A", 1001, isn + 1), kSec / 5);      // the third ACK meets the request sock
  EXPECT_EQ(counts(), (V{0, 0, 0}));
  s.in(segment("A", 1001, isn + 1), kSec / 4);  // now the child's
  EXPECT_EQ(counts(), (V{1, 0, 1}));
  // ip_local_deliver reassembles after early demux skipped the fragments:
  // the whole segment reaches INPUT without a socket.
  s.in(segment("A", 1001, isn + 1) + " payload 100 ipid 9 frag 0+48 mf", kSec / 3);
  s.in(segment("A", 1001, isn + 1) + " payload 100 ipid 9 frag 48", kSec / 3);
  EXPECT_EQ(counts(), (V{1, 0, 1}));
  EXPECT_EQ(s.host.ruleset().find(xt::TableId::Filter)->find("INPUT")->counters.packets, 5u);
  s.host.set_sysctl("net.ipv4.tcp_early_demux", 0);
  s.in(segment("A", 1001, isn + 1), kSec / 2);
  EXPECT_EQ(counts(), (V{1, 0, 1}));
  s.host.set_sysctl("net.ipv4.tcp_early_demux", 1);
  s.in(segment("A", 1001, isn + 1), kSec);
  EXPECT_EQ(counts(), (V{2, 0, 2}));
}

}  // namespace
}  // namespace nfemu::stack
