// The chain walker against what ipt_do_table does: order, jumps, goto,
// RETURN, policies, counters and the TRACE naming of each decision.
#include <gtest/gtest.h>

#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

struct Recorder : TraceSink {
  std::vector<std::string> events;
  std::vector<std::string> unsupported;
  void on_event(const TraceEvent& ev, const packet::Packet&) override {
    static const char* kinds[] = {"rule", "return", "policy"};
    events.push_back(std::string(ev.table) + ":" + std::string(ev.chain) + ":" + kinds[static_cast<int>(ev.kind)] +
                     ":" + std::to_string(ev.rulenum));
  }
  void on_unsupported(std::string_view ext) override { unsupported.emplace_back(ext); }
};

Ruleset load(std::string_view text) {
  Ruleset rs;
  auto r = ruleset::restore(text, rs);
  EXPECT_TRUE(r) << r.error().format("test");
  return rs;
}

packet::Packet pkt(std::string_view spec, std::string_view in = "eth0", std::string_view out = "") {
  auto p = packet::parse_packet(spec);
  EXPECT_TRUE(p) << p.error().message;
  p->meta.in.set(in);
  p->meta.out.set(out);
  return std::move(*p);
}

Verdict run(Ruleset& rs, TableId table, Hook hook, packet::Packet& p, Recorder& rec) {
  EvalContext ctx{p, table, hook};
  ctx.thoff = static_cast<uint16_t>(p.ip().ihl() * 4);
  ctx.fragoff = p.ip().frag_offset();
  return run_table(*rs.find(table), ctx, &rec);
}

TEST(WalkTest, JumpReturnAndPolicyAsTraceNamesThem) {
  Ruleset rs = load(
      "*filter\n:INPUT DROP [0:0]\n:web - [0:0]\n"
      "-A INPUT -p udp -j ACCEPT\n"
      "-A INPUT -p tcp -j web\n"
      "-A web -p tcp --dport 22 -j ACCEPT\n"
      "-A web -p tcp --dport 80\n"
      "COMMIT\n");
  auto p = pkt("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S");
  Recorder rec;
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalIn, p, rec), Verdict::Drop);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"filter:INPUT:rule:2", "filter:web:rule:2", "filter:web:return:3",
                                                  "filter:INPUT:policy:3"}));
  // Counters: the jump, the counting rule, and the policy.
  std::string saved = ruleset::save(rs, {.counters = true});
  EXPECT_NE(saved.find(":INPUT DROP [1:40]"), std::string::npos) << saved;
  EXPECT_NE(saved.find("[1:40] -A INPUT -p tcp -j web"), std::string::npos) << saved;
  EXPECT_NE(saved.find("[1:40] -A web -p tcp -m tcp --dport 80\n"), std::string::npos) << saved;
  EXPECT_NE(saved.find("[0:0] -A web -p tcp -m tcp --dport 22 -j ACCEPT"), std::string::npos) << saved;
}

TEST(WalkTest, GotoReturnsToTheCallerOfTheCaller) {
  Ruleset rs = load(
      "*filter\n:a - [0:0]\n:b - [0:0]\n"
      "-A INPUT -j a\n-A INPUT -j DROP\n"
      "-A a -g b\n-A a -j ACCEPT\n"
      "-A b -p icmp -j RETURN\n"
      "COMMIT\n");
  auto p = pkt("icmp 198.51.100.10 > 203.0.113.4 echo-request");
  Recorder rec;
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalIn, p, rec), Verdict::Drop);
  // RETURN from b goes back past a (entered by goto) to INPUT rule 2; an
  // unconditional -j DROP in a builtin chain is reported as a policy.
  EXPECT_EQ(rec.events, (std::vector<std::string>{"filter:INPUT:rule:1", "filter:a:rule:1", "filter:b:rule:1",
                                                  "filter:INPUT:policy:2"}));
}

// Checked on Linux 6.18 with TRACE: an unconditional `-A a -j ACCEPT` in a
// user chain prints as "filter:a:return:1", and `-A OUTPUT -j DROP` as
// "filter:OUTPUT:policy:2" (trace_packet's unconditional() test).
TEST(WalkTest, UnconditionalVerdictRulesAreNamedLikeChainTails) {
  Ruleset rs = load("*filter\n:a - [0:0]\n-A OUTPUT -p udp -j a\n-A OUTPUT -j DROP\n-A a -j ACCEPT\nCOMMIT\n");
  auto p = pkt("udp 127.0.0.1:5000 > 127.0.0.1:9", "", "lo");
  Recorder rec;
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalOut, p, rec), Verdict::Accept);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"filter:OUTPUT:rule:1", "filter:a:return:1"}));
}

TEST(WalkTest, ReturnInBuiltinChainGoesToPolicy) {
  Ruleset rs = load("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -j RETURN\n-A INPUT -j ACCEPT\nCOMMIT\n");
  auto p = pkt("tcp 198.51.100.10:1 > 203.0.113.4:2 flags S");
  Recorder rec;
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalIn, p, rec), Verdict::Drop);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"filter:INPUT:rule:1", "filter:INPUT:policy:3"}));
}

TEST(WalkTest, IpCriteriaInterfacesAndInversion) {
  Ruleset rs = load(
      "*filter\n"
      "-A FORWARD -i eth+ ! -o eth1 -s 198.51.100.0/24 -j DROP\n"
      "COMMIT\n");
  Recorder rec;
  auto to_eth2 = pkt("udp 198.51.100.10:5 > 203.0.113.4:53", "eth0", "eth2");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::Forward, to_eth2, rec), Verdict::Drop);
  auto to_eth1 = pkt("udp 198.51.100.10:5 > 203.0.113.4:53", "eth0", "eth1");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::Forward, to_eth1, rec), Verdict::Accept);
  auto from_wlan = pkt("udp 198.51.100.10:5 > 203.0.113.4:53", "wlan0", "eth2");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::Forward, from_wlan, rec), Verdict::Accept);
  auto other_src = pkt("udp 192.0.2.1:5 > 203.0.113.4:53", "eth0", "eth2");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::Forward, other_src, rec), Verdict::Accept);
}

TEST(WalkTest, TcpFlagsPortsAndOptions) {
  Ruleset rs = load(
      "*filter\n:INPUT DROP [0:0]\n"
      "-A INPUT -p tcp --syn --dport 1000:2000 -j ACCEPT\n"
      "-A INPUT -p tcp ! --sport 53 --tcp-flags ACK,FIN ACK -j ACCEPT\n"
      "COMMIT\n");
  Recorder rec;
  auto syn = pkt("tcp 198.51.100.10:53 > 203.0.113.4:1500 flags S");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalIn, syn, rec), Verdict::Accept);
  auto synack = pkt("tcp 198.51.100.10:53 > 203.0.113.4:1500 flags SA");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalIn, synack, rec), Verdict::Drop);
  auto ack = pkt("tcp 198.51.100.10:54 > 203.0.113.4:1500 flags A");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalIn, ack, rec), Verdict::Accept);
  auto fin = pkt("tcp 198.51.100.10:54 > 203.0.113.4:1500 flags FA");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalIn, fin, rec), Verdict::Drop);
}

// An extension without evaluate() yet, injected directly into a rule.
class NotYetMatch : public MatchBase<NotYetMatch> {
 public:
  std::string_view name() const override { return "notyet"; }
  std::span<const OptionSpec> options() const override { return {}; }
  Result<void> parse(const OptionCall&, const ParseContext&) override { return {}; }
  void save(std::string&, const IpCriteria&) const override {}
};

TEST(WalkTest, UnsupportedExtensionsAreReportedNotGuessed) {
  Ruleset rs = load("*filter\n-A INPUT -j DROP\nCOMMIT\n");
  Rule r;
  r.matches.push_back(std::make_unique<NotYetMatch>());
  r.kind = TargetKind::Accept;
  ASSERT_TRUE(rs.find(TableId::Filter)->insert("INPUT", std::move(r), 1));
  Recorder rec;
  auto p = pkt("tcp 198.51.100.10:1 > 203.0.113.4:80 flags S");
  EXPECT_EQ(run(rs, TableId::Filter, Hook::LocalIn, p, rec), Verdict::Drop);
  EXPECT_EQ(rec.unsupported, std::vector<std::string>{"notyet"});
}

struct LogRecorder : Effects {
  std::vector<std::string> lines;
  unsigned addr_type(uint32_t, std::string_view) const override { return 1; }
  void log(std::string_view prefix, uint8_t level, uint8_t flags, const packet::Packet&, Hook) override {
    lines.push_back(std::string(prefix) + "/" + std::to_string(level) + "/" + std::to_string(flags));
  }
};

TEST(WalkTest, TraceLogAndStateEvaluate) {
  Ruleset rs = load(
      "*raw\n-A PREROUTING -p udp -j TRACE\nCOMMIT\n"
      "*filter\n-A INPUT -m state --state INVALID -j LOG --log-prefix \"inv \" --log-level 6 --log-ip-options\n"
      "-A INPUT -m state --state NEW,ESTABLISHED -j DROP\n-A INPUT -m state --state UNTRACKED -j DROP\nCOMMIT\n");
  LogRecorder effects;
  Recorder rec;
  auto p = pkt("udp 198.51.100.10:5 > 203.0.113.4:53");
  EvalContext raw{p, TableId::Raw, Hook::PreRouting};
  raw.thoff = 20;
  EXPECT_EQ(run_table(*rs.find(TableId::Raw), raw, &rec), Verdict::Accept);
  EXPECT_TRUE(p.meta.trace);
  // No conntrack entry and not untracked: the state is INVALID.
  EvalContext filter{p, TableId::Filter, Hook::LocalIn};
  filter.thoff = 20;
  filter.effects = &effects;
  EXPECT_EQ(run_table(*rs.find(TableId::Filter), filter, &rec), Verdict::Accept);
  EXPECT_EQ(effects.lines, std::vector<std::string>{"inv /6/4"});
  // CT --notrack leaves ctinfo UNTRACKED without an entry.
  p.meta.ctinfo = packet::CtInfo::Untracked;
  EXPECT_EQ(run_table(*rs.find(TableId::Filter), filter, &rec), Verdict::Drop);
  EXPECT_EQ(rec.events.back(), "filter:INPUT:rule:3");
}

}  // namespace
}  // namespace nfemu::xt
