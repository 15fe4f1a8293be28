// ns per packet of the filter walk, linear (run_table) against compiled
// (xtables/compiled/classify.h), on random ACLs of 100, 1k and 10k rules:
// -s/-d prefixes in 198.18.0.0/15, tcp or udp with a destination port or
// range, some with -i, ACCEPT or DROP, policy DROP. Half of the packets
// are drawn from a rule (so they stop somewhere in the list), half at random
// (most reach the policy: the linear walk's worst case).
// Compiled: the index alone (no result cache). CompiledCacheHit: the 1024
// packets cycle through a cache that holds them all (the 2nd..nth packets
// of a flow); CompiledCacheMiss: a one-set cache that they always miss
// (a flow's first packet: the index plus the cost of filling an entry).
//
//   build/release/bench/nfemu/classify_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <map>
#include <random>

#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "xtables/compiled/classify.h"
#include "xtables/eval.h"

namespace {

using namespace nfemu;

struct Acl {
  xt::Ruleset rs;
  xt::CompiledTable compiled;
  std::vector<packet::Packet> packets;
};

struct RuleVals {
  uint32_t src, dst;
  bool tcp;
  uint16_t dport;
};

std::string dotted(uint32_t a) { return fmt::format("{}.{}.{}.{}", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255); }

Acl& acl(int n) {
  static std::map<int, Acl> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second;
  Acl& a = cache[n];
  std::mt19937 rng(42);
  auto u = [&](uint32_t lo, uint32_t hi) { return std::uniform_int_distribution<uint32_t>(lo, hi)(rng); };
  auto addr = [&] { return 0xC6120000u | u(0, 0x1ffff); };  // 198.18.0.0/15
  std::string text = "*filter\n:FORWARD DROP [0:0]\n";
  std::vector<RuleVals> vals;
  for (int i = 0; i < n; ++i) {
    RuleVals v{addr(), addr(), u(0, 1) == 0, static_cast<uint16_t>(u(1, 65535))};
    static const int lens[] = {32, 32, 28, 24, 24, 20};
    std::string r = "-A FORWARD";
    if (u(0, 9) < 8) r += fmt::format(" -s {}/{}", dotted(v.src), lens[u(0, 5)]);
    if (u(0, 9) < 8) r += fmt::format(" -d {}/{}", dotted(v.dst), lens[u(0, 5)]);
    if (u(0, 9) < 2) r += fmt::format(" -i eth{}", u(0, 3));
    r += v.tcp ? " -p tcp" : " -p udp";
    if (u(0, 9) < 2) r += fmt::format(" --dport {}:{}", v.dport, std::min(65535u, v.dport + u(0, 100)));
    else r += fmt::format(" --dport {}", v.dport);
    r += u(0, 1) ? " -j ACCEPT\n" : " -j DROP\n";
    text += r;
    vals.push_back(v);
  }
  text += "COMMIT\n";
  if (auto r = ruleset::restore(text, a.rs); !r) {
    fmt::print(stderr, "{}\n", r.error().format("bench"));
    std::abort();
  }
  a.compiled = xt::CompiledTable::compile(*a.rs.find(xt::TableId::Filter));
  for (int i = 0; i < 1024; ++i) {
    packet::PacketSpec spec;
    spec.sport = static_cast<uint16_t>(u(1024, 65535));
    if (i % 2 == 0) {
      const RuleVals& v = vals[u(0, static_cast<uint32_t>(n - 1))];
      spec.kind = v.tcp ? packet::SpecKind::Tcp : packet::SpecKind::Udp;
      spec.src = v.src;
      spec.dst = v.dst;
      spec.dport = v.dport;
    } else {
      spec.kind = u(0, 1) ? packet::SpecKind::Tcp : packet::SpecKind::Udp;
      spec.src = addr();
      spec.dst = addr();
      spec.dport = static_cast<uint16_t>(u(1, 65535));
    }
    packet::Packet p = packet::build_packet(spec);
    p.meta.in.set(fmt::format("eth{}", u(0, 3)));
    p.meta.out.set("eth9");
    a.packets.push_back(std::move(p));
  }
  return a;
}

void run(benchmark::State& state, bool compiled, xt::ClassifyOptions opts = {.cache_sets = 0}) {
  Acl& a = acl(static_cast<int>(state.range(0)));
  xt::Table& t = *a.rs.find(xt::TableId::Filter);
  a.compiled = xt::CompiledTable::compile(t, opts);
  size_t i = 0, accepted = 0;
  for (auto _ : state) {
    packet::Packet& p = a.packets[i++ % a.packets.size()];
    xt::EvalContext ctx{p, xt::TableId::Filter, xt::Hook::Forward};
    ctx.thoff = 20;
    xt::Verdict v = compiled ? xt::run_table(t, a.compiled, ctx) : xt::run_table(t, ctx);
    accepted += v == xt::Verdict::Accept;
    benchmark::DoNotOptimize(accepted);
  }
  state.counters["compiled_MiB"] = static_cast<double>(a.compiled.memory_bytes()) / (1 << 20);
  auto cs = a.compiled.cache_stats();
  if (cs.hits + cs.misses) state.counters["hit_rate"] = static_cast<double>(cs.hits) / static_cast<double>(cs.hits + cs.misses);
}

// What a table change costs the compiled walk: one compile.
void BM_Compile(benchmark::State& state) {
  Acl& a = acl(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(xt::CompiledTable::compile(*a.rs.find(xt::TableId::Filter)));
}
BENCHMARK(BM_Compile)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_Linear(benchmark::State& s) { run(s, false); }
void BM_Compiled(benchmark::State& s) { run(s, true); }
BENCHMARK(BM_Linear)->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK(BM_Compiled)->Arg(100)->Arg(1000)->Arg(10000);
void BM_CompiledCacheHit(benchmark::State& s) { run(s, true, {}); }
void BM_CompiledCacheMiss(benchmark::State& s) { run(s, true, {.cache_sets = 1}); }
BENCHMARK(BM_CompiledCacheHit)->Arg(1000)->Arg(10000);
BENCHMARK(BM_CompiledCacheMiss)->Arg(1000)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
