// What a Linux host answers by itself: ICMP errors (net/ipv4/icmp.c
// __icmp_send), echo replies (icmp_echo), TCP resets (tcp_v4_send_reset,
// nf_send_reset), a listener's SYN-ACK, and REJECT's --reject-with types
// (ipt_REJECT.c, nf_reject_ipv4.c). This library only decides and builds
// bytes; the host (stack::Host) chooses addresses from its FIB and sends the
// result through OUTPUT and POSTROUTING like any local packet.
//
//   if (!icmp::error_suppressed(offending.ip(), kDestUnreach, dst_is_bcast)) {
//     Packet err = icmp::build_error(offending.ip(), {.type = 3, .code = 3, .src = s, .ttl = 64, .mtu = 1500});
//   }
//
// Every value below was compared with what kernel 6.18 sends
// (tests/icmp/kernel-check.sh, tests/icmp/kernel-observed-*.txt).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "packet/headers.h"
#include "packet/packet.h"
#include "util/peer_table.h"

namespace nfemu::icmp {

inline constexpr uint8_t kEchoReply = 0, kDestUnreach = 3, kRedirect = 5, kEcho = 8, kTimeExceeded = 11;
inline constexpr uint8_t kRedirectHost = 1;  // ICMP_REDIR_HOST
// ICMP_DEST_UNREACH codes (include/uapi/linux/icmp.h).
inline constexpr uint8_t kNetUnreach = 0, kHostUnreach = 1, kProtUnreach = 2, kPortUnreach = 3,
                         kFragNeeded = 4, kNetAnoResolved = 9, kHostAno = 10, kPktFiltered = 13;

// --reject-with, numbered as enum ipt_reject_with. EchoReply is refused by
// iptables and the kernel (an empty name in reject_types()).
enum class RejectWith : uint8_t {
  NetUnreach = 0, HostUnreach, ProtoUnreach, PortUnreach, EchoReply, NetProhibited, HostProhibited, TcpReset,
  AdminProhibited,
};
struct RejectType {
  std::string_view name;   // what iptables-save prints
  std::string_view alias;  // the short form libipt_REJECT also accepts
  uint8_t code;            // ICMP_DEST_UNREACH code sent (TcpReset: none)
};
// Indexed by RejectWith.
const std::array<RejectType, 9>& reject_types();

// icmp_pointers[type].error: the types that quote an offending datagram.
bool is_error_type(uint8_t type);

// Why __icmp_send would stay silent about `offending`, or nullptr when it
// sends (rate limits aside): a non-first fragment, an error about an ICMP
// error (or about an unknown ICMP type > NR_ICMP_TYPES), a datagram sent to
// a broadcast or multicast address (dst_not_unicast: the route of the
// offending packet had RTCF_BROADCAST/MULTICAST), or a source that is not a
// unicast address (0.0.0.0, multicast, 255.255.255.255: ip_route_input
// drops such martians before anything could answer them).
const char* error_suppressed(packet::ConstIpv4View offending, uint8_t type, bool dst_not_unicast);

struct ErrorSpec {
  uint8_t type = kDestUnreach;
  uint8_t code = kPortUnreach;
  uint32_t info = 0;  // the second header word: next-hop MTU for frag-needed
  uint32_t src = 0;   // chosen by the host (see stack::Host::icmp_source)
  uint8_t ttl = 64;   // net.ipv4.ip_default_ttl
  uint32_t mtu = 1500;  // of the route back: the error is at most min(mtu, 576) bytes
  uint16_t ipid = 0;
};
// The error, addressed to offending's source. TOS is the offending TOS's
// RT_TOS bits (0x1e) with precedence 0xc0 (internetwork control); DF is
// clear (the ICMP socket does not do PMTU discovery); the quote starts at
// the offending IP header and is cut so that the whole error fits in
// min(mtu, 576) bytes. nullopt when the MTU leaves no room for an IP header.
std::optional<packet::Packet> build_error(packet::ConstIpv4View offending, const ErrorSpec& e);
// The same into `out` (its buffer reused, its metadata and MAC header
// cleared): false, and `out` unspecified, where the other gives nullopt.
bool build_error(packet::ConstIpv4View offending, const ErrorSpec& e, packet::Packet& out);

// icmp_echo/icmp_reply: type 0, the request's id, sequence and data; TOS
// copied from the request, no DF; src is the request's local destination
// (fib_compute_spec_dst).
packet::Packet build_echo_reply(packet::ConstIpv4View request, uint32_t src, uint8_t ttl, uint16_t ipid = 0);
void build_echo_reply(packet::ConstIpv4View request, uint32_t src, uint8_t ttl, uint16_t ipid, packet::Packet& out);

// The RST the kernel answers a segment with (tcp_v4_send_reset and
// nf_send_reset share the rules): ports and addresses swapped, data offset
// 5, window 0; when the segment had ACK, seq = its ack and no ACK flag;
// otherwise seq 0, ACK set, ack = seq + SYN + FIN + payload length. IP: DF
// set, ID 0, TTL ttl, TOS tos (tcp_v4_send_reset copies the segment's TOS,
// nf_send_reset writes 0). nullopt for a segment that has RST itself.
std::optional<packet::Packet> build_tcp_reset(packet::ConstIpv4View segment, uint8_t ttl, uint8_t tos);
bool build_tcp_reset(packet::ConstIpv4View segment, uint8_t ttl, uint8_t tos, packet::Packet& out);

// A listener's SYN-ACK to an option-less SYN: seq isn, ack = SYN's seq + 1,
// one option, MSS = mss (the route's MTU - 40, advmss), window the largest
// multiple of mss not above 65535 (no window scaling was offered; valid for
// the default tcp_rmem), TOS 0, DF set, ID 0. Written into `out`, whose
// buffer a host reuses from one SYN to the next.
void build_syn_ack(packet::ConstIpv4View syn, uint32_t isn, uint16_t mss, uint8_t ttl, packet::Packet& out);

// nfemu's initial sequence number for a listener's connection. Linux draws
// it from a keyed hash of the 4-tuple and a clock (secure_tcp_seq); runs are
// compared mapping ISNs to their order of appearance (outputs.md), so any
// deterministic function of the 4-tuple that tells connections apart does:
// FNV-1a of saddr, daddr, sport, dport (network order).
uint32_t initial_sequence(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport);

// Is the transport checksum of a TCP/UDP datagram right? (nf_ip_checksum,
// udp_lib_checksum_complete: a wrong one gets no answer.) UDP checksum 0
// means none. Other protocols: true.
bool transport_checksum_ok(packet::ConstIpv4View ip);

// What REJECT asks of the host that runs the table: send the answer
// `with` about `offending` (nf_send_unreach / nf_send_reset). The host's
// xt::Effects implements it too; REJECT finds it with dynamic_cast, so that
// xtables needs no host service beyond this library.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void reject(const packet::Packet& offending, RejectWith with, uint64_t now_ns) = 0;
};

// ICMP rate limiting on the virtual clock (see ratelimit.cpp for exactly
// what is modelled).
struct RateConfig {
  int64_t ratelimit_ms = 1000;  // net.ipv4.icmp_ratelimit
  uint32_t ratemask = 0x1818;   // net.ipv4.icmp_ratemask: dest-unreach, source-quench, time-exceeded, param-prob
  int64_t msgs_per_sec = 1000;  // net.ipv4.icmp_msgs_per_sec
  int64_t msgs_burst = 50;      // net.ipv4.icmp_msgs_burst
};

class RateLimiter {
 public:
  // icmpv4_mask_allow: true when type/code is not rate limited at all
  // (not in the mask, frag-needed, or above NR_ICMP_TYPES).
  static bool exempt(const RateConfig& c, uint8_t type, uint8_t code);
  // icmpv4_global_allow. Sets apply_ratelimit when the message counts
  // against the limits (the kernel's apply_ratelimit flag).
  bool global_allow(const RateConfig& c, uint8_t type, uint8_t code, uint64_t now_ns, bool& apply_ratelimit);
  // icmpv4_xrlim_allow for a message to dst through a non-loopback route;
  // consumes a global credit when allowed.
  bool peer_allow(const RateConfig& c, uint32_t dst, uint64_t now_ns);
  // ip_error's own bucket (ip_rt_error_cost 1 s, ip_rt_error_burst 5 s) on
  // the same inet_peer as peer_allow, keyed by the offending source.
  bool ip_error_allow(uint32_t src, uint64_t now_ns);
  // ip_rt_send_redirect's pacing of the redirects to src (ratelimit.cpp).
  bool redirect_allow(uint32_t src, uint64_t now_ns);
  int64_t global_credit() const { return credit_; }

 private:
  struct Peer {
    int64_t tokens_ms = 0;
    int64_t last_ms = 0;
    uint32_t redirects = 0;  // n_redirects
  };
  Peer& peer(uint32_t addr, int64_t now_ms);
  // A peer idle for a minute behaves as a new one (every bucket full
  // again, the redirect state silent): the table may forget it.
  PeerTable<Peer> peers_{60'000};
  int64_t credit_ = 0;
  int64_t stamp_ms_ = INT64_MIN / 2;
};

}  // namespace nfemu::icmp
