// The rpfilter match (ipt_rpfilter.c) against a host whose FIB is a table
// of answers: which flow it asks the host about, and what it makes of the
// answer. tests/scenarios/rpfilter-match checks the same against the
// kernel with a real FIB.
#include <gtest/gtest.h>

#include <map>

#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr unsigned kUnicast = 1, kLocal = 2, kBroadcast = 3;

// Routes back by source address: RTN_* type and the device of the next hop.
class FakeFib : public Effects {
 public:
  struct Back {
    unsigned type;
    std::string dev;
  };
  std::map<uint32_t, Back> routes;
  mutable std::vector<ReverseFlow> asked;

  ReverseRoute reverse_route(const ReverseFlow& flow, std::string_view in_dev) const override {
    asked.push_back(flow);
    auto it = routes.find(flow.daddr);
    if (it == routes.end()) return {};
    return {.type = it->second.type, .uses_in_dev = it->second.dev == in_dev};
  }
  unsigned addr_type(uint32_t, std::string_view) const override { return kUnicast; }
  void log(std::string_view, uint8_t, uint8_t, const packet::Packet&, Hook) override {}
};

constexpr uint32_t ip4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }

struct Verdicts : TraceSink {
  bool matched = false;
  void on_event(const TraceEvent& ev, const packet::Packet&) override {
    if (ev.kind == TraceEvent::Kind::Rule && ev.rulenum == 1) matched = true;
  }
};

class RpfilterTest : public ::testing::Test {
 protected:
  RpfilterTest() {
    // 198.51.100.0/24 is behind eth1, 203.0.113.0/24 behind eth0, which
    // holds 203.0.113.1; 203.0.113.255 is eth0's broadcast.
    fib.routes[ip4(198, 51, 100, 9)] = {kUnicast, "eth1"};
    fib.routes[ip4(203, 0, 113, 9)] = {kUnicast, "eth0"};
    fib.routes[ip4(203, 0, 113, 1)] = {kLocal, "eth0"};
    fib.routes[ip4(203, 0, 113, 255)] = {kBroadcast, "eth0"};
  }

  // Whether `-t raw -A PREROUTING -m rpfilter OPTIONS` matches spec
  // received on in.
  bool matches(std::string_view options, std::string_view spec, std::string_view in = "eth0",
               uint32_t mark = 0) {
    Ruleset rs;
    std::string text = "*raw\n-A PREROUTING -m rpfilter";
    text += options;
    text += "\nCOMMIT\n";
    auto r = ruleset::restore(text, rs);
    EXPECT_TRUE(r) << r.error().format("test");
    auto p = packet::parse_packet(spec);
    EXPECT_TRUE(p) << p.error().message;
    p->meta.in.set(in);
    p->meta.mark = mark;
    EvalContext ctx{*p, TableId::Raw, Hook::PreRouting};
    ctx.thoff = static_cast<uint16_t>(p->ip().ihl() * 4);
    ctx.effects = &fib;
    Verdicts v;
    run_table(*rs.find(TableId::Raw), ctx, &v);
    EXPECT_FALSE(ctx.hotdrop);
    return v.matched;
  }

  FakeFib fib;
};

constexpr std::string_view kFromEth0Net = "udp 203.0.113.9:5000 > 203.0.113.1:53";
constexpr std::string_view kFromEth1Net = "udp 198.51.100.9:5000 > 203.0.113.1:53";

TEST_F(RpfilterTest, StrictNeedsTheRouteBackThroughTheInputDevice) {
  EXPECT_TRUE(matches("", kFromEth0Net, "eth0"));
  EXPECT_FALSE(matches("", kFromEth1Net, "eth0"));
  EXPECT_TRUE(matches("", kFromEth1Net, "eth1"));
  EXPECT_FALSE(matches("", "udp 192.0.2.9:5000 > 203.0.113.1:53", "eth0"));  // no route at all
}

TEST_F(RpfilterTest, InvertNegatesEveryOutcome) {
  EXPECT_FALSE(matches(" --invert", kFromEth0Net, "eth0"));
  EXPECT_TRUE(matches(" --invert", kFromEth1Net, "eth0"));
  EXPECT_FALSE(matches(" --invert", kFromEth1Net, "lo"));
  EXPECT_FALSE(matches(" --invert", "udp 0.0.0.0:68 > 255.255.255.255:67", "eth1"));
}

TEST_F(RpfilterTest, LooseAsksOnlyForAUnicastRouteBack) {
  EXPECT_TRUE(matches(" --loose", kFromEth1Net, "eth0"));
  EXPECT_FALSE(matches(" --loose", "udp 192.0.2.9:5000 > 203.0.113.1:53", "eth0"));
  // A broadcast route back is never good enough.
  EXPECT_FALSE(matches(" --loose", "udp 203.0.113.255:5000 > 203.0.113.1:53", "eth0"));
}

TEST_F(RpfilterTest, LocalSourceOnlyWithAcceptLocalAndStillByDevice) {
  constexpr std::string_view kSpoofed = "udp 203.0.113.1:5000 > 203.0.113.1:53";
  EXPECT_FALSE(matches("", kSpoofed, "eth0"));
  EXPECT_FALSE(matches(" --loose", kSpoofed, "eth0"));
  EXPECT_TRUE(matches(" --accept-local", kSpoofed, "eth0"));
  EXPECT_FALSE(matches(" --accept-local", kSpoofed, "eth1"));
  EXPECT_TRUE(matches(" --accept-local --loose", kSpoofed, "eth1"));
}

TEST_F(RpfilterTest, LoopbackPassesWithoutALookup) {
  EXPECT_TRUE(matches("", "udp 192.0.2.9:5000 > 203.0.113.1:53", "lo"));
  EXPECT_TRUE(fib.asked.empty());
}

TEST_F(RpfilterTest, ZeroSourceToBroadcastOrLocalMulticastPassesWithoutALookup) {
  EXPECT_TRUE(matches("", "udp 0.0.0.0:68 > 255.255.255.255:67", "eth1"));
  EXPECT_TRUE(matches("", "udp 0.0.0.0:5000 > 224.0.0.22:5000", "eth1"));
  EXPECT_TRUE(fib.asked.empty());
  // Any other destination is looked up: the route back to 0.0.0.0.
  EXPECT_FALSE(matches("", "udp 0.0.0.0:5000 > 239.1.1.1:5000", "eth1"));
  EXPECT_FALSE(matches("", "udp 0.0.0.0:68 > 203.0.113.1:67", "eth1"));
  EXPECT_EQ(fib.asked.size(), 2u);
  fib.routes[0] = {kUnicast, "eth1"};  // a default route
  EXPECT_TRUE(matches("", "udp 0.0.0.0:68 > 203.0.113.1:67", "eth1"));
}

TEST_F(RpfilterTest, TheFlowAskedFor) {
  matches("", "udp 198.51.100.9:5000 > 203.0.113.1:53 tos 0xbb", "eth1", 7);
  ASSERT_EQ(fib.asked.size(), 1u);
  EXPECT_EQ(fib.asked[0].daddr, ip4(198, 51, 100, 9));
  EXPECT_EQ(fib.asked[0].saddr, ip4(203, 0, 113, 1));
  EXPECT_EQ(fib.asked[0].mark, 0u);  // only with --validmark
  EXPECT_EQ(fib.asked[0].dscp, 0xb8);
  matches(" --validmark", "udp 198.51.100.9:5000 > 203.0.113.1:53", "eth1", 7);
  EXPECT_EQ(fib.asked[1].mark, 7u);
  // rpfilter_get_saddr: no flow source from a multicast or broadcast destination.
  matches("", "udp 198.51.100.9:5000 > 239.1.1.1:53", "eth1");
  matches("", "udp 198.51.100.9:5000 > 255.255.255.255:53", "eth1");
  ASSERT_EQ(fib.asked.size(), 4u);
  EXPECT_EQ(fib.asked[2].saddr, 0u);
  EXPECT_EQ(fib.asked[3].saddr, 0u);
}

TEST_F(RpfilterTest, WithoutAHostNothingHasAPathBack) {
  Ruleset rs;
  ASSERT_TRUE(ruleset::restore("*raw\n-A PREROUTING -m rpfilter --loose\nCOMMIT\n", rs));
  auto p = packet::parse_packet(kFromEth0Net);
  ASSERT_TRUE(p);
  p->meta.in.set("eth0");
  EvalContext ctx{*p, TableId::Raw, Hook::PreRouting};
  Verdicts v;
  run_table(*rs.find(TableId::Raw), ctx, &v);
  EXPECT_FALSE(v.matched);
}

TEST(RpfilterRules, SavedInTheKernelsOrderAndOnlyInRawOrManglePrerouting) {
  Ruleset rs;
  auto r = ruleset::restore("*mangle\n-A PREROUTING -m rpfilter --invert --accept-local --validmark --loose\nCOMMIT\n",
                            rs);
  ASSERT_TRUE(r) << r.error().format("test");
  const Table& t = *rs.find(TableId::Mangle);
  ASSERT_EQ(t.chains().front().rules.size(), 1u);
  std::string saved;
  t.chains().front().rules[0].matches[0]->save(saved, t.chains().front().rules[0].ip);
  EXPECT_EQ(saved, " --loose --validmark --accept-local --invert");
  MatchFacts facts;
  t.chains().front().rules[0].matches[0]->describe(facts);
  EXPECT_TRUE(facts.pure);

  for (std::string_view bad : {"*filter\n-A INPUT -m rpfilter\nCOMMIT\n", "*raw\n-A OUTPUT -m rpfilter\nCOMMIT\n",
                               "*mangle\n-A FORWARD -m rpfilter\nCOMMIT\n", "*nat\n-A PREROUTING -m rpfilter\nCOMMIT\n",
                               "*raw\n-A PREROUTING -m rpfilter ! --loose\nCOMMIT\n",
                               "*raw\n-A PREROUTING -m rpfilter --loose --loose\nCOMMIT\n"}) {
    Ruleset other;
    EXPECT_FALSE(ruleset::restore(bad, other)) << bad;
  }
}

// xt_check_match tests the hook before rpfilter_check tests the table, so
// the kernel blames the hook in filter and the table only in nat PREROUTING.
TEST(RpfilterRules, HookRefusedBeforeTable) {
  Ruleset a, b;
  auto in_filter = ruleset::restore("*filter\n-A INPUT -m rpfilter\nCOMMIT\n", a);
  ASSERT_FALSE(in_filter);
  EXPECT_NE(in_filter.error().message.find("rpfilter match: used from hooks INPUT, but only valid from PREROUTING"),
            std::string::npos)
      << in_filter.error().message;
  auto in_nat = ruleset::restore("*nat\n-A PREROUTING -m rpfilter\nCOMMIT\n", b);
  ASSERT_FALSE(in_nat);
  EXPECT_NE(in_nat.error().message.find("ipt_rpfilter: only valid in 'raw' or 'mangle' table, not 'nat'"),
            std::string::npos)
      << in_nat.error().message;
}

}  // namespace
}  // namespace nfemu::xt
