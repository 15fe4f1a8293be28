#include "packet/mangle.h"

namespace nfemu::packet {

namespace {

// Offset of the transport checksum field, or 0 when there is none.
size_t l4_check_offset(uint8_t proto) {
  switch (proto) {
    case kIpProtoTcp: return 16;
    case kIpProtoUdp: return 6;
    case kIpProtoIcmp: return 2;
    default: return 0;
  }
}

size_t l4_min_header(uint8_t proto) {
  switch (proto) {
    case kIpProtoTcp: return kTcpMinHeader;
    case kIpProtoUdp: return kUdpHeader;
    case kIpProtoIcmp: return kIcmpHeader;
    default: return SIZE_MAX;
  }
}

}  // namespace

std::optional<uint16_t> compute_l4_checksum(ConstIpv4View ip) {
  if (ip.is_fragment()) return std::nullopt;
  auto l4 = ip.payload();
  uint8_t proto = ip.protocol();
  if (l4_check_offset(proto) == 0 || l4.size() < l4_min_header(proto)) return std::nullopt;
  size_t off = l4_check_offset(proto);
  uint32_t sum = 0;
  if (proto != kIpProtoIcmp) sum = pseudo_header_sum(ip.saddr(), ip.daddr(), proto, static_cast<uint32_t>(l4.size()));
  sum = csum_bytes(l4, sum);
  sum = csum_sub(sum, load16(l4.data() + off));  // as if the field were zero
  uint16_t check = csum_finish(sum);
  if (proto == kIpProtoUdp && check == 0) check = 0xffff;
  return check;
}

// Sums the segment once, checksum field included, instead of computing the
// checksum the field should hold and comparing: the replay verifies every
// TCP and UDP checksum in conntrack, and the comparison's own folds and the
// second look at the headers cost as much as summing a short segment.
L4Checksum check_l4_checksum(ConstIpv4View ip) {
  if (ip.is_fragment()) return L4Checksum::Unchecked;
  auto l4 = ip.payload();
  uint8_t proto = ip.protocol();
  uint16_t have;
  uint32_t sum;
  switch (proto) {
    case kIpProtoTcp:
      if (l4.size() < kTcpMinHeader) return L4Checksum::Unchecked;
      have = load16(l4.data() + 16);
      break;
    case kIpProtoUdp:
      if (l4.size() < kUdpHeader) return L4Checksum::Unchecked;
      have = load16(l4.data() + 6);
      if (have == 0) return L4Checksum::None;
      break;
    case kIpProtoIcmp:
      if (l4.size() < kIcmpHeader) return L4Checksum::Unchecked;
      have = load16(l4.data() + 2);
      break;
    default: return L4Checksum::Unchecked;
  }
  if (proto == kIpProtoIcmp) {
    sum = 0;
  } else {
    // Unfolded (below 2^20): csum_bytes adds it as ones' complement.
    uint32_t s = ip.saddr(), d = ip.daddr();
    sum = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto + static_cast<uint32_t>(l4.size());
  }
  uint32_t total = csum_bytes(l4, sum);
  // nf_ip_checksum (CHECKSUM_NONE) sums the whole datagram from its IP
  // header on, with the pseudo header for TCP and UDP, and wants -0. The
  // header's own sum is -0 (ip_rcv checked it), which leaves any other
  // total as it is and turns a +0 (an ICMP message of zeros) into -0: so
  // -0 and +0 are both good, whatever the field holds. Checked on a 6.18
  // kernel (veth with rx checksum offload off, nf_conntrack_checksum=1): a
  // SYN whose field is 0xffff where the computed checksum is 0 is NEW, one
  // with a wrong field INVALID. (The comparison with the computed value
  // used before rejected that SYN.)
  return total == 0xffff || total == 0 ? L4Checksum::Ok : L4Checksum::Bad;
}

bool holds_pseudo_header_sum(ConstIpv4View ip) {
  if (ip.is_fragment()) return false;
  auto l4 = ip.payload();
  const uint8_t proto = ip.protocol();
  uint16_t have;
  if (proto == kIpProtoTcp && l4.size() >= kTcpMinHeader) {
    have = load16(l4.data() + 16);
  } else if (proto == kIpProtoUdp && l4.size() >= kUdpHeader) {
    have = load16(l4.data() + 6);
    if (have == 0) return false;  // no checksum at all
  } else {
    return false;
  }
  // ~csum_tcpudp_magic(saddr, daddr, len, proto, 0): the pseudo header's
  // folded sum, not complemented.
  const uint32_t s = ip.saddr(), d = ip.daddr();
  uint32_t sum = (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + proto + static_cast<uint32_t>(l4.size());
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return have == sum;
}

bool l4_checksum_partial(ConstIpv4View ip) {
  // A full checksum that happens to equal the sum (one in 65536) stays one.
  return holds_pseudo_header_sum(ip) && check_l4_checksum(ip) == L4Checksum::Bad;
}

void fill_checksums(Ipv4View ip) {
  if (auto c = compute_l4_checksum(ip)) store16(ip.payload().data() + l4_check_offset(ip.protocol()), *c);
  ip.update_checksum();
}

bool repair_checksums(Ipv4View ip) {
  bool changed = false;
  if (check_l4_checksum(ip) == L4Checksum::Bad) {
    // Bad implies computable: a fragment or a cut header is Unchecked.
    store16(ip.payload().data() + l4_check_offset(ip.protocol()), *compute_l4_checksum(ip));
    changed = true;
  }
  if (!ip.checksum_ok()) {
    ip.update_checksum();
    changed = true;
  }
  return changed;
}

void rewrite_tos(Ipv4View ip, uint8_t tos) {
  uint16_t old = load16(ip.bytes().data());
  ip.set_tos(tos);
  uint16_t check = ip.checksum();
  csum_replace2(check, old, load16(ip.bytes().data()));
  ip.set_checksum(check);
}

}  // namespace nfemu::packet
