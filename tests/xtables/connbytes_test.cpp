// -m connbytes against connbytes_mt (xt_connbytes.c): which counters, the
// avgpkt division, the range and the `!` that iptables turns into a swap.
// Parse and save are checked against iptables-legacy in
// cases/connbytes.cases; behaviour on a router in tests/scenarios/connbytes.
#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "conntrack/conntrack.h"
#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

// The host's conntrack table, as Effects hands it to matches.
class CtHost : public Effects {
 public:
  explicit CtHost(const conntrack::Table& t) : t_(t) {}
  unsigned addr_type(uint32_t, std::string_view) const override { return 1; }
  void log(std::string_view, uint8_t, uint8_t, const packet::Packet&, Hook) override {}
  const conntrack::Table* conntrack_table() const override { return &t_; }

 private:
  const conntrack::Table& t_;
};

class ConnbytesTest : public ::testing::Test {
 protected:
  conntrack::Table table;
  CtHost host{table};
  std::deque<packet::Packet> held;

  ~ConnbytesTest() override {
    for (auto& p : held) table.put(p);
  }
  void SetUp() override { table.set_acct(true); }

  // Through conntrack (counted there), kept with its entry for the rule.
  packet::Packet& track(std::string_view spec) {
    auto p = packet::parse_packet(spec);
    EXPECT_TRUE(p) << spec;
    held.push_back(std::move(*p));
    packet::Packet& pk = held.back();
    table.in(pk, packet::Hook::PreRouting, 0, 0);
    if (pk.meta.ct) table.confirm(pk, 0);
    return pk;
  }

  // Whether `-A FORWARD -m connbytes OPTS` matches p.
  bool matches(std::string_view opts, packet::Packet& p) {
    std::string text = "*filter\n-A FORWARD -m connbytes ";
    text += opts;
    text += " -j DROP\nCOMMIT\n";
    Ruleset rs;
    auto r = ruleset::restore(text, rs);
    EXPECT_TRUE(r) << r.error().format("test");
    EvalContext ctx{p, TableId::Filter, Hook::Forward};
    ctx.thoff = static_cast<uint16_t>(p.ip().ihl() * 4);
    ctx.effects = &host;
    return run_table(*rs.find(TableId::Filter), ctx) == Verdict::Drop;
  }
};

constexpr std::string_view kSyn = "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S seq 100";
constexpr std::string_view kSynAck = "tcp 203.0.113.4:80 > 198.51.100.10:40000 flags SA seq 500 ack 101";
constexpr std::string_view kData = "tcp 198.51.100.10:40000 > 203.0.113.4:80 flags PA seq 101 ack 501 payload 100";

TEST_F(ConnbytesTest, TheFirstPacketIsAlreadyCounted) {
  auto& syn = track(kSyn);
  EXPECT_TRUE(matches("--connbytes 1:1 --connbytes-dir original --connbytes-mode packets", syn));
  EXPECT_FALSE(matches("--connbytes 0:0 --connbytes-dir original --connbytes-mode packets", syn));
  EXPECT_TRUE(matches("--connbytes 40:40 --connbytes-dir both --connbytes-mode bytes", syn));
  EXPECT_TRUE(matches("--connbytes 0:0 --connbytes-dir reply --connbytes-mode bytes", syn));
}

TEST_F(ConnbytesTest, DirectionsPickTheirCounters) {
  track(kSyn);
  auto& sa = track(kSynAck);
  auto& data = track(kData);
  // original: 2 packets, 180 bytes; reply: 1, 40.
  EXPECT_TRUE(matches("--connbytes 2:2 --connbytes-dir original --connbytes-mode packets", data));
  EXPECT_TRUE(matches("--connbytes 1:1 --connbytes-dir reply --connbytes-mode packets", data));
  EXPECT_TRUE(matches("--connbytes 3:3 --connbytes-dir both --connbytes-mode packets", data));
  EXPECT_TRUE(matches("--connbytes 180:180 --connbytes-dir original --connbytes-mode bytes", data));
  EXPECT_TRUE(matches("--connbytes 220:220 --connbytes-dir both --connbytes-mode bytes", data));
  // The same connection, whichever packet asks.
  EXPECT_TRUE(matches("--connbytes 3:3 --connbytes-dir both --connbytes-mode packets", sa));
}

TEST_F(ConnbytesTest, AvgpktRoundsDownAndIsZeroWithoutPackets) {
  track(kSyn);
  track(kSynAck);
  auto& data = track(kData);
  // both: 220 / 3 = 73.33; original: 180 / 2 = 90; reply: 40.
  EXPECT_TRUE(matches("--connbytes 73:73 --connbytes-dir both --connbytes-mode avgpkt", data));
  EXPECT_TRUE(matches("--connbytes 90:90 --connbytes-dir original --connbytes-mode avgpkt", data));
  EXPECT_TRUE(matches("--connbytes 40:40 --connbytes-dir reply --connbytes-mode avgpkt", data));
  auto& udp = track("udp 198.51.100.10:5000 > 203.0.113.4:53 payload 10");
  EXPECT_TRUE(matches("--connbytes 0:0 --connbytes-dir reply --connbytes-mode avgpkt", udp));
}

TEST_F(ConnbytesTest, NoUpperBoundAndInversionAsASwap) {
  track(kSyn);
  auto& sa = track(kSynAck);  // both: 2 packets
  EXPECT_TRUE(matches("--connbytes 2 --connbytes-dir both --connbytes-mode packets", sa));
  EXPECT_TRUE(matches("--connbytes 1: --connbytes-dir both --connbytes-mode packets", sa));
  EXPECT_FALSE(matches("--connbytes 3 --connbytes-dir both --connbytes-mode packets", sa));
  EXPECT_FALSE(matches("! --connbytes 2 --connbytes-dir both --connbytes-mode packets", sa));
  EXPECT_TRUE(matches("! --connbytes 3 --connbytes-dir both --connbytes-mode packets", sa));
  EXPECT_FALSE(matches("! --connbytes 1:5 --connbytes-dir both --connbytes-mode packets", sa));
  EXPECT_TRUE(matches("! --connbytes 3:5 --connbytes-dir both --connbytes-mode packets", sa));
  // from == to: the swap changes nothing, so `!` is lost.
  EXPECT_TRUE(matches("! --connbytes 2:2 --connbytes-dir both --connbytes-mode packets", sa));
  // ! 0 is "below 0 or above the maximum": never.
  EXPECT_FALSE(matches("! --connbytes 0 --connbytes-dir both --connbytes-mode packets", sa));
}

TEST_F(ConnbytesTest, NoCountersNoMatchEvenInverted) {
  table.set_acct(false);
  auto& syn = track(kSyn);
  EXPECT_FALSE(matches("--connbytes 0 --connbytes-dir both --connbytes-mode packets", syn));
  EXPECT_FALSE(matches("! --connbytes 5 --connbytes-dir both --connbytes-mode packets", syn));
  auto bare = packet::parse_packet(kSyn);  // not tracked
  ASSERT_TRUE(bare);
  EXPECT_FALSE(matches("--connbytes 0 --connbytes-dir both --connbytes-mode packets", *bare));
}

TEST(ConnbytesSaveTest, WhatIptablesSavePrints) {
  auto saved = [](std::string_view opts) {
    std::string text = "*filter\n-A FORWARD -m connbytes ";
    text += opts;
    text += "\nCOMMIT\n";
    Ruleset rs;
    auto r = ruleset::restore(text, rs);
    EXPECT_TRUE(r) << opts;
    if (!r) return std::string();
    const Rule& rule = rs.find(TableId::Filter)->find("FORWARD")->rules.at(0);
    return rule.spec_text();
  };
  EXPECT_EQ(saved("--connbytes 0:10 --connbytes-dir both --connbytes-mode packets"),
            " -m connbytes --connbytes 0:10 --connbytes-mode packets --connbytes-dir both");
  EXPECT_EQ(saved("--connbytes 1:18446744073709551615 --connbytes-dir reply --connbytes-mode bytes"),
            " -m connbytes --connbytes 1 --connbytes-mode bytes --connbytes-dir reply");
  EXPECT_EQ(saved("--connbytes 0:0 --connbytes-dir original --connbytes-mode avgpkt"),
            " -m connbytes --connbytes 0 --connbytes-mode avgpkt --connbytes-dir original");
  EXPECT_EQ(saved("! --connbytes 5:5 --connbytes-dir both --connbytes-mode packets"),
            " -m connbytes --connbytes 5:5 --connbytes-mode packets --connbytes-dir both");
  EXPECT_EQ(saved("! --connbytes 10 --connbytes-dir both --connbytes-mode packets"),
            " -m connbytes ! --connbytes 10 --connbytes-mode packets --connbytes-dir both");
}

}  // namespace
}  // namespace nfemu::xt
