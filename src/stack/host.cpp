#include "stack/host.h"

#include <fmt/format.h>

#include "log/log.h"
#include "packet/headers.h"
#include "packet/mangle.h"

namespace nfemu::stack {

namespace {

using xt::Hook;
using xt::TableId;

// The tables of each hook in the kernel's priority order. nat is skipped
// for packets without a conntrack entry (see host.h).
struct HookTables {
  Hook hook;
  std::vector<TableId> tables;
};
const std::vector<TableId>& tables_for(Hook h) {
  static const std::vector<TableId> pre = {TableId::Raw, TableId::Mangle, TableId::Nat};
  static const std::vector<TableId> in = {TableId::Mangle, TableId::Filter, TableId::Security, TableId::Nat};
  static const std::vector<TableId> fwd = {TableId::Mangle, TableId::Filter, TableId::Security};
  static const std::vector<TableId> out = {TableId::Raw, TableId::Mangle, TableId::Nat, TableId::Filter,
                                           TableId::Security};
  static const std::vector<TableId> post = {TableId::Mangle, TableId::Nat};
  switch (h) {
    case Hook::PreRouting: return pre;
    case Hook::LocalIn: return in;
    case Hook::Forward: return fwd;
    case Hook::LocalOut: return out;
    case Hook::PostRouting: return post;
  }
  return pre;
}

constexpr uint64_t kDefaultTtl = 64;

}  // namespace

namespace {

// The link-layer header the log lines show: the received frame's on the
// input side (it stays on a forwarded packet, as the kernel prints it in
// POSTROUTING), loopback's on lo, none for locally generated packets.
std::optional<log::MacInfo> mac_for_log(const packet::Packet& pkt) {
  if (pkt.meta.in.empty()) return std::nullopt;
  if (pkt.meta.in.view() == "lo") return log::MacInfo::loopback();
  if (!pkt.has_mac_header()) return std::nullopt;
  return log::MacInfo::from(pkt);
}

packet::Hook to_packet_hook(Hook h) { return static_cast<packet::Hook>(static_cast<uint8_t>(h)); }

}  // namespace

class Host::HostEffects : public xt::Effects {
 public:
  explicit HostEffects(Host& host) : host_(host) {}
  unsigned addr_type(uint32_t addr, std::string_view dev) const override {
    return static_cast<unsigned>(host_.fib_.addr_type(addr, std::string(dev)));
  }
  void log(std::string_view prefix, uint8_t level, uint8_t flags, const packet::Packet& pkt, Hook hook) override {
    log::LogOptions opts;
    opts.tcp_sequence = flags & 0x01;
    opts.tcp_options = flags & 0x02;
    opts.ip_options = flags & 0x04;
    opts.uid = flags & 0x08;
    opts.macdecode = flags & 0x20;
    auto mac = mac_for_log(pkt);
    std::string line = log::format_log_line(prefix, opts, pkt, to_packet_hook(hook), pkt.meta.in.view(),
                                            pkt.meta.out.view(), mac ? &*mac : nullptr);
    if (host_.observer_) host_.observer_->on_kernel_log(host_, line);
  }
  void set_ct_mark(packet::Packet& pkt, uint32_t mark) override {
    if (pkt.meta.ct) host_.conntrack_.set_mark(static_cast<conntrack::Entry*>(pkt.meta.ct), mark);
  }
  // tcpmss_tg4: min(dst_mtu(skb_dst(skb)), tcpmss_reverse_mtu()). Routes
  // carry no mtu attribute here, so a route's MTU is its device's; a local
  // route's dst is loopback's. No route back counts as ~0U.
  uint32_t path_mtu(const packet::Packet& pkt) const override {
    auto dev_mtu = [this](std::string_view dev) -> uint32_t {
      const Interface* i = host_.find_interface(dev);
      return i ? i->mtu : 0;
    };
    uint32_t out_mtu = dev_mtu(pkt.meta.out.view());
    uint32_t in_mtu = UINT32_MAX;
    if (auto r = host_.fib_.lookup(pkt.ip().saddr())) {
      if (r->type == RouteType::Local) in_mtu = dev_mtu("lo");
      else if (r->type == RouteType::Unicast) in_mtu = dev_mtu(r->dev);
    }
    return std::min(out_mtu, in_mtu);
  }

 private:
  Host& host_;
};

class Host::Sink : public xt::TraceSink {
 public:
  Sink(const Host& host, Hook hook) : host_(host), hook_(hook) {}
  void on_event(const xt::TraceEvent& ev, const packet::Packet& pkt) override {
    if (!host_.observer_) return;
    host_.observer_->on_rule(host_, hook_, ev, pkt);
    if (pkt.meta.trace) {
      auto mac = mac_for_log(pkt);
      auto type = static_cast<log::TraceType>(static_cast<uint8_t>(ev.kind));
      host_.observer_->on_kernel_log(
          host_, log::format_trace_line(ev.table, ev.chain, type, static_cast<unsigned>(ev.rulenum), pkt,
                                        to_packet_hook(hook_), pkt.meta.in.view(), pkt.meta.out.view(),
                                        mac ? &*mac : nullptr));
    }
  }
  void on_unsupported(std::string_view ext) override {
    if (host_.observer_) host_.observer_->on_unsupported(host_, ext);
  }

 private:
  const Host& host_;
  Hook hook_;
};

Host::~Host() = default;

Host::Host(std::string name) : name_(std::move(name)), effects_(std::make_unique<HostEffects>(*this)) {
  interfaces_.push_back({"lo", packet::Mac{}, 65536});
  fib_.add_address("lo", 0x7f000001, 8);
}

Interface& Host::add_interface(std::string ifname, packet::Mac mac, uint32_t mtu) {
  interfaces_.push_back({std::move(ifname), mac, mtu});
  return interfaces_.back();
}

const Interface* Host::find_interface(std::string_view ifname) const {
  for (const auto& i : interfaces_)
    if (i.name == ifname) return &i;
  return nullptr;
}

int64_t Host::sysctl(const std::string& name) const {
  auto it = sysctl_.find(name);
  if (it != sysctl_.end()) return it->second;
  if (name == "net.ipv4.ip_default_ttl") return kDefaultTtl;
  return 0;  // ip_forward and most switches default to off
}

void Host::drop(std::string_view reason, packet::Packet& pkt) {
  if (observer_) observer_->on_drop(*this, reason, pkt);
  release(pkt);
}

bool Host::run_hook(Hook hook, packet::Packet& pkt, uint64_t now_ns) {
  for (TableId id : tables_for(hook)) {
    // nf_conntrack_in runs at -200, right after raw.
    if (id == TableId::Mangle && (hook == Hook::PreRouting || hook == Hook::LocalOut) && !pkt.meta.ct &&
        pkt.meta.ctinfo != packet::CtInfo::Untracked) {
      auto r = conntrack_.in(pkt, to_packet_hook(hook), 0, now_ns);
      if (r.verdict == conntrack::Verdict::Drop) {
        if (r.reason == conntrack::kTableFullMessage && observer_)
          observer_->on_kernel_log(*this, std::string(conntrack::kTableFullMessage));
        drop(fmt::format("conntrack: {}", r.reason.empty() ? "dropped" : r.reason), pkt);
        return false;
      }
    }
    xt::Table* t = ruleset_.find(id);
    if (!t) continue;
    // nf_nat_inet_fn: only a packet that creates a connection walks the nat
    // chains; related and established ones reuse its binding.
    if (id == TableId::Nat && (pkt.meta.ct == nullptr || pkt.meta.ctinfo != packet::CtInfo::New)) continue;
    auto ip = pkt.ip();
    xt::EvalContext ctx{pkt, id, hook};
    ctx.thoff = static_cast<uint16_t>(ip.ihl() * 4);
    ctx.fragoff = ip.frag_offset();
    ctx.now_ns = now_ns;
    ctx.effects = effects_.get();
    Sink sink(*this, hook);
    xt::Verdict v = xt::run_table(*t, ctx, &sink);
    if (observer_) observer_->on_table(*this, hook, id, v, pkt);
    if (v != xt::Verdict::Accept) {
      drop(fmt::format("{} {} {}", xt::table_name(id), xt::hook_chain_name(hook),
                       v == xt::Verdict::Drop ? "DROP" : "QUEUE/STOLEN"),
           pkt);
      return false;
    }
  }
  // nf_confirm runs last in INPUT and POSTROUTING.
  if ((hook == Hook::LocalIn || hook == Hook::PostRouting) && pkt.meta.ct) {
    if (conntrack_.confirm(pkt, now_ns) == conntrack::Verdict::Drop) {
      drop("conntrack: confirmation failed", pkt);
      return false;
    }
  }
  return true;
}

void Host::receive(packet::Packet pkt, std::string_view ifname, uint64_t now_ns) {
  // A packet entering a namespace is scrubbed (skb_scrub_packet): no
  // conntrack entry, mark or trace flag travels with it.
  pkt.meta.ct = nullptr;
  pkt.meta.ctinfo = packet::CtInfo::New;
  pkt.meta.mark = 0;
  pkt.meta.trace = false;
  pkt.meta.in.set(ifname);
  pkt.meta.out.set("");
  pkt.meta.tstamp_ns = now_ns;
  // ip_rcv_core: a datagram the kernel cannot parse never reaches a hook.
  auto ip = packet::parse_ipv4(pkt.data(), {.verify_checksum = true});
  if (!ip) {
    drop(fmt::format("malformed IPv4 ({})", ip.error().message), pkt);
    return;
  }
  if (ip->size() < pkt.size()) pkt.resize(ip->size());  // link padding
  pkt.meta.hook = packet::Hook::PreRouting;
  if (!run_hook(Hook::PreRouting, pkt, now_ns)) return;
  route_input(pkt, now_ns);
}

void Host::route_input(packet::Packet& pkt, uint64_t now_ns) {
  uint32_t daddr = pkt.ip().daddr();
  auto route = fib_.lookup(daddr);
  if (!route || route->type == RouteType::Unreachable || route->type == RouteType::Prohibit ||
      route->type == RouteType::Blackhole) {
    drop("no route to host", pkt);
    return;
  }
  if (route->type == RouteType::Local || route->type == RouteType::Broadcast || daddr == 0xffffffffu) {
    local_deliver(pkt, now_ns);
    return;
  }
  // ip_route_input_slow: without forwarding the route lookup fails with
  // EHOSTUNREACH and ip_error drops silently.
  if (!sysctl("net.ipv4.ip_forward")) {
    drop("forwarding disabled (net.ipv4.ip_forward = 0)", pkt);
    return;
  }
  forward(pkt, *route, now_ns);
}

void Host::forward(packet::Packet& pkt, const FibResult& route, uint64_t now_ns) {
  auto ip = pkt.ip();
  if (ip.ttl() <= 1) {
    drop("TTL exceeded in transit", pkt);  // the ICMP time-exceeded reply comes with the icmp module
    return;
  }
  const Interface* out = find_interface(route.dev);
  if (out && ip.df() && pkt.size() > out->mtu) {
    drop(fmt::format("fragmentation needed (DF set, {} > MTU {})", pkt.size(), out->mtu), pkt);
    return;
  }
  packet::rewrite_ttl(ip, static_cast<uint8_t>(ip.ttl() - 1));  // before FORWARD, as ip_forward
  pkt.meta.out.set(route.dev);
  pkt.meta.hook = packet::Hook::Forward;
  if (!run_hook(Hook::Forward, pkt, now_ns)) return;
  post_routing(pkt, route, now_ns);
}

void Host::local_deliver(packet::Packet& pkt, uint64_t now_ns) {
  pkt.meta.hook = packet::Hook::LocalIn;
  if (!run_hook(Hook::LocalIn, pkt, now_ns)) return;
  if (observer_) observer_->on_local_deliver(*this, pkt);
  release(pkt);
}

void Host::send(packet::Packet pkt, uint64_t now_ns) {
  pkt.meta = packet::PacketMeta{};
  pkt.meta.in.set("");
  pkt.meta.tstamp_ns = now_ns;
  auto route = fib_.lookup(pkt.ip().daddr());
  if (!route || route->type == RouteType::Unreachable || route->type == RouteType::Prohibit ||
      route->type == RouteType::Blackhole) {
    drop("Network is unreachable (sendto fails)", pkt);
    return;
  }
  pkt.meta.out.set(route->dev);
  pkt.meta.hook = packet::Hook::LocalOut;
  uint32_t daddr_before = pkt.ip().daddr();
  uint32_t mark_before = pkt.meta.mark;
  if (!run_hook(Hook::LocalOut, pkt, now_ns)) return;
  // ip_route_me_harder: a changed destination or mark routes again.
  if (pkt.ip().daddr() != daddr_before || pkt.meta.mark != mark_before) {
    route = fib_.lookup(pkt.ip().daddr());
    if (!route) {
      drop("no route after OUTPUT re-route", pkt);
      return;
    }
    pkt.meta.out.set(route->dev);
  }
  post_routing(pkt, *route, now_ns);
}

void Host::post_routing(packet::Packet& pkt, const FibResult& route, uint64_t now_ns) {
  pkt.meta.hook = packet::Hook::PostRouting;
  if (!run_hook(Hook::PostRouting, pkt, now_ns)) return;
  if (route.dev == "lo") {
    // Loopback: the packet comes straight back in through lo.
    if (observer_) observer_->on_transmit(*this, "lo", pkt);
    if (loop_depth_ > 8) {
      drop("loopback recursion", pkt);
      return;
    }
    ++loop_depth_;
    packet::Packet copy = pkt;
    release(pkt);
    receive(std::move(copy), "lo", now_ns);
    --loop_depth_;
    return;
  }
  const Interface* out = find_interface(route.dev);
  packet::EthernetHeader eth;
  if (out) eth.src = out->mac;
  if (neighbour) eth.dst = neighbour(route.dev, route.nexthop);
  pkt.set_mac_header(eth);
  if (observer_) observer_->on_transmit(*this, route.dev, pkt);
  if (on_wire) on_wire(*this, route.dev, pkt);
  release(pkt);
}

}  // namespace nfemu::stack
