// Transport checksums over an IPv4 datagram, and field rewrites that keep
// every checksum valid by incremental update, the way NAT mangles packets
// (nf_nat_ipv4_manip_pkt, tcp/udp/icmp_manip_pkt, inet_proto_csum_replace4).
//
//   fill_checksums(ip);                          // after building a packet
//   rewrite_addr(ip, Side::Dst, 0x64400104);     // DNAT to 100.64.1.4
//   rewrite_port(ip, Side::Dst, 8080);
//   assert(check_l4_checksum(ip) == L4Checksum::Ok);
#pragma once

#include <cstdint>
#include <optional>

#include "packet/headers.h"

namespace nfemu::packet {

enum class Side : uint8_t { Src, Dst };

enum class L4Checksum : uint8_t {
  Ok,
  Bad,
  None,       // UDP checksum field 0: the sender computed none
  Unchecked,  // a fragment, another protocol, or a truncated header
};

// The TCP, UDP or ICMP checksum the whole datagram should carry (UDP: 0
// maps to 0xffff). nullopt when it cannot be computed: a fragment, another
// protocol, or a transport header that does not fit in the payload.
std::optional<uint16_t> compute_l4_checksum(ConstIpv4View ip);
L4Checksum check_l4_checksum(ConstIpv4View ip);

// Sets the transport checksum (when computable) and then the header one.
void fill_checksums(Ipv4View ip);

// Whether a TCP or UDP datagram carries a partial checksum (the kernel's
// CHECKSUM_PARTIAL, as a sender with checksum offload or TSO leaves it
// for its NIC and as GRO makes it): the field holds the sum of the pseudo
// header alone, and the checksum does not verify.
bool l4_checksum_partial(ConstIpv4View ip);
// The first half of that test, for a caller that knows the checksum does
// not verify: the TCP or UDP field holds the pseudo header's sum.
bool holds_pseudo_header_sum(ConstIpv4View ip);

// What a NIC with checksum offload would have put on the wire for a
// datagram captured before it (nfemu replay --fix-checksums): a TCP, UDP
// or ICMP checksum that does not verify is computed (a UDP checksum of 0,
// "none", stays), then a header checksum that does not verify. Returns
// whether anything changed. ip's datagram must lie within its bytes.
bool repair_checksums(Ipv4View ip);

// Rewrites the source or destination address, updating the header
// checksum and, on a first fragment, the TCP or UDP pseudo-header checksum
// (a UDP checksum of 0 stays 0, a result of 0 becomes 0xffff). A partial
// checksum (l4_checksum_partial) is a sum, not its complement: updated as
// one (inet_proto_csum_replace4 under CHECKSUM_PARTIAL).
void rewrite_addr(Ipv4View ip, Side side, uint32_t addr, bool partial = false);

// Rewrites a TCP or UDP port, or the id of an ICMP query such as echo
// (either side), on a first fragment. As tcp_manip_pkt, a TCP header cut before its checksum field
// (inside an ICMP error) gets the port but no checksum update; nor does a
// partial checksum, which covers the pseudo header only. Returns false
// when there is no such field to rewrite.
bool rewrite_port(Ipv4View ip, Side side, uint16_t port, bool partial = false);

// Inline: NAT rewrites an address and a port of every packet of a
// translated connection.
inline void rewrite_addr(Ipv4View ip, Side side, uint32_t addr, bool partial) {
  uint32_t old = side == Side::Src ? ip.saddr() : ip.daddr();
  if (old == addr) return;
  if (side == Side::Src)
    ip.set_saddr(addr);
  else
    ip.set_daddr(addr);
  uint16_t check = ip.checksum();
  csum_replace4(check, old, addr);
  ip.set_checksum(check);
  if (ip.frag_offset() != 0) return;
  auto l4 = ip.payload();
  uint8_t proto = ip.protocol();
  // A partial checksum is the sum itself: complemented around the update.
  const uint16_t flip = partial ? 0xffff : 0;
  if (proto == kIpProtoTcp && l4.size() >= kTcpMinHeader) {
    uint16_t c = load16(l4.data() + 16) ^ flip;
    csum_replace4(c, old, addr);
    store16(l4.data() + 16, c ^ flip);
  } else if (proto == kIpProtoUdp && l4.size() >= kUdpHeader) {
    uint16_t c = load16(l4.data() + 6);
    if (c == 0) return;  // no checksum: leave it absent
    c ^= flip;
    csum_replace4(c, old, addr);
    c ^= flip;
    store16(l4.data() + 6, c == 0 ? 0xffff : c);
  }
}

inline bool rewrite_port(Ipv4View ip, Side side, uint16_t port, bool partial) {
  if (ip.frag_offset() != 0) return false;
  auto l4 = ip.payload();
  uint8_t proto = ip.protocol();
  size_t field;
  size_t check_off;
  if (proto == kIpProtoTcp || proto == kIpProtoUdp) {
    field = side == Side::Src ? 0 : 2;
    check_off = proto == kIpProtoTcp ? 16 : 6;
  } else if (proto == kIpProtoIcmp) {
    // Only queries have an id; an error's second word is MTU or pointer.
    if (l4.size() < kIcmpHeader || icmp_is_error(l4[0])) return false;
    field = 4;
    check_off = 2;
  } else {
    return false;
  }
  if (l4.size() < field + 2) return false;
  uint16_t old = load16(l4.data() + field);
  store16(l4.data() + field, port);
  if (l4.size() < check_off + 2 || (partial && proto != kIpProtoIcmp)) return true;
  uint16_t c = load16(l4.data() + check_off);
  if (proto == kIpProtoUdp && c == 0) return true;
  csum_replace2(c, old, port);
  if (proto == kIpProtoUdp && c == 0) c = 0xffff;
  store16(l4.data() + check_off, c);
  return true;
}

// TTL and TOS change with csum_replace2 on the header checksum, as
// ip_decrease_ttl and the TOS/TTL targets do. rewrite_ttl is inline: the
// forward path decrements the TTL of every packet.
inline void rewrite_ttl(Ipv4View ip, uint8_t ttl) {
  // TTL shares a 16-bit word with the protocol.
  uint8_t* p = ip.bytes().data();
  uint16_t old = load16(p + 8);
  p[8] = ttl;
  uint16_t check = load16(p + 10);
  csum_replace2(check, old, load16(p + 8));
  store16(p + 10, check);
}
void rewrite_tos(Ipv4View ip, uint8_t tos);

}  // namespace nfemu::packet
