// IPv4 NAT as the kernel does it (nf_nat_core.c, nf_nat_proto.c): the
// binding of a new connection, the rewrite of every packet of a NATed
// connection, and the translation of ICMP errors related to one.
//
// The stack calls these from its nat hooks (nf_nat_ipv4_fn):
//
//   Manip m = hook_manip(hook);            // DST in PREROUTING/OUTPUT, SRC in INPUT/POSTROUTING
//   RELATED ICMP error:   icmp_reply_translation(*ct, ctinfo, hook, pkt)   (no table walk)
//   NEW, !initialized(*ct, m):  walk the nat table; a NAT target calls
//                         setup_info(table, ct, range, m); then
//                         if (!initialized(*ct, m)) alloc_null_binding(table, ct, m);
//   every packet:         manip_packet(*ct, ctinfo, hook, pkt)   (nf_nat_packet)
//
// Determinism: where the kernel draws get_random_u16() (the port or ICMP
// id search of a source manip, --random, --random-fully), nfemu takes a
// jhash2 of the connection's original tuple with a fixed seed (kRandomSeed)
// so that a run is reproducible; the *first* choice therefore differs from
// a real kernel's, but the search order (offset, wrap-around, attempts
// limit 128 halved on failure) and what is tried before it (the original
// port, in-range checks) are the kernel's. --random's secure port hash is
// treated the same way. The address choice of find_best_ips_proto is the
// kernel's exactly (jhash2 of the source with the destination as initval,
// 0 with --persistent, zone 0), and so is the reuse of an existing mapping
// of the same source (find_appropriate_src); both checked on the kernel.
//
// NAT helpers (helpers.cpp): FTP's (nf_nat_ftp) and IRC's (nf_nat_irc),
// with the sequence adjustment their rewrites need (conntrack's seqadj),
// and TFTP's (nf_nat_tftp).
//
// Not modelled: TIME_WAIT tuple reuse of
// nf_nat_used_tuple_harder, masquerade's device-down cleanup and
// nf_nat_oif_changed, the NAT helpers of other protocols, GRE keys.
#pragma once

#include <cstdint>

#include "conntrack/conntrack.h"
#include "packet/packet.h"
#include "util/jhash.h"

namespace nfemu::nat {

using conntrack::Entry;
using conntrack::Tuple;
using packet::Hook;

enum class Manip : uint8_t { Src, Dst };

// HOOK2MANIP: source NAT after routing (POSTROUTING, INPUT), destination
// NAT before it (PREROUTING, OUTPUT).
inline Manip hook_manip(Hook h) {
  return h == Hook::PostRouting || h == Hook::LocalIn ? Manip::Src : Manip::Dst;
}

// NF_NAT_RANGE_* (linux/netfilter/nf_nat.h).
namespace range_flag {
inline constexpr uint32_t kMapIps = 1u << 0, kProtoSpecified = 1u << 1, kProtoRandom = 1u << 2,
                          kPersistent = 1u << 3, kProtoRandomFully = 1u << 4, kProtoOffset = 1u << 5;
inline constexpr uint32_t kRandomAll = kProtoRandom | kProtoRandomFully;
}  // namespace range_flag

// struct nf_nat_range2, IPv4, host order. Ports are ICMP ids for ICMP.
struct Range {
  uint32_t flags = 0;
  uint32_t min_ip = 0, max_ip = 0;
  uint16_t min_port = 0, max_port = 0, base_port = 0;
};

inline constexpr uint32_t kRandomSeed = 0x6e66656d;  // "nfem": the fixed seed of the "random" choices
inline constexpr unsigned kMaxAttempts = 128;         // NF_NAT_MAX_ATTEMPTS

// CTINFO2DIR.
inline int ct_dir(packet::CtInfo ctinfo) {
  return static_cast<uint8_t>(ctinfo) >= static_cast<uint8_t>(packet::CtInfo::EstablishedReply) ? conntrack::kReply
                                                                                                 : conntrack::kOriginal;
}
// The ct->status bit that says a packet of this direction in this hook is
// rewritten: the reply direction undoes the other manip.
inline uint32_t status_bit(Manip m, int dir) {
  uint32_t bit = m == Manip::Src ? conntrack::status::kSrcNat : conntrack::status::kDstNat;
  if (dir == conntrack::kReply) bit ^= conntrack::status::kNatMask;
  return bit;
}

// nf_nat_initialized: the manip of this type has been decided.
inline bool initialized(const Entry& ct, Manip m) {
  return ct.status & (m == Manip::Src ? conntrack::status::kSrcNatDone : conntrack::status::kDstNatDone);
}

// nf_nat_setup_info on an unconfirmed entry: picks a unique tuple within
// the range, alters the reply tuple, sets SRC_NAT/DST_NAT when the tuple
// changed and SRC_NAT_DONE/DST_NAT_DONE. A confirmed entry is left alone
// (true, as NF_ACCEPT). False (NF_DROP) when the manip was already done.
bool setup_info(conntrack::Table& table, Entry* ct, const Range& range, Manip m);

// nf_nat_alloc_null_binding: the manip "to itself", which still remaps a
// source port that clashes with an existing connection.
// Inline: most new connections take the shortcut in PREROUTING (see
// alloc_null_binding_slow), a call per packet for two bit operations.
bool alloc_null_binding_slow(conntrack::Table& table, Entry* ct, Manip m);
inline bool alloc_null_binding(conntrack::Table& table, Entry* ct, Manip m) {
  // A destination null binding of anything but ICMP: unique_tuple keeps
  // the tuple as it is (the destination address is the range, a port is
  // never searched unasked), so only the DONE bit changes.
  if (m == Manip::Dst && ct->proto() != 1 /* ICMP */) {
    if (ct->confirmed()) return true;
    if (initialized(*ct, m)) return false;
    ct->status |= conntrack::status::kDstNatDone;
    return true;
  }
  return alloc_null_binding_slow(table, ct, m);
}

// nf_nat_packet: rewrites the packet (addresses, ports or ICMP id, with
// incremental checksums) when its direction and the hook call for it.
// False when the packet is too short to hold what must be rewritten.
// Inline: most packets of most connections need no rewrite in a hook,
// which the status bits tell (NAT_MANIP_MASK in nf_nat_packet).
bool manip_packet_slow(const Entry& ct, int dir, Manip m, packet::Packet& pkt);
// The datagram's addresses and ports (an ICMP query's id) made t's, as NAT
// rewrites them: incremental checksums, a partial sum kept partial. False
// when the packet is too short to hold what must be rewritten.
bool rewrite_to_tuple(packet::Packet& pkt, const conntrack::Tuple& t);
inline bool manip_packet(const Entry& ct, packet::CtInfo ctinfo, Hook hook, packet::Packet& pkt) {
  Manip m = hook_manip(hook);
  int dir = ct_dir(ctinfo);
  if (!(ct.status & status_bit(m, dir))) return true;
  return manip_packet_slow(ct, dir, m, pkt);
}

// nf_nat_icmp_reply_translation for an ICMP error RELATED to ct: rewrites
// the quoted datagram (addresses, ports, their checksums) and the outer
// header, and recomputes the ICMP checksum. False: drop (the ICMP checksum
// is wrong, a redirect about a NATed connection, or a truncated packet).
bool icmp_reply_translation(const Entry& ct, packet::CtInfo ctinfo, Hook hook, packet::Packet& pkt);

// The NETMAP address mapping (xt_NETMAP.c): the host bits of addr kept,
// the network bits of [min_ip, max_ip] (a prefix) put in their place.
inline uint32_t netmap_addr(uint32_t addr, uint32_t min_ip, uint32_t max_ip) {
  uint32_t netmask = ~(min_ip ^ max_ip);
  return (addr & ~netmask) | (min_ip & netmask);
}

using util::jhash2;

// Loads the NAT helpers into a host's table, as loading nf_nat_ftp sets
// nf_nat_ftp_hook: the FTP helper then rewrites the commands of NATed
// connections.
void register_helpers(conntrack::Table& table);

}  // namespace nfemu::nat
