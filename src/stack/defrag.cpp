// nf_defrag_ipv4 (net/ipv4/netfilter/nf_defrag_ipv4.c): where conntrack is
// active, fragments are reassembled at PREROUTING and OUTPUT priority -400,
// before raw (-300), so every table and conntrack see the whole datagram;
// a queued fragment is stolen (no verdict, no drop). Without conntrack
// each fragment walks the tables and `-f` matches the later ones.
#include "stack/host.h"

namespace nfemu::stack {

bool Host::conntrack_defrag(packet::Packet& pkt, uint64_t now_ns) {
  if (!conntrack_enabled() || !pkt.ip().is_fragment()) return true;
  auto whole = ct_defrag_.add(pkt.data(), now_ns);
  if (!whole) {
    release(pkt);
    return false;
  }
  bool had_mac = pkt.has_mac_header();
  packet::EthernetHeader mac = had_mac ? pkt.mac_header() : packet::EthernetHeader{};
  pkt.assign(*whole);
  pkt.meta.frag_max_size = static_cast<uint16_t>(ct_defrag_.last_max_size());
  if (had_mac) pkt.set_mac_header(mac);
  return true;
}

}  // namespace nfemu::stack
