// The text of conntrack-tools 1.4 (`conntrack -E` and `conntrack -L`), as
// libnetfilter_conntrack's default snprintf builds it from what the kernel
// sends over ctnetlink.
//
//   ConntrackView v{.l4proto = 6, .l4name = "tcp", .timeout = 120,
//                   .tcp_state = "SYN_SENT", .orig = {...}, .reply = {...}};
//   format_ct_event(CtEventType::New, v);
//   // "    [NEW] tcp      6 120 SYN_SENT src=... [UNREPLIED] src=..."
//   format_ct_list_line(v);
//   // "tcp      6 119 SYN_SENT src=... [UNREPLIED] src=... mark=0 use=1"
//
// The conntrack module fills a ConntrackView; this file decides only what
// the kernel puts in each message and how conntrack-tools prints it:
// - events (ctnetlink_conntrack_event): NEW/UPDATE carry the timeout and,
//   only when the TCP state changed (IPCT_PROTOINFO, `state_event`), the
//   state; DESTROY carries the TCP state and the timeout only when it is not
//   zero (an entry that expired has none left; `conntrack -D` leaves some);
//   mark= only when the mark is non-zero or changed (`mark_event`); no use=.
// - -L: timeout, state, then mark= always, zone= when non-zero, use=.
// - both: zone-orig=N after the original tuple, zone-reply=N after the
//   reply tuple (checked on 6.18: "dport=53 zone-orig=5 [UNREPLIED]"),
//   then that direction's `packets=N bytes=M` when the entry has counters
//   (nf_conntrack_acct): -L always, events only DESTROY.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nfemu::log {

struct CtTuple {
  uint32_t src = 0;  // host order
  uint32_t dst = 0;
  uint16_t sport = 0;  // tcp/udp ports; gre keys (srckey/dstkey, 16 bits as printed)
  uint16_t dport = 0;
  uint8_t icmp_type = 0;  // icmp: the type and code this direction's packets carry
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0;
};

struct ConntrackView {
  uint8_t l4proto = 0;
  std::string_view l4name;    // empty: derived from l4proto (see ct_proto_name)
  uint32_t timeout = 0;       // seconds left
  std::string_view tcp_state; // "SYN_SENT", "COOKIE_WAIT", ...: TCP's or SCTP's state, else empty
  CtTuple orig;
  CtTuple reply;
  bool seen_reply = false;    // IPS_SEEN_REPLY; clear prints [UNREPLIED]
  bool assured = false;       // IPS_ASSURED
  uint32_t mark = 0;
  bool mark_event = false;    // the event reports a mark change (IPCT_MARK)
  bool state_event = true;    // the event reports a TCP state change (IPCT_PROTOINFO)
  uint16_t zone = 0;          // NF_CT_DEFAULT_ZONE_ID is 0 and not shown
  // A direction-specific zone (CT --zone-orig/--zone-reply): printed inside
  // its tuple, after the ports, as zone-orig=N / zone-reply=N.
  uint16_t zone_orig = 0;
  uint16_t zone_reply = 0;
  uint32_t use = 1;
  // CTA_COUNTERS_*: `packets=N bytes=M` after each direction's tuple (and
  // its zone), when the entry has accounting (-L, DESTROY events).
  bool counters = false;
  uint64_t packets[2] = {0, 0};  // [original], [reply]
  uint64_t bytes[2] = {0, 0};
  // CTA_HELP: `helper=NAME` after the zone (empty: none).
  std::string_view helper;
};

enum class CtEventType : uint8_t { New, Update, Destroy };

// libnetfilter_conntrack's protocol names: "tcp", "udp", "icmp", ...,
// "unknown" for the others.
std::string_view ct_proto_name(uint8_t proto);

// One `conntrack -E` line, without the newline.
std::string format_ct_event(CtEventType type, const ConntrackView& ct);
// The same into `line`, replacing what it held (a caller that keeps one
// string for every event allocates only while the longest line grows).
void format_ct_event(std::string& line, CtEventType type, const ConntrackView& ct);
// One `conntrack -L` line, without the newline.
std::string format_ct_list_line(const ConntrackView& ct);

}  // namespace nfemu::log
