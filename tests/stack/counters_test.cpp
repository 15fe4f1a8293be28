// Rule counters under the compiled classifier: its walk keeps a matched
// rule's counts aside (xt::CompiledTable::fold_counters) and Host folds
// them into the rules whenever they can be read or changed. Whatever is
// read through ruleset() must equal the linear classifier's counters,
// which count in the rules directly.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "stack/host.h"

namespace nfemu::stack {
namespace {

constexpr uint32_t ip(int a, int b, int c, int d) {
  return static_cast<uint32_t>(a) << 24 | static_cast<uint32_t>(b) << 16 | static_cast<uint32_t>(c) << 8 |
         static_cast<uint32_t>(d);
}

// A router between 198.51.100.0/24 (eth0) and 203.0.113.0/24 (eth1).
struct Router {
  Host host{"fw"};
  Router(const std::string& rules, Host::Classifier c) {
    host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
    host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2});
    host.add_address("eth0", ip(198, 51, 100, 1), 24);
    host.add_address("eth1", ip(203, 0, 113, 1), 24);
    host.set_sysctl("net.ipv4.ip_forward", 1);
    auto r = ruleset::restore(rules, host.ruleset());
    EXPECT_TRUE(r) << r.error().format("rules");
    host.set_classifier(c);
  }
  void in(const std::string& spec) {
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p) << p.error().message;
    host.receive(std::move(*p), "eth0", 0);
  }
};

// Over 64 rules in FORWARD (the result cache), rules whose matches the
// index proves (-p udp --dport) and rules it does not (length), a user
// chain with RETURN, and tables before and after conntrack.
std::string rules() {
  std::string s = "*raw\n-A PREROUTING -p icmp -j ACCEPT\nCOMMIT\n"
                  "*mangle\n-A PREROUTING -p udp --dport 53 -j MARK --set-mark 1\n-A FORWARD -m mark --mark 1\nCOMMIT\n"
                  "*filter\n:FORWARD DROP [0:0]\n:web - [0:0]\n"
                  "-A web -s 198.51.100.13 -j RETURN\n-A web -m length --length 0:200 -j ACCEPT\n"
                  "-A web -p tcp --dport 443 -j ACCEPT\n";
  for (int k = 0; k < 80; ++k) {
    s += fmt::format("-A FORWARD -s 198.51.100.{} -p udp --dport {} -j ACCEPT\n", 10 + k % 8, 1000 + k);
    if (k % 10 == 0) s += fmt::format("-A FORWARD -d 203.0.113.{} -p tcp -j web\n", 1 + k / 10);
    if (k % 16 == 3) s += "-A FORWARD -m conntrack --ctstate ESTABLISHED -p tcp --dport 80 -j ACCEPT\n";
  }
  s += "-A FORWARD -p udp --dport 53 -j ACCEPT\n-A FORWARD -m length --length 300:400 -j DROP\n"
       "-A FORWARD -p tcp --dport 80\nCOMMIT\n";
  return s;
}

std::string random_packet(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  const int src = 10 + pick(8), dst = 1 + pick(9), payload = pick(5) * 90;
  const int ports[] = {53, 80, 443, 1000 + pick(80), 2000};
  const int dport = ports[pick(5)], sport = 40000 + pick(4);
  switch (pick(3)) {
    case 0:
      return fmt::format("udp 198.51.100.{}:{} > 203.0.113.{}:{} payload {}", src, sport, dst, dport, payload);
    case 1:
      return fmt::format("tcp 198.51.100.{}:{} > 203.0.113.{}:{} flags {} payload {}", src, sport, dst, dport,
                         pick(2) ? "S" : "A", payload);
    default:
      return fmt::format("icmp 198.51.100.{} > 203.0.113.{} echo-request payload {}", src, dst, payload);
  }
}

std::string counters(const Host& h) { return ruleset::save(h.ruleset(), {.counters = true}); }
std::string counters(Host& h) { return ruleset::save(h.ruleset(), {.counters = true}); }

TEST(CountersTest, CompiledClassifierCountsAsTheLinearOne) {
  Router compiled(rules(), Host::Classifier::Compiled), linear(rules(), Host::Classifier::Linear);
  std::mt19937 rng(20261127);
  auto send = [&](int n) {
    for (int k = 0; k < n; ++k) {
      std::string spec = random_packet(rng);
      compiled.in(spec);
      linear.in(spec);
    }
  };
  send(300);
  const std::string first = counters(linear.host);
  // Not a ruleset that counts nothing: rules of FORWARD and web matched.
  EXPECT_NE(first.find("] -A FORWARD -s 198.51.100."), std::string::npos);
  EXPECT_EQ(first.find("[0:0] -A FORWARD -p udp -m udp --dport 53 -j ACCEPT"), std::string::npos) << first;
  EXPECT_EQ(first.find("[0:0] -A web -m length --length 0:200 -j ACCEPT"), std::string::npos) << first;
  EXPECT_EQ(counters(compiled.host), first);
  send(200);
  // The const accessor folds as well (json and the timeline read a const Host).
  const Host& view = compiled.host;
  EXPECT_EQ(counters(view), counters(linear.host));

  // Switched to linear and back mid-run, nobody reading in between.
  send(150);
  compiled.host.set_classifier(Host::Classifier::Linear);
  send(150);
  compiled.host.set_classifier(Host::Classifier::Compiled);
  send(150);
  EXPECT_EQ(counters(compiled.host), counters(linear.host));

  // Rules changed mid-run through ruleset(): counts pending before the
  // change belong to the rules of before (rule 1 moves to 2, is deleted).
  send(200);
  for (Router* r : {&compiled, &linear})
    ASSERT_TRUE(ruleset::apply_iptables_line("-I FORWARD 1 -p udp --dport 1001 -j DROP", r->host.ruleset(), 1));
  send(200);
  for (Router* r : {&compiled, &linear}) ASSERT_TRUE(ruleset::apply_iptables_line("-D FORWARD 2", r->host.ruleset(), 1));
  send(200);
  // -Z FORWARD: what was pending is zeroed with the rest, not added after.
  for (Router* r : {&compiled, &linear}) ASSERT_TRUE(ruleset::apply_iptables_line("-Z FORWARD", r->host.ruleset(), 1));
  send(200);
  // A whole new ruleset, assigned: nothing of the old one survives.
  EXPECT_EQ(counters(compiled.host), counters(linear.host));
  send(100);
  for (Router* r : {&compiled, &linear}) {
    xt::Ruleset fresh;
    ASSERT_TRUE(ruleset::restore(rules(), fresh));
    r->host.ruleset() = fresh;
  }
  send(300);
  EXPECT_EQ(counters(compiled.host), counters(linear.host));
  EXPECT_TRUE(compiled.host.classifier_ready());
}

// An observer that reads the ruleset while the walk is under way (as
// net/network.cpp does for a policy event) folds the counts in the middle
// of a walk: the walk goes on counting, nothing is counted twice or lost.
TEST(CountersTest, FoldingDuringAWalkCountsEveryPacketOnce) {
  struct Reader : PathObserver {
    int folds = 0;
    void on_rule(const Host& h, xt::Hook, const xt::TraceEvent&, const packet::Packet&) override {
      folds += !h.ruleset().tables().empty();  // folds
    }
  } reader;
  Router compiled(rules(), Host::Classifier::Compiled), linear(rules(), Host::Classifier::Linear);
  compiled.host.set_observer(&reader);
  std::mt19937 rng(7);
  for (int k = 0; k < 300; ++k) {
    std::string spec = random_packet(rng);
    compiled.in(spec);
    linear.in(spec);
  }
  EXPECT_GT(reader.folds, 300);
  EXPECT_EQ(counters(compiled.host), counters(linear.host));
}

// A reference kept from ruleset() across packets (see Host::ruleset()):
// counters read through it lag until ruleset() is called again; rules
// changed through it lose the counts pending since that call, and no rule
// is ever credited with another's counts.
TEST(CountersTest, AReferenceKeptAcrossPacketsNeverMisattributesCounts) {
  const std::string text = "*filter\n-A FORWARD -p udp --dport 53 -j ACCEPT\n-A FORWARD -p udp --dport 54 -j ACCEPT\nCOMMIT\n";
  Router r(text, Host::Classifier::Compiled);
  xt::Ruleset& kept = r.host.ruleset();
  const std::string dns = "udp 198.51.100.10:5000 > 203.0.113.4:53";
  r.in(dns);
  r.in(dns);
  const auto& fwd = kept.find(xt::TableId::Filter)->find("FORWARD")->rules;
  EXPECT_EQ(fwd[0].counters.packets, 0u);  // pending: not folded yet
  EXPECT_EQ(r.host.ruleset().find(xt::TableId::Filter)->find("FORWARD")->rules[0].counters.packets, 2u);
  EXPECT_EQ(fwd[0].counters.packets, 2u);  // the same rule, now folded
  r.in(dns);
  // Changed through the kept reference, without ruleset(): the pending
  // packet was counted for position 1, which is now another rule.
  ASSERT_TRUE(ruleset::apply_iptables_line("-I FORWARD 1 -p udp --dport 99 -j DROP", kept, 1));
  r.in(dns);
  const auto& now = r.host.ruleset().find(xt::TableId::Filter)->find("FORWARD")->rules;
  ASSERT_EQ(now.size(), 3u);
  EXPECT_EQ(now[0].counters.packets, 0u) << "the new rule got the old rule 1's pending count";
  EXPECT_EQ(now[1].counters.packets, 3u);  // 2 folded + the one after the change; the pending one is lost
  EXPECT_EQ(now[2].counters.packets, 0u);
  // Zeroed through the kept reference with a count pending: the count is
  // from before the zero and must not show after it.
  r.in(dns);
  ASSERT_TRUE(ruleset::apply_iptables_line("-Z FORWARD", kept, 1));
  const auto& zeroed = r.host.ruleset().find(xt::TableId::Filter)->find("FORWARD")->rules;
  EXPECT_EQ(zeroed[1].counters.packets, 0u) << "a count from before -Z was added after it";
  r.in(dns);
  EXPECT_EQ(r.host.ruleset().find(xt::TableId::Filter)->find("FORWARD")->rules[1].counters.packets, 1u);
}

}  // namespace
}  // namespace nfemu::stack
