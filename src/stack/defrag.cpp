// IPv4 defragmentation in the host (net/ipv4/ip_fragment.c,
// net/ipv4/netfilter/nf_defrag_ipv4.c). Two users keep separate queues
// (the kernel keys them by user): nf_defrag_ipv4, where conntrack is
// active, reassembles at PREROUTING and OUTPUT priority -400, before raw
// (-300), so every table and conntrack see the whole datagram (a queued
// fragment is stolen: no verdict, no drop); ip_local_deliver reassembles
// what reaches it still in pieces. Without conntrack each fragment walks
// the tables and `-f` matches the later ones.
//
// A queue's timer (net.ipv4.ipfrag_time, read when the queue is made)
// runs from its first fragment; ip_expire then answers with ICMP time
// exceeded, code 1 (fragment reassembly), quoting the offset-0 fragment,
// only if that fragment came, the interface the last fragment came in on
// still exists and the datagram routes in again from it. "Only an end
// host" answers (RFC 792): the conntrack queues (IP_DEFRAG_CONNTRACK_IN)
// stay silent unless the datagram was for this host (frag_expire_skip_icmp
// checks the route type). Locally sent fragments (IP_DEFRAG_CONNTRACK_OUT)
// have no input device, so their expiry is silent too. The error is the
// host's own: it leaves through OUTPUT and POSTROUTING like any icmp_send,
// from the datagram's destination address.
#include <algorithm>
#include <cstdint>

#include "stack/host.h"

namespace nfemu::stack {

namespace {
uint64_t frag_timeout_ns(const Host& h) {
  int64_t s = h.sysctl("net.ipv4.ipfrag_time");
  return s < 0 ? 0 : static_cast<uint64_t>(s) * 1'000'000'000ull;
}
}  // namespace

// Queued fragments leave silently; those ip_frag_queue throws away (and
// the queues they take with them) are drops.
bool Host::defrag(packet::Reassembler& r, packet::Packet& pkt, uint64_t now_ns) {
  ++timer_epoch_;  // a queue made, or its expiry moved
  r.set_peers(&frag_peers_);
  int64_t max_dist = sysctl("net.ipv4.ipfrag_max_dist");
  auto whole = r.add(pkt.data(), now_ns, frag_timeout_ns(*this), pkt.meta.in.view(), &pkt.meta,
                     static_cast<uint32_t>(std::clamp<int64_t>(max_dist, 0, INT32_MAX)));
  if (!whole) {
    if (r.last_outcome() == packet::Reassembler::Outcome::Queued) release(pkt);
    else drop(packet::Reassembler::describe(r.last_outcome()), pkt);
    return false;
  }
  bool had_mac = pkt.has_mac_header();
  packet::EthernetHeader mac = had_mac ? pkt.mac_header() : packet::EthernetHeader{};
  pkt.assign(*whole);
  pkt.meta.frag_max_size = static_cast<uint16_t>(r.last_max_size());
  if (had_mac) pkt.set_mac_header(mac);  // LOG's MAC= of the completing frame
  return true;
}

std::optional<uint64_t> Host::next_frag_expiry() const {
  auto a = reassembler_.next_expiry(), b = ct_defrag_.next_expiry();
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}

void Host::expire_fragments(uint64_t until) {
  auto answer = [&](bool conntrack_user) {
    return [this, conntrack_user](const packet::Reassembler::Expired& e) {
      if (e.head.empty() || e.iif.empty() || !find_interface(e.iif)) return;
      packet::Packet head(e.head);
      auto ip = head.ip();
      // ip_route_input_noref again; the conntrack users answer only for
      // datagrams this host would have received.
      bool local = fib_.addr_type(ip.daddr()) == RouteType::Local;
      if (conntrack_user && !local) return;
      if (!local && !fib_.lookup(ip.daddr())) return;
      head.meta.in.set(e.iif);
      head.meta.hook = packet::Hook::PreRouting;
      icmp_send(head, icmp::kTimeExceeded, 1, 0, e.at_ns);  // ICMP_EXC_FRAGTIME
    };
  };
  reassembler_.expire(until, answer(false));
  ct_defrag_.expire(until, answer(true));
}

}  // namespace nfemu::stack
