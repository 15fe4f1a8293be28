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

// Rewrites the source or destination address, updating the header
// checksum and, on a first fragment, the TCP or UDP pseudo-header checksum
// (a UDP checksum of 0 stays 0, a result of 0 becomes 0xffff).
void rewrite_addr(Ipv4View ip, Side side, uint32_t addr);

// Rewrites a TCP or UDP port, or the id of an ICMP query such as echo
// (either side), on a first fragment. As tcp_manip_pkt, a TCP header cut before its checksum field
// (inside an ICMP error) gets the port but no checksum update. Returns
// false when there is no such field to rewrite.
bool rewrite_port(Ipv4View ip, Side side, uint16_t port);

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
