// A Linux host's IPv4 packet path, hook by hook (design.md, "the journey of
// a packet"):
//
//   receive ─► ip_rcv checks ─► PREROUTING ─► route ─► INPUT ─► local delivery
//                                                │
//                                                └─► TTL/MTU ─► FORWARD ─► POSTROUTING ─► transmit
//   send ────► route ─► OUTPUT ─► re-route ─► POSTROUTING ─► transmit
//
// Each hook runs its tables in the kernel's priority order (raw -300,
// mangle -150, nat -100 for destination NAT, filter 0, security 50, nat 100
// for source NAT). Connection tracking, NAT and ICMP errors plug in later
// (issue 3); until then untracked packets skip the nat table, as they do in
// the kernel (nf_nat_ipv4_fn returns early without a conntrack entry).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "packet/addr.h"
#include "packet/packet.h"
#include "stack/fib.h"
#include "xtables/eval.h"
#include "xtables/table.h"

namespace nfemu::stack {

class Host;

struct Interface {
  std::string name;
  packet::Mac mac{};
  uint32_t mtu = 1500;
};

// Everything the packet path decides, in the order it happens: the
// timeline, the TRACE text and the tests read the same events.
class PathObserver {
 public:
  virtual ~PathObserver() = default;
  virtual void on_table(const Host&, xt::Hook, xt::TableId, xt::Verdict, const packet::Packet&) {}
  virtual void on_rule(const Host&, xt::Hook, const xt::TraceEvent&, const packet::Packet&) {}
  virtual void on_drop(const Host&, std::string_view reason, const packet::Packet&) {}
  virtual void on_local_deliver(const Host&, const packet::Packet&) {}
  virtual void on_transmit(const Host&, std::string_view ifname, const packet::Packet&) {}
  virtual void on_unsupported(const Host&, std::string_view extension) {}
};

class Host {
 public:
  // A host has a loopback interface `lo` with 127.0.0.1/8, as in Linux.
  explicit Host(std::string name);
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const std::string& name() const { return name_; }
  Interface& add_interface(std::string ifname, packet::Mac mac, uint32_t mtu = 1500);
  const Interface* find_interface(std::string_view ifname) const;
  const std::vector<Interface>& interfaces() const { return interfaces_; }
  void add_address(const std::string& ifname, uint32_t addr, int plen) { fib_.add_address(ifname, addr, plen); }

  Fib& fib() { return fib_; }
  const Fib& fib() const { return fib_; }
  xt::Ruleset& ruleset() { return ruleset_; }
  const xt::Ruleset& ruleset() const { return ruleset_; }

  // sysctls by their dotted name; unset ones read as the kernel default.
  void set_sysctl(const std::string& name, int64_t value) { sysctl_[name] = value; }
  int64_t sysctl(const std::string& name) const;

  void set_observer(PathObserver* o) { observer_ = o; }
  // Where frames leaving an interface go (the network wires it). The
  // packet carries its Ethernet header; lo traffic loops back internally.
  std::function<void(const Host&, std::string_view ifname, packet::Packet&)> on_wire;
  // The MAC address of the next hop through ifname (static neighbours).
  std::function<packet::Mac(std::string_view ifname, uint32_t nexthop)> neighbour;

  // A frame arrived on ifname (ip_rcv).
  void receive(packet::Packet pkt, std::string_view ifname, uint64_t now_ns);
  // A datagram handed to a raw IP_HDRINCL socket (ip_route_output, OUTPUT).
  void send(packet::Packet pkt, uint64_t now_ns);

 private:
  class Sink;
  bool run_hook(xt::Hook hook, packet::Packet& pkt, uint64_t now_ns);
  void route_input(packet::Packet& pkt, uint64_t now_ns);
  void forward(packet::Packet& pkt, const FibResult& route, uint64_t now_ns);
  void local_deliver(packet::Packet& pkt, uint64_t now_ns);
  void post_routing(packet::Packet& pkt, const FibResult& route, uint64_t now_ns);
  void drop(std::string_view reason, const packet::Packet& pkt);

  std::string name_;
  std::vector<Interface> interfaces_;
  Fib fib_;
  xt::Ruleset ruleset_;
  std::map<std::string, int64_t> sysctl_;
  PathObserver* observer_ = nullptr;
  int loop_depth_ = 0;
};

}  // namespace nfemu::stack
