// Parses arbitrary bytes as an IPv4 datagram (and as an Ethernet frame) and
// walks every view. Invariants: no view reads outside the bytes; a packet
// the grammar can print rebuilds to the very same bytes; incremental
// rewrites keep valid checksums valid.
#include <cstdint>
#include <cstring>
#include <vector>

#include "packet/ethernet.h"
#include "packet/grammar.h"
#include "packet/headers.h"
#include "packet/mangle.h"
#include "packet/packet.h"

using namespace nfemu::packet;

namespace {

volatile uint64_t sink;

template <class View>
void touch(std::span<View> s) {
  uint64_t x = 0;
  for (auto b : s) x += b;
  sink = x;
}

void walk(Ipv4View ip) {
  sink = ip.version() + ip.ihl() + ip.tos() + ip.total_length() + ip.id() + ip.df() + ip.mf() + ip.rf() +
         ip.frag_offset() + ip.ttl() + ip.protocol() + ip.checksum() + ip.saddr() + ip.daddr() +
         ip.checksum_ok() + ip.compute_checksum();
  touch(ip.options());
  touch(ip.payload());
  (void)check_l4_checksum(ip);
  if (ip.frag_offset() != 0) return;
  auto l4 = ip.payload();
  switch (ip.protocol()) {
    case kIpProtoTcp:
      if (auto t = parse_tcp(l4)) {
        sink = t->sport() + t->dport() + t->seq() + t->ack_seq() + t->flags() + t->window() + t->urg_ptr() +
               t->reserved() + t->checksum();
        touch(t->options());
        touch(t->payload());
      }
      break;
    case kIpProtoUdp:
      if (auto u = parse_udp(l4)) {
        sink = u->sport() + u->dport() + u->length() + u->checksum();
        touch(u->payload());
      }
      break;
    case kIpProtoIcmp:
      if (auto c = parse_icmp(l4)) {
        sink = c->type() + c->code() + c->echo_id() + c->echo_seq() + c->gateway() + c->pointer() +
               c->next_hop_mtu() + c->checksum_ok();
        touch(c->payload());
        if (auto q = parse_icmp_quote(*c)) {
          sink = q->ip.saddr() + q->ip.daddr() + q->ip.protocol() + q->ip.total_length() + q->ip.frag_offset();
          touch(q->ip.options());
          touch(q->ip.payload());
          touch(q->l4);
          if (q->l4.size() >= 8) sink = UdpView(q->l4).sport() + UdpView(q->l4).dport();
        }
      }
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);

  if (auto eth = parse_ethernet(std::span<const uint8_t>(buf))) {
    if (auto p = Packet::from_frame(buf)) touch(p->frame());
  }

  for (bool verify : {false, true}) {
    auto ip = parse_ipv4(std::span<uint8_t>(buf), {.verify_checksum = verify});
    size_t len = 0;
    bool ok = check_ipv4(buf, {.verify_checksum = verify}, &len) == Ipv4Status::Ok;
    if (ok != static_cast<bool>(ip)) __builtin_trap();
    if (!ip) continue;
    walk(*ip);

    // Printable means exactly rebuildable.
    if (auto text = format_packet(*ip)) {
      auto again = parse_packet(*text);
      if (!again) __builtin_trap();
      if (again->size() != ip->size() || std::memcmp(again->data().data(), ip->bytes().data(), ip->size()) != 0)
        __builtin_trap();
    }

    // Rewrites on a copy with valid checksums must leave them valid.
    std::vector<uint8_t> copy(ip->bytes().begin(), ip->bytes().end());
    Ipv4View c(copy);
    fill_checksums(c);
    bool l4_ok = check_l4_checksum(c) == L4Checksum::Ok;
    uint32_t k = size >= 4 ? (uint32_t{data[0]} << 24 | data[1] << 16 | data[2] << 8 | data[3]) : 0;
    rewrite_addr(c, Side::Src, k);
    rewrite_addr(c, Side::Dst, ~k);
    rewrite_port(c, Side::Src, static_cast<uint16_t>(k));
    rewrite_port(c, Side::Dst, static_cast<uint16_t>(k >> 16));
    rewrite_ttl(c, static_cast<uint8_t>(k >> 8));
    if (!c.checksum_ok()) __builtin_trap();
    if (l4_ok && check_l4_checksum(c) != L4Checksum::Ok) __builtin_trap();
  }
  return 0;
}
