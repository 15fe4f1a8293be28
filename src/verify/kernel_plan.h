// The kernel side of `nfemu verify`, planning half: a scenario turned into
// the namespaces, commands, sockets and traffic that rebuild it on a real
// Linux kernel. Pure (no root, no system calls), so that it is unit-tested
// everywhere; kernel_run.h executes a plan.
//
//   auto raw = verify::read_raw_rules(path);          // the rule texts as written
//   auto plan = verify::plan_kernel(*sc, *raw, verify::make_run_id());
//   for (const auto& c : plan->setup) ...             // argv vectors, no shell
//
// Every host becomes the namespace ID-HOST; interfaces keep the scenario's
// names. A link is a veth pair between two host namespaces; a wire
// interface is a veth whose peer (w0, w1...) lives in the hidden namespace
// ID-wire with MAC 02:00:00:00:00:00, where `on` traffic is injected.
// Permanent neighbour entries replace ARP (spec: no ARP frames exist).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenario/scenario.h"
#include "util/result.h"

namespace nfemu::verify {

// The rules of one host as the scenario file writes them: the kernel's
// tools must see the very text nfemu parsed, not nfemu's reading of it.
struct RawRules {
  std::string save_path;  // iptables-save file (resolved path), empty when none
  std::string save_text;
  struct Line {
    std::string text;  // one `iptables` entry as written
    int line = 0;
  };
  std::vector<Line> lines;
};

// Reads hosts.H.iptables-save and hosts.H.iptables of a scenario file, in
// the order of Scenario::hosts (the file's order).
Result<std::vector<RawRules>> read_raw_rules(const std::string& scenario_path, const scenario::Scenario& sc);

struct Command {
  std::vector<std::string> argv;
  std::string input;      // written to standard input
  bool may_fail = false;  // a best-effort step (ethtool offloads)
  // For rule commands: where the rule comes from, so that a refusal names it.
  bool is_rule = false;
  std::string origin_file;
  int origin_line = 0;     // 0 for a whole iptables-save file
  std::string rule_text;   // the `iptables` entry as written
};

struct Capture {
  size_t host = 0;
  std::string ns;
  std::string ifname;
};

struct ListenSocket {
  std::string ns;
  int proto = 6;  // 6 tcp, 17 udp
  uint16_t port = 0;
};

struct Injection {
  int64_t at_ns = 0;
  int line = 0;
  std::string text;
  bool from = true;  // raw IP socket in `ns`; else an AF_PACKET frame on `ifname` in `ns`
  std::string ns;
  std::string ifname;          // `on`: where the frame is sent from (the link peer, or the wire peer)
  uint32_t dst = 0;            // `from`: the destination given to sendto()
  std::vector<uint8_t> bytes;  // IP packet (`from`) or Ethernet frame (`on`)
  // `on` on a linked interface: the frame also leaves the peer's interface,
  // where tcpdump sees it; it is the harness's doing and is removed there.
  bool strip_from_peer = false;
  size_t peer_host = 0;
  std::string peer_ifname;
};

struct KernelPlan {
  std::string id;
  std::string wire_ns;                  // empty when no wire interface exists
  std::vector<std::string> host_ns;     // per host, in Scenario::hosts order
  std::vector<std::string> namespaces;  // every namespace to create (and delete)
  std::vector<Command> setup;           // in order: namespaces, links, addresses, routes, neighbours, sysctls
  std::vector<Command> rules;           // iptables-restore / iptables per host, in order
  std::vector<Command> late_sysctls;    // net.netfilter.* (they exist once conntrack is loaded)
  std::vector<Capture> captures;
  std::vector<ListenSocket> listeners;
  std::vector<Injection> traffic;
  int64_t end_ns = 0;
  std::vector<std::string> notes;  // what the kernel side cannot reproduce exactly
};

// A run id short enough for namespace names and unique per process:
// "nfv<pid>x<random>".
std::string make_run_id();

Result<KernelPlan> plan_kernel(const scenario::Scenario& sc, const std::vector<RawRules>& raw, const std::string& id);

// The IPv4 addresses in a text (dotted quads, as in rule arguments such as
// --to-destination 100.64.1.4:80 or -d 192.0.2.0/24).
std::vector<uint32_t> addresses_in_text(std::string_view text);

}  // namespace nfemu::verify
