// The compiled ruleset (xtables/compiled/classify.h) against the linear
// walker, its reference: on random rulesets built through iptables-restore
// text and random packets biased towards the rules' values, both must give
// the same verdict, hot-drop, TRACE events, unsupported reports, target
// effects (LOG calls, marks) and counters. Then one test per compiled field.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>
#include <set>

#include "conntrack/conntrack.h"
#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "xtables/compiled/classify.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

// Everything a walk leaves behind that can be compared.
struct Recorder : TraceSink, Effects {
  std::vector<std::string> lines;
  void on_event(const TraceEvent& ev, const packet::Packet& p) override {
    static const char* kinds[] = {"rule", "return", "policy"};
    lines.push_back(fmt::format("{}:{}:{}:{} trace={} mark={}", ev.table, ev.chain, kinds[static_cast<int>(ev.kind)],
                                ev.rulenum, bool{p.meta.trace}, p.meta.mark));
  }
  void on_unsupported(std::string_view ext) override { lines.push_back(fmt::format("unsupported {}", ext)); }
  unsigned addr_type(uint32_t, std::string_view) const override { return 1; }
  void log(std::string_view prefix, uint8_t level, uint8_t, const packet::Packet& p, Hook) override {
    lines.push_back(fmt::format("log '{}' {} mark={}", prefix, level, p.meta.mark));
  }
};

Ruleset load(std::string_view text) {
  Ruleset rs;
  auto r = ruleset::restore(text, rs);
  EXPECT_TRUE(r) << r.error().format("test") << "\n" << text;
  return rs;
}

struct Packet {
  packet::Packet pkt;
  uint16_t thoff = 20, fragoff = 0;
};

// What one walk did.
struct Outcome {
  Verdict verdict;
  bool hotdrop;
  std::vector<std::string> lines;
  uint32_t mark;
  std::string source;  // EvalContext::verdict
  bool operator==(const Outcome&) const = default;
};

// With events false the sink hears of unsupported extensions only (as
// nfemu replay's); the verdict's source must not change.
Outcome walk(Table& t, const CompiledTable* c, const Packet& in, Hook hook, bool events = true) {
  packet::Packet p = in.pkt;
  Recorder rec;
  rec.events = events;
  EvalContext ctx{p, t.id(), hook};
  ctx.thoff = in.thoff;
  ctx.fragoff = in.fragoff;
  ctx.effects = &rec;
  Verdict v = c ? run_table(t, *c, ctx, &rec) : run_table(t, ctx, &rec);
  const VerdictSource& s = ctx.verdict;
  return {v, ctx.hotdrop, rec.lines, p.meta.mark,
          s.chain.empty() ? "none" : fmt::format("{}:{}:{}", s.chain, s.rulenum, s.rule ? s.rule->spec_text() : "policy")};
}

// The lines a walk whose sink takes no events leaves: unsupported reports
// and target effects.
Outcome without_events(Outcome o) {
  std::erase_if(o.lines, [](const std::string& l) { return l.find(" trace=") != std::string::npos; });
  return o;
}

std::string describe(const Outcome& o) {
  std::string s = fmt::format("verdict {} hotdrop {} mark {} from {}\n", static_cast<int>(o.verdict), o.hotdrop,
                              o.mark, o.source);
  for (const auto& l : o.lines) s += "  " + l + "\n";
  return s;
}

// Random rulesets whose values come from small pools, so that packets
// drawn from the same pools hit them often.
class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  bool chance(double p) { return std::uniform_real_distribution<>(0, 1)(rng_) < p; }
  int pick(int n) { return std::uniform_int_distribution<>(0, n - 1)(rng_); }
  template <class T>
  const T& one(const std::vector<T>& v) { return v[static_cast<size_t>(pick(static_cast<int>(v.size())))]; }

  uint32_t addr() {
    static const std::vector<uint32_t> bases = {0xC6336400u, 0xCB007100u, 0xC0000200u};  // 198.51.100/203.0.113/192.0.2
    return one(bases) | static_cast<uint32_t>(pick(4) * 4 + pick(2));
  }
  uint16_t port() {
    static const std::vector<uint16_t> ports = {22, 53, 80, 443, 1000, 1005, 1010, 8080, 40000, 0, 65535};
    return one(ports);
  }
  std::string addr_word() {
    static const std::vector<int> lens = {32, 32, 30, 28, 24, 16, 0};
    int len = one(lens);
    uint32_t a = addr();
    return fmt::format("{}.{}.{}.{}/{}", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255, len);
  }
  std::string ports_word() {
    uint16_t a = port(), b = port();
    if (chance(0.3) && a != b) return fmt::format("{}:{}", std::min(a, b), std::max(a, b));
    return fmt::format("{}", a);
  }
  std::string not_() { return chance(0.25) ? "! " : ""; }
  // "! " only where the set stays one interval (or, for ctstate, any set):
  // rulesets whose sparse chains keep rule records (classify.h).
  std::string not_interval() { return interval_sets ? "" : not_(); }
  bool interval_sets = false;
  std::string states() {
    static const std::vector<std::string> s = {"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"};
    std::string out = one(s);
    if (chance(0.4)) out += "," + one(s);
    return out;
  }

  // iptables-restore text for table `table` with builtin chains `builtins`.
  std::string ruleset(std::string_view table, const std::vector<std::string>& builtins, int rules_per_chain) {
    int nuser = pick(4);
    std::vector<std::string> chains = builtins;
    for (int i = 0; i < nuser; ++i) chains.push_back(fmt::format("c{}", i));
    std::string text = fmt::format("*{}\n", table);
    for (const auto& b : builtins) text += fmt::format(":{} {} [0:0]\n", b, chance(0.5) ? "ACCEPT" : "DROP");
    for (int i = 0; i < nuser; ++i) text += fmt::format(":c{} - [0:0]\n", i);
    for (size_t ci = 0; ci < chains.size(); ++ci) {
      bool builtin = ci < builtins.size();
      int n = pick(rules_per_chain + 1);
      for (int k = 0; k < n; ++k) text += "-A " + chains[ci] + rule(table, chains, ci, builtin ? builtins[ci] : "") + "\n";
    }
    return text + "COMMIT\n";
  }

 private:
  std::string rule(std::string_view table, const std::vector<std::string>& chains, size_t ci, std::string_view builtin) {
    std::string r;
    if (chance(0.3)) r += " " + not_() + "-s " + addr_word();
    if (chance(0.3)) r += " " + not_() + "-d " + addr_word();
    // -i is refused in OUTPUT/POSTROUTING, -o in PREROUTING/INPUT.
    static const std::vector<std::string> ifaces = {"eth0", "eth1", "eth+", "lo", "wlan0"};
    bool no_in = builtin == "OUTPUT" || builtin == "POSTROUTING";
    bool no_out = builtin == "PREROUTING" || builtin == "INPUT";
    if (!no_in && chance(0.25)) r += " " + not_() + "-i " + one(ifaces);
    if (!no_out && chance(0.2)) r += " " + not_() + "-o " + one(ifaces);
    int proto = pick(interval_sets ? 4 : 5);  // 0 any, 1 tcp, 2 udp, 3 icmp, 4 ! tcp
    if (proto == 1) r += " -p tcp";
    if (proto == 2) r += " -p udp";
    if (proto == 3) r += " -p icmp";
    if (proto == 4) r += " ! -p tcp";
    if (chance(0.03)) r += " " + not_() + "-f";
    // Matches that may not be looked past: one with a side effect (its
    // counter advances), one nfemu cannot evaluate (reported).
    if (chance(0.05)) r += " -m statistic --mode nth --every 3 --packet 0";
    if (chance(0.03)) r += " -m string --string x --algo bm";
    if (chance(0.2)) r += fmt::format(" -m mark {}--mark {}{}", not_interval(), pick(4), chance(0.2) ? "/0x3" : "");
    if (proto == 1 || proto == 2) {
      std::string m = proto == 1 ? "tcp" : "udp";
      if (chance(0.6)) {
        r += " -m " + m;
        if (chance(0.5)) r += " " + not_interval() + "--sport " + ports_word();
        if (chance(0.8)) r += " " + not_interval() + "--dport " + ports_word();
        if (proto == 1 && chance(0.1)) r += " --tcp-flags SYN,ACK SYN";
        if (proto == 1 && chance(0.05)) r += " --tcp-option 2";
      }
      if (!interval_sets && chance(0.15))
        r += fmt::format(" -m multiport {}--{} {},{},{}", not_(), one(std::vector<std::string>{"dports", "sports", "ports"}),
                         port(), port(), "1000:1010");
    }
    if (proto == 3 && chance(0.5)) {
      static const std::vector<std::string> types = {"echo-request", "echo-reply", "3/3", "any", "8"};
      r += " -m icmp " + not_interval() + "--icmp-type " + one(types);
    }
    if (chance(0.25)) {
      if (chance(0.5)) r += " -m state " + not_() + "--state " + states();
      else r += " -m conntrack " + not_() + "--ctstate " + states() + (chance(0.1) ? ",SNAT" : "");
    }
    if (chance(0.1)) r += " -m comment --comment \"c\"";
    if (proto == 1 && chance(0.1)) r += " -m mark --mark 1";  // a pure match after a non-pure one
    // Targets; jumps only forward to user chains, so no loops.
    std::vector<std::string> targets = {"ACCEPT", "DROP", "RETURN", "", "LOG", "MARK"};
    if (table == "raw") targets.push_back("TRACE");
    if (table == "filter") targets.push_back("REJECT");
    std::vector<std::string> forward;
    for (size_t j = std::max<size_t>(ci + 1, 0); j < chains.size(); ++j)
      if (chains[j][0] == 'c') forward.push_back(chains[j]);
    if (!forward.empty() && chance(0.3)) return r + (chance(0.7) ? " -j " : " -g ") + one(forward);
    std::string t = one(targets);
    if (t.empty()) return r;
    if (t == "LOG") return r + fmt::format(" -j LOG --log-prefix \"p{}\"", pick(100));
    if (t == "MARK") return r + fmt::format(" -j MARK --set-mark {}", pick(4));
    return r + " -j " + t;
  }

  std::mt19937 rng_;
};

Packet random_packet(Gen& g, conntrack::Entry& entry) {
  packet::PacketSpec spec;
  int kind = g.pick(6);
  spec.kind = kind < 2 ? packet::SpecKind::Tcp : kind < 4 ? packet::SpecKind::Udp
              : kind == 4 ? packet::SpecKind::IcmpEcho : packet::SpecKind::IcmpType;
  spec.src = g.addr();
  spec.dst = g.addr();
  spec.sport = g.port();
  spec.dport = g.port();
  spec.tcp_flags = static_cast<uint8_t>(g.pick(64));
  spec.icmp_type = g.chance(0.5) ? 8 : g.chance(0.5) ? 0 : 3;
  spec.icmp_code = static_cast<uint8_t>(g.pick(4));
  spec.payload = static_cast<uint32_t>(g.pick(3) * 8);
  Packet p{packet::build_packet(spec)};
  static const std::vector<std::string> ifaces = {"eth0", "eth1", "eth7", "lo", "wlan0", ""};
  p.pkt.meta.in.set(g.one(ifaces));
  p.pkt.meta.out.set(g.one(ifaces));
  p.pkt.meta.mark = static_cast<uint32_t>(g.pick(5));
  static const std::vector<packet::CtInfo> infos = {packet::CtInfo::New, packet::CtInfo::Established,
                                                    packet::CtInfo::Related, packet::CtInfo::EstablishedReply,
                                                    packet::CtInfo::RelatedReply, packet::CtInfo::Untracked};
  p.pkt.meta.ctinfo = g.one(infos);
  p.pkt.meta.ct = (p.pkt.meta.ctinfo == packet::CtInfo::Untracked || g.chance(0.1)) ? nullptr : &entry;
  p.thoff = static_cast<uint16_t>(p.pkt.ip().ihl() * 4);
  // Fragments and truncated transport headers reach the hot-drop paths.
  if (g.chance(0.05)) p.fragoff = static_cast<uint16_t>(g.pick(3));
  if (g.chance(0.05)) p.thoff = static_cast<uint16_t>(p.pkt.size() - static_cast<size_t>(g.pick(12)));
  return p;
}

struct TableKind {
  std::string name;
  TableId id;
  std::vector<std::string> builtins;
};

TEST(CompiledTest, AgreesWithTheLinearWalkOnRandomRulesets) {
  const std::vector<TableKind> kinds = {
      {"filter", TableId::Filter, {"INPUT", "FORWARD", "OUTPUT"}},
      {"raw", TableId::Raw, {"PREROUTING", "OUTPUT"}},
      {"mangle", TableId::Mangle, {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}},
  };
  Gen g(20261126);
  conntrack::Entry entry;
  int packets = 0, loaded = 0, skipped_somewhere = 0, sparse_chains = 0, sparse_both = 0;
  uint64_t cache_hits = 0, cache_misses = 0, cache_bypassed = 0, matches_skipped = 0, gated = 0, record_scans = 0;
  int pending_folds = 0;  // folds that had counts to add
  for (int round = 0; round < 400; ++round) {
    const TableKind& k = kinds[static_cast<size_t>(round) % kinds.size()];
    // Every third ruleset without inverted ports, protocols, marks or ICMP
    // types and without multiport: its sparse chains keep rule records.
    g.interval_sets = round % 3 == 2;
    std::string text = g.ruleset(k.name, k.builtins, round % 20 == 0 ? 120 : 12);
    // Loaded twice, not copied: clones share match state (statistic, limit).
    Ruleset linear_rs, compiled_rs;
    if (auto r = ruleset::restore(text, linear_rs); !r) {
      ADD_FAILURE() << r.error().format("gen") << "\n" << text;
      continue;
    }
    ASSERT_TRUE(ruleset::restore(text, compiled_rs));
    ++loaded;
    Table& lt = *linear_rs.find(k.id);
    Table& ct = *compiled_rs.find(k.id);
    // Half the rounds with a tiny budget: merged classes must stay exact.
    // The result cache: by default (big chains only), on every chain with
    // one set (every other packet evicts: a key missing a field would hand
    // a packet another's candidates), or with 8 sets.
    ClassifyOptions opts{.field_budget_bytes = round % 2 ? 64u : size_t{1} << 20};
    // Merged address classes go exact and sparse, unless that is over its
    // budget: never (dense merged classes), or the primary field only.
    // With the tiny budget: sparse addresses always (rounds 3, 5, 7 mod 8),
    // within a budget that may take the primary field only (5), or never (1).
    if (round % 8 == 1) opts.addr_budget_bytes = 0;
    if (round % 8 >= 3 && round % 2) opts.sparse_addresses_always = true;
    if (round % 8 == 5) opts.addr_budget_bytes = 300;
    if (int c = round / 2 % 3; c > 0) {
      opts.cache_min_rules = 0;
      opts.cache_sets = c == 1 ? 1 : 8;
    }
    // The adaptive bypass, toggling every few traversals: a bypassed walk
    // must agree too, and so must a cache entry filled before a bypass.
    if (round % 4 >= 2) {
      opts.cache_window = 4;
      opts.cache_bypass = 3;
    }
    CompiledTable compiled = CompiledTable::compile(ct, opts);
    ASSERT_TRUE(compiled.fresh_for(ct));
    // Packets repeat (a flow's packets share a cache key), some with
    // another mark or ctstate, some on other interfaces.
    std::vector<Packet> seen;
    for (int n = 0; n < 25; ++n) {
      entry.status = g.chance(0.2) ? conntrack::status::kSrcNat : 0;
      Packet p = !seen.empty() && g.chance(0.5) ? g.one(seen) : random_packet(g, entry);
      if (g.chance(0.1)) p.pkt.meta.mark = static_cast<uint32_t>(g.pick(5));
      if (g.chance(0.1)) p.pkt.meta.ctinfo = g.chance(0.5) ? packet::CtInfo::New : packet::CtInfo::Established;
      if (g.chance(0.1)) p.pkt.meta.in.set(g.chance(0.5) ? "eth1" : "eth0");
      if (g.chance(0.05)) p.fragoff = static_cast<uint16_t>(g.pick(2));
      seen.push_back(p);
      Hook hook = *hook_from_chain_name(g.one(k.builtins));
      // One round in three the compiled walk's sink takes no events.
      const bool events = round % 3 != 1;
      Outcome a = walk(lt, nullptr, p, hook);
      Outcome b = walk(ct, &compiled, p, hook, events);
      if (!events) a = without_events(a);
      ++packets;
      ASSERT_EQ(a, b) << "round " << round << " packet " << n << "\n" << text << "linear:\n" << describe(a)
                      << "compiled:\n" << describe(b);
      // The compiled walk keeps rule counts aside until they are folded
      // into the rules (what stack::Host does before the rules are read):
      // now and then mid-run too, the walk going on after it.
      if (g.chance(0.1)) {
        pending_folds += compiled.counters_pending();
        ASSERT_TRUE(compiled.fold_counters(ct));
        ASSERT_FALSE(compiled.counters_pending());
      }
    }
    pending_folds += compiled.counters_pending();
    EXPECT_FALSE(compiled.fold_counters(lt)) << "folded into a table it was not compiled from";
    ASSERT_TRUE(compiled.fold_counters(ct));
    std::string sa = ruleset::save(linear_rs, {.counters = true}), sb = ruleset::save(compiled_rs, {.counters = true});
    ASSERT_EQ(sa, sb) << "round " << round;
    for (size_t c = 0; c < ct.chains().size(); ++c) {
      skipped_somewhere += compiled.indexed_fields(c) > 0;
      sparse_chains += compiled.sparse_address_fields(c) > 0;
      sparse_both += compiled.sparse_address_fields(c) == 2;
    }
    cache_hits += compiled.cache_stats().hits;
    cache_misses += compiled.cache_stats().misses;
    cache_bypassed += compiled.cache_stats().bypassed;
    matches_skipped += compiled.cache_stats().matches_skipped;
    gated += compiled.cache_stats().gated;
    record_scans += compiled.cache_stats().record_scans;
  }
  EXPECT_GT(loaded, 390);
  EXPECT_GT(skipped_somewhere, 300);  // the index is actually in use
  EXPECT_GT(sparse_chains, 150);      // and the sparse address index
  EXPECT_GT(sparse_both, 50);
  EXPECT_GT(pending_folds, 300);      // and the counts kept aside
  EXPECT_GT(cache_hits, 1000u);       // and the cache, both ways
  EXPECT_GT(cache_misses, 1000u);
  EXPECT_GT(cache_bypassed, 100u);
  // Rules whose matches the index proved (ports, state, mark, ICMP type)
  // were taken without calling them, and the outcome still agreed.
  EXPECT_GT(matches_skipped, 500u);
  // Chains whose gate field left a packet no candidate went to their end
  // at once, and the outcome still agreed.
  EXPECT_GT(gated, 100u);
  RecordProperty("gated", static_cast<int>(gated));
  // Sparse chains whose rules' other fields are intervals tested the
  // records of the few rules the addresses left.
  EXPECT_GT(record_scans, 1000u);
  RecordProperty("record_scans", static_cast<int>(record_scans));
  RecordProperty("cache_hits", static_cast<int>(cache_hits));
  RecordProperty("matches_skipped", static_cast<int>(matches_skipped));
  RecordProperty("packets", packets);
}

// --- one test per field: the candidate rules are skipped, the result is the same.

struct Single {
  Ruleset rs;
  CompiledTable compiled;
};

Single make(std::string_view text) {
  Single s{load(text), {}};
  s.compiled = CompiledTable::compile(*s.rs.find(TableId::Filter));
  return s;
}

packet::Packet mk(std::string_view spec, std::string_view in = "eth0", uint32_t mark = 0) {
  auto p = packet::parse_packet(spec);
  EXPECT_TRUE(p) << p.error().message;
  p->meta.in.set(in);
  p->meta.mark = mark;
  return std::move(*p);
}

// The rule numbers the compiled walk gives the packet.
std::vector<std::string> trace(Single& s, packet::Packet p, Hook hook = Hook::LocalIn) {
  Packet in{std::move(p)};
  in.thoff = static_cast<uint16_t>(in.pkt.ip().ihl() * 4);
  Table& t = *s.rs.find(TableId::Filter);
  Outcome a = walk(t, nullptr, in, hook);
  Outcome b = walk(t, &s.compiled, in, hook);
  EXPECT_EQ(a, b) << describe(a) << describe(b);
  return b.lines;
}

TEST(CompiledTest, SourceAndDestinationPrefixesWithInversion) {
  Single s = make(
      "*filter\n"
      "-A INPUT -s 198.51.100.0/24 -j LOG --log-prefix a\n"
      "-A INPUT ! -d 203.0.113.4/32 -j LOG --log-prefix b\n"
      "-A INPUT -s 192.0.2.0/255.0.255.0 -j LOG --log-prefix c\n"  // non-contiguous: not indexed, still exact
      "-A INPUT -d 203.0.113.0/28 -j LOG --log-prefix d\n"
      "COMMIT\n");
  auto lines = trace(s, mk("udp 198.51.100.7:1 > 203.0.113.4:2"));
  EXPECT_EQ(lines, (std::vector<std::string>{"filter:INPUT:rule:1 trace=false mark=0", "log 'a' 4 mark=0",
                                             "filter:INPUT:rule:4 trace=false mark=0", "log 'd' 4 mark=0",
                                             "filter:INPUT:policy:5 trace=false mark=0"}));
  EXPECT_GE(s.compiled.indexed_fields(0), 2u);  // INPUT: source and destination
}

TEST(CompiledTest, ProtocolAndPortRanges) {
  Single s = make(
      "*filter\n"
      "-A INPUT -p tcp --dport 22 -j DROP\n"
      "-A INPUT -p udp --sport 1000:2000 ! --dport 53 -j LOG\n"
      "-A INPUT -p udp -m multiport --dports 53,1000:1010 -j LOG\n"
      "-A INPUT ! -p udp -j DROP\n"
      "COMMIT\n");
  auto lines = trace(s, mk("udp 198.51.100.7:1500 > 203.0.113.4:53"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "filter:INPUT:rule:3 trace=false mark=0");
  lines = trace(s, mk("tcp 198.51.100.7:1500 > 203.0.113.4:22"));
  EXPECT_EQ(lines, std::vector<std::string>{"filter:INPUT:rule:1 trace=false mark=0"});
}

TEST(CompiledTest, ShortOrFragmentedTransportHeadersStillHotDrop) {
  // The LOG rule matches first: the drop is still no rule's (nfemu replay
  // counts it as a hotdrop, not against the LOG rule).
  Single s = make("*filter\n-A INPUT -j LOG\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
  Packet in{mk("tcp 198.51.100.7:1500 > 203.0.113.4:80")};
  in.thoff = static_cast<uint16_t>(in.pkt.size() - 10);  // 10 bytes left: tcp_mt hot-drops
  Table& t = *s.rs.find(TableId::Filter);
  Outcome b = walk(t, &s.compiled, in, Hook::LocalIn);
  EXPECT_TRUE(b.hotdrop);
  EXPECT_EQ(b.source, "none");
  for (bool events : {true, false}) EXPECT_EQ(walk(t, nullptr, in, Hook::LocalIn, events).source, "none");
  in.thoff = 20;
  in.fragoff = 1;  // the flag-overwrite attack
  EXPECT_TRUE(walk(t, &s.compiled, in, Hook::LocalIn).hotdrop);
}

TEST(CompiledTest, InterfacesExactWildcardAndInverted) {
  Single s = make(
      "*filter\n"
      "-A INPUT -i eth1 -j LOG --log-prefix a\n"
      "-A INPUT -i eth+ -j LOG --log-prefix b\n"
      "-A INPUT ! -i eth0 -j LOG --log-prefix c\n"
      "-A INPUT -i eth0 -j LOG --log-prefix d\n"
      "COMMIT\n");
  auto lines = trace(s, mk("udp 198.51.100.7:1 > 203.0.113.4:2", "eth0"));
  EXPECT_EQ(lines.size(), 5u);  // b, d and the policy
  lines = trace(s, mk("udp 198.51.100.7:1 > 203.0.113.4:2", "wlan0"));
  EXPECT_EQ(lines.size(), 3u);  // c and the policy
}

// A few names are compared as two words, more are binary-searched; a
// 15-byte name (IFNAMSIZ - 1) fills the words.
TEST(CompiledTest, InterfaceClassesFewManyAndLongNames) {
  for (int names : {3, 12}) {
    std::string text = "*filter\n";
    for (int k = 0; k < names; ++k) text += fmt::format("-A INPUT -i eth{} -j LOG --log-prefix e{}\n", k, k);
    text += "-A INPUT -i abcdefghijklmno -j LOG --log-prefix long\n-A INPUT -i abcdefghijklmn -j LOG --log-prefix short\n";
    text += "COMMIT\n";
    Single s = make(text);
    for (std::string_view in : {"eth0", "eth2", "eth11", "eth1", "eth", "", "abcdefghijklmno", "abcdefghijklmn"}) {
      auto lines = trace(s, mk("udp 198.51.100.7:1 > 203.0.113.4:2", in));
      EXPECT_EQ(lines.size(), (in == "eth11" && names < 12) || in == "eth" || in.empty() ? 1u : 3u) << in;
    }
    // The walker reads a name as the IfName's two words (put_name): a name
    // set over a longer one must not keep the longer one's tail.
    packet::Packet p = mk("udp 198.51.100.7:1 > 203.0.113.4:2", "abcdefghijklmno");
    p.meta.in.set("eth1");
    EXPECT_EQ(trace(s, std::move(p)).size(), 3u);
  }
  // put_name loads the name from the object's first byte.
  packet::IfName n("eth0");
  EXPECT_EQ(static_cast<const void*>(n.view().data()), static_cast<const void*>(&n));
}

// CompiledTable::cache_set_of names the set the walk then probes from the
// packet's headers only, not from its mark, ctstate or interface (which
// the chain's keys hold here). A hash of the whole key fails this test.
TEST(CompiledTest, CacheSetComesFromTheHeadersOnly) {
  std::string text = "*filter\n:FORWARD DROP [0:0]\n";
  for (int k = 0; k < 100; ++k) {
    text += fmt::format("-A FORWARD -d 203.0.113.{}/32 -p tcp -m tcp --dport {} -j ACCEPT\n", k, 1000 + k);
    if (k % 10 == 0) text += fmt::format("-A FORWARD -i eth{} -m mark --mark {} -m state --state NEW -j DROP\n", k % 3, k);
  }
  text += "COMMIT\n";
  Single s = make(text);
  const auto& ci = s.compiled.chains()[static_cast<size_t>(s.compiled.base_chains()[static_cast<size_t>(Hook::Forward)])];
  ASSERT_FALSE(ci.cache.empty());
  Gen g(7);
  conntrack::Entry entry;
  int checked = 0;
  for (int n = 0; n < 300; ++n) {
    // 20 flows, each with 2 marks, 2 interfaces and 3 ctstates.
    const int flow = g.pick(20);
    packet::Packet p = mk(fmt::format("tcp 198.51.100.{}:{} > 203.0.113.{}:{}", flow % 3, 40000 + flow, flow * 5, 1000 + flow * 5),
                          "");
    // Asked before conntrack and routing: without the interface, ctstate
    // and mark the walk sees.
    const size_t set = s.compiled.cache_set_of(Hook::Forward, p);
    ASSERT_NE(set, SIZE_MAX);
    p.meta.in.set(fmt::format("eth{}", g.pick(2)));
    p.meta.mark = static_cast<uint32_t>(g.pick(2) * 10);
    if (g.chance(0.6)) {
      p.meta.ct = &entry;
      p.meta.ctinfo = g.chance(0.5) ? packet::CtInfo::New : packet::CtInfo::Established;
    }
    const uint32_t mark = p.meta.mark;
    trace(s, p, Hook::Forward);
    // The walk's one probe went to that set: it hit or claimed there the
    // way way 0 names as the last used, with the packet's key (words 0 and
    // 1: destination, destination port and mark; the mark tells apart the
    // packets that share addresses; no rule reads the source address nor
    // the source port, so they are left out, see KeyUse).
    const auto* e = ci.cache.data() + 2 * set;
    const auto& used = e[e[0].mru];
    auto l4 = p.ip().payload();
    const uint64_t dport = uint64_t{l4[2]} << 8 | l4[3];
    EXPECT_EQ(used.key[0], uint64_t{p.ip().daddr()} << 32) << n;
    EXPECT_EQ(used.key[1], dport | uint64_t{mark} << 32) << n;
    ++checked;
  }
  EXPECT_GT(s.compiled.cache_stats().hits, 30u);  // the packets repeat keys
  EXPECT_EQ(checked, 300);
}

// A chain like the nat benchmark's PREROUTING (DNAT rules naming a
// destination, an input interface and a destination port): no rule narrows
// the source address nor the source port (the tcp/udp matches allow every
// source port), so neither is indexed nor in the cache key, and the packets
// of different flows to one service share an entry. The matches stay
// proven (not called) though the source-port field is not indexed.
TEST(CompiledTest, FieldsNoRuleNarrowsAreNeitherIndexedNorKeyed) {
  std::string text = "*mangle\n:PREROUTING ACCEPT [0:0]\n";
  for (int k = 0; k < 100; ++k)
    text += fmt::format("-A PREROUTING -d 203.0.113.{}/32 -i wan -p {} -m {} --dport {} -j DROP\n", k, k % 3 ? "tcp" : "udp",
                        k % 3 ? "tcp" : "udp", 1000 + k);
  text += "-A PREROUTING -s 0.0.0.0/0 -p tcp -m tcp --sport 0:65535 -j ACCEPT\nCOMMIT\n";
  Ruleset rs = load(text);
  Table& t = *rs.find(TableId::Mangle);
  const CompiledTable compiled = CompiledTable::compile(t);
  const size_t chain = static_cast<size_t>(compiled.base_chains()[static_cast<size_t>(Hook::PreRouting)]);
  EXPECT_EQ(compiled.indexed_fields(chain), 4u);  // destination, protocol, destination port, input interface
  const auto& ci = compiled.chains()[chain];
  using CI = CompiledTable::ChainIndex;
  EXPECT_EQ(ci.key_use & (CI::kUseSrc | CI::kUseSport), 0);
  EXPECT_EQ(ci.key_use & (CI::kUseDst | CI::kUseDport | CI::kUseIn), CI::kUseDst | CI::kUseDport | CI::kUseIn);
  Gen g(3);
  for (int n = 0; n < 400; ++n) {
    // 5 services, each reached from many sources and source ports.
    const int k = g.pick(5) * 7;
    Packet p{mk(fmt::format("{} 198.51.{}.{}:{} > 203.0.113.{}:{}", k % 3 ? "tcp" : "udp", g.pick(200), g.pick(250),
                            1024 + g.pick(60000), k, 1000 + k + g.pick(2)),
                g.chance(0.9) ? "wan" : "lan")};
    Outcome want = walk(t, nullptr, p, Hook::PreRouting);
    Outcome got = walk(t, &compiled, p, Hook::PreRouting);
    ASSERT_EQ(want, got) << "packet " << n << "\nlinear:\n" << describe(want) << "compiled:\n" << describe(got);
  }
  // 5 services x 2 ports x 2 interfaces: at most 20 misses with such keys.
  EXPECT_LE(compiled.cache_stats().misses, 20u);
  EXPECT_GE(compiled.cache_stats().hits, 380u);
  EXPECT_GT(compiled.cache_stats().matches_skipped, 100u);
}

// The key keeps an address field that only a rule's IP criteria read
// (a non-contiguous mask: the index does not model it, so no class of the
// field exists): with one cache set, packets differing only in their
// source evict each other and must each get their own list.
TEST(CompiledTest, AnAddressOnlyTheIpCriteriaReadStaysInTheKey) {
  std::string text = "*filter\n:INPUT ACCEPT [0:0]\n";
  for (int k = 0; k < 70; ++k) text += fmt::format("-A INPUT -d 100.64.{}.0/24 -p tcp --dport {} -j DROP\n", k, k + 1);
  text += "-A INPUT -s 192.0.2.0/255.255.0.255 -j LOG --log-prefix noncontiguous\n-A INPUT -j LOG --log-prefix all\nCOMMIT\n";
  Ruleset rs = load(text);
  Table& t = *rs.find(TableId::Filter);
  const CompiledTable compiled = CompiledTable::compile(t, {.cache_min_rules = 0, .cache_sets = 1});
  const size_t chain = static_cast<size_t>(compiled.base_chains()[static_cast<size_t>(Hook::LocalIn)]);
  EXPECT_NE(compiled.chains()[chain].key_use & CompiledTable::ChainIndex::kUseSrc, 0);
  const std::vector<Packet> packets = {Packet{mk("udp 192.0.7.0:7 > 203.0.113.9:7", "eth0")},  // matches
                                       Packet{mk("udp 192.1.7.0:7 > 203.0.113.9:7", "eth0")},
                                       Packet{mk("udp 192.0.2.1:7 > 203.0.113.9:7", "eth0")}};
  std::set<std::string> distinct;
  for (int n = 0; n < 30; ++n) {
    const Packet& p = packets[static_cast<size_t>(n * 7 % 3)];
    Outcome want = walk(t, nullptr, p, Hook::LocalIn);
    Outcome got = walk(t, &compiled, p, Hook::LocalIn);
    ASSERT_EQ(want, got) << "packet " << n << "\nlinear:\n" << describe(want) << "compiled:\n" << describe(got);
    distinct.insert(describe(got));
  }
  EXPECT_EQ(distinct.size(), 2u);
}

TEST(CompiledTest, MarkSetByATargetIsSeenByLaterRules) {
  Single s = make(
      "*filter\n"
      "-A INPUT -m mark --mark 2 -j DROP\n"
      "-A INPUT -j MARK --set-mark 2\n"
      "-A INPUT -m mark ! --mark 2 -j DROP\n"
      "-A INPUT -m mark --mark 0x2/0x3 -j LOG\n"
      "-A INPUT -m mark --mark 2 -j ACCEPT\n"
      "COMMIT\n");
  auto lines = trace(s, mk("udp 198.51.100.7:1 > 203.0.113.4:2"));
  EXPECT_EQ(lines, (std::vector<std::string>{"filter:INPUT:rule:2 trace=false mark=0", "filter:INPUT:rule:4 trace=false mark=2",
                                             "log '' 4 mark=2", "filter:INPUT:rule:5 trace=false mark=2"}));
}

TEST(CompiledTest, CtstateAndIcmpType) {
  Single s = make(
      "*filter\n:c - [0:0]\n"
      "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n"
      "-A INPUT -m conntrack ! --ctstate NEW -j DROP\n"
      "-A INPUT -p icmp --icmp-type echo-request -j c\n"
      "-A INPUT -p icmp -j DROP\n"
      "-A c -p icmp ! --icmp-type echo-reply -j RETURN\n"
      "-A c -j ACCEPT\n"
      "COMMIT\n");
  conntrack::Entry e;
  auto p = mk("icmp 198.51.100.7 > 203.0.113.4 echo-request");
  p.meta.ct = &e;
  p.meta.ctinfo = packet::CtInfo::New;
  auto lines = trace(s, p);
  EXPECT_EQ(lines, (std::vector<std::string>{"filter:INPUT:rule:3 trace=false mark=0", "filter:c:rule:1 trace=false mark=0",
                                             "filter:INPUT:rule:4 trace=false mark=0"}));
  p.meta.ctinfo = packet::CtInfo::EstablishedReply;
  EXPECT_EQ(trace(s, p), std::vector<std::string>{"filter:INPUT:rule:1 trace=false mark=0"});
}

// The result cache must key on every value its lists depend on: with one
// set of two entries, packets that differ in one field at a time evict and
// refill each other's entries, and one walked again after another must get
// its own list, not the other's (a field missing from the key fails here).
TEST(CompiledTest, TheResultCacheNeverHandsOutAnotherPacketsList) {
  std::string text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:c - [0:0]\n";
  // Rules that never match these packets: the chains are big enough for
  // the default options to give them a cache.
  for (int k = 0; k < 70; ++k) text += fmt::format("-A INPUT -s 100.64.{}.0/24 -p tcp --dport {} -j DROP\n", k, k + 1);
  text +=
      "-A INPUT -s 198.51.100.1 -j LOG --log-prefix src\n"
      "-A INPUT -d 203.0.113.1 -j LOG --log-prefix dst\n"
      "-A INPUT -s 192.0.2.0/255.255.0.255 -j LOG --log-prefix noncontiguous\n"
      "-A INPUT -f -j LOG --log-prefix frag\n"
      "-A INPUT -p udp --sport 1 -j LOG --log-prefix sport\n"
      "-A INPUT -p udp --dport 2 -j LOG --log-prefix dport\n"
      "-A INPUT -p tcp --dport 2 -j LOG --log-prefix tcp\n"
      "-A INPUT -p icmp --icmp-type echo-request -j LOG --log-prefix icmp\n"
      "-A INPUT -m mark --mark 1 -j LOG --log-prefix mark\n"
      "-A INPUT -m state --state NEW -j LOG --log-prefix new\n"
      "-A INPUT -i eth1 -j LOG --log-prefix eth1\n"
      "-A INPUT -i wl+ -j LOG --log-prefix wl\n"
      "-A INPUT -s 198.51.100.2 -j c\n"
      "-A INPUT -m mark --mark 3 -j LOG --log-prefix back\n"
      "-A INPUT -d 203.0.113.2 -j MARK --set-mark 1\n"
      "-A INPUT -m mark --mark 1 -j LOG --log-prefix marked\n"
      "-A INPUT -m mark --mark 1 -j ACCEPT\n"
      "-A INPUT -p udp -j DROP\n";
  for (int k = 0; k < 70; ++k) text += fmt::format("-A c -d 100.64.{}.0/24 -j DROP\n", k);
  text += "-A c -o eth2 -j MARK --set-mark 3\n-A c -o eth3 -j RETURN\n-A c -j LOG --log-prefix c\nCOMMIT\n";
  Ruleset rs = load(text);
  Table& t = *rs.find(TableId::Filter);
  struct Variant {
    std::string spec, in = "eth0", out = "eth9";
    uint32_t mark = 0;
    packet::CtInfo ctinfo = packet::CtInfo::Established;
    uint16_t fragoff = 0;
    int short_by = 0;  // bytes of transport header cut: no ports
  };
  const std::vector<Variant> variants = {
      {"udp 198.51.100.9:7 > 203.0.113.9:7"},
      {"udp 198.51.100.1:7 > 203.0.113.9:7"},
      {"udp 198.51.100.9:7 > 203.0.113.1:7"},
      {"udp 192.0.2.9:7 > 203.0.113.9:7"},
      {"udp 198.51.100.9:1 > 203.0.113.9:7"},
      {"udp 198.51.100.9:7 > 203.0.113.9:2"},
      {"tcp 198.51.100.9:7 > 203.0.113.9:2"},
      {"icmp 198.51.100.9 > 203.0.113.9 echo-request"},
      {"icmp 198.51.100.9 > 203.0.113.9 echo-reply"},
      {"udp 198.51.100.9:7 > 203.0.113.9:7", "eth0", "eth9", 1},
      {"udp 198.51.100.9:7 > 203.0.113.9:7", "eth0", "eth9", 0, packet::CtInfo::New},
      {"udp 198.51.100.9:7 > 203.0.113.9:7", "eth1"},
      {"udp 198.51.100.9:7 > 203.0.113.9:7", "wlan0"},
      // Walked in the order zero ports, short header, fragment (a pair is
      // walked later one first): without ports, only the fragment flag and
      // the readable-ports flag tell these keys apart.
      {"udp 198.51.100.9:7 > 203.0.113.9:7", "eth0", "eth9", 0, packet::CtInfo::Established, 1},
      {"udp 198.51.100.9:7 > 203.0.113.9:2", "eth0", "eth9", 0, packet::CtInfo::Established, 0, 6},
      {"udp 198.51.100.9:0 > 203.0.113.9:0"},
      {"udp 198.51.100.2:7 > 203.0.113.9:7"},
      {"udp 198.51.100.2:7 > 203.0.113.9:7", "eth0", "eth2"},
      {"udp 198.51.100.2:7 > 203.0.113.9:7", "eth0", "eth3"},
      {"udp 198.51.100.9:7 > 203.0.113.2:7"},
      {"udp 198.51.100.2:7 > 203.0.113.2:7", "eth1", "eth2", 1},
  };
  std::vector<Packet> packets;
  for (const auto& v : variants) {
    Packet p{mk(v.spec, v.in, v.mark)};
    p.pkt.meta.out.set(v.out);
    p.pkt.meta.ctinfo = v.ctinfo;
    p.thoff = static_cast<uint16_t>(p.pkt.ip().ihl() * 4);
    if (v.short_by) p.thoff = static_cast<uint16_t>(p.pkt.size() - static_cast<size_t>(v.short_by));
    p.fragoff = v.fragoff;
    packets.push_back(std::move(p));
  }
  conntrack::Entry e;
  for (auto& p : packets) p.pkt.meta.ct = &e;
  for (ClassifyOptions opts : {ClassifyOptions{}, ClassifyOptions{.cache_min_rules = 0, .cache_sets = 1},
                               ClassifyOptions{.field_budget_bytes = 64, .cache_min_rules = 0, .cache_sets = 1}}) {
    CompiledTable compiled = CompiledTable::compile(t, opts);
    ASSERT_GE(compiled.cache_stats().chains, 2u);
    std::mt19937 rng(7);
    std::set<std::string> distinct;
    for (int n = 0; n < 400; ++n) {
      // Each packet after each other one, in both orders, and repeats.
      const size_t a = n < 2 * static_cast<int>(packets.size()) ? static_cast<size_t>(n) / 2 : rng() % packets.size();
      const Packet& p = packets[n % 2 || n >= 2 * static_cast<int>(packets.size()) ? a : (a + 1) % packets.size()];
      Outcome want = walk(t, nullptr, p, Hook::LocalIn);
      Outcome got = walk(t, &compiled, p, Hook::LocalIn);
      ASSERT_EQ(want, got) << "packet " << n << "\nlinear:\n" << describe(want) << "compiled:\n" << describe(got);
      distinct.insert(describe(got));
    }
    EXPECT_GE(distinct.size(), packets.size() - 2);  // the variants do tell the rules apart
    EXPECT_GT(compiled.cache_stats().hits, 100u);
    EXPECT_GT(compiled.cache_stats().misses, 20u);
  }
  // Small chains keep the plain index.
  Single small = make("*filter\n-A INPUT -p udp -j DROP\nCOMMIT\n");
  EXPECT_EQ(small.compiled.cache_stats().chains, 0u);
  EXPECT_EQ(CompiledTable::compile(t, {.cache_sets = 0}).cache_stats().chains, 0u);
  EXPECT_GT(CompiledTable::compile(t).memory_bytes(), CompiledTable::compile(t, {.cache_sets = 0}).memory_bytes() + (1u << 19));
}

// Fields with many classes are searched from a bucket hint (the class of
// the bucket's first value): packets on and around every class boundary,
// at the ends of the domains and in empty buckets must find the same rules.
TEST(CompiledTest, ManyClassesAreFoundThroughBucketHints) {
  std::mt19937 rng(99);
  std::string text = "*filter\n:INPUT ACCEPT [0:0]\n";
  std::vector<uint32_t> addrs = {0, 0xffffffffu, 0x00001000u, 0xfff00000u};
  std::vector<uint16_t> ports = {0, 65535, 16, 15};
  auto dotted = [](uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255); };
  for (int k = 0; k < 300; ++k) {
    // Half the addresses in one /12: many classes share a bucket there.
    uint32_t a = k % 2 ? static_cast<uint32_t>(rng()) : 0xC6100000u | (static_cast<uint32_t>(rng()) & 0xfffffu);
    int len = std::array{32, 32, 30, 24, 20, 16, 8}[rng() % 7];
    uint32_t mask = len ? ~uint32_t{0} << (32 - len) : 0;
    uint16_t p = static_cast<uint16_t>(rng()), q = static_cast<uint16_t>(p + rng() % 40);
    if (q < p) q = p;
    addrs.push_back(a & mask);
    addrs.push_back((a | ~mask));
    ports.push_back(p);
    ports.push_back(q);
    const char* dir = k % 3 ? "-s" : "-d";
    text += fmt::format("-A INPUT {} {}/{} -p udp --{} {}:{} -j LOG --log-prefix r{}\n", dir, dotted(a & mask), len,
                        k % 4 ? "dport" : "sport", p, q, k);
  }
  text += "COMMIT\n";
  Ruleset rs = load(text);
  Table& t = *rs.find(TableId::Filter);
  for (ClassifyOptions opts : {ClassifyOptions{.cache_sets = 0}, ClassifyOptions{.field_budget_bytes = 2048},
                               ClassifyOptions{}}) {
    CompiledTable compiled = CompiledTable::compile(t, opts);
    for (int n = 0; n < 600; ++n) {
      auto near = [&](uint32_t v) { return v + static_cast<uint32_t>(static_cast<int>(rng() % 3) - 1); };
      uint32_t src = near(addrs[rng() % addrs.size()]), dst = near(addrs[rng() % addrs.size()]);
      uint16_t sp = static_cast<uint16_t>(near(ports[rng() % ports.size()]));
      uint16_t dp = static_cast<uint16_t>(near(ports[rng() % ports.size()]));
      Packet p{mk(fmt::format("udp {}:{} > {}:{}", dotted(src), sp, dotted(dst), dp))};
      Outcome want = walk(t, nullptr, p, Hook::LocalIn);
      Outcome got = walk(t, &compiled, p, Hook::LocalIn);
      ASSERT_EQ(want, got) << "packet " << n << "\nlinear:\n" << describe(want) << "compiled:\n" << describe(got);
    }
  }
}

// Addresses whose classes would be merged are indexed exactly and
// sparsely: a primary field listing all its rules, a secondary listing
// only the rules wild in the primary (the others are checked by the IP
// criteria). Nested prefixes, both fields in one rule, neither, inverted
// and non-contiguous masks, with and without the cache.
TEST(CompiledTest, SparseAddressIndexAgreesWithTheLinearWalk) {
  std::mt19937 rng(5);
  auto dotted = [](uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255); };
  std::vector<uint32_t> addrs = {0, 0xffffffffu};
  auto prefix = [&]() {
    // Prefixes nest inside a few /8s so that a packet meets several.
    uint32_t a = (std::array{10u, 100u, 198u}[rng() % 3] << 24) | (static_cast<uint32_t>(rng()) & 0xffffffu);
    if (rng() % 4 == 0) a &= 0xff0f0000u;
    int len = std::array{8, 12, 16, 20, 24, 28, 30, 32}[rng() % 8];
    uint32_t mask = ~uint32_t{0} << (32 - len);
    addrs.push_back(a & mask);
    addrs.push_back(a | ~mask);
    return fmt::format("{}/{}", dotted(a & mask), len);
  };
  std::string text = "*filter\n:INPUT DROP [0:0]\n";
  for (int k = 0; k < 700; ++k) {
    std::string r;
    switch (rng() % 8) {
      case 0: r = "-s " + prefix(); break;
      case 1: r = "-d " + prefix(); break;
      case 2: r = "-s " + prefix() + " -d " + prefix(); break;
      case 3: r = "! -s " + prefix() + " -d " + prefix(); break;
      case 4: r = "-s 10.0.0.0/255.0.255.0 -d " + prefix(); break;  // not a prefix: wild in the index
      case 5: r = "-s " + prefix() + " ! -d " + prefix(); break;
      case 6: r = rng() % 4 ? "-s " + prefix() : ""; break;
      default: r = "-d " + prefix() + " -s " + prefix(); break;
    }
    text += fmt::format("-A INPUT {} -p udp --dport {} -j LOG --log-prefix r{}\n", r, 1 + rng() % 3, k);
  }
  text += "-A INPUT -d 198.0.0.0/8 -j ACCEPT\nCOMMIT\n";
  Ruleset rs = load(text);
  Table& t = *rs.find(TableId::Filter);
  const size_t input = static_cast<size_t>(t.find("INPUT") - t.chains().data());
  for (ClassifyOptions opts : {ClassifyOptions{.cache_sets = 0}, ClassifyOptions{},
                               ClassifyOptions{.field_budget_bytes = 4096, .cache_sets = 0},
                               ClassifyOptions{.field_budget_bytes = 4096},
                               ClassifyOptions{.field_budget_bytes = 4096, .addr_budget_bytes = 0}}) {
    CompiledTable compiled = CompiledTable::compile(t, opts);
    EXPECT_EQ(compiled.sparse_address_fields(input), opts.field_budget_bytes < 8192 && opts.addr_budget_bytes ? 2u : 0u);
    int logged = 0;
    for (int n = 0; n < 1500; ++n) {
      auto near = [&](uint32_t v) { return v + static_cast<uint32_t>(static_cast<int>(rng() % 3) - 1); };
      uint32_t src = near(addrs[rng() % addrs.size()]), dst = near(addrs[rng() % addrs.size()]);
      Packet p{mk(fmt::format("udp {}:9 > {}:{}", dotted(src), dotted(dst), 1 + rng() % 3))};
      Outcome want = walk(t, nullptr, p, Hook::LocalIn);
      Outcome got = walk(t, &compiled, p, Hook::LocalIn);
      ASSERT_EQ(want, got) << "packet " << n << "\nlinear:\n" << describe(want) << "compiled:\n" << describe(got);
      logged += static_cast<int>(got.lines.size());
      // Again: a cache hit must list the same rules.
      ASSERT_EQ(want.lines, walk(t, &compiled, p, Hook::LocalIn).lines);
    }
    EXPECT_GT(logged, 3000);  // packets do meet many rules
  }
}

// The adaptive bypass switching on and off while the walk jumps between
// two cached chains and returns: a bypassed chain must look its own
// classes up, and a cached one must not take the other chain's entry.
TEST(CompiledTest, CacheBypassAcrossJumpsAndReturns) {
  std::mt19937 rng(11);
  std::string text = "*filter\n:INPUT DROP [0:0]\n:sub - [0:0]\n";
  for (int k = 0; k < 100; ++k) {
    if (k % 25 == 10) text += fmt::format("-A INPUT -p udp --dport {} -j sub\n", 1 + k % 4);  // most packets jump
    // Terminal targets: a continuing one (LOG) would probe again with the
    // same key and keep the hit rate above the bypass threshold.
    text += fmt::format("-A INPUT -s 10.0.{}.{}/32 -p udp --dport {} -j {}\n", rng() % 8, 1 + rng() % 250, 1 + rng() % 4,
                        k % 2 ? "ACCEPT" : "DROP");
    text += fmt::format("-A sub -d 10.1.{}.{}/32 -p udp --sport {} -j {}\n", rng() % 8, 1 + rng() % 250, 1 + rng() % 4,
                        k % 3 ? "ACCEPT" : "RETURN");
    if (k % 30 == 29) text += fmt::format("-A sub -s 10.0.{}.0/24 -j RETURN\n", rng() % 8);
  }
  text += "-A INPUT -s 10.0.0.0/16 -j ACCEPT\nCOMMIT\n";
  Ruleset rs = load(text);
  Table& t = *rs.find(TableId::Filter);
  CompiledTable compiled = CompiledTable::compile(t, ClassifyOptions{.cache_window = 4, .cache_bypass = 3});
  // Mostly new keys (the cache then hits under 1 in 8 and is bypassed
  // for a while), some repeated (hits when it is back).
  std::vector<std::string> seen;
  for (int n = 0; n < 3000; ++n) {
    std::string spec = !seen.empty() && rng() % 10 == 0
                           ? seen[rng() % seen.size()]
                           : fmt::format("udp 10.0.{}.{}:{} > 10.1.{}.{}:{}", rng() % 8, 1 + rng() % 250, 1 + rng() % 4,
                                         rng() % 8, 1 + rng() % 250, 1 + rng() % 4);
    seen.push_back(spec);
    Packet p{mk(spec)};
    Outcome want = walk(t, nullptr, p, Hook::LocalIn);
    ASSERT_EQ(want, walk(t, &compiled, p, Hook::LocalIn)) << "packet " << n << ": " << spec;
  }
  const auto st = compiled.cache_stats();
  EXPECT_GT(st.bypassed, 500u) << st.hits << " hits, " << st.misses << " misses";
  EXPECT_GT(st.hits, 20u) << st.bypassed << " bypassed";
}

TEST(CompiledTest, AChangedTableIsStaleAndFallsBackToTheLinearWalk) {
  Single s = make("*filter\n-A INPUT -p udp -j DROP\nCOMMIT\n");
  Table& t = *s.rs.find(TableId::Filter);
  EXPECT_TRUE(s.compiled.fresh_for(t));
  ASSERT_TRUE(t.delete_num("INPUT", 1));
  EXPECT_FALSE(s.compiled.fresh_for(t));
  Packet in{mk("udp 198.51.100.7:1 > 203.0.113.4:2")};
  EXPECT_EQ(walk(t, &s.compiled, in, Hook::LocalIn).verdict, Verdict::Accept);
  Table copy = t;
  EXPECT_FALSE(CompiledTable::compile(t).fresh_for(copy));
}

// An empty base chain is its policy (a shortcut in the compiled walk): the
// same verdict, trace event and policy counters as the linear walk, and a
// user chain left empty still returns to its caller.
TEST(CompiledTest, AnEmptyBaseChainIsItsPolicy) {
  Single s = make(
      "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:empty - [0:0]\n"
      "-A OUTPUT -j empty\n-A OUTPUT -p udp -j DROP\nCOMMIT\n");
  Table& t = *s.rs.find(TableId::Filter);
  auto udp = [] { return mk("udp 198.51.100.7:1 > 203.0.113.4:2"); };
  EXPECT_EQ(trace(s, udp(), Hook::LocalIn), (std::vector<std::string>{"filter:INPUT:policy:1 trace=false mark=0"}));
  EXPECT_EQ(trace(s, udp(), Hook::Forward), (std::vector<std::string>{"filter:FORWARD:policy:1 trace=false mark=0"}));
  EXPECT_EQ(trace(s, udp(), Hook::LocalOut),
            (std::vector<std::string>{"filter:OUTPUT:rule:1 trace=false mark=0",
                                      "filter:empty:return:1 trace=false mark=0",
                                      "filter:OUTPUT:rule:2 trace=false mark=0"}));
  Packet in{udp()};
  EXPECT_EQ(walk(t, &s.compiled, in, Hook::LocalIn).verdict, Verdict::Drop);
  EXPECT_EQ(walk(t, &s.compiled, in, Hook::Forward).verdict, Verdict::Accept);
  // trace() walked each hook twice (linear, compiled), walk() once more.
  const uint64_t len = in.pkt.size();
  EXPECT_EQ(t.find("INPUT")->counters, (Counters{3, 3 * len}));
  EXPECT_EQ(t.find("FORWARD")->counters, (Counters{3, 3 * len}));
  // Without a sink (nobody tracing) the same.
  packet::Packet p = in.pkt;
  EvalContext ctx{p, t.id(), Hook::LocalIn};
  EXPECT_EQ(run_table(t, s.compiled, ctx, nullptr), Verdict::Drop);
  EXPECT_EQ(t.find("INPUT")->counters, (Counters{4, 4 * len}));
  // Found at compile time: INPUT and FORWARD, not OUTPUT.
  EXPECT_TRUE(s.compiled.base_empty(static_cast<size_t>(Hook::LocalIn)));
  EXPECT_TRUE(s.compiled.base_empty(static_cast<size_t>(Hook::Forward)));
  EXPECT_FALSE(s.compiled.base_empty(static_cast<size_t>(Hook::LocalOut)));
  // A rule added since: the compiled table is stale, the rule is walked.
  auto r = ruleset::restore("*filter\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n", s.rs, {.noflush = true});
  ASSERT_TRUE(r) << r.error().format("rules");
  EXPECT_EQ(walk(t, &s.compiled, in, Hook::LocalIn).verdict, Verdict::Accept);
}

// A chain of port forwards (one address and port each, as a nat
// PREROUTING chain's DNAT rules) has a gate: a packet to any other address
// is proven to reach the chain's end without a cache probe, in a base chain
// (its policy) and in a user chain (RETURN), with the linear walk's trace
// and counters; a packet to a forwarded address still walks its candidates.
TEST(CompiledTest, AnEmptyGateClassGoesStraightToTheChainsEnd) {
  std::string text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:fwd - [0:0]\n"
                     "-A FORWARD -j fwd\n-A FORWARD -p udp -j ACCEPT\n";
  for (int k = 1; k <= 80; ++k) {
    text += fmt::format("-A fwd -d 203.0.113.{}/32 -p tcp -m tcp --dport {} -j ACCEPT\n", k, 1000 + k);
    text += fmt::format("-A INPUT -d 198.51.100.{}/32 -p udp -m udp --dport {} -j DROP\n", k, 2000 + k);
  }
  text += "COMMIT\n";
  Single s = make(text);
  Table& t = *s.rs.find(TableId::Filter);
  auto chain_index = [&](std::string_view name) { return s.compiled.chains()[static_cast<size_t>(t.find(name) - t.chains().data())]; };
  ASSERT_GE(chain_index("fwd").gate, 0);
  ASSERT_GE(chain_index("INPUT").gate, 0);
  EXPECT_EQ(chain_index("FORWARD").gate, -1);  // -j fwd and -p udp say nothing of addresses or ports
  EXPECT_FALSE(chain_index("fwd").cache.empty());  // big enough for a cache: the gate comes before it

  // Not forwarded: fwd returns at once, FORWARD's second rule accepts.
  EXPECT_EQ(trace(s, mk("udp 192.0.2.1:5 > 203.0.113.200:1005"), Hook::Forward),
            (std::vector<std::string>{"filter:FORWARD:rule:1 trace=false mark=0", "filter:fwd:return:81 trace=false mark=0",
                                      "filter:FORWARD:rule:2 trace=false mark=0"}));
  // The address of a forward with another port: its class is not empty,
  // the rule is a candidate and fails; the same end.
  EXPECT_EQ(trace(s, mk("tcp 192.0.2.1:5 > 203.0.113.5:1006"), Hook::Forward),
            (std::vector<std::string>{"filter:FORWARD:rule:1 trace=false mark=0", "filter:fwd:return:81 trace=false mark=0",
                                      "filter:FORWARD:policy:3 trace=false mark=0"}));
  EXPECT_EQ(trace(s, mk("tcp 192.0.2.1:5 > 203.0.113.5:1005"), Hook::Forward),
            (std::vector<std::string>{"filter:FORWARD:rule:1 trace=false mark=0", "filter:fwd:rule:5 trace=false mark=0"}));
  // A base chain: its policy.
  EXPECT_EQ(trace(s, mk("udp 192.0.2.1:5 > 198.51.100.200:2001"), Hook::LocalIn),
            (std::vector<std::string>{"filter:INPUT:policy:81 trace=false mark=0"}));
  EXPECT_EQ(trace(s, mk("udp 192.0.2.1:5 > 198.51.100.1:2001"), Hook::LocalIn),
            (std::vector<std::string>{"filter:INPUT:rule:1 trace=false mark=0"}));
  // Counted by the gate: the packets to unforwarded addresses (each walked
  // once by trace()'s compiled walk).
  EXPECT_EQ(s.compiled.cache_stats().gated, 2u);
  ASSERT_TRUE(s.compiled.fold_counters(t));
  EXPECT_EQ(t.find("INPUT")->counters.packets, 2u);  // the policy, once per walk: linear and compiled
}

// Rule counts are kept by position: they fold only into the table (and
// generation) they were counted for; after a change they can only be
// dropped, never credited to whatever rule took the position.
TEST(CompiledTest, PendingCountsFoldOnlyIntoTheTableTheyWereCountedFor) {
  Single s = make("*filter\n-A INPUT -p udp -j ACCEPT\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n");
  Table& t = *s.rs.find(TableId::Filter);
  Packet udp{mk("udp 198.51.100.7:1 > 203.0.113.4:2")};
  EXPECT_FALSE(s.compiled.counters_pending());
  EXPECT_EQ(walk(t, &s.compiled, udp, Hook::LocalIn).verdict, Verdict::Accept);
  EXPECT_EQ(walk(t, &s.compiled, udp, Hook::LocalIn).verdict, Verdict::Accept);
  const uint64_t len = udp.pkt.size();
  EXPECT_TRUE(s.compiled.counters_pending());
  EXPECT_EQ(t.find("INPUT")->rules[0].counters, (Counters{0, 0}));  // kept aside
  EXPECT_TRUE(s.compiled.fold_counters(t));
  EXPECT_FALSE(s.compiled.counters_pending());
  EXPECT_EQ(t.find("INPUT")->rules[0].counters, (Counters{2, 2 * len}));
  EXPECT_TRUE(s.compiled.fold_counters(t));  // nothing left to add
  EXPECT_EQ(t.find("INPUT")->rules[0].counters, (Counters{2, 2 * len}));
  // Counted, then the first rule deleted: the tcp rule is now first.
  walk(t, &s.compiled, udp, Hook::LocalIn);
  ASSERT_TRUE(t.delete_num("INPUT", 1));
  EXPECT_FALSE(s.compiled.fold_counters(t));
  EXPECT_EQ(t.find("INPUT")->rules[0].counters, (Counters{0, 0}));
  EXPECT_TRUE(s.compiled.drop_counters());
  EXPECT_FALSE(s.compiled.counters_pending());
  EXPECT_FALSE(s.compiled.drop_counters());
}

// socket --restore-skmark changes the packet's mark from inside a match:
// the compiled walker must find the rules after it with the new mark's
// classes (ChainIndex::rekey), as the linear walk tests them. Port 22 has
// an established socket whose mark is 0; the MARK rule before set 5.
TEST(CompiledTest, AMatchThatChangesTheMarkIsFollowedByTheNewMarksRules) {
  struct Sockets : Recorder {
    LocalSocket find_socket(uint8_t proto, uint32_t, uint16_t, uint32_t, uint16_t dport) const override {
      if (proto == 6 && dport == 22) return {.found = true, .full = true, .any_address = false, .mark = 0};
      return {};
    }
  };
  std::string text = "*filter\n-A INPUT -j MARK --set-mark 5\n-A INPUT -p tcp -m socket --restore-skmark\n";
  for (int k = 1; k <= 80; ++k) text += fmt::format("-A INPUT -p udp -m udp --dport {} -m mark --mark {} -j DROP\n", 3000 + k, k);
  text += "-A INPUT -m mark --mark 0x5 -j DROP\n-A INPUT -m mark --mark 0x0 -j ACCEPT\nCOMMIT\n";
  Single s = make(text);
  Table& t = *s.rs.find(TableId::Filter);
  auto run = [&](const CompiledTable* c, std::string_view spec) {
    packet::Packet p = mk(spec);
    Sockets rec;
    EvalContext ctx{p, t.id(), Hook::LocalIn};
    ctx.thoff = 20;
    ctx.effects = &rec;
    Verdict v = c ? run_table(t, *c, ctx, &rec) : run_table(t, ctx, &rec);
    return Outcome{v, ctx.hotdrop, rec.lines, p.meta.mark, {}};
  };
  for (int round = 0; round < 2; ++round) {  // the second round walks the result cache
    for (std::string_view spec : {"tcp 198.51.100.7:40000 > 203.0.113.4:22", "tcp 198.51.100.7:40000 > 203.0.113.4:23"}) {
      Outcome linear = run(nullptr, spec), compiled = run(&s.compiled, spec);
      EXPECT_EQ(compiled, linear) << spec << "\nlinear:\n" << describe(linear) << "compiled:\n" << describe(compiled);
    }
  }
  EXPECT_EQ(run(nullptr, "tcp 198.51.100.7:40000 > 203.0.113.4:22").verdict, Verdict::Accept);
  EXPECT_EQ(run(nullptr, "tcp 198.51.100.7:40000 > 203.0.113.4:23").verdict, Verdict::Drop);
}

}  // namespace
}  // namespace nfemu::xt
