// Evaluating rules on a packet: the context matches and targets see, and
// the chain walker that does what ipt_do_table does (rule order, jumps with
// a stack, goto, RETURN, policies, counters, hotdrop) and reports every
// decision as a trace event, which TRACE, the explain timeline and tests
// all read.
//
//   EvalContext ctx{pkt, TableId::Filter, Hook::Forward, ...};
//   Verdict v = run_table(table, ctx, &sink);
#pragma once

#include <cstdint>
#include <string_view>

#include "packet/packet.h"
#include "xtables/extension.h"
#include "xtables/table.h"

namespace nfemu::conntrack {
class Table;
}

namespace nfemu::xt {

struct EvalContext;

// The connection of a packet as matches and targets see it; conntrack/
// implements it. Kept abstract so xtables does not depend on conntrack.
class CtAccess {
 public:
  virtual ~CtAccess() = default;
  virtual uint32_t mark() const = 0;
  virtual void set_mark(uint32_t mark) = 0;
  virtual uint32_t status() const = 0;  // IPS_* bits
};

// What a NAT target asks for (xt_nat.c, xt_MASQUERADE.c, xt_REDIRECT.c,
// xt_NETMAP.c): the kind decides how the host completes the range (the
// outgoing interface's address, the incoming one's, a mapped prefix)
// before nf_nat_setup_info binds the packet's new connection. Host order;
// flags are NF_NAT_RANGE_* (NatFlag in targets/nat_range.h); ports are
// ICMP ids for ICMP.
struct NatRequest {
  enum class Kind : uint8_t { Snat, Dnat, Masquerade, Redirect, Netmap };
  Kind kind = Kind::Snat;
  uint32_t flags = 0;
  uint32_t min_ip = 0, max_ip = 0;  // NETMAP: the prefix to map into
  uint16_t min_port = 0, max_port = 0, base_port = 0;
};

// The flow rpfilter_mt hands to fib_lookup to find the route back to a
// packet's source: to the packet's source, from its destination (0 for a
// multicast, limited-broadcast or zero one), from the loopback device, the
// mark with --validmark only, the DSCP. Host order.
struct ReverseFlow {
  uint32_t daddr = 0;
  uint32_t saddr = 0;
  uint32_t mark = 0;
  uint8_t dscp = 0;
};

// What rpfilter_lookup_reverse needs of that lookup: the route's RTN_*
// type (0 when fib_lookup fails) and whether a next hop of it leaves
// through the packet's input device (fib_info_nh_uses_dev).
struct ReverseRoute {
  unsigned type = 0;
  bool uses_in_dev = false;
};

// A local socket as nf_sk_lookup_slow_v4 finds it for the socket match.
struct LocalSocket {
  bool found = false;
  bool full = false;         // sk_fullsock: a listener or an established child, not a request sock
  bool any_address = false;  // bound to INADDR_ANY (inet_rcv_saddr == 0)
  bool transparent = false;  // IP_TRANSPARENT (inet_sk_transparent)
  uint32_t mark = 0;         // sk_mark
};

// What targets ask of the host that runs the table; the packet engine
// implements it. Matches and targets never build packets themselves.
class Effects {
 public:
  virtual ~Effects() = default;
  // RTN_* type of addr as the routing table sees it (addrtype match);
  // dev restricts the lookup to one interface when not empty.
  virtual unsigned addr_type(uint32_t addr, std::string_view dev) const = 0;
  // LOG: the host formats and records the kernel's log line.
  virtual void log(std::string_view prefix, uint8_t level, uint8_t flags, const packet::Packet& pkt, Hook hook) = 0;
  // NAT targets: binds ctx.pkt's new connection (nf_nat_setup_info) in
  // ctx.hook's manip. Accept, or Drop when the kernel's target would (no
  // source address for MASQUERADE). The default host has no NAT: Accept.
  virtual TargetVerdict nat(const NatRequest& req, const EvalContext& ctx);
  // CONNMARK: gives the packet's connection (pkt.meta.ct, not null) a new
  // mark through the host's conntrack table, which caches the IPCT_MARK
  // event as nf_conntrack_event_cache does. A host without a conntrack
  // table (unit tests of other targets) ignores it.
  virtual void set_ct_mark(packet::Packet& pkt, uint32_t mark) {}
  // -m connlabel: label `bit` of the packet's connection (nf_ct_labels),
  // set first when `set` and clear (the table caches IPCT_LABEL). -1: no
  // connection (none, untracked, a template) or no conntrack table; else
  // whether the bit is set now.
  virtual int ct_label(packet::Packet& pkt, unsigned bit, bool set) { return -1; }
  // TCPMSS --clamp-mss-to-pmtu: min(dst_mtu of the packet's route, MTU of
  // the route back to its source) as xt_TCPMSS computes it; 0: unknown
  // (the target then drops, as the kernel does for an invalid path MTU).
  virtual uint32_t path_mtu(const packet::Packet& pkt) const { return 0; }
  // skb_is_gso: whether pkt is a TCP aggregate (GRO, or a TSO send passed
  // on whole) that leaves as segments (CHECKSUM leaves its checksum to
  // them). A host without interfaces has none.
  virtual bool gso_aggregate(const packet::Packet& pkt) const { return false; }
  // The IP sets of the host's namespace (the set match tests them, the SET
  // target changes them); none by default.
  virtual ipset::Registry* ipsets() const { return nullptr; }
  // The host's accounting objects (-m nfacct counts into them); none by default.
  virtual NfacctObjects* nfacct() const { return nullptr; }
  // The namespace's rate estimators (RATEEST counts into them, -m rateest
  // reads them); none by default.
  virtual RateEstimators* rate_estimators() const { return nullptr; }
  // The wall clock (CLOCK_REALTIME) at virtual time now_ns, which the time
  // match reads: the host's real-time base plus now_ns (a replay's base is
  // its capture's first timestamp); by default the virtual clock itself.
  virtual uint64_t realtime_ns(uint64_t now_ns) const { return now_ns; }
  // The namespace's connection table, which connlimit looks its counted
  // connections up in (nf_conntrack_find_get); none by default.
  virtual const conntrack::Table* conntrack_table() const { return nullptr; }
  // TEE (nf_dup_ipv4): sends a copy of ctx.pkt to the gateway gw, through
  // the interface oif when the host has one of that name. A host without
  // interfaces sends nothing.
  virtual void duplicate(const EvalContext& ctx, uint32_t gw, std::string_view oif) {}
  // The rpfilter match's reverse-path lookup for a packet received on
  // in_dev; a host without routes finds none.
  virtual ReverseRoute reverse_route(const ReverseFlow& flow, std::string_view in_dev) const { return {}; }
  // dev->group (`ip link set DEV group N`, devgroup match) of the host's
  // interface `dev`; 0, the kernel's default, when there is none.
  virtual uint32_t device_group(std::string_view dev) const { return 0; }
  // The socket the host would give a packet of proto from saddr:sport to
  // daddr:dport (established and request sockets first, then listeners:
  // inet_lookup, udp4_lib_lookup); none by default.
  virtual LocalSocket find_socket(uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
                                  uint16_t dport) const {
    return {};
  }
  // SYNPROXY's answer to `trigger` (synproxy_send_tcp): the host gives it
  // its TTL (net.ipv4.ip_default_ttl) and IP checksum, attaches the
  // trigger's connection as the reply direction, as the kernel attaches
  // skb_nfct(skb), and sends it through LOCAL_OUT. A host without a stack
  // sends nothing. `reply` stays the caller's: its buffer is reused.
  virtual void send_synproxy_reply(const packet::Packet& trigger, packet::Packet& reply, uint64_t now_ns) {}
};

// The entry whose verdict run_table returned: a rule (rule set, rulenum
// its number) or the policy of the builtin chain (rule null, rulenum the
// chain's tail, as TRACE numbers it); chain empty when a match hot-dropped
// the packet. Set by both walkers, with or without a trace sink.
struct VerdictSource {
  std::string_view chain;
  int rulenum = 0;
  const Rule* rule = nullptr;
};

struct EvalContext {
  packet::Packet& pkt;
  TableId table;
  Hook hook;
  uint16_t thoff = 0;    // transport header offset in pkt.data()
  uint16_t fragoff = 0;  // fragment offset (8-byte units); matches on ports see only fragoff 0
  uint64_t now_ns = 0;
  CtAccess* ct = nullptr;  // nullptr: untracked or invalid
  Effects* effects = nullptr;
  bool hotdrop = false;  // a match found the packet malformed: drop it
  VerdictSource verdict;
};

enum class Verdict : uint8_t { Accept, Drop, Stolen, Queue };

// One decision of the walker, as the kernel's trace_packet names it:
// TABLE:CHAIN:rule|return|policy:RULENUM.
struct TraceEvent {
  enum class Kind : uint8_t { Rule, Return, Policy };
  std::string_view table;
  std::string_view chain;
  Kind kind;
  int rulenum;
  const Rule* rule;  // nullptr for the tail of a chain (policy or implicit return)
};

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  // Whether on_event is called: a sink that only wants to hear of
  // unsupported extensions turns it off (nfemu replay reads the verdict's
  // source from EvalContext::verdict instead: a virtual call for every
  // rule a packet matched was 3 % of its frame).
  bool events = true;
  // Every rule that matched, and every chain tail reached, in order. The
  // packet's meta.trace tells whether the kernel would print a TRACE line.
  virtual void on_event(const TraceEvent& ev, const packet::Packet& pkt) = 0;
  // A match or target nfemu cannot evaluate yet (treated as no match /
  // continue), so that callers can say so instead of guessing silently.
  virtual void on_unsupported(std::string_view extension) {}
};

// ip_packet_match: the IP header criteria of a rule against a packet.
bool ip_criteria_match(const IpCriteria& ip, const packet::Packet& pkt, bool is_fragment);

inline TargetVerdict Effects::nat(const NatRequest&, const EvalContext&) { return TargetVerdict::Accept; }

// Runs the builtin chain of ctx.hook in table t. Counters are updated.
Verdict run_table(Table& t, EvalContext& ctx, TraceSink* sink = nullptr);

}  // namespace nfemu::xt
