// Conntrack accounting (nf_conntrack_acct): which packets a connection's
// counters take, in which direction, and what -L and events carry. The
// kernel's answers for the same packets: tests/scenarios/conntrack-acct.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "conntrack/conntrack.h"
#include "count_allocs.h"
#include "packet/grammar.h"

namespace nfemu::conntrack {
namespace {

using packet::Hook;
using packet::parse_packet;

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint32_t kClient = 0xc6336401;  // 198.51.100.1
constexpr uint32_t kServer = 0xcb007102;  // 203.0.113.2

class AcctTest : public ::testing::Test {
 protected:
  Table table;
  uint64_t now = 1000 * kSec;

  void SetUp() override { ASSERT_TRUE(table.set_sysctl("net.netfilter.nf_conntrack_acct", "1")); }

  // A forwarded packet: PREROUTING in(), POSTROUTING confirm(), then out.
  bool fwd(std::string_view text) {
    auto p = parse_packet(text);
    EXPECT_TRUE(p) << text;
    if (!p) return false;
    LookupResult r = table.in(*p, Hook::PreRouting, 0, now);
    bool tracked = p->meta.ct != nullptr;
    if (r.verdict == Verdict::Accept) table.confirm(*p, now);
    table.put(*p);
    return tracked;
  }
  const Entry* find(uint8_t proto, uint16_t sport, uint16_t dport) const {
    return table.find(Tuple{kClient, kServer, sport, dport, proto}, 0);
  }
  // "packets/bytes packets/bytes", original then reply; "none" without counters.
  std::string counts(const Entry* e) const {
    if (!e) return "no entry";
    const Counter* k = table.counters(*e);
    if (!k) return "none";
    return std::to_string(k[0].packets) + "/" + std::to_string(k[0].bytes) + " " + std::to_string(k[1].packets) + "/" +
           std::to_string(k[1].bytes);
  }
};

TEST(AcctSysctlTest, OffByDefaultAndReadBack) {
  Table t;
  EXPECT_FALSE(t.config().acct);
  EXPECT_EQ(*t.sysctl("nf_conntrack_acct"), 0u);
  ASSERT_TRUE(t.set_sysctl("net.netfilter.nf_conntrack_acct", "1"));
  EXPECT_EQ(*t.sysctl("net.netfilter.nf_conntrack_acct"), 1u);
  EXPECT_FALSE(t.set_sysctl("nf_conntrack_acct", "2"));
  t.set_acct(false);
  EXPECT_EQ(*t.sysctl("nf_conntrack_acct"), 0u);
}

TEST(AcctSizeTest, AnEntryStaysWithinFourCacheLines) {
  static_assert(sizeof(Entry) <= 256);
  EXPECT_LE(sizeof(Entry), 256u);
}

TEST_F(AcctTest, EachDirectionCountsItsPacketsAndIpTotalLength) {
  fwd("tcp 198.51.100.1:40000 > 203.0.113.2:80 flags S seq 1000");
  fwd("tcp 203.0.113.2:80 > 198.51.100.1:40000 flags SA seq 5000 ack 1001");
  fwd("tcp 198.51.100.1:40000 > 203.0.113.2:80 flags A seq 1001 ack 5001");
  fwd("tcp 198.51.100.1:40000 > 203.0.113.2:80 flags PA seq 1001 ack 5001 payload 100");
  EXPECT_EQ(counts(find(packet::kIpProtoTcp, 40000, 80)), "3/220 1/40");
}

TEST_F(AcctTest, ARetransmittedSynIsNotCounted) {
  fwd("tcp 198.51.100.1:40001 > 203.0.113.2:80 flags S seq 1000");
  fwd("tcp 198.51.100.1:40001 > 203.0.113.2:80 flags S seq 1000");
  EXPECT_EQ(counts(find(packet::kIpProtoTcp, 40001, 80)), "1/40 0/0");
}

TEST_F(AcctTest, AnInvalidPacketIsNotCounted) {
  fwd("tcp 198.51.100.1:40002 > 203.0.113.2:80 flags S seq 1000");
  fwd("tcp 203.0.113.2:80 > 198.51.100.1:40002 flags SA seq 5000 ack 1001");
  fwd("tcp 198.51.100.1:40002 > 203.0.113.2:80 flags A seq 1001 ack 5001");
  EXPECT_FALSE(fwd("tcp 198.51.100.1:40002 > 203.0.113.2:80 flags A seq 900000 ack 5001"));
  EXPECT_EQ(counts(find(packet::kIpProtoTcp, 40002, 80)), "2/80 1/40");
}

TEST_F(AcctTest, ARstWithoutReplyIsCountedBeforeTheDestroyEvent) {
  fwd("tcp 198.51.100.1:40003 > 203.0.113.2:80 flags S seq 1000");
  table.take_events();
  fwd("tcp 203.0.113.2:80 > 198.51.100.1:40003 flags RA seq 0 ack 1001");
  auto ev = table.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::Destroy);
  EXPECT_TRUE(ev[0].view.has_counters);
  EXPECT_EQ(ev[0].view.counters[kOriginal], (Counter{1, 40}));
  EXPECT_EQ(ev[0].view.counters[kReply], (Counter{1, 40}));
}

TEST_F(AcctTest, NewAndUpdateEventsCarryNoCountersListingDoes) {
  fwd("udp 198.51.100.1:5000 > 203.0.113.2:53 payload 10");
  fwd("udp 203.0.113.2:53 > 198.51.100.1:5000 payload 30");
  auto ev = table.take_events();
  ASSERT_FALSE(ev.empty());
  for (const Event& e : ev) EXPECT_FALSE(e.view.has_counters);
  auto list = table.dump(now);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].has_counters);
  EXPECT_EQ(list[0].counters[kOriginal], (Counter{1, 38}));
  EXPECT_EQ(list[0].counters[kReply], (Counter{1, 58}));
}

TEST_F(AcctTest, AnIcmpErrorIsRelatedButNotCounted) {
  fwd("udp 198.51.100.1:5001 > 203.0.113.2:9 payload 10");
  // The port unreachable quotes the datagram: RELATED to its connection.
  auto quoted = parse_packet("udp 198.51.100.1:5001 > 203.0.113.2:9 payload 10");
  auto spec = packet::parse_packet_spec("icmp 203.0.113.2 > 198.51.100.1 type 3 code 3");
  ASSERT_TRUE(quoted && spec);
  auto err = packet::build_icmp_error(*spec, std::as_const(*quoted).ip());
  ASSERT_TRUE(err);
  LookupResult r = table.in(*err, Hook::PreRouting, 0, now);
  EXPECT_EQ(r.ctinfo, CtInfo::RelatedReply);
  table.confirm(*err, now);
  table.put(*err);
  const Entry* e = find(packet::kIpProtoUdp, 5001, 9);
  EXPECT_EQ(counts(e), "1/38 0/0");
}

TEST_F(AcctTest, ADestroyAfterExpiryCarriesTheCounters) {
  fwd("icmp 198.51.100.1 > 203.0.113.2 echo-request id 7 seq 1");
  fwd("icmp 203.0.113.2 > 198.51.100.1 echo-reply id 7 seq 1");
  table.take_events();
  now += 31 * kSec;
  table.expire_until(now);
  auto ev = table.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::Destroy);
  EXPECT_EQ(ev[0].view.counters[kOriginal], (Counter{1, 84}));
  EXPECT_EQ(ev[0].view.counters[kReply], (Counter{1, 84}));
}

TEST_F(AcctTest, OnlyEntriesMadeWhileTheSysctlIsOnHaveCounters) {
  table.set_acct(false);
  fwd("udp 198.51.100.1:6000 > 203.0.113.2:53");
  table.set_acct(true);
  fwd("udp 198.51.100.1:6000 > 203.0.113.2:53");
  fwd("udp 198.51.100.1:6001 > 203.0.113.2:53");
  EXPECT_EQ(counts(find(packet::kIpProtoUdp, 6000, 53)), "none");
  EXPECT_EQ(counts(find(packet::kIpProtoUdp, 6001, 53)), "1/28 0/0");
  // Turned off again: existing entries keep counting (the extension stays).
  table.set_acct(false);
  fwd("udp 198.51.100.1:6001 > 203.0.113.2:53");
  EXPECT_EQ(counts(find(packet::kIpProtoUdp, 6001, 53)), "2/56 0/0");
}

TEST_F(AcctTest, AReusedSlotStartsFromZero) {
  fwd("tcp 198.51.100.1:40010 > 203.0.113.2:80 flags S seq 1000");
  fwd("tcp 203.0.113.2:80 > 198.51.100.1:40010 flags RA seq 0 ack 1001");  // killed, slot freed
  fwd("tcp 198.51.100.1:40011 > 203.0.113.2:80 flags S seq 1000");
  EXPECT_EQ(counts(find(packet::kIpProtoTcp, 40010, 80)), "no entry");
  EXPECT_EQ(counts(find(packet::kIpProtoTcp, 40011, 80)), "1/40 0/0");
}

TEST(AcctAllocTest, AWarmTableWithCountersAllocatesNothingPerPacket) {
  Table table;
  ASSERT_TRUE(table.set_sysctl("nf_conntrack_max", "1024"));
  ASSERT_TRUE(table.set_sysctl("nf_conntrack_acct", "1"));
  std::vector<Packet> pkts;
  for (int i = 0; i < 64; ++i) {
    auto out = parse_packet("udp 198.51.100.1:" + std::to_string(10000 + i) + " > 203.0.113.2:53 payload 10");
    auto back = parse_packet("udp 203.0.113.2:53 > 198.51.100.1:" + std::to_string(10000 + i) + " payload 30");
    ASSERT_TRUE(out && back);
    pkts.push_back(std::move(*out));
    pkts.push_back(std::move(*back));
  }
  std::vector<Event> events;
  events.reserve(4096);
  uint64_t now = 1000 * kSec;
  auto round = [&] {
    for (Packet& p : pkts) {
      table.in(p, Hook::PreRouting, 0, now);
      table.confirm(p, now);
      table.put(p);
      table.take_events(&events);
    }
    // Everything expires: DESTROY with counters, slots back on the free list.
    now += 200 * kSec;
    table.expire_until(now);
    table.take_events(&events);
  };
  // Warming takes the first slots and the event buffer: the counter counts.
  EXPECT_GT(testing::allocations_during(round), 0u);
  // More connections than the reservation holds: only reused slots keep it.
  EXPECT_EQ(testing::allocations_during([&] {
              for (int r = 0; r < 20; ++r) round();
            }),
            0u);
  EXPECT_EQ(table.count(), 0u);
}

}  // namespace
}  // namespace nfemu::conntrack
