// The timeline of a scenario run as data: one Event per decision of the
// packet path (stack::PathObserver) and per frame crossing a link, in the
// order they happen. The text `nfemu run` prints and the JSON of
// `nfemu run --json` (docs/json.md) are two renderings of the same events.
//
//   for (const Event& e : net->events()) if (e.kind == EventKind::Nat) ...
//   std::cout << render_timeline(net->events());
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nfemu::net {

enum class EventKind : uint8_t {
  Send,         // a traffic entry `from`: handed to the host's stack
  Inject,       // a traffic entry `on`: a frame arrives from the wire
  Receive,      // a frame crossed a link and arrives on the peer interface
  Conntrack,    // the conntrack point of PREROUTING/OUTPUT: the packet's state
  Rule,         // the walker met a rule that matched, a chain's end or policy
  Table,        // a table's verdict at a hook
  Nat,          // the nat table's turn at a hook: walked or not, and the rewrite
  Drop,         // the packet is gone, with the kernel's reason
  Stolen,       // a target took the packet (NF_STOLEN): gone, not thrown away
  Deliver,      // local delivery after INPUT
  Transmit,     // the frame leaves on an interface
  KernelLog,    // a LOG/TRACE line, as `dmesg -t` prints it
  CtEvent,      // a `conntrack -E` line
  Unsupported,  // an extension nfemu cannot evaluate yet (no match)
  Expect,       // a conntrack helper expects a connection (FTP's PORT, IRC's DCC...)
};
// The stable JSON name: send, inject, receive, conntrack, rule, table, nat,
// drop, deliver, transmit, log, ct-event, unsupported, expect.
std::string_view to_string(EventKind k);

// Flat on purpose: a few strings per event is nothing next to a run, and
// one struct keeps both renderings and the tests simple. Fields a kind
// does not use stay empty (0, "").
struct Event {
  uint64_t time_ns = 0;
  int traffic = -1;  // index of the [[traffic]] entry being played; -1: none (timers, the end)
  std::string host;
  EventKind kind = EventKind::Send;
  std::string hook;      // PREROUTING ... POSTROUTING, for hook events
  std::string table;     // Rule, Table, Nat
  std::string chain;     // Rule
  std::string position;  // Rule: "rule", "return" or "policy" (TRACE's words)
  int rulenum = 0;       // Rule: TRACE's number (the chain's rule count + 1 for its end)
  std::string rule;      // Rule: "-A CHAIN ..." as iptables-save prints it; "" at a chain's end
  std::string verdict;   // Rule: the target word (or policy); Table: ACCEPT, DROP, STOLEN, QUEUE
  std::string ct_state;  // Conntrack, Deliver: NEW ESTABLISHED RELATED INVALID UNTRACKED
  std::string ct_dir;    // Conntrack, Deliver: "original" or "reply" (tracked states only)
  std::string nat_step;  // Nat: "walked", "bound", "icmp-error" (stack::NatStep)
  std::string before;    // Nat: the packet's addresses before ...
  std::string after;     // ... and after; equal when nothing changed
  std::vector<std::string> skipped_rules;  // Nat, chain not walked: the rules of the hook's nat chain
  std::string ifname;    // Inject, Receive, Transmit
  std::string packet;    // the packet, in the scenario grammar where it fits
  std::string reason;    // Drop
  std::string text;      // Send/Inject: the traffic entry's text; KernelLog, CtEvent: the line;
                         // Unsupported: the extension; Expect: the expectation
  bool changed() const { return before != after; }
};

// One event's text, without time and host ("transmits on eth0: ...").
std::string event_text(const Event& e);
// For people: each traffic entry as a heading, its packets' whole path
// below, host by host. TRACE lines are left out (each is the rule line
// right above it); the JSON has them.
std::string render_timeline(const std::vector<Event>& events);
// A datagram's addresses and ports (an ICMP error with the datagram it
// quotes), from its first bytes: enough to show what NAT changed.
std::string describe_headers(std::span<const uint8_t> ip);
// Virtual time as the timeline prints it: seconds with 6 decimals.
std::string format_seconds(uint64_t ns);

}  // namespace nfemu::net
