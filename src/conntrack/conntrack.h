// Connection tracking: the kernel's nf_conntrack (core, TCP, UDP, ICMP and
// generic trackers) on a virtual clock, one Table per network namespace.
//
// The journey of a packet through a host, and the calls the stack makes:
//
//   PREROUTING / OUTPUT, priority -200:   auto r = table.in(pkt, hook, zone, now);
//        r.verdict == Drop: drop the packet (table full)
//        otherwise pkt.meta.ct / ctinfo are set (or ct is null: INVALID)
//   ... rules ... (NAT may call set_reply_tuple() on an unconfirmed entry)
//   INPUT / POSTROUTING, last:            table.confirm(pkt, now);
//   the packet leaves the namespace, is delivered or is dropped:
//                                         table.put(pkt);   // nf_reset_ct
//   between packets, on the virtual clock: table.expire_until(now);
//   conntrack -E:                         table.take_events();
//   conntrack -L:                         table.dump(now);
//
// Semantics follow Linux 6.x (nf_conntrack_core.c, nf_conntrack_proto_*.c):
//  - Trackers: TCP, UDP, UDP-Lite, ICMP, SCTP (states, verification
//    tags, CRC32c; sctp.cpp), GRE (timeouts; no PPTP keymap) and
//    generic. DCCP is generic, as since Linux 6.16.
//  - A miss creates an *unconfirmed* entry owned by the packet; only
//    confirm() inserts it into the hash and emits NEW. An entry whose packet
//    is dropped before confirmation disappears without any event.
//  - Events are cached on the entry while a packet is processed
//    (nf_conntrack_event_cache) and delivered by confirm(), as the kernel's
//    nf_confirm does; DESTROY is delivered at once. Each Event carries the
//    IPCT_* mask and which attributes ctnetlink would include, so that a
//    formatter prints exactly what `conntrack -E` prints.
//  - Time is counted in jiffies at HZ=250: timeouts, `conntrack -L`
//    seconds (remaining jiffies / HZ, rounded down) and expiry
//    ((s32)(timeout - now) <= 0) behave as on a HZ=250 kernel.
//  - nf_conntrack_max is enforced when an entry is allocated, with the
//    kernel's early_drop (8 buckets from the new tuple's one, non-assured
//    entries only); otherwise the packet is dropped and kTableFullMessage
//    is what the kernel logs. The hash function is not the kernel's (its
//    seed is random at boot), so *which* entry early_drop picks differs.
//  - Expiry order of expire_until is (deadline, creation order); the
//    kernel's GC walks buckets and may report late. expire_until returns
//    at once until the earliest deadline; then it pops only due entries.
//    A lookup reaps an expired entry with the tuple it looks for (the
//    kernel reaps any expired entry on the chain, which depends on its
//    random hash seed); after expire_until(now) there is none.
//
//  - Accounting (nf_conntrack_acct, or forced by a connbytes rule): an
//    entry made while it is on has counters, which refresh() updates as
//    __nf_ct_refresh_acct does, with the packet's IP total length; a
//    tracker that returns before its refresh (INVALID, TCP ignored or a
//    retransmitted SYN) counts nothing, nor does an ICMP error RELATED.
//  - Packets must reach in() reassembled, as after nf_defrag_ipv4: a
//    non-first fragment is INVALID. Checksums are verified in PREROUTING
//    only (nf_conntrack_checksum).
//
// Fidelity: tests/conntrack/kernel-check.sh sends the unit tests' packets
// and random sequences through a real kernel and through this table, and
// compares every packet's ctstate, every event and `conntrack -L`.
//
// Memory: entries come from a pool reserved from nf_conntrack_max and
// recycled through a free list; hash chains are intrusive (two tagged
// links per entry); expiry is a min-heap over a reserved array, exact in
// order. Once warm, in(), confirm(), put() and expire_until() allocate
// nothing; the event queue reuses its capacity when taken with
// take_events(&buffer). A connection costs sizeof(Entry) (192) + 16 (heap)
// + 8 per bucket, + 8 more per bucket once source NAT asked for the
// by-source index (bench/nfemu/conntrack_bench measures it), + 36 when it
// has counters (nf_conntrack_acct: a slot and a free-list index).
//
// Reference counting follows the kernel: a packet carrying meta.ct holds a
// reference (taken by in()), the hash holds one for confirmed entries. A
// killed entry lives while packets still reference it; call put() for
// every packet that ends or leaves the namespace.
#pragma once

#include <cstddef>
#include <type_traits>
#include <bit>
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "packet/mangle.h"
#include "packet/packet.h"
#include "util/result.h"

namespace nfemu::conntrack {

using packet::CtInfo;
using packet::Hook;
using packet::Packet;

inline constexpr uint64_t kHz = 250;
inline constexpr uint64_t kNsPerJiffy = 1'000'000'000 / kHz;
inline constexpr uint64_t to_jiffies(uint64_t ns) { return ns / kNsPerJiffy; }

// What the kernel logs (net_warn_ratelimited) when it drops for a full table.
inline constexpr std::string_view kTableFullMessage = "nf_conntrack: table full, dropping packet";

// enum ip_conntrack_status, bit for bit.
namespace status {
inline constexpr uint32_t kExpected = 1u << 0, kSeenReply = 1u << 1, kAssured = 1u << 2, kConfirmed = 1u << 3,
                          kSrcNat = 1u << 4, kDstNat = 1u << 5, kSeqAdjust = 1u << 6, kSrcNatDone = 1u << 7,
                          kDstNatDone = 1u << 8, kDying = 1u << 9, kFixedTimeout = 1u << 10, kTemplate = 1u << 11,
                          kNatClash = 1u << 12, kHelper = 1u << 13, kOffload = 1u << 14, kHwOffload = 1u << 15;
inline constexpr uint32_t kNatMask = kSrcNat | kDstNat;
inline constexpr uint32_t kNatDoneMask = kSrcNatDone | kDstNatDone;
}  // namespace status

// enum ip_conntrack_events: bit numbers of Event::mask.
namespace ipct {
inline constexpr uint32_t kNew = 1u << 0, kRelated = 1u << 1, kDestroy = 1u << 2, kReply = 1u << 3,
                          kAssured = 1u << 4, kProtoinfo = 1u << 5, kHelper = 1u << 6, kMark = 1u << 7,
                          kSeqAdj = 1u << 8, kSecmark = 1u << 9, kLabel = 1u << 10, kSynproxy = 1u << 11;
}

enum Dir : uint8_t { kOriginal = 0, kReply = 1 };

// struct nf_conntrack_zone (nf_conntrack_zones_common.h). A zone applies to
// the directions in `dir` (bit 1 << Dir); in the other direction the entry
// is in the default zone 0. kFromMark: a template's zone id is taken from
// the packet's mark (xt_CT --zone mark, nf_ct_zone_tmpl), cut to 16 bits.
struct Zone {
  static constexpr uint8_t kDirOrig = 1, kDirReply = 2, kDirBoth = 3;
  static constexpr uint8_t kFromMark = 1;
  uint16_t id = 0;
  uint8_t flags = 0;
  uint8_t dir = kDirBoth;
  constexpr Zone() = default;
  // The default-direction zone `id` (what --zone N makes).
  constexpr Zone(uint16_t zone_id) : id(zone_id) {}  // NOLINT(google-explicit-constructor)
  constexpr Zone(uint16_t zone_id, uint8_t zone_flags, uint8_t zone_dir)
      : id(zone_id), flags(zone_flags), dir(zone_dir) {}
  // nf_ct_zone_id: the id the entry has in direction d.
  constexpr uint16_t id_for(Dir d) const { return (dir & (1u << d)) ? id : 0; }
  bool operator==(const Zone&) const = default;
};

// struct nf_conntrack_tuple for IPv4, host order. For ICMP, `sport` is the
// echo id (src.u.icmp.id) and icmp_type/icmp_code are dst.u.icmp; dport is
// 0. For GRE, sport/dport are the source/destination keys (srckey=,
// dstkey=: the PPTP call id of version 1 GRE, else 0). For protocols
// without ports (generic), ports are 0.
struct Tuple {
  uint32_t src = 0;
  uint32_t dst = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t proto = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  bool operator==(const Tuple&) const = default;
  uint16_t icmp_id() const { return sport; }
};

namespace detail {
// A Tuple as two little-endian 64-bit words (bytes 0-7: src, dst; 8-14:
// sport, dport, proto, icmp_type, icmp_code; byte 15 padding). A tuple is
// written as these two words so that the word loads of a hash or a compare
// soon after are forwarded from the stores: written field by field (4-, 2-
// and 1-byte stores), an 8-byte load of it waits until the stores reach
// the cache (perf found that stall on in()'s hash of the tuple it had just
// built). More of this view, for the table's own use: tuple_key.h.
static_assert(std::endian::native == std::endian::little, "tuple words assume little-endian");
static_assert(sizeof(Tuple) == 16 && offsetof(Tuple, src) == 0 && offsetof(Tuple, dst) == 4 &&
              offsetof(Tuple, sport) == 8 && offsetof(Tuple, dport) == 10 && offsetof(Tuple, proto) == 12 &&
              offsetof(Tuple, icmp_type) == 13 && offsetof(Tuple, icmp_code) == 14);
inline uint64_t make_lo(uint32_t src, uint32_t dst) { return uint64_t{src} | (uint64_t{dst} << 32); }
inline uint64_t make_hi(uint16_t sport, uint16_t dport, uint8_t proto, uint8_t icmp_type = 0, uint8_t icmp_code = 0) {
  return uint64_t{sport} | (uint64_t{dport} << 16) | (uint64_t{proto} << 32) | (uint64_t{icmp_type} << 40) |
         (uint64_t{icmp_code} << 48);
}
// Tuple is trivially copyable; only its default member initializers make
// GCC call it non-trivial (-Wclass-memaccess), hence the void*.
static_assert(std::is_trivially_copyable_v<Tuple>);
inline void store_words(Tuple* t, uint64_t lo, uint64_t hi) {
  std::memcpy(static_cast<void*>(t), &lo, 8);
  std::memcpy(reinterpret_cast<char*>(t) + 8, &hi, 8);
}
}  // namespace detail

// nf_ct_invert_tuple. Fails (false) for ICMP types without a reply type
// (only echo, timestamp, info and address requests/replies invert).
// Inline: every new connection inverts its tuple, NAT a few times more.
bool invert_icmp_tuple(const Tuple& t, Tuple* out);
inline bool invert_tuple(const Tuple& t, Tuple* out) {
  if (t.proto == 1 /* ICMP */) return invert_icmp_tuple(t, out);
  // Type and code are 0 here.
  detail::store_words(out, detail::make_lo(t.dst, t.src), detail::make_hi(t.dport, t.sport, t.proto));
  return true;
}

// nf_ct_get_tuplepr for an IPv4 packet: its original-direction tuple, as
// conntrack would build it (false: a fragment, or too short for one).
bool packet_tuple(const Packet& pkt, Tuple* t);

// enum tcp_conntrack; to_string gives the kernel's names ("SYN_SENT" ...).
enum class TcpState : uint8_t {
  None, SynSent, SynRecv, Established, FinWait, CloseWait, LastAck, TimeWait, Close, SynSent2,
};
std::string_view to_string(TcpState s);

// IP_CT_TCP_FLAG_* and the tracker's private last_flags bits.
namespace tcp_ct_flag {
inline constexpr uint8_t kWindowScale = 0x01, kSackPerm = 0x02, kCloseInit = 0x04, kBeLiberal = 0x08,
                         kDataUnacknowledged = 0x10, kMaxackSet = 0x20, kExpChallengeAck = 0x40,
                         kSimultaneousOpen = 0x80;
}

// struct ip_ct_tcp_state: what one direction has sent.
struct TcpSeen {
  uint32_t td_end = 0;     // max of seq + len
  uint32_t td_maxend = 0;  // max of ack + max(win, 1)
  uint32_t td_maxwin = 0;  // max(win)
  uint32_t td_maxack = 0;  // max of ack
  uint8_t td_scale = 0;    // window scale factor
  uint8_t flags = 0;       // tcp_ct_flag::*
};

// struct ip_ct_tcp.
struct TcpInfo {
  TcpSeen seen[2];
  TcpState state = TcpState::None;
  uint8_t last_dir = 0;
  uint8_t retrans = 0;
  uint8_t last_index = 0;  // index of the last packet (tcp_bit_set)
  uint32_t last_seq = 0;
  uint32_t last_ack = 0;
  uint32_t last_end = 0;
  uint16_t last_win = 0;
  uint8_t last_wscale = 0;
  uint8_t last_flags = 0;
};

// enum sctp_conntrack; to_string gives the names `conntrack` prints.
enum class SctpState : uint8_t {
  None, Closed, CookieWait, CookieEchoed, Established, ShutdownSent, ShutdownRecd, ShutdownAckSent, HeartbeatSent,
};
std::string_view to_string(SctpState s);

// struct ip_ct_sctp: the association's state, the verification tag each
// direction's packets must carry, and whether each direction has sent
// its INIT (or INIT ACK). No default member initializers: it shares a
// union with TcpInfo in Entry, whose fresh copy is all zeros.
struct SctpInfo {
  SctpState state;
  uint8_t flags;     // kHeartbeatVtagFailed
  uint8_t last_dir;  // the direction of a HEARTBEAT whose tag failed
  uint8_t init[2];
  uint32_t vtag[2];  // as the packets carry them (host order)
  static constexpr uint8_t kHeartbeatVtagFailed = 1;
};

// The conntrack helpers nfemu models (nf_conntrack_helper.c registers
// them by name, layer 3 and layer 4 protocol; CT --helper picks one).
enum class Helper : uint8_t { None, Ftp, Tftp, Irc, Sane, Amanda };
// The kernel's name ("ftp", "tftp", "irc", "sane", "amanda"), "" for None.
std::string_view to_string(Helper h);
// struct nf_conntrack_expect_policy: how many expectations a master may
// have at once, and how long each lives.
struct ExpectPolicy {
  size_t max_expected = 1;
  uint32_t timeout_s = 300;
};
ExpectPolicy expect_policy(Helper h);
// nf_conntrack_helper_try_module_get: the helper registered under `name`
// for layer 4 protocol `proto`; None when nfemu models no such helper.
Helper helper_by_name(std::string_view name, uint8_t proto);

inline constexpr uint16_t kAllEvents = 0xffff;

// struct nf_conn, with what nfemu needs.
// The first cache line holds what a hash chain walk and an established
// packet read and write (tuples, links, deadline, status, references); the
// pool hands out entries on cache-line boundaries.
struct alignas(64) Entry {
  Tuple tuple[2];        // [kOriginal], [kReply]
  // The Table's bookkeeping (not for other modules): the next tuplehash in
  // each direction's chain, as a tagged pointer (Entry* | dir | last, and
  // a tag of the next node's hash in the top bits: core.cpp; 0 ends the
  // chain); a free entry links the free list through hnext[0].
  uintptr_t hnext[2] = {0, 0};
  // Jiffies. Absolute deadline once confirmed; before that, the relative
  // timeout that confirm() adds to its time (as ct->timeout in the kernel).
  uint64_t timeout = 0;
  uint32_t status = 0;   // status::*
  uint32_t use = 0;      // references: the hash + packets

  Zone zone;
  uint32_t mark = 0;                // ct mark (CONNMARK)
  // The events ctnetlink delivers (nf_conntrack_ecache's ctmask): all
  // unless the template said --ctevents. A message goes out only when one
  // of its events is in the mask; it then carries all of them. 16 bits
  // hold every IPCT_* event (kAllEvents: no mask).
  uint16_t ctmask = kAllEvents;
  // The conntrack helper attached (nf_conn_help's helper): by a CT
  // --helper template, and on a template itself. Its state (FTP: where
  // the lines begin) lives in the Table, as the kernel's help extension.
  Helper helper = Helper::None;
  // Whether some label is set: the labels themselves (nf_conn_labels' 128
  // bits) live in the Table, as few connections carry any.
  uint8_t labelled = 0;
  union {
    TcpInfo tcp{};                  // proto == TCP
    SctpInfo sctp;                  // proto == SCTP
  };
  uint64_t udp_stream_ts = 0;       // jiffies; proto == UDP
  Entry* master = nullptr;          // the connection an expected one belongs to
  uint32_t id = 0;                  // creation order, 1-based (conntrack -L id=)
  uint32_t event_cache = 0;         // ipct::* not yet delivered
  // Bookkeeping again. timer: the entry's slot in the expiry heap
  // (UINT32_MAX: not in it). seq: confirmation order, the order of
  // `conntrack -L`.
  uint32_t timer = UINT32_MAX;
  uint32_t seq = 0;
  // The next entry with the same source hash (Table::for_each_by_source),
  // newest first; only kept once something asked for that index.
  Entry* bysrc_next = nullptr;
  // The hash of tuple[d] with the zone id of direction d (its chain), kept
  // so that linking, unlinking and rehashing never hash again. free_gen:
  // the table's link generation at which in() found the original tuple
  // absent; confirm() need not look again while nothing was linked since.
  uint32_t hash[2] = {0, 0};
  uint32_t free_gen = 0;
  // The accounting extension (nf_conn_acct): 1 + its slot in the table's
  // counters, 0 when the entry has none (nf_conntrack_acct was off when it
  // was made). Out of line, as the kernel's extension: a table without
  // accounting pays these 4 bytes, not 32 an entry.
  uint32_t acct = 0;

  uint8_t proto() const { return tuple[kOriginal].proto; }
  // The virtual time the entry expires at (confirmed entries).
  uint64_t deadline_ns() const { return timeout * kNsPerJiffy; }
  bool confirmed() const { return status & status::kConfirmed; }
  bool dying() const { return status & status::kDying; }
};

// A conntrack template (xt_CT's nf_ct_tmpl_alloc): an Entry that is never
// in a table, which the CT target attaches to a packet (meta.ct, ctinfo
// New) before conntrack sees it; in() takes its zone and event mask and
// detaches it. References to it are not counted (put ignores it); its
// owner keeps it alive as long as rules may attach it. ctmask kAllEvents:
// the template has no event extension, the connection gets every event.
// A helper on the template goes to each connection it makes that no
// expectation claims (__nf_ct_try_assign_helper).
std::shared_ptr<Entry> make_template(Zone zone, uint16_t ctmask, Helper helper = Helper::None);
inline bool is_template(const void* ct) {
  return ct && (static_cast<const Entry*>(ct)->status & status::kTemplate);
}

// struct nf_conn_counter: what one direction's packets added up to, skb->len
// (the IP datagram, reassembled) at nf_conntrack_in.
struct Counter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  bool operator==(const Counter&) const = default;
};

// The fields `conntrack -L` and `conntrack -E` print, copied out of an entry.
struct View {
  uint32_t id = 0;
  Tuple orig;
  Tuple reply;
  uint32_t status = 0;
  uint32_t mark = 0;
  // ctnetlink: CTA_ZONE for a zone of both directions, CTA_TUPLE_ZONE
  // inside the tuple of the one direction it applies to; 0: not sent.
  uint16_t zone = 0;
  uint16_t zone_orig = 0;
  uint16_t zone_reply = 0;
  bool has_tcp_state = false;  // TCP: tcp_state is meaningful
  TcpState tcp_state = TcpState::None;
  bool has_sctp_state = false;  // SCTP: sctp_state is meaningful
  SctpState sctp_state = SctpState::None;
  bool has_timeout = true;
  uint32_t timeout_s = 0;      // remaining jiffies / HZ
  uint32_t use = 0;
  bool has_mark = true;        // -L always prints mark=; events only when non-zero or changed
  // CTA_COUNTERS_ORIG/REPLY: the entry has the accounting extension; -L
  // and DESTROY events carry them (ctnetlink_dump_acct), NEW/UPDATE not.
  bool has_counters = false;
  Counter counters[2];         // [kOriginal], [kReply]
  // CTA_HELP: the entry's helper, in -L and in NEW and UPDATE messages
  // (ctnetlink_dump_helpinfo), not in DESTROY ones.
  Helper helper = Helper::None;
};

class Table;

// struct nf_conntrack_expect, for IPv4: a connection a helper saw
// announced (FTP's PORT, 227...). A new connection whose original tuple
// matches `tuple` (its source port too unless any_sport) in the master's
// zone is RELATED to `master` (nf_ct_find_expectation).
struct Expectation {
  Tuple tuple;
  bool any_sport = true;
  bool any_src = false;  // from any address (IRC's DCC), not only tuple.src
  Helper helper = Helper::None;  // the master's, which made it
  Entry* master = nullptr;
  uint64_t timeout = 0;  // jiffies: the deadline
  uint64_t seq = 0;      // creation order (evict_oldest_expect)
  // Set by a NAT helper (nf_nat_ftp): the port and the direction of the
  // master the expected connection is mapped back to (saved_proto, dir),
  // and what sets that mapping up when it arrives (expectfn:
  // nf_nat_follow_master), called on the new entry before its first
  // packet is tracked.
  uint16_t saved_port = 0;
  Dir dir = kOriginal;
  void (*expectfn)(Table&, Entry* ct, const Expectation& exp) = nullptr;
};

// enum nf_ct_ftp_type, and where the helper found the command's numbers:
// offsets in the TCP payload (nf_nat_ftp rewrites exactly those bytes).
enum class FtpType : uint8_t { Port, Eprt, Pasv, Epsv };
struct FtpMatch {
  FtpType type = FtpType::Port;
  size_t matchoff = 0;
  size_t matchlen = 0;
};



// What confirm() adds to its verdict: why it dropped.
struct ConfirmInfo {
  std::string_view reason;
  // The reason is what a helper logs as it drops (nf_ct_helper_log: a
  // kernel log line "REASON IN= OUT= SRC=..." in the host's namespace).
  bool log = false;
};

enum class EventType : uint8_t { New, Update, Destroy };

// One ctnetlink message, as `conntrack -E` receives it.
struct Event {
  EventType type = EventType::New;
  uint32_t mask = 0;  // ipct::* delivered together
  uint64_t time_ns = 0;
  View view;          // has_tcp_state / has_timeout / has_mark: attribute present
};

enum class Verdict : uint8_t { Accept, Drop };

// What nf_conntrack_in decided for one packet.
struct LookupResult {
  Verdict verdict = Verdict::Accept;
  Entry* ct = nullptr;  // also in pkt.meta.ct; null: INVALID, untracked or not tracked
  CtInfo ctinfo = CtInfo::New;
  bool is_new = false;   // an unconfirmed entry was created for this packet
  std::string_view reason;  // why INVALID or dropped (after the kernel's log messages), else empty
};

// The per-namespace sysctls (net.netfilter.nf_conntrack_*). Timeouts in
// seconds, defaults as the kernel's.
struct Config {
  uint32_t max = 262144;
  uint32_t buckets = 262144;
  // nf_conntrack_acct: entries made while it is on get counters. Turned on
  // for good by a connbytes rule (connbytes_mt_check: nf_ct_set_acct).
  bool acct = false;
  bool checksum = true;
  bool events = true;
  // nf_conntrack_events as written: 0 off, 1 on, 2 (the default) on only
  // while some ctnetlink listener exists (nf_ctnetlink_has_listener).
  uint8_t events_mode = 2;
  bool tcp_loose = true;
  bool tcp_be_liberal = false;
  bool tcp_ignore_invalid_rst = false;
  uint32_t tcp_max_retrans = 3;
  uint32_t tcp_timeout_syn_sent = 120;
  uint32_t tcp_timeout_syn_recv = 60;
  uint32_t tcp_timeout_established = 432000;
  uint32_t tcp_timeout_fin_wait = 120;
  uint32_t tcp_timeout_close_wait = 60;
  uint32_t tcp_timeout_last_ack = 30;
  uint32_t tcp_timeout_time_wait = 120;
  uint32_t tcp_timeout_close = 10;
  uint32_t tcp_timeout_max_retrans = 300;
  uint32_t tcp_timeout_unacknowledged = 300;
  uint32_t udp_timeout = 30;
  uint32_t udp_timeout_stream = 120;
  uint32_t icmp_timeout = 30;
  uint32_t sctp_timeout_closed = 10;
  uint32_t sctp_timeout_cookie_wait = 3;
  uint32_t sctp_timeout_cookie_echoed = 3;
  uint32_t sctp_timeout_established = 210;
  uint32_t sctp_timeout_shutdown_sent = 3;
  uint32_t sctp_timeout_shutdown_recd = 3;
  uint32_t sctp_timeout_shutdown_ack_sent = 3;
  uint32_t sctp_timeout_heartbeat_sent = 30;
  uint32_t gre_timeout = 30;
  uint32_t gre_timeout_stream = 180;
  uint32_t generic_timeout = 600;
};

// nf_nat_ftp_hook: called instead of registering the expectation when the
// master has NAT; it registers it (Table::expect_related) and rewrites the
// packet. Registered by the NAT module (src/nat/helpers.cpp) on the tables of
// hosts that do NAT, as loading nf_nat_ftp sets the kernel's pointer.
using NatFtpHook = Verdict (*)(Table& table, Packet& pkt, CtInfo ctinfo, const FtpMatch& m, Expectation& exp,
                               uint64_t now, ConfirmInfo* info);
// nf_nat_tftp_hook: the same for TFTP's read and write requests (no rewrite:
// only the expectation's NAT).
using NatTftpHook = Verdict (*)(Table& table, Expectation& exp, uint64_t now, ConfirmInfo* info);
// nf_nat_irc_hook: the same for a DCC offer, whose "ADDRESS PORT" is the
// TCP payload's bytes [matchoff, matchoff + matchlen).
using NatIrcHook = Verdict (*)(Table& table, Packet& pkt, CtInfo ctinfo, size_t matchoff, size_t matchlen,
                               Expectation& exp, uint64_t now, ConfirmInfo* info);
// nf_nat_amanda_hook: the same for an Amanda client's port number, the
// UDP payload's bytes [matchoff, matchoff + matchlen).
using NatAmandaHook = NatIrcHook;

class Table {
 public:
  explicit Table(Config cfg = {});
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  // Sets a sysctl by its name, with or without "net.netfilter." in front:
  // "nf_conntrack_tcp_timeout_established", "nf_conntrack_max", ...
  // Fails on an unknown name or a value the kernel refuses.
  Result<void> set_sysctl(std::string_view name, std::string_view value);
  // The current value as /proc/sys prints it ("nf_conntrack_count" too).
  Result<uint64_t> sysctl(std::string_view name) const;
  const Config& config() const { return cfg_; }
  // nf_ct_set_acct: what connbytes_mt_check does when it finds it off.
  void set_acct(bool on);
  // nf_conn_acct_find: the entry's counters, null without the extension.
  const Counter* counters(const Entry& ct) const { return ct.acct ? acct_[ct.acct - 1].c : nullptr; }

  // nf_conntrack_in at PREROUTING or OUTPUT. Sets pkt.meta.ct and ctinfo.
  // `zone` applies when the packet carries no template; a template (see
  // make_template) gives the zone and event mask, then is dropped from the
  // packet as the kernel does.
  LookupResult in(Packet& pkt, Hook hook, Zone zone, uint64_t now_ns);
  // A hint, no effect on any result: fetches the bucket in() will read
  // first for this packet (an IPv4 packet as in() gets it). A caller that
  // knows the next packets (a replay reading ahead) hides that cache miss,
  // most of an established packet's lookup at 100k connections, by calling
  // it a few packets early.
  // Returns the hash of the tuple in() will look up, for prefetch_entry:
  // the reader ahead computes it once per packet, not twice.
  std::optional<uint32_t> prefetch(const Packet& pkt, Zone zone = {}) const {
    uint32_t hash;
    if (!prefetch(pkt, zone, &hash)) return std::nullopt;
    return hash;
  }
  // The same, the hash in *hash: an out-of-line optional<uint32_t> came
  // back through the stack, built by a 4- and a 1-byte store and read by
  // one 8-byte load, which the store buffer cannot forward.
  bool prefetch(const Packet& pkt, Zone zone, uint32_t* hash) const;
  // What prefetch() fetches: the bucket in() reads first for the packet
  // (for an ICMP error, the bucket of the quoted connection's tuple it
  // looks up); null when in() looks nothing up (a fragment, a packet too
  // short for its tuple, an ICMP type in() refuses at once).
  const void* prefetch_address(const Packet& pkt, Zone zone = {}) const;
  // The second step, a few packets later, once the bucket is in cache:
  // fetches the entry in() will compare first (the first node of the
  // bucket whose hash tag matches: almost always the packet's connection).
  // Reads the bucket, so it costs a miss if prefetch() was not called.
  // Takes the hash prefetch() returned: the packet is not hashed again.
  void prefetch_entry(uint32_t hash) const;
  // What prefetch_entry() fetches: that node's tuple; null when in() looks
  // nothing up or no node of the bucket has the tag.
  const void* prefetch_entry_address(uint32_t hash) const;
  const void* prefetch_entry_address(const Packet& pkt, Zone zone = {}) const;
  // nf_conntrack_confirm: inserts the packet's unconfirmed entry, then
  // delivers the entry's cached events. Drop: a clash or a dying entry.
  // Takes the packet, not the entry: a UDP clash moves the packet onto the
  // entry that won (nf_ct_resolve_clash).
  // A helper attached to the entry sees the packet first (nf_confirm); its
  // drop is a Drop with info->reason.
  Verdict confirm(Packet& pkt, uint64_t now_ns, ConfirmInfo* info = nullptr);

  // Expectations, oldest first, as `conntrack -L expect` would list them
  // (expired ones are dropped when the table next looks at them).
  const std::vector<Expectation>& expectations() const { return expects_; }
  // The creation number the next expectation gets (Expectation::seq).
  uint64_t next_expect_seq() const { return next_expect_seq_; }
  // nf_ct_expect_max: fixed when conntrack loads, from the boot's hash
  // size (262144 buckets / 256 * 4); not per namespace.
  static constexpr size_t kExpectMax = 4096;
  // nf_ct_expect_related; `now` in jiffies. Busy: another master expects
  // the same connection (-EBUSY, which makes NAT try another port).
  enum class ExpectResult : uint8_t { Ok, Busy, Refused };
  ExpectResult expect_related(const Expectation& e, uint64_t now);
  // nf_ct_unexpect_related: takes back what expect_related(e) added.
  void unexpect_related(const Expectation& e);
  void set_nat_ftp_hook(NatFtpHook hook) { nat_ftp_ = hook; }
  void set_nat_tftp_hook(NatTftpHook hook) { nat_tftp_ = hook; }
  void set_nat_irc_hook(NatIrcHook hook) { nat_irc_ = hook; }
  void set_nat_amanda_hook(NatAmandaHook hook) { nat_amanda_ = hook; }
  // nf_ct_seqadj_set: a NAT helper changed the length of the segment with
  // sequence number `seq` by `off` bytes in ctinfo's direction; every
  // later segment's seq (and the other direction's ack) is shifted by
  // confirm() from then on (IPS_SEQ_ADJUST).
  void seqadj_set(Entry* ct, CtInfo ctinfo, uint32_t seq, int32_t off);
  // nf_ct_seq_offset: the shift of direction d at sequence number seq.
  int32_t seq_offset(const Entry& ct, Dir d, uint32_t seq) const;
  // Drops the packet's reference (nf_ct_put): an unconfirmed entry is
  // freed without event. Clears meta.ct.
  // Inline: every packet that ends puts its entry, most often to drop a
  // reference only, or (a new connection dropped before confirmation) to
  // push its entry back on the free list.
  void put(Packet& pkt) {
    put(static_cast<Entry*>(pkt.meta.ct));
    pkt.meta.ct = nullptr;
  }
  void put(Entry* ct) {
    if (ct && !(ct->status & status::kTemplate) && --ct->use == 0) free_entry(ct);
  }
  // Takes a reference for a packet that copies another's ct (nf_ct_get).
  void get(Entry* ct) { ++ct->use; }
  // nf_ct_attach: a packet made in answer to `orig` (REJECT's TCP reset)
  // joins orig's connection, RELATED in the opposite direction; in() then
  // leaves it alone. No-op when orig has no conntrack.
  void attach(Packet& made, const Packet& orig);

  // Kills every confirmed entry whose timeout passed, emitting DESTROY.
  // Inline: called for every packet, it mostly finds nothing due (every
  // heap key is at most its entry's deadline: nothing before the smallest).
  void expire_until(uint64_t now_ns) {
    if (timers_.empty() || timers_[0].key > to_jiffies(now_ns)) return;
    expire_due(to_jiffies(now_ns));
  }
  // nf_ct_kill: unlinks a confirmed entry now (DESTROY), or marks an
  // unconfirmed one dying (its confirm() will drop). False if already dying.
  bool kill(Entry* ct, uint64_t now_ns);

  // nf_conntrack_find_get: the entry either of whose tuples equals `t`
  // in `zone` (direction-aware, nf_ct_zone_equal: the entry's zone id in
  // that tuple's direction equals zone's id in the same direction).
  Entry* find(const Tuple& t, Zone zone, Dir* dir = nullptr) const;

  // NAT support. set_reply_tuple: nf_conntrack_alter_reply on an
  // unconfirmed entry (returns false if confirmed). tuple_taken:
  // nf_conntrack_tuple_taken, any confirmed entry other than `ignored` with
  // `t` as one of its tuples. unique_tuple_taken: nf_nat_used_tuple, `t` in
  // the original direction would clash with an existing reply.
  bool set_reply_tuple(Entry* ct, const Tuple& reply);
  // `t` is a reply tuple there, looked up in zone's reply-direction id.
  bool tuple_taken(const Tuple& t, Zone zone, const Entry* ignored) const;
  bool unique_tuple_taken(const Tuple& t, Zone zone, const Entry* ignored) const;

  // Marks events to deliver with the entry's next confirm()
  // (nf_conntrack_event_cache), e.g. ipct::kMark after CONNMARK.
  void event_cache(Entry* ct, uint32_t mask) { ct->event_cache |= mask; }
  void set_mark(Entry* ct, uint32_t mark);
  // The connection's labels (nf_conn_labels, bits 0 to 127, the connlabel
  // match's): whether `bit` is set; set_label sets it, caching IPCT_LABEL
  // when it was clear (an UPDATE event once confirmed).
  static constexpr unsigned kLabelBits = 128;
  bool label(const Entry* ct, unsigned bit) const;
  void set_label(Entry* ct, unsigned bit);

  // The events delivered so far, oldest first; take_events() empties the queue.
  const std::vector<Event>& events() const { return events_; }
  std::vector<Event> take_events();
  // The same into `out` (cleared first), which lends its buffer to the
  // queue: a caller that keeps one vector allocates nothing once warm.
  // Inline: replay calls it for every packet, mostly to find nothing.
  void take_events(std::vector<Event>* out) {
    out->clear();
    out->swap(events_);
  }

  // nf_nat_bysource: the confirmed, live entries whose original tuple has
  // t's source (protocol, address, port or id) whose original-direction
  // zone id is `zone` (nf_ct_zone_equal(ct, zone, IP_CT_DIR_ORIGINAL)), newest confirmed
  // first (dump()'s order reversed), until f(const Entry&) returns true;
  // returns that entry or nullptr. The index is built on the first call (a
  // source NAT) and kept from then on: no cost for tables without NAT.
  // A hint, no effect on any result: fetches the by-source bucket
  // for_each_by_source will read for ct's original tuple (nothing before
  // the index exists). The nat glue calls it before the POSTROUTING nat
  // walk of a new connection, whose length hides the miss; in() did it for
  // every new connection, also the many a filter drops before that.
  void prefetch_by_source(const Entry& ct) const {
    if (!bysrc_.empty())
      __builtin_prefetch(&bysrc_[bysrc_bucket(ct.tuple[kOriginal], ct.zone.id_for(kOriginal))]);
  }
  template <typename F>
  const Entry* for_each_by_source(const Tuple& t, uint16_t zone, F f) const {
    if (bysrc_.empty()) build_bysrc();
    for (const Entry* e = bysrc_[bysrc_bucket(t, zone)]; e; e = e->bysrc_next) {
      const Tuple& o = e->tuple[kOriginal];
      if (o.proto != t.proto || o.src != t.src || o.sport != t.sport || e->zone.id_for(kOriginal) != zone || e->dying()) continue;
      if (f(*e)) return e;
    }
    return nullptr;
  }
  // conntrack -L: confirmed, live entries in insertion order.
  std::vector<View> dump(uint64_t now_ns) const;
  View view(const Entry& ct, uint64_t now_ns) const;
  // nf_conntrack_count: allocated entries, unconfirmed included.
  size_t count() const { return count_; }

  // What the table's storage takes, for benchmarks. Reserved address space
  // is only backed by memory once touched: `pool_used_bytes` counts the
  // entries handed out so far (the high-water mark), not the reservation.
  struct Memory {
    size_t entry_size = 0;        // sizeof(Entry)
    size_t pool_capacity = 0;     // entries reserved
    size_t pool_used_bytes = 0;   // entries ever handed out * sizeof(Entry)
    size_t index_bytes = 0;       // bucket heads
    size_t timer_bytes = 0;       // expiry heap (capacity)
    size_t acct_bytes = 0;        // counters and their free list (capacity)
  };
  Memory memory() const;

 private:
  // struct nf_ct_ftp_master: where lines start in each direction's
  // stream (seq_aft_nl), as the helper remembers them.
  struct FtpInfo {
    uint32_t seq_aft_nl[2][2] = {};
    uint8_t seq_aft_nl_num[2] = {};
  };
  // struct nf_ct_seqadj, per direction.
  struct SeqAdj {
    uint32_t correction_pos = 0;
    int32_t offset_before = 0;
    int32_t offset_after = 0;
  };
  // The extensions of a connection with a helper: its helper's state and
  // the sequence adjustment its NAT helper may need (nf_conn_seqadj).
  struct HelpExt {
    FtpInfo ftp;
    SeqAdj seq[2];
    bool sane_start_requested = false;  // struct nf_ct_sane_master's state
  };
  // nf_conntrack_ftp's help(): Drop only for a partial command, with why.
  Verdict ftp_help(Packet& pkt, Entry* ct, CtInfo ctinfo, uint64_t now, ConfirmInfo* info);
  // nf_conntrack_tftp's tftp_help(): a read or write request expects the
  // server's answer from any port.
  Verdict tftp_help(const Packet& pkt, Entry* ct, uint64_t now, ConfirmInfo* info);
  // nf_conntrack_irc's help(): a DCC offer from the client expects a
  // connection from anywhere to the address and port it names.
  Verdict irc_help(Packet& pkt, Entry* ct, CtInfo ctinfo, uint64_t now, ConfirmInfo* info);
  // nf_conntrack_sane's help(): a successful reply to SANE_NET_START
  // expects the client's data connection to the port it names.
  Verdict sane_help(const Packet& pkt, Entry* ct, CtInfo ctinfo, uint64_t now, ConfirmInfo* info);
  // nf_conntrack_amanda's amanda_help(): the client's "CONNECT DATA p MESG
  // p INDEX p" line expects the server's TCP connections to those ports.
  Verdict amanda_help(Packet& pkt, Entry* ct, CtInfo ctinfo, uint64_t now, ConfirmInfo* info);
  // nf_ct_seq_adjust: false when the segment is too short to adjust.
  bool seq_adjust(Packet& pkt, Entry* ct, CtInfo ctinfo);
  // nf_ct_find_expectation for a new connection's original tuple: the
  // expectation's copy, removed from the table when `unlink`.
  bool find_expectation(const Tuple& t, Zone zone, bool unlink, uint64_t now, Expectation* out);
  // nf_ct_remove_expectations: a master that dies takes its own.
  void remove_expectations(const Entry* master);
  void expire_expectations(uint64_t now);
  // init_conntrack's part for helpers: an expectation makes the new entry
  // RELATED to its master; otherwise the template's helper is attached.
  void init_helper(Entry* ct, const Tuple& t, Zone zone, const Entry* tmpl, uint64_t now);

  enum class Action : uint8_t { Accept, Invalid, Repeat, Drop };
  struct Ctx {
    Hook hook;
    uint64_t now;  // jiffies
    std::string_view reason;
    // What __nf_ct_refresh_acct counts: the packet's direction and skb->len.
    Dir dir = kOriginal;
    uint32_t bytes = 0;
  };
  // nf_ct_acct_update. Inline: refresh() calls it for every packet.
  void acct_update(Entry* ct, Dir dir, uint64_t bytes) {
    if (!ct->acct) [[likely]]
      return;
    Counter& k = acct_[ct->acct - 1].c[dir];
    ++k.packets;
    k.bytes += bytes;
  }
  // nf_ct_acct_ext_add at allocation: a slot when accounting is on.
  void acct_attach(Entry* ct);

  Entry* alloc(const Tuple& orig, const Tuple& reply, Zone zone, uint32_t orig_hash, uint64_t now,
               std::string_view* reason);
  // alloc() at the limit (early_drop) or with no freed entry: a pristine
  // entry, or null with *reason.
  Entry* alloc_slow(uint32_t orig_hash, uint64_t now, std::string_view* reason);
  void free_entry(Entry* ct) {
    --count_;
    if (ct->helper != Helper::None || ct->master) [[unlikely]]
      free_helper(ct);
    if (ct->labelled) [[unlikely]] {
      labels_.erase(ct);
      ct->labelled = 0;
    }
    if (ct->acct) {
      acct_free_.push_back(ct->acct);
      ct->acct = 0;
    }
    // alloc() clears it when it hands it out again; until then only the
    // status is read (for_each_slot's walkers look for confirmed entries).
    ct->status = 0;
    ct->hnext[0] = reinterpret_cast<uintptr_t>(free_list_);
    free_list_ = ct;
  }
  // destroy_conntrack's part for helpers: the help state and the
  // expectations go, the reference on the master is dropped.
  void free_helper(Entry* ct);
  void expire_due(uint64_t now);
  bool add_region(size_t entries);
  // The chain hash of a tuple in a zone id; the bucket is derived from it
  // (reciprocal_scale), so it survives a rehash.
  static uint32_t hash_of(const Tuple& t, uint16_t zone_id);
  static uint32_t hash_words(uint64_t lo, uint64_t hi, uint16_t zone_id);
  size_t bucket_index(uint32_t hash) const { return static_cast<size_t>((uint64_t{hash} * hash_.size()) >> 32); }
  // One bucket walk: the bucket of `hash` (of t, zone_id), entries whose
  // tuple in that chain equals t and whose zone matches (nf_ct_key_equal).
  Entry* find_in(const Tuple& t, Zone zone, uint16_t zone_id, uint32_t hash, Dir* dir) const;
  Entry* find_live_in(const Tuple& t, Zone zone, uint16_t zone_id, uint32_t hash, Dir* dir, uint64_t now);
  // The hash of the first bucket in() reads for pkt; false when it reads none.
  bool lookup_hash(const Packet& pkt, Zone zone, uint32_t* hash) const;
  // resolve_normal_ct / nf_conntrack_find_get: the bucket of the original
  // direction's zone id, then the reply direction's when it differs.
  // *orig_hash: t's hash in the original direction's zone id.
  Entry* find_live(const Tuple& t, Zone zone, Dir* dir, uint64_t now, uint32_t* orig_hash);
  void insert_node(Entry* ct, int d);
  void remove_node(Entry* ct, int d);
  void link(Entry* ct);
  void unlink(Entry* ct);
  bool early_drop(size_t bucket, uint64_t now);
  void deliver(Entry* ct, uint64_t now);
  void emit(Entry* ct, uint32_t mask, uint64_t now);
  // view() into v, whose every field it sets (emit fills a queued Event).
  void fill_view(const Entry& ct, uint64_t now_ns, View& v) const;
  void refresh(Entry* ct, uint64_t extra_jiffies, const Ctx& c);
  void rehash(uint32_t buckets);
  // The expiry heap: a binary min-heap on a lower bound of each confirmed
  // entry's deadline. A deadline that moves later leaves its key alone
  // (fixed lazily by expire_until); one that moves earlier calls
  // timer_shortened().
  void timer_push(Entry* ct);
  void timer_remove(Entry* ct);
  void timer_shortened(Entry* ct);
  void sift_up(uint32_t i);
  void sift_down(uint32_t i);
  template <typename F>
  void for_each_slot(F f) const;
  size_t bysrc_bucket(const Tuple& t, uint16_t zone) const;
  void build_bysrc() const;
  void bysrc_unlink(Entry* ct);

  // nf_conntrack_checksum's test (nf_ip_checksum): at PREROUTING only, and
  // never for a datagram whose checksum counts as verified already. A field
  // that holds the pseudo header's sum is a checksum left for a NIC
  // (CHECKSUM_PARTIAL), good here: the packet is marked so for NAT.
  bool bad_checksum(Packet& pkt, const Ctx& c) const {
    if (c.hook != Hook::PreRouting || pkt.meta.transport_checksum_verified()) return false;
    if (!cfg_.checksum) [[unlikely]] {
      mark_if_partial(pkt);
      return false;
    }
    if (packet::check_l4_checksum(pkt.ip()) != packet::L4Checksum::Bad) [[likely]]
      return false;
    if (!packet::holds_pseudo_header_sum(pkt.ip())) return true;
    pkt.meta.csum_partial = true;
    return false;
  }
  // With nf_conntrack_checksum = 0 nothing is verified, but the skb of a
  // checksum left for a NIC is CHECKSUM_PARTIAL all the same, and NAT
  // updates its field as a sum: marked when the field holds the pseudo
  // header's sum and the datagram does not verify.
  [[gnu::cold, gnu::noinline]] static void mark_if_partial(Packet& pkt) {
    if (packet::holds_pseudo_header_sum(pkt.ip()) && packet::check_l4_checksum(pkt.ip()) == packet::L4Checksum::Bad)
      pkt.meta.csum_partial = true;
  }
  Action tcp_packet(Entry* ct, Packet& pkt, size_t dataoff, Dir dir, Ctx& c);
  Action udp_packet(Entry* ct, Packet& pkt, size_t dataoff, Ctx& c);
  Action sctp_packet(Entry* ct, Packet& pkt, Dir dir, Ctx& c);
  Action icmp_packet(Entry* ct, Ctx& c);
  Action udplite_packet(Entry* ct, const Packet& pkt, Ctx& c);
  Action gre_packet(Entry* ct, Ctx& c);
  LookupResult icmp_error(Packet& pkt, size_t dataoff, Zone zone, Ctx& c, bool* handled);

  Config cfg_;
  // Entries live in regions of address space reserved with mmap, sized from
  // nf_conntrack_max (another region is added when the sysctl grows):
  // an entry never moves, pages are backed when first used, and in() never
  // allocates. Fresh entries come from the end of the last region, freed
  // ones from the free list.
  struct Region {
    Entry* base;
    size_t size;  // entries reserved
    size_t used;  // entries handed out so far
  };
  std::vector<Region> regions_;
  size_t capacity_ = 0;
  size_t bump_ = 0;  // the first region with entries never handed out
  Entry* free_list_ = nullptr;
  // Zeroed arrays mapped, not allocated: pages stay zero pages until an
  // element is written, and an array of 2 MiB or more asks for transparent
  // huge pages, which spare a random access its TLB miss (both arrays below
  // are read at random, one element a packet).
  static void* map_zeroed(size_t bytes, size_t* mapped);
  static void unmap(void* p, size_t mapped);
  template <typename T>
  class Mapped {
   public:
    Mapped() = default;
    Mapped(const Mapped&) = delete;
    Mapped& operator=(const Mapped&) = delete;
    ~Mapped() { release(); }
    // n zeroed elements (the old ones are dropped).
    void assign(size_t n) {
      release();
      p_ = static_cast<T*>(map_zeroed(std::max<size_t>(n, 1) * sizeof(T), &mapped_));
      n_ = n;
    }
    bool empty() const { return n_ == 0; }
    size_t size() const { return n_; }
    size_t capacity() const { return n_; }
    T& operator[](size_t i) { return p_[i]; }
    const T& operator[](size_t i) const { return p_[i]; }
    const T* data() const { return p_; }

   private:
    void release() {
      if (p_) unmap(p_, mapped_);
      p_ = nullptr;
      n_ = mapped_ = 0;
    }
    T* p_ = nullptr;
    size_t n_ = 0;
    size_t mapped_ = 0;  // bytes
  };
  // Bucket heads: tagged pointers as in Entry::hnext, both directions of an
  // entry hashed (the kernel's tuplehash[2]).
  Mapped<uintptr_t> hash_;
  // Heads of the by-source chains (Entry::bysrc_next), as many as hash_;
  // empty until for_each_by_source is first called.
  mutable Mapped<Entry*> bysrc_;
  struct Timer {
    uint64_t key;  // jiffies, <= the entry's timeout
    Entry* ct;
  };
  std::vector<Timer> timers_;
  std::vector<Entry*> due_;  // expire_until's scratch
  size_t count_ = 0;
  // Counts link()s and rehashes: a tuple found absent at generation g is
  // still absent while gen_ == g (only link() adds tuples to the hash).
  uint32_t gen_ = 1;
  // The last tuple tuple_taken() found free, to spare confirm() the walk
  // for the reply tuple NAT just chose (and its hash).
  struct FreeMemo {
    Tuple t;
    Zone zone;
    uint32_t hash = 0;
    uint32_t gen = 0;
  };
  mutable FreeMemo free_memo_;
  uint32_t next_id_ = 1;
  uint32_t next_seq_ = 1;
  std::vector<Event> events_;
  // The accounting extensions, by Entry::acct - 1; freed slots (Entry::acct
  // values) are taken again first. Both are reserved as the pool is when
  // accounting is turned on, so a warm table allocates nothing.
  struct Acct {
    Counter c[2];
  };
  std::vector<Acct> acct_;
  std::vector<uint32_t> acct_free_;
  // Helpers: the help extensions of entries with a helper (allocated when
  // a helper is attached, as nf_ct_helper_ext_add does; only connections
  // a CT --helper rule picked have one), and the expectations.
  std::unordered_map<const Entry*, HelpExt> help_;
  // Labels of the entries with Entry::labelled, allocated when the first
  // is set (a connlabel --set rule), freed with the entry.
  std::unordered_map<const Entry*, std::array<uint64_t, 2>> labels_;
  NatFtpHook nat_ftp_ = nullptr;
  NatTftpHook nat_tftp_ = nullptr;
  NatIrcHook nat_irc_ = nullptr;
  NatAmandaHook nat_amanda_ = nullptr;
  std::vector<Expectation> expects_;
  uint64_t next_expect_seq_ = 1;
};

}  // namespace nfemu::conntrack
