#include "icmp/icmp.h"

#include <algorithm>
#include <cstring>

#include "packet/checksum.h"

namespace nfemu::icmp {

using packet::ConstIpv4View;
using packet::Ipv4View;
using packet::Packet;

const std::array<RejectType, 9>& reject_types() {
  static constexpr std::array<RejectType, 9> kTypes = {{
      {"icmp-net-unreachable", "net-unreach", kNetUnreach},
      {"icmp-host-unreachable", "host-unreach", kHostUnreach},
      {"icmp-proto-unreachable", "proto-unreach", kProtUnreach},
      {"icmp-port-unreachable", "port-unreach", kPortUnreach},
      {"", "", 0},
      {"icmp-net-prohibited", "net-prohib", kNetAnoResolved},
      {"icmp-host-prohibited", "host-prohib", kHostAno},
      {"tcp-reset", "tcp-rst", 0},
      {"icmp-admin-prohibited", "admin-prohib", kPktFiltered},
  }};
  return kTypes;
}

bool is_error_type(uint8_t type) { return packet::icmp_is_error(type); }

namespace {

constexpr uint8_t kNrIcmpTypes = 18;

bool addr_not_unicast(uint32_t a) {
  return a == 0 || a == 0xffffffffu || (a >> 28) == 0xe;
}

// The IPv4 header every locally built datagram starts with.
void put_ip_header(Ipv4View ip, uint16_t total, uint8_t tos, uint16_t id, bool df, uint8_t ttl, uint8_t proto,
                   uint32_t src, uint32_t dst) {
  ip.set_version_ihl(4, 5);
  ip.set_tos(tos);
  ip.set_total_length(total);
  ip.set_id(id);
  ip.set_frag_field(df ? 0x4000 : 0);
  ip.set_ttl(ttl);
  ip.set_protocol(proto);
  ip.set_saddr(src);
  ip.set_daddr(dst);
  ip.update_checksum();
}

void finish_tcp(Ipv4View ip) {
  auto seg = ip.payload();
  packet::store16(seg.data() + 16, 0);
  uint32_t s = packet::pseudo_header_sum(ip.saddr(), ip.daddr(), packet::kIpProtoTcp,
                                         static_cast<uint32_t>(seg.size()));
  packet::store16(seg.data() + 16, packet::csum_finish(packet::csum_bytes(seg, s)));
}

}  // namespace

const char* error_suppressed(ConstIpv4View offending, uint8_t type, bool dst_not_unicast) {
  if (dst_not_unicast) return "destination is broadcast or multicast";
  if (offending.frag_offset() != 0) return "not the first fragment";
  if (addr_not_unicast(offending.saddr())) return "source is not a unicast address";
  if (is_error_type(type) && offending.protocol() == packet::kIpProtoIcmp) {
    if (offending.size() < offending.header_len() + 1) return "truncated ICMP header";
    uint8_t inner = offending.bytes()[offending.header_len()];
    if (inner > kNrIcmpTypes || is_error_type(inner)) return "no error about an ICMP error";
  }
  return nullptr;
}

namespace {
// A reused packet starts as a new one would: no metadata, no MAC header.
void start_fresh(Packet& p, size_t len) {
  p.meta = packet::PacketMeta{};
  p.clear_mac_header();
  p.resize(len);
}
}  // namespace

std::optional<Packet> build_error(ConstIpv4View offending, const ErrorSpec& e) {
  Packet p;
  if (!build_error(offending, e, p)) return std::nullopt;
  return p;
}

bool build_error(ConstIpv4View offending, const ErrorSpec& e, Packet& p) {
  // __icmp_send: room = min(dst_mtu, 576) - IP header - ICMP header; an
  // error that cannot even quote an IP header is not sent.
  int room = static_cast<int>(std::min<uint32_t>(e.mtu, 576)) - 20 - 8;
  if (room <= 20) return false;
  size_t quote = std::min<size_t>(offending.size(), static_cast<size_t>(room));
  start_fresh(p, 28 + quote);
  auto d = p.data();
  std::memset(d.data(), 0, 28);
  std::memcpy(d.data() + 28, offending.bytes().data(), quote);
  Ipv4View ip(d);
  uint8_t tos = static_cast<uint8_t>((offending.tos() & 0x1e) | 0xc0);
  put_ip_header(ip, static_cast<uint16_t>(d.size()), tos, e.ipid, false, e.ttl, packet::kIpProtoIcmp, e.src,
                offending.saddr());
  d[20] = e.type;
  d[21] = e.code;
  packet::store32(d.data() + 24, e.info);
  packet::store16(d.data() + 22, packet::inet_checksum(d.subspan(20)));
  return true;
}

Packet build_echo_reply(ConstIpv4View request, uint32_t src, uint8_t ttl, uint16_t ipid) {
  Packet p;
  build_echo_reply(request, src, ttl, ipid, p);
  return p;
}

void build_echo_reply(ConstIpv4View request, uint32_t src, uint8_t ttl, uint16_t ipid, Packet& p) {
  auto icmp = request.payload();
  start_fresh(p, 20 + icmp.size());
  auto d = p.data();
  std::memcpy(d.data() + 20, icmp.data(), icmp.size());
  Ipv4View ip(d);
  put_ip_header(ip, static_cast<uint16_t>(d.size()), request.tos(), ipid, false, ttl, packet::kIpProtoIcmp, src,
                request.saddr());
  d[20] = kEchoReply;
  d[21] = 0;
  packet::store16(d.data() + 22, 0);
  packet::store16(d.data() + 22, packet::inet_checksum(d.subspan(20)));
}

std::optional<Packet> build_tcp_reset(ConstIpv4View segment, uint8_t ttl, uint8_t tos) {
  Packet p;
  if (!build_tcp_reset(segment, ttl, tos, p)) return std::nullopt;
  return p;
}

bool build_tcp_reset(ConstIpv4View segment, uint8_t ttl, uint8_t tos, Packet& p) {
  packet::ConstTcpView th(segment.payload());
  if (th.has(packet::tcp_flag::kRst)) return false;
  start_fresh(p, 40);
  auto d = p.data();
  std::memset(d.data(), 0, 40);
  Ipv4View ip(d);
  put_ip_header(ip, 40, tos, 0, true, ttl, packet::kIpProtoTcp, segment.daddr(), segment.saddr());
  packet::TcpView t(d.subspan(20));
  t.set_sport(th.dport());
  t.set_dport(th.sport());
  uint8_t flags = packet::tcp_flag::kRst;
  if (th.has(packet::tcp_flag::kAck)) {
    t.set_seq(th.ack_seq());
  } else {
    uint32_t len = static_cast<uint32_t>(th.payload().size());
    t.set_ack_seq(th.seq() + (th.has(packet::tcp_flag::kSyn) ? 1 : 0) + (th.has(packet::tcp_flag::kFin) ? 1 : 0) +
                  len);
    flags |= packet::tcp_flag::kAck;
  }
  d[32] = 5 << 4;
  d[33] = flags;
  finish_tcp(ip);
  return true;
}

void build_syn_ack(ConstIpv4View syn, uint32_t isn, uint16_t mss, uint8_t ttl, Packet& p) {
  packet::ConstTcpView th(syn.payload());
  start_fresh(p, 44);
  auto d = p.data();
  std::memset(d.data(), 0, 44);
  Ipv4View ip(d);
  put_ip_header(ip, 44, 0, 0, true, ttl, packet::kIpProtoTcp, syn.daddr(), syn.saddr());
  packet::TcpView t(d.subspan(20));
  t.set_sport(th.dport());
  t.set_dport(th.sport());
  t.set_seq(isn);
  t.set_ack_seq(th.seq() + 1);
  d[32] = 6 << 4;
  d[33] = packet::tcp_flag::kSyn | packet::tcp_flag::kAck;
  uint16_t win = mss ? static_cast<uint16_t>(65535 / mss * mss) : 65535;
  packet::store16(d.data() + 34, win);
  d[40] = 2;  // TCPOPT_MSS
  d[41] = 4;
  packet::store16(d.data() + 42, mss);
  finish_tcp(ip);
}

uint32_t initial_sequence(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport) {
  uint8_t bytes[12];
  packet::store32(bytes, saddr);
  packet::store32(bytes + 4, daddr);
  packet::store16(bytes + 8, sport);
  packet::store16(bytes + 10, dport);
  uint32_t h = 2166136261u;
  for (uint8_t b : bytes) h = (h ^ b) * 16777619u;
  return h;
}

bool transport_checksum_ok(ConstIpv4View ip) {
  auto seg = ip.payload();
  uint8_t proto = ip.protocol();
  if (proto != packet::kIpProtoTcp && proto != packet::kIpProtoUdp) return true;
  if (ip.is_fragment()) return true;  // only a reassembled datagram could be checked
  if (proto == packet::kIpProtoUdp && seg.size() >= 8 && packet::load16(seg.data() + 6) == 0) return true;
  uint32_t s = packet::pseudo_header_sum(ip.saddr(), ip.daddr(), proto, static_cast<uint32_t>(seg.size()));
  return packet::csum_fold(packet::csum_bytes(seg, s)) == 0xffff;
}

}  // namespace nfemu::icmp
