// conntrack::Table at 10k, 100k and 1M connections: lookups of established
// flows (in + confirm + put, as a forwarded packet costs), inserts of new
// ones, and the memory each connection takes.
//
//   build/release/bench/nfemu/conntrack_bench --benchmark_counters_tabular=true
//
// Flows are UDP 100.64.x.y:p > 198.18.0.1:53, one packet rewritten in place
// (no per-iteration allocation in the benchmark either). OUTPUT skips the
// checksum checks, as the kernel does for local packets.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "conntrack/conntrack.h"
#include "nat/nat.h"
#include "packet/grammar.h"
#include "ruleset/restore.h"
#include "stack/host.h"

namespace {

using namespace nfemu;
using conntrack::Table;

constexpr uint64_t kNow = 1'000'000'000;

packet::Packet template_packet() {
  auto p = packet::parse_packet("udp 100.64.0.1:1024 > 198.18.0.1:53");
  if (!p) std::abort();
  return std::move(*p);
}

// Flow i: a distinct source address and port in 100.64.0.0/10.
void set_flow(packet::Packet& p, uint32_t i) {
  uint32_t saddr = 0x64400000u | (i & 0x3fffff);
  uint8_t* d = p.data().data();
  packet::store32(d + 12, saddr);
  packet::store16(d + 20, static_cast<uint16_t>(1024 + (i >> 22)));
}

Table::Memory fill(Table& t, uint32_t n, packet::Packet& p) {
  for (uint32_t i = 0; i < n; ++i) {
    set_flow(p, i);
    t.in(p, packet::Hook::LocalOut, 0, kNow);
    t.confirm(p, kNow);
    t.put(p);
  }
  return t.memory();
}

conntrack::Config config(uint32_t n) {
  conntrack::Config c;
  c.max = n;
  c.buckets = n;  // Linux 6.x: nf_conntrack_max defaults to the bucket count
  c.events = false;
  return c;
}

long rss_bytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

void report_memory(benchmark::State& state, const Table::Memory& m, size_t count, long rss_delta) {
  double n = static_cast<double>(count);
  state.counters["entry_B"] = static_cast<double>(m.entry_size);
  state.counters["pool_B/conn"] = static_cast<double>(m.pool_used_bytes) / n;
  state.counters["index_B/conn"] = static_cast<double>(m.index_bytes) / n;
  state.counters["timer_B/conn"] = static_cast<double>(m.timer_bytes) / n;
  state.counters["total_B/conn"] = static_cast<double>(m.pool_used_bytes + m.index_bytes + m.timer_bytes) / n;
  if (rss_delta > 0) state.counters["rss_B/conn"] = static_cast<double>(rss_delta) / n;
}

// An established flow's packet: hash lookup, UDP tracker, confirm (already
// confirmed: events only), put. Flows are visited in a scattered order so
// that the table does not sit in cache.
void BM_Lookup(benchmark::State& state) {
  auto n = static_cast<uint32_t>(state.range(0));
  Table t(config(n));
  packet::Packet p = template_packet();
  Table::Memory m = fill(t, n, p);
  uint64_t k = 0;
  for (auto _ : state) {
    auto i = static_cast<uint32_t>((k++ * 2654435761u) % n);
    set_flow(p, i);
    auto r = t.in(p, packet::Hook::LocalOut, 0, kNow);
    benchmark::DoNotOptimize(r.ct);
    t.confirm(p, kNow);
    t.put(p);
  }
  if (t.count() != n) state.SkipWithError("lookups created entries");
  state.SetItemsProcessed(state.iterations());
  report_memory(state, m, t.count(), 0);
}

// BM_Lookup with Table::prefetch called eight packets ahead, as a replay
// reading ahead could: the bucket's cache miss overlaps earlier lookups.
void BM_LookupPrefetch(benchmark::State& state) {
  auto n = static_cast<uint32_t>(state.range(0));
  Table t(config(n));
  packet::Packet p = template_packet();
  packet::Packet ahead = template_packet();
  Table::Memory m = fill(t, n, p);
  constexpr uint64_t kAhead = 8;
  uint64_t k = 0;
  auto flow = [n](uint64_t j) { return static_cast<uint32_t>((j * 2654435761u) % n); };
  for (uint64_t j = 0; j < kAhead; ++j) {
    set_flow(ahead, flow(j));
    t.prefetch(ahead);
  }
  for (auto _ : state) {
    set_flow(ahead, flow(k + kAhead));
    t.prefetch(ahead);
    set_flow(p, flow(k++));
    auto r = t.in(p, packet::Hook::LocalOut, 0, kNow);
    benchmark::DoNotOptimize(r.ct);
    t.confirm(p, kNow);
    t.put(p);
  }
  if (t.count() != n) state.SkipWithError("lookups created entries");
  state.SetItemsProcessed(state.iterations());
  report_memory(state, m, t.count(), 0);
}

// New connections into an empty table until it holds n: allocation from
// the pool, hash insertion of both directions, the expiry heap.
void BM_Insert(benchmark::State& state) {
  auto n = static_cast<uint32_t>(state.range(0));
  packet::Packet p = template_packet();
  Table::Memory m;
  long rss_delta = 0;
  size_t count = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto t = std::make_unique<Table>(config(n));
    long before = rss_bytes();
    state.ResumeTiming();
    m = fill(*t, n, p);
    state.PauseTiming();
    rss_delta = rss_bytes() - before;
    count = t->count();
    t.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * n);
  report_memory(state, m, count, rss_delta);
}

// Steady churn at n connections: each iteration expires the oldest flow
// (the virtual clock moves one jiffy a flow) and inserts a new one.
void BM_Churn(benchmark::State& state) {
  auto n = static_cast<uint32_t>(state.range(0));
  conntrack::Config c = config(n);
  c.udp_timeout = 1 + n / conntrack::kHz;  // about n jiffies: n flows alive
  Table t(c);
  packet::Packet p = template_packet();
  uint64_t now = kNow;
  uint32_t i = 0;
  for (auto _ : state) {
    set_flow(p, i++);
    t.in(p, packet::Hook::LocalOut, 0, now);
    t.confirm(p, now);
    t.put(p);
    now += conntrack::kNsPerJiffy;
    t.expire_until(now);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["live"] = static_cast<double>(t.count());
}

// Established UDP flows forwarded by a whole stack::Host (ip_rcv, raw,
// conntrack, mangle, filter with ESTABLISHED first, routing, POSTROUTING,
// confirm): the conntrack share of a replay. Packets are copied outside the
// timed part, a batch at a time.
void BM_HostEstablished(benchmark::State& state) {
  auto n = static_cast<uint32_t>(state.range(0));
  stack::Host host("fw");
  host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
  host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2});
  host.add_address("eth0", 0x64400001u, 10);   // 100.64.0.1/10
  host.add_address("eth1", 0xc6120002u, 15);   // 198.18.0.2/15
  host.set_sysctl("net.ipv4.ip_forward", 1);
  if (!host.conntrack().set_sysctl("nf_conntrack_max", std::to_string(2 * n)) ||
      !ruleset::restore("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT\n"
                        "-A FORWARD -p udp --dport 53 -j ACCEPT\nCOMMIT\n",
                        host.ruleset())) {
    state.SkipWithError("setup");
    return;
  }
  size_t sent = 0;
  host.on_wire = [&](const stack::Host&, std::string_view, packet::Packet&) { ++sent; };
  packet::Packet orig = template_packet();
  packet::Packet reply = template_packet();
  auto set_reply = [&](uint32_t i) {
    set_flow(orig, i);
    uint8_t* d = reply.data().data();
    const uint8_t* o = orig.data().data();
    std::copy(o + 16, o + 20, d + 12);  // addresses swapped
    std::copy(o + 12, o + 16, d + 16);
    std::copy(o + 22, o + 24, d + 20);  // ports swapped
    std::copy(o + 20, o + 22, d + 22);
  };
  auto fix = [](packet::Packet& p) {
    p.ip().update_checksum();
    packet::store16(p.data().data() + 26, 0);  // no UDP checksum
  };
  for (uint32_t i = 0; i < n; ++i) {
    set_reply(i);
    fix(orig);
    fix(reply);
    host.receive(orig, "eth0", kNow);
    host.receive(reply, "eth1", kNow);
  }
  if (host.conntrack().count() != n) state.SkipWithError("flows not established");
  constexpr size_t kBatch = 1 << 15;
  std::vector<packet::Packet> batch;
  batch.reserve(kBatch);
  uint64_t k = 0;
  for (auto _ : state) {
    state.PauseTiming();
    batch.clear();
    for (size_t b = 0; b < kBatch; ++b) {
      set_reply(static_cast<uint32_t>((k++ * 2654435761u) % n));
      fix(orig);
      batch.push_back(orig);
    }
    state.ResumeTiming();
    for (auto& p : batch) host.receive(std::move(p), "eth0", kNow);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  if (host.conntrack().count() != n) state.SkipWithError("lookups created entries");
}

// Lookups of flows the table does not hold (the first packet of a new
// connection; NAT's nf_nat_used_tuple): the chain walks of a miss.
void BM_Miss(benchmark::State& state) {
  auto n = static_cast<uint32_t>(state.range(0));
  Table t(config(n));
  packet::Packet p = template_packet();
  Table::Memory m = fill(t, n, p);
  uint64_t k = 0;
  conntrack::Tuple tuple{.src = 0, .dst = 0xc6120001u, .sport = 1024, .dport = 53, .proto = 17};
  for (auto _ : state) {
    auto i = static_cast<uint32_t>((k++ * 2654435761u) % n);
    tuple.src = 0x64400000u | (i & 0x3fffff);
    tuple.sport = static_cast<uint16_t>(1024 + (i >> 22) + 1);  // one port up: absent
    benchmark::DoNotOptimize(t.find(tuple, conntrack::Zone{}));
  }
  state.SetItemsProcessed(state.iterations());
  report_memory(state, m, t.count(), 0);
}

// A new connection SNATed (to one address, as MASQUERADE) while the table
// holds n others: the lookup that misses, NAT's by-source and used-tuple
// lookups, confirm and insertion; then the entry is killed so that the
// table stays at n.
void BM_NatNew(benchmark::State& state) {
  auto n = static_cast<uint32_t>(state.range(0));
  conntrack::Config c = config(2 * n);
  c.buckets = n;
  Table t(c);
  packet::Packet p = template_packet();
  fill(t, n, p);
  nat::Range r{.flags = nat::range_flag::kMapIps, .min_ip = 0xc6120002u, .max_ip = 0xc6120002u};
  uint32_t i = n;
  for (auto _ : state) {
    // Sources the table does not hold; the port kept by SNAT varies, so
    // that the reply tuples spread over the buckets.
    set_flow(p, i);
    packet::store16(p.data().data() + 20, static_cast<uint16_t>(1024 + i % 60000));
    ++i;
    auto res = t.in(p, packet::Hook::LocalOut, 0, kNow);
    if (!res.ct || !res.is_new) {
      state.SkipWithError("not a new connection");
      break;
    }
    nat::setup_info(t, res.ct, r, nat::Manip::Src);
    t.confirm(p, kNow);
    t.kill(res.ct, kNow);
    t.put(p);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Miss)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);
BENCHMARK(BM_NatNew)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);
BENCHMARK(BM_Lookup)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);
BENCHMARK(BM_LookupPrefetch)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);
BENCHMARK(BM_Insert)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Churn)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);
BENCHMARK(BM_HostEstablished)->Arg(10'000)->Arg(100'000);

}  // namespace

BENCHMARK_MAIN();
