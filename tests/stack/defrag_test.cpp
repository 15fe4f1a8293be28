// Fragment queues in a host (defrag.cpp), as the corpus scenarios
// frag-timeout and frag-overlap showed on Linux 6.18 via nfemu verify:
// ip_expire answers ICMP time exceeded, code 1, from the datagram's
// destination, quoting the first fragment, only when that fragment came
// and only from an end host (the conntrack queues of a router stay
// silent); an overlap discards the queue so the datagram never arrives.
#include <gtest/gtest.h>

#include "packet/grammar.h"
#include "packet/headers.h"
#include "ruleset/restore.h"
#include "stack/host.h"

namespace nfemu::stack {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

struct Box {
  Host host{"box"};
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> sent;  // time, IP datagram
  uint64_t now = 0;
  explicit Box(const char* rules = nullptr) {
    host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
    host.add_address("eth0", 0xC6336414, 24);  // 198.51.100.20
    host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2});
    host.add_address("eth1", 0xCB007101, 24);  // 203.0.113.1
    host.set_sysctl("net.ipv4.ip_forward", 1);
    if (rules) {
      auto r = ruleset::restore(rules, host.ruleset());
      EXPECT_TRUE(r) << r.error().message;
    }
    host.on_wire = [this](const Host&, std::string_view, packet::Packet& p) {
      auto b = p.ip().bytes();
      sent.emplace_back(now, std::vector<uint8_t>(b.begin(), b.end()));
    };
    host.neighbour = [](std::string_view, uint32_t) { return packet::Mac{2, 0, 0, 0, 0, 9}; };
  }
  void in(std::string_view spec, uint64_t t) {
    run(t - 1);  // a timer fires after its nominal time
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
};

constexpr const char* kTrack = "*filter\n-A FORWARD -m state --state NEW -j ACCEPT\nCOMMIT\n";
constexpr const char* kFirstToBox = "udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 7 payload 100 frag 0+64 mf";

TEST(DefragTest, ExpiryAnswersTimeExceededAboutTheFirstFragment) {
  for (const char* rules : {static_cast<const char*>(nullptr), kTrack}) {
    Box b(rules);
    b.in(kFirstToBox, 1 * kSec);
    b.run(100 * kSec);
    ASSERT_EQ(b.sent.size(), 1u) << (rules ? "conntrack" : "local delivery");
    EXPECT_EQ(b.sent[0].first, 31 * kSec);  // ipfrag_time 30 s from the first fragment
    packet::ConstIpv4View ip(b.sent[0].second);
    EXPECT_EQ(ip.saddr(), 0xC6336414u);
    EXPECT_EQ(ip.daddr(), 0xC633640Au);
    auto icmp = ip.payload();
    EXPECT_EQ(icmp[0], 11);
    EXPECT_EQ(icmp[1], 1);
    EXPECT_EQ(ip.total_length(), 20 + 8 + 20 + 64);  // the whole first fragment quoted
  }
}

TEST(DefragTest, NoAnswerWithoutTheFirstFragmentOrOnARouter) {
  {
    Box b;
    b.host.set_sysctl("net.ipv4.ipfrag_time", 5);
    b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 7 payload 100 frag 64", 1 * kSec);
    EXPECT_EQ(b.host.next_timer(), 6 * kSec);
    b.run(100 * kSec);
    EXPECT_TRUE(b.sent.empty());
    EXPECT_FALSE(b.host.next_timer());
  }
  {
    Box b(kTrack);  // forwarded: only conntrack's queue holds it
    b.in("udp 198.51.100.10:5000 > 203.0.113.9:9 ipid 7 payload 100 frag 0+64 mf", 1 * kSec);
    b.run(100 * kSec);
    EXPECT_TRUE(b.sent.empty());
  }
}

// The timer runs from the first fragment, not the last: the rest, 1 s
// after the expiry, starts a queue of its own.
TEST(DefragTest, TheTimerIsNotExtended) {
  Box b;
  b.host.set_sysctl("net.ipv4.ipfrag_time", 2);
  b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 7 payload 100 frag 0+32 mf", 1 * kSec);
  b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 7 payload 100 frag 32+32 mf", 2 * kSec);
  b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 7 payload 100 frag 64", 4 * kSec);
  b.run(5 * kSec);
  ASSERT_EQ(b.sent.size(), 1u);  // time exceeded at 3 s, no port unreachable
  EXPECT_EQ(b.sent[0].first, 3 * kSec);
}

TEST(DefragTest, OverlapLosesTheDatagram) {
  for (const char* rules : {static_cast<const char*>(nullptr), kTrack}) {
    Box b(rules);
    b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 7 payload 40 frag 0+24 mf", 1 * kSec);
    b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 7 payload 40 frag 16+16 mf", 1 * kSec);
    b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 7 payload 40 frag 24", 1 * kSec);
    EXPECT_TRUE(b.sent.empty());  // no port unreachable: never reassembled
    b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 8 payload 40 frag 0+24 mf", 2 * kSec);
    b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 8 payload 40 frag 0+24 mf", 2 * kSec);  // a duplicate
    b.in("udp 198.51.100.10:5000 > 198.51.100.20:9 ipid 8 payload 40 frag 24", 2 * kSec);
    ASSERT_EQ(b.sent.size(), 1u);
    EXPECT_EQ(packet::ConstIpv4View(b.sent[0].second).payload()[0], 3);  // port unreachable
  }
}

}  // namespace
}  // namespace nfemu::stack
