// "No heap allocation per packet" on the receive path of a whole host:
// established flows forwarded through stack::Host with a small stateful
// ruleset, counted by a replaced global operator new (this binary only).
// It must be zero; an allocation is reported with the innermost nfemu
// function that asked for it (conntrack's are checked separately), so that
// a regression names its place.
#include <cxxabi.h>
#include <execinfo.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "icmp/icmp.h"
#include "log/log.h"
#include "packet/grammar.h"
#include "packet/pcap_io.h"
#include "replay/replay.h"
#include "ruleset/restore.h"
#include "scenario/scenario.h"
#include "stack/host.h"

namespace {

constexpr int kDepth = 24;
struct Stack {
  void* frames[kDepth];
  int n;
};
// Filled while counting, without allocating: a fixed array.
constexpr int kMaxStacks = 4096;
Stack g_stacks[kMaxStacks];
std::atomic<int> g_nstacks{0};
std::atomic<bool> g_count{false};
std::atomic<size_t> g_allocs{0};
thread_local bool t_inside = false;

void note_allocation() {
  if (!g_count || t_inside) return;
  t_inside = true;
  ++g_allocs;
  int i = g_nstacks.fetch_add(1);
  if (i < kMaxStacks) g_stacks[i].n = backtrace(g_stacks[i].frames, kDepth);
  t_inside = false;
}

}  // namespace

// [[gnu::noinline]]: were these bodies inlined at a call site, GCC 12 would
// see std::free() paired with the library's operator new and give a false
// -Wmismatched-new-delete; out of line, new pairs with delete as written.
[[gnu::noinline]] void* operator new(size_t n) {
  note_allocation();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](size_t n) {
  note_allocation();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace nfemu {
namespace {

// "nfemu::stack::Host::receive(...)" from a backtrace_symbols line
// ("binary(_ZN...+0x12) [0x...]"), or empty.
std::string function_of(const char* line) {
  const char* open = std::strchr(line, '(');
  const char* plus = open ? std::strchr(open, '+') : nullptr;
  if (!open || !plus || plus == open + 1) return {};
  std::string mangled(open + 1, plus);
  int status = 0;
  char* d = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : mangled;
  std::free(d);
  return out;
}

// The innermost nfemu function of each recorded stack (the one whose code
// allocates, directly or through a std:: container), and how often.
std::map<std::string, size_t> allocation_sites() {
  std::map<std::string, size_t> sites;
  int n = std::min(g_nstacks.load(), kMaxStacks);
  for (int i = 0; i < n; ++i) {
    char** lines = backtrace_symbols(g_stacks[i].frames, g_stacks[i].n);
    std::string site = "(no nfemu frame)";
    for (int f = 1; lines && f < g_stacks[i].n; ++f) {
      std::string fn = function_of(lines[f]);
      if (fn.starts_with("nfemu::")) {
        site = fn.substr(0, fn.find('('));
        break;
      }
    }
    std::free(lines);
    ++sites[site];
  }
  return sites;
}

constexpr uint32_t ip(int a, int b, int c, int d) {
  return static_cast<uint32_t>(a) << 24 | static_cast<uint32_t>(b) << 16 | static_cast<uint32_t>(c) << 8 |
         static_cast<uint32_t>(d);
}

packet::Packet make(const std::string& spec) {
  auto p = packet::parse_packet(spec);
  EXPECT_TRUE(p) << spec;
  return p ? std::move(*p) : packet::Packet();
}

TEST(AllocTest, EstablishedFlowsThroughAHost) {
  stack::Host host("fw");
  host.add_interface("eth0", packet::Mac{2, 0, 0, 0, 0, 1});
  host.add_interface("eth1", packet::Mac{2, 0, 0, 0, 0, 2});
  host.add_address("eth0", ip(198, 51, 100, 1), 24);
  host.add_address("eth1", ip(203, 0, 113, 1), 24);
  host.set_sysctl("net.ipv4.ip_forward", 1);
  auto r = ruleset::restore(
      "*filter\n:FORWARD DROP [0:0]\n"
      "-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT\n"
      "-A FORWARD -p tcp --dport 80 -m state --state NEW -j ACCEPT\n"
      "-A FORWARD -p udp --dport 53 -j ACCEPT\n"
      "COMMIT\n",
      host.ruleset());
  ASSERT_TRUE(r) << r.error().format("rules");
  size_t sent = 0;
  host.on_wire = [&](const stack::Host&, std::string_view, packet::Packet&) { ++sent; };

  constexpr int kFlows = 64;
  uint64_t now = 1'000'000'000;
  auto orig = [](int f, const char* rest) {
    return "tcp 198.51.100.10:" + std::to_string(40000 + f) + " > 203.0.113.4:80 " + rest;
  };
  auto reply = [](int f, const char* rest) {
    return "tcp 203.0.113.4:80 > 198.51.100.10:" + std::to_string(40000 + f) + " " + rest;
  };
  auto uorig = [](int f) { return "udp 198.51.100.10:" + std::to_string(5000 + f) + " > 203.0.113.4:53"; };
  auto ureply = [](int f) { return "udp 203.0.113.4:53 > 198.51.100.10:" + std::to_string(5000 + f); };
  for (int f = 0; f < kFlows; ++f) {
    host.receive(make(orig(f, "flags S seq 1000 win 64240")), "eth0", now);
    host.receive(make(reply(f, "flags SA seq 5000 ack 1001 win 65160")), "eth1", now);
    host.receive(make(orig(f, "flags A seq 1001 ack 5001 win 502")), "eth0", now);
    host.receive(make(uorig(f)), "eth0", now);
    host.receive(make(ureply(f)), "eth1", now);
  }
  ASSERT_EQ(host.conntrack().count(), 2u * kFlows);
  ASSERT_EQ(sent, 5u * kFlows);

  // Both directions alternate (TCP: no retransmission counting, no state
  // change); every fourth pair is UDP.
  constexpr int kPackets = 10000;
  std::vector<packet::Packet> pkts;
  pkts.reserve(2 * kPackets);
  for (int i = 0; i < 2 * kPackets; ++i) {
    int f = (i / 2) % kFlows;
    bool udp = (i / 2) % 4 == 3;
    if (udp)
      pkts.push_back(make(i % 2 ? ureply(f) : uorig(f)));
    else
      pkts.push_back(
          make(i % 2 ? reply(f, "flags A seq 5001 ack 1001 win 510") : orig(f, "flags A seq 1001 ack 5001 win 502")));
  }
  std::vector<conntrack::Event> events;
  // Warm-up: the first half grows whatever grows once.
  for (int i = 0; i < kPackets; ++i) {
    host.receive(std::move(pkts[i]), i % 2 ? "eth1" : "eth0", now);
    host.conntrack().expire_until(now);
    host.conntrack().take_events(&events);
  }
  backtrace(g_stacks[0].frames, 1);  // loads libgcc before counting
  g_count = true;
  for (int i = kPackets; i < 2 * kPackets; ++i) {
    host.receive(std::move(pkts[i]), i % 2 ? "eth1" : "eth0", now);
    host.conntrack().expire_until(now);
    host.conntrack().take_events(&events);
  }
  g_count = false;
  EXPECT_EQ(sent, 5u * kFlows + 2 * kPackets);
  EXPECT_EQ(host.conntrack().count(), 2u * kFlows);
  EXPECT_TRUE(events.empty());

  auto sites = allocation_sites();
  std::string report;
  for (const auto& [site, n] : sites) report += "  " + std::to_string(n) + "  " + site + "\n";
  std::printf("heap allocations for %d established packets through Host::receive: %zu\n%s", kPackets,
              g_allocs.load(), report.c_str());
  for (const auto& [site, n] : sites)
    EXPECT_EQ(site.find("nfemu::conntrack::"), std::string::npos) << "conntrack allocates: " << site << " x" << n;
  // The whole path: Host::sysctl took a std::string and built one from a
  // literal per packet until it took a string_view.
  EXPECT_EQ(g_allocs.load(), 0u) << report;
}

// The replay loop (pcap read, frame to Packet, Host, conntrack events,
// the fate of each frame, LOG lines counted) with NEW connections that
// are DNATed and MASQUERADEd: two replays whose captures differ only by a tail of
// frames (new connections that expire again, established packets) must
// allocate exactly as often. The tail repeats the head's pattern, so
// everything that grows once (pool, timers, by-source index, event
// buffers, the merge window) is warm before it; and the run ends with the
// same connections, so setup and finish() cost the same in both.
constexpr std::string_view kNatScenario = R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
listen = ["tcp/22"]
iptables = [
  "-t nat -A PREROUTING -i wan -p tcp --dport 8080 -j DNAT --to-destination 198.51.100.10:80",
  "-t nat -A POSTROUTING -o lan -j MASQUERADE",
  "-A FORWARD -p tcp --dport 23 -j LOG --log-prefix 'telnet: '",
  "-A FORWARD -p tcp --dport 23 -j DROP",
  "-A FORWARD -p tcp --dport 25 -j REJECT --reject-with tcp-reset",
  "-A FORWARD -p udp --dport 69 -j REJECT",
  "-A INPUT -p tcp --dport 80 -j SYNPROXY --mss 1460",
  "-t mangle -A FORWARD -p udp --dport 53 -j TEE --gateway 198.51.100.99",
  "-t mangle -A PREROUTING -i wan -p udp --dport 7 -j TEE --gateway 198.51.100.1",
  "-A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT",
  "-A FORWARD -p udp -j ACCEPT",
  "-A FORWARD -p tcp --syn -j ACCEPT",
]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
mac = "02:00:00:00:00:01"
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
)";

// One phase of the capture from `t0_us`, 150 s long: `fresh` new
// connections at its start (UDP to lan, TCP SYNs DNATed, telnet SYNs
// dropped, SMTP SYNs answered with REJECT's RST, TFTP datagrams with its
// port unreachable, pings to the host with echo replies, SYNs to its port
// 80 with SYNPROXY's SYN-ACK: answers the host builds; every DNS
// datagram is copied by TEE; echo datagrams are copied by TEE to the
// host's own address, so through lo; SYNs to the listener on port 22,
// answered by SYN-ACKs that it retransmits for a minute, unless the
// client resets the handshake (every third), with the SYN again for
// every third, a stray ACK the listener resets for the rest), which expire
// within it (UDP 30 s, SYN_SENT 120 s), and
// keep-alive packets of 8 long UDP flows every second.
void write_phase(packet::PcapWriter& w, uint64_t t0_us, int fresh) {
  auto frame = [&](uint64_t ts, const std::string& spec) {
    auto p = packet::parse_packet(spec);
    ASSERT_TRUE(p) << spec;
    p->set_mac_header({packet::Mac{2, 0, 0, 0, 0, 1}, packet::Mac{2, 0xaa, 0, 0, 0, 1}, packet::kEtherTypeIpv4});
    w.write(ts, p->frame());
  };
  uint64_t t = t0_us;
  for (int i = 0; i < fresh; ++i, t += 100) {
    std::string sport = std::to_string(20000 + i);
    frame(t, "udp 203.0.113.10:" + sport + " > 198.51.100.20:53");
    frame(t + 10, "tcp 203.0.113.11:" + sport + " > 203.0.113.1:8080 flags S");
    frame(t + 20, "tcp 203.0.113.12:" + sport + " > 198.51.100.20:23 flags S");
    frame(t + 30, "tcp 203.0.113.14:" + sport + " > 198.51.100.20:25 flags S");
    // From many sources: the ICMP rate limit is per peer.
    frame(t + 40, "udp 203.0.113." + std::to_string(100 + i % 100) + ":" + sport + " > 198.51.100.20:69");
    frame(t + 50, "icmp 203.0.113.16 > 203.0.113.1 echo-request id " + std::to_string(i + 1));
    frame(t + 60, "tcp 203.0.113.17:" + sport + " > 203.0.113.1:80 flags S mss 1460");
    frame(t + 70, "udp 203.0.113.18:" + sport + " > 198.51.100.20:7");
    frame(t + 80, "tcp 203.0.113.19:" + sport + " > 203.0.113.1:22 flags S seq 1000");
    // Not the handshake's ACK (an accepted connection stays, as the
    // kernel's socket does while nobody closes it): one the listener resets.
    uint32_t isn = icmp::initial_sequence(packet::parse_ipv4_addr("203.0.113.19").value(),
                                          packet::parse_ipv4_addr("203.0.113.1").value(),
                                          static_cast<uint16_t>(20000 + i), 22);
    if (i % 3 == 0)
      frame(t + 90, "tcp 203.0.113.19:" + sport + " > 203.0.113.1:22 flags A seq 1001 ack " + std::to_string(isn + 7));
    else if (i % 3 == 1)
      frame(t + 90, "tcp 203.0.113.19:" + sport + " > 203.0.113.1:22 flags R seq 1001");
    else
      frame(t + 90, "tcp 203.0.113.19:" + sport + " > 203.0.113.1:22 flags S seq 1000");
  }
  for (uint64_t s = 1; s < 150; ++s)
    for (int f = 0; f < 8; ++f)
      frame(t0_us + s * 1000000 + static_cast<uint64_t>(f), "udp 203.0.113.13:" + std::to_string(5000 + f) +
                                                              " > 198.51.100.30:53");
}

void replay_allocates_alike(bool with_out);

TEST(AllocTest, ReplayLoopWithNewNatedConnections) { replay_allocates_alike(false); }

// The same writing every artifact (--out): pcaps, kern.log, conntrack
// events.
TEST(AllocTest, ReplayLoopWithNewNatedConnectionsAndArtifacts) { replay_allocates_alike(true); }

void replay_allocates_alike(bool with_out) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("nfemu-alloc-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  constexpr int kFresh = 200;
  for (int phases : {2, 3}) {
    auto w = packet::PcapWriter::open((dir / (std::to_string(phases) + ".pcap")).string());
    ASSERT_TRUE(w);
    for (int p = 0; p < phases; ++p) write_phase(*w, 1'000'000 + static_cast<uint64_t>(p) * 150'000'000, kFresh);
    ASSERT_TRUE(w->close());
  }
  auto sc = scenario::load_scenario_text(kNatScenario, "alloc.toml", ".");
  ASSERT_TRUE(sc) << sc.error().format("alloc.toml");

  auto run_replay = [&](int phases) {
    replay::ReplayOptions o;
    o.host = "fw";
    o.inputs = {{"wan", (dir / (std::to_string(phases) + ".pcap")).string()}};
    if (with_out) o.out_dir = (dir / "out").string();  // removed before each run: made alike
    std::ostringstream diff;
    return replay::replay(*sc, o, diff);
  };
  // Once uncounted: function-local statics (tables, reason texts) are made
  // by the first replay of the process only.
  ASSERT_TRUE(run_replay(2));
  size_t allocs[2] = {};
  uint64_t frames[2] = {};
  std::map<std::string, size_t> sites[2];
  std::string report;
  for (int run = 0; run < 2; ++run) {
    fs::remove_all(dir / "out");
    backtrace(g_stacks[0].frames, 1);
    g_nstacks = 0;
    g_allocs = 0;
    g_count = true;
    auto r = run_replay(run + 2);
    g_count = false;
    ASSERT_TRUE(r) << r.error().message;
    allocs[run] = g_allocs.load();
    frames[run] = r->frames;
    const auto& h = r->hosts.at(0);
    // Every phase: kFresh DNATed and kFresh MASQUERADEd connections.
    EXPECT_EQ(h.dnat, static_cast<uint64_t>(kFresh) * static_cast<uint64_t>(run + 2));
    // REJECT answered every SMTP SYN, SYNPROXY every SYN to port 80, the
    // host every ping, and REJECT some TFTP datagrams (the ICMP rate
    // limits let some through at each phase's start).
    EXPECT_GT(h.generated, static_cast<uint64_t>(3 * kFresh) * static_cast<uint64_t>(run + 2));
    EXPECT_GE(h.snat, static_cast<uint64_t>(2 * kFresh) * static_cast<uint64_t>(run + 2));
    // Confirmed and expired again: the UDP flows (DNS, echo), the DNATed
    // SYNs, the pings, the SYNs to the listener.
    EXPECT_EQ(h.ct_destroy, static_cast<uint64_t>(5 * kFresh) * static_cast<uint64_t>(run + 2));
    // Each telnet SYN is logged; without --out its line is counted only.
    EXPECT_EQ(h.log_lines, static_cast<uint64_t>(kFresh) * static_cast<uint64_t>(run + 2));
    sites[run] = allocation_sites();
  }
  for (const auto& [site, n] : sites[1])
    if (sites[0][site] != n)
      report += "  " + std::to_string(static_cast<long>(n) - static_cast<long>(sites[0][site])) + "  " + site + "\n";
  fs::remove_all(dir);
  std::printf("replay allocations: %zu for %llu frames, %zu for %llu frames\n", allocs[0],
              static_cast<unsigned long long>(frames[0]), allocs[1], static_cast<unsigned long long>(frames[1]));
  EXPECT_GT(frames[1], frames[0] + 1000);
  EXPECT_EQ(allocs[1], allocs[0]) << "where the longer replay allocates more:\n" << report;
}

// The longest LOG lines: an ICMP error whose outer and embedded IPv4
// headers carry 40 bytes of options, the embedded TCP header 40 more,
// every LOG flag set (785 characters). Formatted into a kept string with
// room, a line must not allocate, however long: the line is built on the
// stack first, and a buffer smaller than the line grows on the heap.
TEST(AllocTest, LongestLogLineIntoAKeptString) {
  std::vector<uint8_t> b;
  auto ipv4 = [&](uint16_t total, uint8_t proto, uint32_t src, uint32_t dst) {
    const uint8_t hdr[20] = {0x4f, 0xff, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total), 0xff, 0xff,
                             0xe0, 0x00, 0xff, proto, 0, 0,
                             static_cast<uint8_t>(src >> 24), static_cast<uint8_t>(src >> 16),
                             static_cast<uint8_t>(src >> 8), static_cast<uint8_t>(src),
                             static_cast<uint8_t>(dst >> 24), static_cast<uint8_t>(dst >> 16),
                             static_cast<uint8_t>(dst >> 8), static_cast<uint8_t>(dst)};
    b.insert(b.end(), hdr, hdr + 20);
    b.insert(b.end(), 40, 0x01);  // NOP options
  };
  ipv4(60 + 8 + 60 + 60, 1, ip(198, 51, 100, 254), ip(203, 0, 113, 255));
  const uint8_t icmp[8] = {3, 4, 0, 0, 0, 0, 0xff, 0xff};  // fragmentation needed, MTU 65535
  b.insert(b.end(), icmp, icmp + 8);
  ipv4(60 + 60, 6, ip(203, 0, 113, 255), ip(198, 51, 100, 255));
  const uint8_t tcp[20] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff};
  b.insert(b.end(), tcp, tcp + 20);
  b.insert(b.end(), 40, 0x01);
  packet::Packet pkt(b);
  pkt.meta.mark = 0xffffffffu;
  log::LogOptions all;
  all.tcp_sequence = all.tcp_options = all.ip_options = all.uid = all.macdecode = true;
  log::MacInfo mac{};
  log::SocketOwner owner{4294967294u, 4294967294u};
  const std::string prefix(29, 'p');
  std::string line;
  line.reserve(4096);
  log::format_log_line(line, prefix, all, pkt, packet::Hook::Forward, "interface-name0", "interface-name1", &mac,
                       &owner);
  ASSERT_GT(line.size(), 700u) << line;
  ASSERT_NE(line.find("OPT (0101"), std::string::npos) << line;

  g_nstacks = 0;
  g_allocs = 0;
  g_count = true;
  log::format_log_line(line, prefix, all, pkt, packet::Hook::Forward, "interface-name0", "interface-name1", &mac,
                       &owner);
  log::format_trace_line(line, "security", "a-user-chain-name-of-29-chars", log::TraceType::Rule, 65535, pkt,
                         packet::Hook::Forward, "interface-name0", "interface-name1", &mac, &owner);
  g_count = false;
  EXPECT_EQ(g_allocs.load(), 0u) << line.size() << " characters: " << line;
}

// The counter does count (else zero above would prove nothing).
TEST(AllocTest, CounterSeesAllocations) {
  g_nstacks = 0;
  g_allocs = 0;
  g_count = true;
  auto* v = new std::vector<int>(100);
  g_count = false;
  delete v;
  EXPECT_GE(g_allocs.load(), 2u);
}

}  // namespace
}  // namespace nfemu
