#include "nat/nat.h"

#include <bit>

#include "packet/checksum.h"
#include "packet/headers.h"
#include "packet/mangle.h"
#include "packet/sctp.h"

namespace nfemu::nat {

namespace {

using conntrack::kOriginal;
using conntrack::kReply;
using packet::CtInfo;
using packet::Side;
namespace st = conntrack::status;

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kSctp = 132, kUdpLite = 136;

bool has_ports(uint8_t proto) { return proto == kTcp || proto == kUdp || proto == kSctp || proto == kUdpLite; }

uint16_t& key_of(Tuple& t, Manip m) {
  if (t.proto == kIcmp) return t.sport;  // the id, same in both directions
  return m == Manip::Src ? t.sport : t.dport;
}

bool in_ip_range(uint32_t a, const Range& r) { return a >= r.min_ip && a <= r.max_ip; }

// l4proto_in_range.
bool l4_in_range(Tuple t, Manip m, const Range& r) {
  if (t.proto != kIcmp && !has_ports(t.proto)) return true;
  uint16_t k = key_of(t, m);
  return k >= r.min_port && k <= r.max_port;
}

// nf_in_range: only ever asked for source manips.
bool in_range(const Tuple& t, const Range& r) {
  if ((r.flags & range_flag::kMapIps) && !in_ip_range(t.src, r)) return false;
  if (!(r.flags & range_flag::kProtoSpecified)) return true;
  return l4_in_range(t, Manip::Src, r);
}

bool used(const conntrack::Table& table, const Tuple& t, const Entry* ct) {
  return table.unique_tuple_taken(t, ct->zone, ct);
}

// Stands in for get_random_u16(): reproducible draws from the connection's
// own tuple (see nat.h).
class Draw {
 public:
  explicit Draw(const Tuple& t) {
    uint32_t k[4] = {t.src, t.dst, (uint32_t{t.sport} << 16) | t.dport,
                     (uint32_t{t.proto} << 16) | (uint32_t{t.icmp_type} << 8) | t.icmp_code};
    state_ = jhash2(k, 4, kRandomSeed) | 1;
  }
  uint16_t next() {
    // xorshift32
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return static_cast<uint16_t>(state_ >> 8);
  }

 private:
  uint32_t state_;
};

// find_best_ips_proto for IPv4, zone 0.
void find_best_ips(Tuple& t, const Range& r, Manip m) {
  if (!(r.flags & range_flag::kMapIps)) return;
  uint32_t& var = m == Manip::Src ? t.src : t.dst;
  if (r.min_ip == r.max_ip) {
    var = r.min_ip;
    return;
  }
  // The kernel hashes the 16-byte nf_inet_addr as it sits in memory: the
  // network-order address read as a little-endian word, then three zeros.
  uint32_t k[4] = {__builtin_bswap32(t.src), 0, 0, 0};
  uint32_t j = jhash2(k, 4, (r.flags & range_flag::kPersistent) ? 0 : __builtin_bswap32(t.dst));
  uint32_t dist = r.max_ip - r.min_ip + 1;
  var = r.min_ip + static_cast<uint32_t>((uint64_t{j} * dist) >> 32);  // reciprocal_scale
}

// nf_nat_l4proto_unique_tuple.
void l4_unique_tuple(const conntrack::Table& table, Tuple& t, const Range& r, Manip m, const Entry* ct,
                     Draw& draw) {
  unsigned min, range_size;
  uint16_t* key;
  if (t.proto == kIcmp) {
    key = &t.sport;
    if (!(r.flags & range_flag::kProtoSpecified)) {
      min = 0;
      range_size = 65536;
    } else {
      min = r.min_port;
      range_size = unsigned{r.max_port} - r.min_port + 1;
    }
  } else if (has_ports(t.proto)) {
    key = m == Manip::Src ? &t.sport : &t.dport;
    if (!(r.flags & range_flag::kProtoSpecified)) {
      if (m == Manip::Dst) return;  // a destination port is never changed unasked
      // Keep privileged ports privileged: >= 512 is credential passing.
      if (*key < 1024) {
        if (*key < 512) {
          min = 1;
          range_size = 511;
        } else {
          min = 600;
          range_size = 1023 - 600 + 1;
        }
      } else {
        min = 1024;
        range_size = 65535 - 1024 + 1;
      }
    } else {
      unsigned lo = r.min_port, hi = r.max_port;
      if (hi < lo) std::swap(lo, hi);
      min = lo;
      range_size = hi - lo + 1;
    }
  } else {
    return;
  }
  uint16_t off;
  if (r.flags & range_flag::kProtoOffset)
    off = static_cast<uint16_t>(*key - r.base_port);
  else if ((r.flags & range_flag::kRandomAll) || m != Manip::Dst)
    off = draw.next();
  else
    off = 0;
  unsigned attempts = range_size < kMaxAttempts ? range_size : kMaxAttempts;
  for (;;) {
    for (unsigned i = 0; i < attempts; ++i, ++off) {
      *key = static_cast<uint16_t>(min + off % range_size);
      if (!used(table, t, ct)) return;
    }
    if (attempts >= range_size || attempts < 16) return;  // gives up: confirm will see the clash
    attempts /= 2;
    off = draw.next();
  }
}

// Whether l4_unique_tuple searches for a free key without a protocol
// range: ICMP ids, and source ports; it never moves a destination port
// unasked, nor anything of a protocol without ports.
bool l4_searched(uint8_t proto, Manip m) { return proto == kIcmp || (has_ports(proto) && m == Manip::Src); }

// find_appropriate_src: the newest connection from the same source
// (address, port or id, protocol) that has a source manip and whose
// mapping fits the range lends its mapping. The kernel keeps a bysource
// hash for this, and so does the table (only for a new connection whose
// source is outside the range, i.e. a real SNAT).
bool find_appropriate_src(const conntrack::Table& table, const Tuple& t, const Range& r, conntrack::Zone zone,
                          Tuple* result) {
  return table.for_each_by_source(t, zone.id_for(conntrack::kOriginal), [&](const Entry& e) {
    if (!(e.status & st::kSrcNatDone)) return false;
    Tuple cand;
    if (!conntrack::invert_tuple(e.tuple[kReply], &cand)) return false;
    cand.dst = t.dst;
    cand.dport = t.dport;
    cand.icmp_type = t.icmp_type;
    cand.icmp_code = t.icmp_code;
    if (!in_range(cand, r)) return false;
    *result = cand;
    return true;
  }) != nullptr;
}

// get_unique_tuple.
Tuple unique_tuple(const conntrack::Table& table, const Tuple& orig, const Range& r, Entry* ct, Manip m) {
  if (m == Manip::Src && !(r.flags & range_flag::kRandomAll)) {
    // The original tuple first, else the mapping this source already has.
    Tuple mapped;
    if (in_range(orig, r)) {
      if (!used(table, orig, ct)) return orig;
    } else if (find_appropriate_src(table, orig, r, ct->zone, &mapped) && !used(table, mapped, ct)) {
      return mapped;
    }
  }
  Tuple t = orig;
  find_best_ips(t, r, m);
  if (!(r.flags & range_flag::kRandomAll)) {
    if (r.flags & range_flag::kProtoSpecified) {
      if (!(r.flags & range_flag::kProtoOffset) && l4_in_range(t, m, r) &&
          (r.min_port == r.max_port || !used(table, t, ct)))
        return t;
    } else if (!l4_searched(t.proto, m) || !used(table, t, ct)) {
      // When the search below would return t unchanged anyway (a
      // destination port, a protocol without ports), whether t is used
      // changes nothing: no lookup (the kernel does one; same outcome).
      return t;
    }
  }
  Draw draw(ct->tuple[kOriginal]);
  l4_unique_tuple(table, t, r, m, ct, draw);
  return t;
}

// sctp_manip_pkt: the port, then the CRC32c over everything from the
// SCTP header to the end (for a datagram quoted in an ICMP error, the
// quote), unless the header is cut before its checksum field or the
// checksum is left to offload.
void sctp_manip(std::span<uint8_t> l4, packet::Side side, uint16_t port, bool partial) {
  if (l4.size() < 4) return;
  packet::store16(l4.data() + (side == packet::Side::Src ? 0 : 2), port);
  if (l4.size() < packet::kSctpHeader || partial) return;
  packet::sctp_fill_checksum(l4);
}

// nf_nat_ipv4_manip_pkt on the datagram `ip` (the packet, or the one
// quoted in an ICMP error): transport part first, then the address.
bool manip_ipv4(packet::Ipv4View ip, const Tuple& target, Manip m, bool partial = false) {
  Side side = m == Manip::Src ? Side::Src : Side::Dst;
  uint8_t proto = ip.protocol();
  if (ip.frag_offset() == 0) {
    auto l4 = ip.payload();
    if ((proto == kTcp || proto == kUdp || proto == kIcmp) && l4.size() < 8) return false;
    if (proto == kIcmp)
      packet::rewrite_port(ip, side, target.sport);  // queries only: an error has no id
    else if (proto == kTcp || proto == kUdp)
      packet::rewrite_port(ip, side, m == Manip::Src ? target.sport : target.dport, partial);
    else if (proto == kSctp)
      sctp_manip(l4, side, m == Manip::Src ? target.sport : target.dport, partial);
  }
  packet::rewrite_addr(ip, side, m == Manip::Src ? target.src : target.dst, partial);
  return true;
}

}  // namespace


bool setup_info(conntrack::Table& table, Entry* ct, const Range& range, Manip m) {
  if (ct->confirmed()) return true;
  if (initialized(*ct, m)) return false;
  // What the packet looks like now: the inverse of the reply, which holds
  // any earlier manip of this connection.
  Tuple curr;
  if (!conntrack::invert_tuple(ct->tuple[kReply], &curr)) return true;
  Tuple next = unique_tuple(table, curr, range, ct, m);
  if (!(next == curr)) {
    Tuple reply;
    conntrack::invert_tuple(next, &reply);
    table.set_reply_tuple(ct, reply);
    ct->status |= m == Manip::Src ? st::kSrcNat : st::kDstNat;
  }
  ct->status |= m == Manip::Src ? st::kSrcNatDone : st::kDstNatDone;
  return true;
}

bool alloc_null_binding_slow(conntrack::Table& table, Entry* ct, Manip m) {
  // The reply tuple, in case an earlier manip changed it (local packets).
  uint32_t ip = m == Manip::Src ? ct->tuple[kReply].dst : ct->tuple[kReply].src;
  Range r{.flags = range_flag::kMapIps, .min_ip = ip, .max_ip = ip};
  return setup_info(table, ct, r, m);
}

bool manip_packet_slow(const Entry& ct, int dir, Manip m, packet::Packet& pkt) {
  Tuple target;
  if (!conntrack::invert_tuple(ct.tuple[!dir], &target)) return true;
  return manip_ipv4(pkt.ip(), target, m, pkt.meta.csum_partial);
}

bool rewrite_to_tuple(packet::Packet& pkt, const Tuple& t) {
  return manip_ipv4(pkt.ip(), t, Manip::Src, pkt.meta.csum_partial) &&
         manip_ipv4(pkt.ip(), t, Manip::Dst, pkt.meta.csum_partial);
}

bool icmp_reply_translation(const Entry& ct, CtInfo ctinfo, Hook hook, packet::Packet& pkt) {
  auto ip = pkt.ip();
  auto l4 = ip.payload();
  if (l4.size() < packet::kIcmpHeader + packet::kIpv4MinHeader) return false;
  if (!packet::inet_checksum_ok(l4)) return false;  // nf_ip_checksum
  Manip m = hook_manip(hook);
  int dir = ct_dir(ctinfo);
  if (l4[0] == 5) {  // ICMP_REDIRECT: only about a connection both of whose manips are null
    if ((ct.status & st::kNatDoneMask) != st::kNatDoneMask) return false;
    if (ct.status & st::kNatMask) return false;
  }
  if (!(ct.status & status_bit(m, dir))) return true;
  auto icmp = packet::parse_icmp(l4);
  if (!icmp) return false;
  auto quote = packet::parse_icmp_quote(*icmp);
  if (!quote) return false;
  // The quoted datagram went the other way: the other manip, with the
  // other direction's tuple as it is.
  if (!manip_ipv4(quote->ip, ct.tuple[!dir], m == Manip::Src ? Manip::Dst : Manip::Src)) return false;
  packet::store16(l4.data() + 2, 0);
  packet::store16(l4.data() + 2, packet::inet_checksum(l4));
  // The outer header now looks like the reply to what came in.
  Tuple target;
  if (!conntrack::invert_tuple(ct.tuple[!dir], &target)) {
    target = ct.tuple[!dir];
    std::swap(target.src, target.dst);
  }
  target.proto = kIcmp;
  return manip_ipv4(ip, target, m);
}

}  // namespace nfemu::nat
