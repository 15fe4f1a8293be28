// A Linux host's IPv4 packet path, hook by hook (design.md, "the journey of
// a packet"):
//
//   receive ─► ip_rcv checks ─► PREROUTING ─► route ─► INPUT ─► local delivery
//                                                │
//                                                └─► TTL/MTU ─► FORWARD ─► POSTROUTING ─► transmit
//   send ────► route ─► OUTPUT ─► re-route ─► POSTROUTING ─► transmit
//
// Each hook runs its units in the kernel's priority order: raw -300,
// conntrack -200 (PREROUTING, OUTPUT), mangle -150, nat -100 (destination
// NAT), filter 0, security 50, nat 100 (source NAT), conntrack confirm last
// (INPUT, POSTROUTING). NAT (src/nat) binds a connection on its first packet
// and rewrites every later one; ICMP errors and replies (src/icmp) leave
// through OUTPUT like any locally generated packet, RELATED to the
// connection of the packet they answer.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conntrack/conntrack.h"
#include "icmp/icmp.h"
#include "ipset/ipset.h"
#include "packet/reassembly.h"
#include "packet/addr.h"
#include "packet/packet.h"
#include "stack/fib.h"
#include "stack/rpfilter.h"
#include "xtables/compiled/classify.h"
#include "xtables/eval.h"
#include "xtables/table.h"

namespace nfemu::stack {

class Host;

struct Interface {
  std::string name;
  packet::Mac mac{};
  uint32_t mtu = 1500;
  uint32_t group = 0;  // dev->group, which the devgroup match reads
  // The static neighbour every next hop through this interface resolves
  // to (a scenario's wire peer); unset: Host::neighbour decides. Kept here
  // so that a forwarded frame does not call through std::function.
  std::optional<packet::Mac> peer;
};

// What nf_nat_inet_fn did with a packet at one nat hook.
enum class NatStep : uint8_t {
  // The packet creates its connection's binding for this manip: the nat
  // chain was walked (on_rule, on_table), then the packet rewritten.
  Walked,
  // Not NEW, or the manip is already bound: the chain is not walked; the
  // connection's binding rewrites the packet (possibly to itself).
  Bound,
  // A RELATED ICMP error: the chain is not walked; the error and the
  // datagram it quotes are translated by the binding of the connection
  // it reports on (nf_nat_icmp_reply_translation).
  IcmpError,
};

// Everything the packet path decides, in the order it happens: the
// timeline, the TRACE text and the tests read the same events.
inline constexpr size_t kNatSnapshot = 128;

class PathObserver {
 public:
  virtual ~PathObserver() = default;
  virtual void on_table(const Host&, xt::Hook, xt::TableId, xt::Verdict, const packet::Packet&) {}
  virtual void on_rule(const Host&, xt::Hook, const xt::TraceEvent&, const packet::Packet&) {}
  virtual void on_drop(const Host&, std::string_view reason, const packet::Packet&) {}
  // A target took the packet (NF_STOLEN: SYNPROXY answered a SYN): gone,
  // like a drop, but not thrown away. `reason` names the table, the hook
  // and STOLEN; observers that only count the packets lost count it there.
  virtual void on_stolen(const Host& h, std::string_view reason, const packet::Packet& pkt) { on_drop(h, reason, pkt); }
  virtual void on_local_deliver(const Host&, const packet::Packet&) {}
  virtual void on_transmit(const Host&, std::string_view ifname, const packet::Packet&) {}
  virtual void on_unsupported(const Host&, std::string_view extension) {}
  // The packet passed the conntrack point of PREROUTING or OUTPUT (-200):
  // meta.ct and meta.ctinfo hold its state (none: INVALID; Untracked).
  virtual void on_conntrack(const Host&, xt::Hook, const packet::Packet&) {}
  // Before that, when conntrack found the packet INVALID: `reason` is the
  // message the kernel logs with nf_conntrack_log_invalid where it logs
  // one ("bad checksum", "packet (index 3) in dir 0 invalid, state
  // SYN_SENT"), else a description ("invalid new"), or empty.
  virtual void on_conntrack_invalid(const Host&, xt::Hook, std::string_view reason, const packet::Packet&) {}
  // The nat table's turn at this hook. `before` is the start of the
  // datagram (up to kNatSnapshot bytes: headers and an ICMP error's quote)
  // before the rewrite; `after` the packet as it continues.
  virtual void on_nat(const Host&, xt::Hook, NatStep, std::span<const uint8_t> before, const packet::Packet& after) {}
  // Whether on_nat is wanted: false spares every NATed packet the copy of
  // `before` and the call (nfemu replay ignores NAT steps). Asked once, by
  // set_observer.
  virtual bool watches_nat() const { return true; }
  // Whether on_rule is wanted for every rule a packet matches: false spares
  // each a virtual call (nfemu replay only counts what gave a verdict, and
  // reads it in on_table from Host::verdict_source()). TRACE lines are made
  // either way. Asked once, by set_observer.
  virtual bool watches_rules() const { return true; }
  // A conntrack helper read an announcement in the packet being confirmed
  // and made this expectation (its NAT half, if any, has set it up).
  virtual void on_expectation(const Host&, const conntrack::Expectation&) {}
  // A line the kernel would log (LOG, TRACE), as
  // `dmesg -t` prints it; empty when wants_log_text() said no.
  virtual void on_kernel_log(const Host&, const std::string& line) {}
  // Whether on_kernel_log needs the text, asked for every line: false
  // (nfemu replay without --out counts the lines and shows none) spares
  // each its formatting, several thousand instructions.
  virtual bool wants_log_text() const { return true; }
};

class Host {
 public:
  // A host has a loopback interface `lo` with 127.0.0.1/8, as in Linux.
  explicit Host(std::string name);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const std::string& name() const { return name_; }
  Interface& add_interface(std::string ifname, packet::Mac mac, uint32_t mtu = 1500);
  // `ip link set DEV group N`; lo included. Unknown devices are ignored.
  void set_device_group(std::string_view ifname, uint32_t group);
  const Interface* find_interface(std::string_view ifname) const;
  const std::vector<Interface>& interfaces() const { return interfaces_; }
  void add_address(const std::string& ifname, uint32_t addr, int plen) { fib_.add_address(ifname, addr, plen); }

  Fib& fib() { return fib_; }
  const Fib& fib() const { return fib_; }
  // Mutable access may change the rules: whether conntrack is registered
  // and the compiled tables are worked out again before the next packet.
  // Both accessors first add the counts the compiled walk keeps aside
  // (xt::CompiledTable::fold_counters) to the rules' counters, so that
  // what is read through them counts every packet walked so far.
  // A reference kept across packets: counters read through it lag behind
  // until ruleset() is called again. Rules changed through it (without a
  // ruleset() call after the last packets) lose the compiled walk's counts
  // since that call, and no other rule gets them: the counts are kept by
  // rule position and fold only into the table generation they were made
  // for (Table::generation; zeroing counters makes a new one too, so that
  // counts pending from before a zero are dropped). Call ruleset() again
  // instead of keeping it.
  xt::Ruleset& ruleset() {
    fold_counters();
    ct_demand_known_ = false;
    return ruleset_;
  }
  const xt::Ruleset& ruleset() const {
    fold_counters();
    return ruleset_;
  }
  // Whether this namespace's conntrack hooks are registered: only while a
  // rule needs them (stack/ct_demand.h). Entries already made stay listed.
  bool conntrack_enabled() const { return ct_demand_known_ ? ct_enabled_ : work_out_ct_demand(); }
  // Whether nf_defrag_ipv4 reassembles fragments here: conntrack, or
  // ruleset_enables_defrag.
  bool defrag_enabled() const {
    if (!ct_demand_known_) work_out_ct_demand();
    return defrag_enabled_;
  }
  conntrack::Table& conntrack() { return conntrack_; }
  const conntrack::Table& conntrack() const { return conntrack_; }

  // The namespace's IP sets, which the set match tests.
  ipset::Registry& ipsets() { return ipsets_; }
  // The namespace's accounting objects (`nfacct add`): -m nfacct counts into them.
  xt::NfacctObjects& nfacct() { return nfacct_; }
  const xt::NfacctObjects& nfacct() const { return nfacct_; }
  // The namespace's rate estimators (RATEEST counts into them).
  const xt::RateEstimators& rate_estimators() const { return rate_estimators_; }
  // The wall clock at virtual time 0 (ns since the epoch), which the time
  // match reads: a replay's first capture timestamp; 0 for `nfemu run`.
  void set_realtime_base_ns(uint64_t ns) { realtime_base_ns_ = ns; }
  uint64_t realtime_base_ns() const { return realtime_base_ns_; }
  const ipset::Registry& ipsets() const { return ipsets_; }

  // sysctls by their dotted name; unset ones read as the kernel default.
  void set_sysctl(const std::string& name, int64_t value) {
    sysctl_[name] = value;
    path_sysctls_fresh_ = false;
  }
  // A string_view: the packet path asks with literals, which would not fit
  // std::string's inline buffer (one heap allocation per packet).
  int64_t sysctl(std::string_view name) const;

  void set_observer(PathObserver* o) {
    observer_ = o;
    nat_observer_ = o && o->watches_nat() ? o : nullptr;
    rules_watched_ = o && o->watches_rules();
  }
  // During on_table: the rule or policy whose verdict the walk returned
  // (chain empty after a hotdrop). Null otherwise.
  const xt::VerdictSource* verdict_source() const { return verdict_source_; }
  // How tables are walked: Compiled (xtables/compiled/classify.h, compiled
  // again whenever a table changes) or Linear (run_table, the reference).
  // Both give the same verdicts, counters and trace events.
  // Choosing Compiled compiles the current tables at once, when the rules
  // are loaded (a 10k-rule chain takes milliseconds), so that the first
  // packet does not pay for it; a table changed later is compiled again
  // by the first packet that walks it.
  enum class Classifier : uint8_t { Linear, Compiled };
  void set_classifier(Classifier c);
  Classifier classifier() const { return classifier_; }
  // False while a table would be compiled by the next packet that walks
  // it (Compiled, and the table changed since); always true for Linear.
  bool classifier_ready() const;
  // Where frames leaving an interface go (the network wires it). The
  // packet carries its Ethernet header; lo traffic loops back internally.
  std::function<void(const Host&, std::string_view ifname, packet::Packet&)> on_wire;
  // The MAC address of the next hop through ifname (static neighbours),
  // for interfaces without a fixed Interface::peer.
  std::function<packet::Mac(std::string_view ifname, uint32_t nexthop)> neighbour;

  // A frame arrived on ifname (ip_rcv).
  void receive(packet::Packet pkt, std::string_view ifname, uint64_t now_ns) { receive_frame(pkt, ifname, now_ns); }
  // The same in the caller's buffer: the path rewrites it in place and
  // leaves it holding whatever it last was (meta included), its capacity
  // still the caller's, so that a loop refilling one Packet (nfemu replay)
  // allocates nothing per frame.
  void receive_frame(packet::Packet& pkt, std::string_view ifname, uint64_t now_ns);
  // A datagram handed to a raw IP_HDRINCL socket (ip_route_output, OUTPUT).
  void send(packet::Packet pkt, uint64_t now_ns);
  // A datagram one of the host's sockets sent, as a capture of its links
  // holds it (nfemu replay --own-output): OUTPUT and POSTROUTING from the
  // socket's full sock, in the caller's buffer as receive_frame. A sum a
  // sender left for its NIC (the pseudo header's) stays partial.
  void send_captured(packet::Packet& pkt, uint64_t now_ns);

  // The host's sockets as a capture shows them: the ports its own TCP
  // segments and UDP datagrams left from, and the other transport
  // protocols it sent. The stack answers nothing that comes to them (no
  // SYN-ACK of a scenario listener, no RST, no ICMP port or protocol
  // unreachable): the capture's own frames are the answers, replayed by
  // send_captured. Null (the default): the scenario's listeners decide.
  struct CapturedSockets {
    std::bitset<65536> tcp, udp;
    std::bitset<256> protocols;
  };
  void set_captured_sockets(const CapturedSockets* s) { captured_sockets_ = s; }

  // Sockets listening on this host (scenario `listen`), proto 6 (TCP) or 17
  // (UDP). A TCP listener answers a SYN with a SYN-ACK and accepts the
  // handshake's ACK; a UDP one takes datagrams silently. Without one the
  // host answers a segment with a RST and a datagram with ICMP port
  // unreachable, as Linux does.
  void add_listener(uint8_t proto, uint16_t port);

  // Timers on the virtual clock: a listener retransmits an unacknowledged
  // SYN-ACK (reqsk_timer_handler). next_timer() is the earliest one due,
  // if any; run_timers(until) fires those due at or before `until`, each
  // at its own time. The network interleaves hosts by calling run_timers
  // with the earliest next_timer() of all.
  std::optional<uint64_t> next_timer() const;
  void run_timers(uint64_t until);
  // Changes whenever a timer may have been armed or moved (a request sock
  // made, a fragment queued, timers run). A driver that looks at every
  // packet (replay) asks next_timer() again only when this changed or the
  // time it gave has come: once per change, not once per packet.
  uint64_t timer_epoch() const { return timer_epoch_; }
  // Segments to a listener's request sock that acknowledged another ISN
  // than its SYN-ACK's (tcp_check_req resets them). In a replay these
  // carry the captured host's own ISN, which nfemu cannot know.
  uint64_t foreign_isn_acks() const { return foreign_isn_acks_; }
  bool has_listener(uint8_t proto, uint16_t port) const;
  // The socket match's lookup (xt::Effects::find_socket) over the sockets
  // above.
  xt::LocalSocket find_socket(uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr, uint16_t dport) const;

  // __icmp_send: an ICMP error about `offending` (a packet this host
  // received, forwards or sends, its meta as the path left it), subject to
  // the kernel's checks and rate limits (icmp/icmp.h); it leaves through
  // OUTPUT and POSTROUTING carrying the offending packet's connection
  // (nf_ct_attach: RELATED). Returns whether an error was sent.
  bool icmp_send(const packet::Packet& offending, uint8_t type, uint8_t code, uint32_t info, uint64_t now_ns);
  // The source address __icmp_send gives an error about `offending`: its
  // destination when that is local; else, with
  // net.ipv4.icmp_errors_use_inbound_ifaddr and a received packet, the
  // inbound interface's address (inet_select_addr, scope link); else the
  // preferred source of the route back to the sender. 0 when there is no
  // route back.
  uint32_t icmp_source(const packet::Packet& offending) const;

 private:
  class Sink;
  class HostEffects;
  bool run_hook(xt::Hook hook, packet::Packet& pkt, uint64_t now_ns);
  // run_hook's pieces: conntrack's point, the nat table's turn (false: the
  // packet was dropped). Inlined: as calls they cost more than they saved.
  [[gnu::always_inline]] inline bool conntrack_point(xt::Hook hook, packet::Packet& pkt, uint64_t now_ns);
  [[gnu::always_inline]] inline bool run_nat(xt::Hook hook, xt::Table& t, packet::Packet& pkt, uint64_t now_ns, Sink& sink);
  // One table's walk, its on_table and its verdict (false: dropped).
  [[gnu::always_inline]] inline bool walk_table(xt::Hook hook, xt::TableId id, xt::Table& t, packet::Packet& pkt,
                                                uint64_t now_ns, Sink& sink);
  [[gnu::noinline, gnu::cold]] bool work_out_ct_demand() const;
  // The compiled tables' pending counts into ruleset_ (see ruleset()).
  // Const: it changes the rules' statistics, not the rules, and the const
  // ruleset() must show every packet too (json and the timeline read the
  // counters through a const Host).
  void fold_counters() const {
    for (const auto& c : compiled_)
      if (c && c->counters_pending()) [[unlikely]] {
        fold_counters_now();
        return;
      }
  }
  [[gnu::noinline, gnu::cold]] void fold_counters_now() const;
  // Compiles t again (walk_table, when it changed): out of line, so that
  // the walk's inlined path stays small.
  [[gnu::noinline, gnu::cold]] void recompile(xt::Table& t);
  // The tables of each hook that the ruleset has, in priority order, with
  // their index in ruleset_.tables(), and where conntrack's point falls
  // (before the ct_at-th of them): a hook walks only the tables it has,
  // without a search through the ruleset per table and packet.
  struct HookTables {
    uint8_t n = 0;
    uint8_t ct_at = UINT8_MAX;  // PREROUTING and OUTPUT only
    std::array<xt::TableId, xt::kNumTables> ids{};
    std::array<uint32_t, xt::kNumTables> slot{};
  };
  using TablePlan = std::array<HookTables, xt::kNumHooks>;
  const TablePlan& table_plan();
  [[gnu::noinline, gnu::cold]] void rebuild_table_plan();
  TablePlan table_plan_{};
  std::array<xt::TableId, xt::kNumTables> slot_ids_{};  // the ids of ruleset_.tables() it was made for
  size_t slot_ids_size_ = SIZE_MAX;
  void route_input(packet::Packet& pkt, uint64_t now_ns);
  void early_demux(packet::Packet& pkt) const;
  // nf_defrag_ipv4 (defrag.cpp): false when the fragment was queued.
  // Inline: most packets are whole, and the check is two loads.
  bool conntrack_defrag(packet::Packet& pkt, uint64_t now_ns) {
    return !pkt.ip().is_fragment() || !defrag_enabled() || defrag(ct_defrag_, pkt, now_ns);
  }
  // ip_defrag for one user's queues: false when pkt was queued or dropped,
  // else pkt is now the whole datagram.
  bool defrag(packet::Reassembler& r, packet::Packet& pkt, uint64_t now_ns);
  // The fragment queues' timers (ip_expire, defrag.cpp).
  std::optional<uint64_t> next_frag_expiry() const;
  void expire_fragments(uint64_t until);
  // fib_validate_source; drops when false.
  bool source_valid(packet::Packet& pkt, const SourcePolicy& policy);
  // ip_route_input_slow's checks of zeronet and loopback addresses (cold:
  // only for a packet with one), and __mkroute_output's for a loopback
  // source leaving another device.
  [[gnu::cold, gnu::noinline]] bool loopback_input_ok(packet::Packet& pkt, bool route_localnet);
  [[gnu::cold, gnu::noinline]] bool loopback_output_ok(packet::Packet& pkt, std::string_view dev);
  // The per-interface sysctls a received packet reads, each combined with
  // conf/all as the kernel's IN_DEV_* macro combines them.
  struct InputConf {
    SourcePolicy source;          // fib_validate_source: max(all, DEV), all || DEV
    bool forwarding = false;      // IN_DEV_FORWARD: the interface's own value
    bool route_localnet = false;  // IN_DEV_ROUTE_LOCALNET: all || DEV
  };
  // net.ipv4.conf.DEV.LEAF as the interface has it (see devconf in host.cpp).
  int64_t devconf(std::string_view dev, std::string_view leaf) const;
  // The input sysctls of any device name (one the host has not, a test's).
  InputConf input_conf(std::string_view dev) const;
  // path_sysctls()'s entry for the packet's input device.
  const InputConf& input_conf_of(const packet::Packet& pkt);
  InputConf unknown_conf_;  // unknown_device_conf's last answer
  // The rare ends of the received packet's path, out of line so that the
  // common path's functions stay small (fewer registers saved per call).
  [[gnu::cold, gnu::noinline]] const InputConf& unknown_device_conf(std::string_view dev);
  [[gnu::cold, gnu::noinline]] void drop_malformed(std::string_view message, packet::Packet& pkt);
  [[gnu::cold, gnu::noinline]] void ttl_exceeded(packet::Packet& pkt, uint64_t now_ns);
  [[gnu::cold, gnu::noinline]] void frag_needed(packet::Packet& pkt, uint32_t mtu, uint64_t now_ns);
  // skb_is_gso(skb) && skb_gso_validate_network_len(skb, mtu), for a
  // datagram longer than `mtu`: whether it is a TCP aggregate whose
  // segments each fit. A TCP datagram longer than the MTU of the interface
  // it arrived on could not have crossed that link as it is: it is a GRO
  // aggregate (or a TSO send that a veth passed on whole), as `tcpdump`
  // shows them. Its segments are taken as that link's full-size ones: they
  // fit when that MTU is no larger than `mtu`. The true segment size is not
  // in a capture.
  [[gnu::cold, gnu::noinline]] bool gso_segments_fit(const packet::Packet& pkt, size_t mtu) const;
  // skb_is_gso(skb), as gso_segments_fit reads it: the MTU of the arrival
  // interface when pkt is a TCP aggregate, else 0.
  size_t gso_arrival_mtu(const packet::Packet& pkt) const;
  [[gnu::noinline]] void loop_back(packet::Packet& pkt, uint64_t now_ns);
  bool transmit_fragments(const packet::Packet& pkt, std::string_view dev, size_t mtu,
                          const packet::EthernetHeader& eth);
  void forward(packet::Packet& pkt, const FibResult& route, uint64_t now_ns);
  void local_deliver(packet::Packet& pkt, uint64_t now_ns);
  // ip_rt_send_redirect for a packet forward() routes back out of the
  // interface it came in on.
  [[gnu::cold, gnu::noinline]] void send_redirect(const packet::Packet& pkt, const FibResult& route, uint64_t now_ns);
  // route_input's multicast destinations (224.0.0.0/4).
  [[gnu::cold, gnu::noinline]] void multicast_input(packet::Packet& pkt, uint64_t now_ns);
  // The route's interface as forward() found it (route_interface), by
  // index in interfaces_ (-1: none), while interfaces_ has `ifs` entries.
  struct KnownInterface {
    int index = -1;
    size_t ifs = SIZE_MAX;  // SIZE_MAX: not known, ask route_interface
  };
  void post_routing(packet::Packet& pkt, const FibResult& route, uint64_t now_ns, KnownInterface known);
  void post_routing(packet::Packet& pkt, const FibResult& route, uint64_t now_ns);
  void drop(std::string_view reason, packet::Packet& pkt);
  // nf_ct_helper_log: a conntrack helper's drop, logged through the
  // namespace's logger with no devices and the default flags.
  void helper_log(std::string_view reason, const packet::Packet& pkt);
  // ip_local_out for a datagram this host built: its meta (an attached
  // conntrack entry) is kept. check_source: the route lookup is a socket's,
  // with the datagram's source (not the harness's raw socket, whose lookup
  // has no source).
  void local_out(packet::Packet pkt, uint64_t now_ns, bool check_source = true);
  // The same on a packet the caller keeps (its buffer outlives the trip).
  void local_out_kept(packet::Packet& pkt, uint64_t now_ns, bool check_source = true);
  // A buffer for a packet the host builds on the way of another (an ICMP
  // error, a RST, an echo reply, TEE's copy): reused, so that a replay
  // rejecting packet after packet allocates nothing per packet. Such a
  // packet's own trip may build another (OUTPUT rejecting it): each level
  // has its own buffer, the deepest a fresh one.
  class AnswerBuffer {
   public:
    explicit AnswerBuffer(Host& h)
        : host_(h), pkt_(h.answer_depth_ < h.answer_pool_.size() ? h.answer_pool_[h.answer_depth_] : fresh_) {
      ++host_.answer_depth_;
    }
    ~AnswerBuffer() { --host_.answer_depth_; }
    AnswerBuffer(const AnswerBuffer&) = delete;
    AnswerBuffer& operator=(const AnswerBuffer&) = delete;
    packet::Packet& get() { return pkt_; }

   private:
    Host& host_;
    packet::Packet fresh_;
    packet::Packet& pkt_;
  };
  // The rest of local_out once the route is known: OUTPUT, a new route if
  // OUTPUT changed the destination or mark, POSTROUTING.
  void output_routed(packet::Packet& pkt, const FibResult& route, uint64_t now_ns);
  // nf_dup_ipv4, for the TEE target.
  void duplicate(const packet::Packet& pkt, xt::Hook hook, uint32_t gw, std::string_view oif, uint64_t now_ns);
  // What the transport protocols answer after INPUT (icmp_echo,
  // tcp_v4_send_reset, a listener's SYN-ACK, udp port unreachable, protocol
  // unreachable).
  void answer_local(const packet::Packet& pkt, uint64_t now_ns);
  void answer_tcp(const packet::Packet& pkt, uint64_t now_ns);
  static bool captured_socket(const packet::Packet& pkt, const std::bitset<65536>& ports, uint16_t dport);
  // A request sock (SYN_RECV) for a SYN a listener answered, its SYN-ACK
  // timer armed (host_timers.cpp).
  void add_request(packet::ConstIpv4View syn, uint32_t irs, uint32_t isn, const packet::Packet& synack,
                   uint64_t now_ns);
  struct TcpConn;
  static bool synrecv_rst_in_window(const TcpConn& c, uint32_t seq);
  void reject(const packet::Packet& offending, icmp::RejectWith with, uint64_t now_ns);
  void send_synproxy_reply(const packet::Packet& trigger, packet::Packet& reply, uint64_t now_ns);
  icmp::RateConfig icmp_rate_config() const;
  uint8_t default_ttl() const { return static_cast<uint8_t>(sysctl("net.ipv4.ip_default_ttl")); }
  uint16_t next_ip_id() { return ++ip_id_; }
  // The packet leaves this namespace (delivered, sent, dropped): its
  // conntrack reference goes, as nf_reset_ct.
  void release(packet::Packet& pkt) { conntrack_.put(pkt); }

  // The interface whose name is `key` (an IfName compares as two words,
  // without a memcmp call): the lookup of every forwarded packet.
  const Interface* find_interface(const packet::IfName& key) const;
  std::string name_;
  std::vector<Interface> interfaces_;
  // interfaces_[i].name as IfName; long_names_ when one is longer than an
  // IfName holds (then names are compared as strings).
  std::vector<packet::IfName> if_keys_;
  bool long_names_ = false;
  // The interface of a route lookup's result: by the route's index, from
  // a table worked out again whenever routes or interfaces were added
  // (both only grow), else by name.
  inline const Interface* route_interface(const FibResult& r) const;
  [[gnu::noinline, gnu::cold]] void rebuild_route_interfaces() const;
  mutable std::vector<int> route_if_;  // by index in fib_.routes(): index in interfaces_, or -1
  mutable const Route* route_if_data_ = nullptr;
  mutable size_t route_if_routes_ = 0, route_if_ifs_ = 0;
  Fib fib_;
  ipset::Registry ipsets_;
  xt::NfacctObjects nfacct_;
  xt::RateEstimators rate_estimators_;
  uint64_t realtime_base_ns_ = 0;
  xt::Ruleset ruleset_;
  Classifier classifier_ = Classifier::Compiled;
  std::array<std::optional<xt::CompiledTable>, xt::kNumTables> compiled_;  // by TableId, rebuilt when stale
  std::map<std::string, int64_t, std::less<>> sysctl_;
  // Out of the map and its string compares; worked out again after
  // set_sysctl or add_interface.
  struct PathSysctls {
    std::vector<InputConf> per_if;  // by index in interfaces_
  };
  const PathSysctls& path_sysctls() const { return path_sysctls_fresh_ ? path_sysctls_ : refresh_path_sysctls(); }
  const PathSysctls& refresh_path_sysctls() const;
  mutable PathSysctls path_sysctls_;
  mutable bool path_sysctls_fresh_ = false;
  PathObserver* observer_ = nullptr;
  PathObserver* nat_observer_ = nullptr;  // observer_ if it watches_nat()
  bool rules_watched_ = false;             // observer_ watches_rules()
  const CapturedSockets* captured_sockets_ = nullptr;
  const xt::VerdictSource* verdict_source_ = nullptr;
  // The LOG or TRACE line being handed to on_kernel_log, kept so that its
  // capacity serves the next one (mutable: TRACE lines come from a walk's
  // const view of the host).
  mutable std::string log_line_;
  conntrack::Table conntrack_;
  mutable bool ct_demand_known_ = false;
  mutable bool ct_enabled_ = false;
  mutable bool defrag_enabled_ = false;
  packet::Reassembler reassembler_;  // ip_defrag for local delivery
  packet::Reassembler ct_defrag_;    // nf_defrag_ipv4 (IP_DEFRAG_CONNTRACK_IN/OUT)
  packet::FragPeers frag_peers_;     // both users' inet_peer rid counters
  std::unique_ptr<HostEffects> effects_;
  // The route of the packet in POSTROUTING (post_routing sets it around
  // the hook): MASQUERADE takes its nexthop, as the kernel takes the
  // skb's rtable, instead of looking the destination up again.
  const FibResult* post_route_ = nullptr;
  int loop_depth_ = 0;
  std::array<packet::Packet, 4> answer_pool_;  // AnswerBuffer's, by nesting depth
  size_t answer_depth_ = 0;
  bool duplicating_ = false;  // nf_skb_duplicated: a TEE copy on its way out is not copied again
  icmp::RateLimiter icmp_limiter_;
  uint16_t ip_id_ = 0;
  std::vector<std::pair<uint8_t, uint16_t>> listeners_;
  // Handshakes a listener answered, and their completion: enough to accept
  // the third ACK instead of resetting it. No data transfer is modelled.
  struct TcpConn {
    uint32_t saddr, daddr;
    uint16_t sport, dport;
    uint32_t isn;
    bool established;
    // The request sock's SYN-ACK timer: the segment as first sent (a
    // retransmission is the same: ISN, options, IP ID 0 with DF), when it
    // is due next, and how often it has fired (req->num_timeout).
    uint32_t irs = 0;  // the peer's ISN (rcv_nxt - 1), for RST acceptance
    packet::Packet synack;
    uint64_t timer_ns = 0;
    int num_timeout = 0;
  };
  std::vector<TcpConn> tcp_conns_;
  // The SYN-ACK buffers of request socks gone (expired, reset, or become
  // a connection), for the next ones: a replay answering SYN after SYN
  // allocates only while more handshakes are open at once than before.
  std::vector<packet::Packet> spare_synacks_;
  // The listen backlog of every listener: what nfemu verify's listen(fd,
  // 128) asks for (net.core.somaxconn, 4096, does not cut it). With more
  // request socks than this a SYN gets a cookie (6.18: the 130th SYN of a
  // flood); with more unaccepted connections, it is dropped.
  static constexpr size_t kListenBacklog = 128;
  static constexpr uint64_t kSynCookieValidNs = 120'000'000'000;  // TCP_SYNCOOKIE_VALID
  // When each TCP listener (by port) last sent a SYN cookie.
  std::vector<std::pair<uint16_t, uint64_t>> syn_cookie_ns_;
  void note_syn_cookie(uint16_t port, uint64_t now_ns);
  enum class CookieCheck : uint8_t { NoCookie, Accepted, Dropped };
  CookieCheck cookie_check(packet::ConstIpv4View ip, packet::ConstTcpView th, uint64_t now_ns) const;
  uint64_t timer_epoch_ = 0;
  uint64_t foreign_isn_acks_ = 0;
  void drop_request(std::vector<TcpConn>::iterator it);
};

// Inline: forward() asks for every packet.
inline const Interface* Host::route_interface(const FibResult& r) const {
  const auto& routes = fib_.routes();
  std::less<const Route*> before;  // a total order even for a route of another Fib
  if (!r.route || before(r.route, routes.data()) || !before(r.route, routes.data() + routes.size()))
    return find_interface(r.dev);
  if (routes.data() != route_if_data_ || routes.size() != route_if_routes_ || interfaces_.size() != route_if_ifs_)
    rebuild_route_interfaces();
  int i = route_if_[static_cast<size_t>(r.route - routes.data())];
  return i < 0 ? nullptr : &interfaces_[static_cast<size_t>(i)];
}

}  // namespace nfemu::stack
