// Conntrack on demand: a namespace tracks connections only while a rule
// holds a conntrack reference (nf_ct_netns_get in the extension's
// checkentry). Checked on Linux 6.18 by the corpus runs (DIFFERENCES.md
// items 6 and 9): with filter rules only, conntrack -E stays empty; with nat
// rules but no NAT target and no conntrack-using rule, the nat chains are
// never walked (counters 0, no TRACE), because nf_nat_inet_fn finds no
// conntrack entry on the packet. Also checked directly (fresh netns, a UDP
// datagram to 127.0.0.1 then conntrack -L): raw OUTPUT `-j CT --notrack` or
// `-j NOTRACK` on another port, or a nat table with an ACCEPT rule: no
// entry; `-j CT --zone 1` on another port: the datagram is tracked.
#include "stack/ct_demand.h"

#include <gtest/gtest.h>

#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "stack/host.h"

namespace nfemu::stack {
namespace {

constexpr uint32_t ip(int a, int b, int c, int d) {
  return static_cast<uint32_t>(a) << 24 | static_cast<uint32_t>(b) << 16 | static_cast<uint32_t>(c) << 8 |
         static_cast<uint32_t>(d);
}

struct Tables : PathObserver {
  std::vector<std::string> walked;
  int ct_points = 0;
  void on_table(const Host&, xt::Hook h, xt::TableId t, xt::Verdict, const packet::Packet&) override {
    walked.push_back(std::string(xt::table_name(t)) + ":" + std::string(xt::hook_chain_name(h)));
  }
  void on_conntrack(const Host&, xt::Hook, const packet::Packet&) override { ++ct_points; }
};

struct Box {
  Host host{"h"};
  Tables obs;
  explicit Box(std::string_view rules) {
    host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
    host.add_address("eth0", ip(198, 51, 100, 1), 24);
    auto r = ruleset::restore(rules, host.ruleset());
    EXPECT_TRUE(r) << r.error().format("rules");
    host.set_observer(&obs);
    host.on_wire = [](const Host&, std::string_view, packet::Packet&) {};
    host.neighbour = [](std::string_view, uint32_t) { return packet::Mac{2, 0, 0, 0, 0, 9}; };
  }
  void in(std::string_view spec) {
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p) << p.error().message;
    host.receive(std::move(*p), "eth0", 0);
  }
};

bool needs(std::string_view rules) {
  xt::Ruleset rs;
  auto r = ruleset::restore(rules, rs);
  EXPECT_TRUE(r) << r.error().format("rules");
  return ruleset_needs_conntrack(rs);
}

TEST(CtDemandTest, OnlyConntrackUsingExtensionsTakeAReference) {
  EXPECT_FALSE(needs(""));
  EXPECT_FALSE(needs("*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -j LOG\nCOMMIT\n"));
  // Registering the nat table takes no conntrack reference by itself.
  EXPECT_FALSE(needs("*nat\n-A PREROUTING -p udp -j ACCEPT\nCOMMIT\n"));
  // xt_ct_tg_check returns before nf_ct_netns_get for a notrack template.
  EXPECT_FALSE(needs("*raw\n-A PREROUTING -j CT --notrack\n-A OUTPUT -j NOTRACK\nCOMMIT\n"));
  EXPECT_TRUE(needs("*filter\n-A INPUT -m state --state ESTABLISHED -j ACCEPT\nCOMMIT\n"));
  EXPECT_TRUE(needs("*filter\n-A INPUT -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n"));
  EXPECT_TRUE(needs("*mangle\n-A PREROUTING -j CONNMARK --set-mark 1\nCOMMIT\n"));
  EXPECT_TRUE(needs("*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n"));
  EXPECT_TRUE(needs("*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 192.0.2.1\nCOMMIT\n"));
  EXPECT_TRUE(needs("*raw\n-A PREROUTING -j CT --zone 1\nCOMMIT\n"));
}

TEST(CtDemandTest, WithoutAReferenceNothingIsTrackedAndNatIsNotWalked) {
  Box b("*nat\n-A PREROUTING -p udp -j ACCEPT\nCOMMIT\n*filter\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n");
  EXPECT_FALSE(b.host.conntrack_enabled());
  b.in("udp 198.51.100.10:5000 > 198.51.100.1:53");
  EXPECT_EQ(b.host.conntrack().count(), 0u);
  EXPECT_TRUE(b.host.conntrack().take_events().empty());
  EXPECT_EQ(b.obs.ct_points, 0);
  for (const auto& w : b.obs.walked) EXPECT_NE(w.rfind("nat:", 0), 0u) << w;
}

TEST(CtDemandTest, AConntrackRuleTurnsTrackingOnAndNatIsWalked) {
  Box b("*nat\n-A PREROUTING -p udp -j ACCEPT\nCOMMIT\n*filter\n-A INPUT -m state --state NEW -j ACCEPT\nCOMMIT\n");
  EXPECT_TRUE(b.host.conntrack_enabled());
  b.in("udp 198.51.100.10:5000 > 198.51.100.1:53");
  EXPECT_GE(b.host.conntrack().count(), 1u);
  EXPECT_GE(b.obs.ct_points, 1);
  EXPECT_NE(std::find(b.obs.walked.begin(), b.obs.walked.end(), "nat:PREROUTING"), b.obs.walked.end());
}

TEST(CtDemandTest, ChangingTheRulesetRecomputes) {
  Box b("*filter\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n");
  EXPECT_FALSE(b.host.conntrack_enabled());
  auto r = ruleset::restore("*filter\n-A INPUT -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n", b.host.ruleset());
  ASSERT_TRUE(r);
  EXPECT_TRUE(b.host.conntrack_enabled());
}

}  // namespace
}  // namespace nfemu::stack
