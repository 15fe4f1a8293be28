#include "stack/host.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

#include "log/log.h"
#include "nat/nat.h"
#include "packet/headers.h"
#include "packet/fragment.h"
#include "packet/mangle.h"
#include "stack/ct_demand.h"
#include "stack/rpfilter.h"

namespace nfemu::stack {

namespace {

using xt::Hook;
using xt::TableId;

// The tables of each hook in the kernel's priority order. nat is skipped
// for packets without a conntrack entry (see host.h).
std::span<const TableId> tables_for(Hook h) {
  static constexpr TableId pre[] = {TableId::Raw, TableId::Mangle, TableId::Nat};
  static constexpr TableId in[] = {TableId::Mangle, TableId::Filter, TableId::Security, TableId::Nat};
  static constexpr TableId fwd[] = {TableId::Mangle, TableId::Filter, TableId::Security};
  static constexpr TableId out[] = {TableId::Raw, TableId::Mangle, TableId::Nat, TableId::Filter, TableId::Security};
  static constexpr TableId post[] = {TableId::Mangle, TableId::Nat};
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

// "filter FORWARD DROP": the reason of a table's verdict, made once for
// every table, hook and verdict instead of formatted per dropped packet.
// STOLEN: a target took the packet (SYNPROXY answered its SYN).
std::string_view verdict_reason(TableId t, Hook h, xt::Verdict v) {
  constexpr size_t kVerdicts = 4;  // Accept (unused), Drop, Stolen, Queue
  static const auto reasons = [] {
    constexpr const char* kNames[kVerdicts] = {"ACCEPT", "DROP", "STOLEN", "QUEUE"};
    std::array<std::string, xt::kNumTables * xt::kNumHooks * kVerdicts> r;
    for (TableId id : xt::kAllTables)
      for (int hk = 0; hk < xt::kNumHooks; ++hk)
        for (size_t vi = 0; vi < kVerdicts; ++vi)
          r[(static_cast<size_t>(id) * xt::kNumHooks + static_cast<size_t>(hk)) * kVerdicts + vi] =
              fmt::format("{} {} {}", xt::table_name(id), xt::hook_chain_name(static_cast<Hook>(hk)), kNames[vi]);
    return r;
  }();
  return reasons[(static_cast<size_t>(t) * xt::kNumHooks + static_cast<size_t>(h)) * kVerdicts +
                 static_cast<size_t>(v)];
}

// What ipv4_devconf_dflt gives an interface for the conf entries nfemu
// models (forwarding is devconf's own case).
int64_t devconf_kernel_default(std::string_view leaf) {
  return leaf == "send_redirects" || leaf == "accept_redirects" || leaf == "secure_redirects" ||
                 leaf == "accept_source_route"
             ? 1
             : 0;
}

}  // namespace

namespace {

// The link-layer header the log lines show: the received frame's on the
// input side (it stays on a forwarded packet, as the kernel prints it in
// POSTROUTING), loopback's on lo, none for locally generated packets.
// nf_log_dump_sk_uid_gid: only a full socket with a file (not a request
// sock, not a kernel control socket) prints UID= GID=.
std::optional<log::SocketOwner> log_owner(const packet::Packet& pkt) {
  if (pkt.meta.sk != packet::SockKind::Full) return std::nullopt;
  return log::SocketOwner{0, 0};  // root's (PacketMeta::sk)
}

std::optional<log::MacInfo> mac_for_log(const packet::Packet& pkt) {
  if (pkt.meta.in.empty()) return std::nullopt;
  if (pkt.meta.in.view() == "lo") return log::MacInfo::loopback();
  if (!pkt.has_mac_header()) return std::nullopt;
  return log::MacInfo::from(pkt);
}

packet::Hook to_packet_hook(Hook h) { return static_cast<packet::Hook>(static_cast<uint8_t>(h)); }

// What on_kernel_log gets from a host whose observer wants no text.
const std::string kNoText;

// skb->pkt_type is PACKET_BROADCAST or PACKET_MULTICAST: the frame came to
// a group MAC (eth_type_trans; PACKET_OTHERHOST never gets this far, and a
// packet the host sends itself has no MAC header: PACKET_HOST), as the
// pkttype match reads it.
bool to_link_group(const packet::Packet& pkt) { return pkt.mac_dst_is_group(); }
}  // namespace

class Host::HostEffects : public xt::Effects, public icmp::Responder {
 public:
  explicit HostEffects(Host& host) : host_(host) {}
  // REJECT's answer (icmp::Responder).
  void reject(const packet::Packet& offending, icmp::RejectWith with, uint64_t now_ns) override {
    host_.reject(offending, with, now_ns);
  }
  unsigned addr_type(uint32_t addr, std::string_view dev) const override {
    return static_cast<unsigned>(host_.fib_.addr_type(addr, std::string(dev)));
  }
  void log(std::string_view prefix, uint8_t level, uint8_t flags, const packet::Packet& pkt, Hook hook) override {
    if (!host_.observer_) return;
    if (!host_.observer_->wants_log_text()) return host_.observer_->on_kernel_log(host_, kNoText);
    log::LogOptions opts;
    opts.tcp_sequence = flags & 0x01;
    opts.tcp_options = flags & 0x02;
    opts.ip_options = flags & 0x04;
    opts.uid = flags & 0x08;
    opts.macdecode = flags & 0x20;
    auto mac = mac_for_log(pkt);
    auto owner = log_owner(pkt);
    std::string& line = host_.log_line_;
    log::format_log_line(line, prefix, opts, pkt, to_packet_hook(hook), pkt.meta.in.view(), pkt.meta.out.view(),
                         mac ? &*mac : nullptr, owner ? &*owner : nullptr);
    host_.observer_->on_kernel_log(host_, line);
  }
  // The NAT targets' range completed from the host (xt_MASQUERADE.c,
  // xt_REDIRECT.c, xt_NETMAP.c), then nf_nat_setup_info.
  xt::TargetVerdict nat(const xt::NatRequest& req, const xt::EvalContext& ctx) override {
    auto* ct = static_cast<conntrack::Entry*>(ctx.pkt.meta.ct);
    if (!ct) return xt::TargetVerdict::Accept;
    nat::Manip manip = nat::hook_manip(to_packet_hook(ctx.hook));
    nat::Range r{.flags = req.flags, .min_ip = req.min_ip, .max_ip = req.max_ip,
                 .min_port = req.min_port, .max_port = req.max_port, .base_port = req.base_port};
    auto ip = ctx.pkt.ip();
    switch (req.kind) {
      case xt::NatRequest::Kind::Snat:
      case xt::NatRequest::Kind::Dnat: break;
      case xt::NatRequest::Kind::Masquerade: {
        // inet_select_addr(out, nexthop, universe); no address: "ate my IP address", drop.
        uint32_t nh;
        if (const FibResult* route = host_.post_route_) {
          nh = route->nexthop;  // rt_nexthop(skb_rtable(skb), daddr)
        } else {
          auto found = host_.fib_.lookup(ip.daddr());
          nh = found ? found->nexthop : ip.daddr();
        }
        uint32_t src = host_.fib_.select_source(std::string(ctx.pkt.meta.out.view()), nh);
        if (src == 0) return xt::TargetVerdict::Drop;
        r.flags |= nat::range_flag::kMapIps;
        r.min_ip = r.max_ip = src;
        break;
      }
      case xt::NatRequest::Kind::Redirect: {
        // OUTPUT goes to 127.0.0.1, else to the primary address of the receiving interface.
        uint32_t dst = 0;
        if (ctx.hook == Hook::LocalOut) {
          dst = 0x7f000001;
        } else {
          for (const auto& a : host_.fib_.addresses())
            if (a.dev == ctx.pkt.meta.in.view()) {
              dst = a.addr;
              break;
            }
          if (dst == 0) return xt::TargetVerdict::Drop;
        }
        r.flags |= nat::range_flag::kMapIps;
        r.min_ip = r.max_ip = dst;
        break;
      }
      case xt::NatRequest::Kind::Netmap: {
        uint32_t from = manip == nat::Manip::Dst ? ip.daddr() : ip.saddr();
        r.flags |= nat::range_flag::kMapIps;
        r.min_ip = r.max_ip = nat::netmap_addr(from, req.min_ip, req.max_ip);
        break;
      }
    }
    return nat::setup_info(host_.conntrack_, ct, r, manip) ? xt::TargetVerdict::Accept : xt::TargetVerdict::Drop;
  }

  void set_ct_mark(packet::Packet& pkt, uint32_t mark) override {
    if (pkt.meta.ct) host_.conntrack_.set_mark(static_cast<conntrack::Entry*>(pkt.meta.ct), mark);
  }
  int ct_label(packet::Packet& pkt, unsigned bit, bool set) override {
    auto* ct = static_cast<conntrack::Entry*>(pkt.meta.ct);
    if (!ct || conntrack::is_template(ct)) return -1;
    if (set) host_.conntrack_.set_label(ct, bit);
    return host_.conntrack_.label(ct, bit);
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
  bool gso_aggregate(const packet::Packet& pkt) const override { return host_.gso_arrival_mtu(pkt) != 0; }
  ipset::Registry* ipsets() const override { return &host_.ipsets_; }
  xt::NfacctObjects* nfacct() const override { return &host_.nfacct_; }
  xt::RateEstimators* rate_estimators() const override { return &host_.rate_estimators_; }
  uint64_t realtime_ns(uint64_t now_ns) const override { return host_.realtime_base_ns_ + now_ns; }
  const conntrack::Table* conntrack_table() const override { return &host_.conntrack_; }
  void duplicate(const xt::EvalContext& ctx, uint32_t gw, std::string_view oif) override {
    host_.duplicate(ctx.pkt, ctx.hook, gw, oif, ctx.now_ns);
  }
  // rpfilter_lookup_reverse's fib_lookup. The model has the main and local
  // tables and no rules, so the flow's source, mark and DSCP select
  // nothing; a route has one next hop (no multipath), whose device is the
  // route's. An error route (blackhole, unreachable, prohibit, throw) makes
  // fib_lookup fail.
  xt::ReverseRoute reverse_route(const xt::ReverseFlow& flow, std::string_view in_dev) const override {
    auto r = host_.fib_.lookup(flow.daddr);
    if (!r || r->type == RouteType::Blackhole || r->type == RouteType::Unreachable ||
        r->type == RouteType::Prohibit || r->type == RouteType::Throw)
      return {};
    return {.type = static_cast<unsigned>(r->type), .uses_in_dev = r->dev == in_dev};
  }
  uint32_t device_group(std::string_view dev) const override {
    const Interface* i = host_.find_interface(dev);
    return i ? i->group : 0;
  }
  xt::LocalSocket find_socket(uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
                              uint16_t dport) const override {
    return host_.find_socket(proto, saddr, sport, daddr, dport);
  }
  void send_synproxy_reply(const packet::Packet& trigger, packet::Packet& reply, uint64_t now_ns) override {
    host_.send_synproxy_reply(trigger, reply, now_ns);
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
    if (pkt.meta.trace) trace_line(ev, pkt);
  }
  void on_unsupported(std::string_view ext) override {
    if (host_.observer_) host_.observer_->on_unsupported(host_, ext);
  }

 private:
  // Out of line: every rule a packet matches comes here, few are traced.
  [[gnu::noinline, gnu::cold]] void trace_line(const xt::TraceEvent& ev, const packet::Packet& pkt) {
    if (!host_.observer_->wants_log_text()) return host_.observer_->on_kernel_log(host_, kNoText);
    auto mac = mac_for_log(pkt);
    auto type = static_cast<log::TraceType>(static_cast<uint8_t>(ev.kind));
    auto owner = log_owner(pkt);
    std::string& line = host_.log_line_;
    log::format_trace_line(line, ev.table, ev.chain, type, static_cast<unsigned>(ev.rulenum), pkt,
                           to_packet_hook(hook_), pkt.meta.in.view(), pkt.meta.out.view(), mac ? &*mac : nullptr,
                           owner ? &*owner : nullptr);
    host_.observer_->on_kernel_log(host_, line);
  }
  const Host& host_;
  Hook hook_;
};

Host::~Host() = default;

Host::Host(std::string name) : name_(std::move(name)), effects_(std::make_unique<HostEffects>(*this)) {
  interfaces_.push_back({.name = "lo", .mac = packet::Mac{}, .mtu = 65536});
  if_keys_.emplace_back("lo");
  fib_.add_address("lo", 0x7f000001, 8);
  nat::register_helpers(conntrack_);
}

Interface& Host::add_interface(std::string ifname, packet::Mac mac, uint32_t mtu) {
  path_sysctls_fresh_ = false;
  long_names_ |= ifname.size() > packet::IfName::kMax;
  if_keys_.emplace_back(ifname);
  interfaces_.push_back({.name = std::move(ifname), .mac = mac, .mtu = mtu});
  return interfaces_.back();
}

void Host::set_device_group(std::string_view ifname, uint32_t group) {
  for (auto& i : interfaces_)
    if (i.name == ifname) i.group = group;
}

const Interface* Host::find_interface(std::string_view ifname) const {
  if (long_names_ || ifname.size() > packet::IfName::kMax) {
    for (const auto& i : interfaces_)
      if (i.name == ifname) return &i;
    return nullptr;
  }
  return find_interface(packet::IfName(ifname));
}

void Host::rebuild_route_interfaces() const {
  const auto& routes = fib_.routes();
  route_if_.clear();
  for (const auto& rt : routes) {
    const Interface* i = find_interface(rt.dev);
    route_if_.push_back(i ? static_cast<int>(i - interfaces_.data()) : -1);
  }
  route_if_data_ = routes.data();
  route_if_routes_ = routes.size();
  route_if_ifs_ = interfaces_.size();
}

const Interface* Host::find_interface(const packet::IfName& key) const {
  if (long_names_) return find_interface(key.view());
  for (size_t i = 0; i < if_keys_.size(); ++i)
    if (if_keys_[i] == key) return &interfaces_[i];
  return nullptr;
}

int64_t Host::sysctl(std::string_view name) const {
  auto it = sysctl_.find(name);
  if (it != sysctl_.end()) return it->second;
  if (name == "net.ipv4.ip_default_ttl") return kDefaultTtl;
  if (name == "net.ipv4.icmp_ratelimit") return 1000;
  if (name == "net.ipv4.icmp_ratemask") return 0x1818;
  if (name == "net.ipv4.icmp_msgs_per_sec") return 1000;
  if (name == "net.ipv4.icmp_msgs_burst") return 50;
  if (name == "net.ipv4.icmp_echo_ignore_broadcasts") return 1;
  if (name == "net.ipv4.tcp_synack_retries") return 5;
  if (name == "net.ipv4.tcp_syncookies") return 1;
  if (name == "net.ipv4.ipfrag_time") return 30;  // IP_FRAG_TIME, seconds
  if (name == "net.ipv4.ipfrag_max_dist") return 64;
  if (name == "net.ipv4.ip_early_demux" || name == "net.ipv4.tcp_early_demux") return 1;
  return 0;  // ip_forward and most switches default to off
}

int64_t Host::devconf(std::string_view dev, std::string_view leaf) const {
  auto set_to = [&](std::string_view d) -> std::optional<int64_t> {
    auto it = sysctl_.find(fmt::format("net.ipv4.conf.{}.{}", d, leaf));
    return it == sysctl_.end() ? std::nullopt : std::optional<int64_t>(it->second);
  };
  if (auto own = set_to(dev)) return *own;
  if (leaf == "forwarding") {
    // Writing conf/all/forwarding (net.ipv4.ip_forward is the same entry)
    // sets every interface's when the value changes (inet_forward_change):
    // from its initial 0, only a 1 does.
    auto all = sysctl_.find("net.ipv4.ip_forward");
    if (all == sysctl_.end()) all = sysctl_.find("net.ipv4.conf.all.forwarding");
    if (all != sysctl_.end() && all->second != 0) return 1;
  }
  // An interface without its own value has conf/default's: copied when it
  // is created, and written through by devinet_copy_dflt_conf later.
  if (auto dflt = set_to("default")) return *dflt;
  return devconf_kernel_default(leaf);
}

Host::InputConf Host::input_conf(std::string_view dev) const {
  auto all = [&](std::string_view leaf) {
    auto it = sysctl_.find(fmt::format("net.ipv4.conf.all.{}", leaf));
    return it == sysctl_.end() ? int64_t{0} : it->second;
  };
  return {.source = {.rp_filter = static_cast<int>(std::max(all("rp_filter"), devconf(dev, "rp_filter"))),
                     .accept_local = all("accept_local") != 0 || devconf(dev, "accept_local") != 0},
          .forwarding = devconf(dev, "forwarding") != 0,
          .route_localnet = all("route_localnet") != 0 || devconf(dev, "route_localnet") != 0};
}

const Host::PathSysctls& Host::refresh_path_sysctls() const {
  PathSysctls& c = path_sysctls_;
  c.per_if.clear();
  for (const auto& ifc : interfaces_) c.per_if.push_back(input_conf(ifc.name));
  path_sysctls_fresh_ = true;
  return c;
}

const Host::InputConf& Host::input_conf_of(const packet::Packet& pkt) {
  const PathSysctls& sc = path_sysctls();
  const Interface* ifc = find_interface(pkt.meta.in);
  // A device the host does not have (a test's frame) may still have sysctls.
  return ifc ? sc.per_if[static_cast<size_t>(ifc - interfaces_.data())] : unknown_device_conf(pkt.meta.in.view());
}

const Host::InputConf& Host::unknown_device_conf(std::string_view dev) {
  unknown_conf_ = input_conf(dev);
  return unknown_conf_;
}

bool Host::work_out_ct_demand() const {
  ct_enabled_ = ruleset_needs_conntrack(ruleset_);
  defrag_enabled_ = ct_enabled_ || ruleset_enables_defrag(ruleset_);
  ct_demand_known_ = true;
  return ct_enabled_;
}

void Host::drop(std::string_view reason, packet::Packet& pkt) {
  if (observer_) observer_->on_drop(*this, reason, pkt);
  release(pkt);
}

const Host::TablePlan& Host::table_plan() {
  // Checked against the tables' ids on every call (at most five): the
  // ruleset is public and may be replaced through a kept reference.
  const auto& tables = ruleset_.tables();
  bool same = tables.size() == slot_ids_size_;
  for (size_t i = 0; same && i < tables.size(); ++i) same = tables[i].id() == slot_ids_[i];
  if (!same) rebuild_table_plan();
  return table_plan_;
}

void Host::rebuild_table_plan() {
  const auto& tables = ruleset_.tables();
  std::array<int, xt::kNumTables> slot;
  slot.fill(-1);
  slot_ids_size_ = std::min(tables.size(), slot_ids_.size());
  for (size_t i = 0; i < slot_ids_size_; ++i) slot_ids_[i] = tables[i].id();
  // Several tables of one id (never made by restore): the first, as find().
  for (size_t i = tables.size(); i-- > 0;) slot[static_cast<size_t>(tables[i].id())] = static_cast<int>(i);
  if (tables.size() > slot_ids_.size()) slot_ids_size_ = SIZE_MAX;  // never equal: always rebuilt
  for (int h = 0; h < xt::kNumHooks; ++h) {
    HookTables& plan = table_plan_[static_cast<size_t>(h)];
    plan = HookTables{};
    bool ct_hook = static_cast<Hook>(h) == Hook::PreRouting || static_cast<Hook>(h) == Hook::LocalOut;
    for (TableId id : tables_for(static_cast<Hook>(h))) {
      // nf_conntrack_in runs at -200, right after raw: before mangle.
      if (ct_hook && id == TableId::Mangle) plan.ct_at = plan.n;
      if (slot[static_cast<size_t>(id)] < 0) continue;
      plan.ids[plan.n] = id;
      plan.slot[plan.n] = static_cast<uint32_t>(slot[static_cast<size_t>(id)]);
      ++plan.n;
    }
  }
}

bool Host::run_hook(Hook hook, packet::Packet& pkt, uint64_t now_ns) {
  // nf_defrag_ipv4 at -400, before raw, only where conntrack hooks exist.
  if ((hook == Hook::PreRouting || hook == Hook::LocalOut) && !conntrack_defrag(pkt, now_ns)) return false;
  const HookTables& plan = table_plan()[static_cast<size_t>(hook)];
  Sink sink(*this, hook);
  for (size_t k = 0;; ++k) {
    // nf_conntrack_in runs at -200, right after raw.
    if (k == plan.ct_at && conntrack_enabled() && !conntrack_point(hook, pkt, now_ns)) return false;
    if (k == plan.n) break;
    const TableId id = plan.ids[k];
    xt::Table& t = ruleset_.tables()[plan.slot[k]];
    if (id == TableId::Nat) {
      if (!run_nat(hook, t, pkt, now_ns, sink)) return false;
    } else if (!walk_table(hook, id, t, pkt, now_ns, sink)) {
      return false;
    }
  }
  // nf_confirm runs last in INPUT and POSTROUTING.
  if ((hook == Hook::LocalIn || hook == Hook::PostRouting) && pkt.meta.ct) {
    conntrack::ConfirmInfo info;
    const auto* ct = static_cast<const conntrack::Entry*>(pkt.meta.ct);
    const uint64_t expect_seq =
        observer_ && ct->helper != conntrack::Helper::None ? conntrack_.next_expect_seq() : 0;
    conntrack::Verdict v = conntrack_.confirm(pkt, now_ns, &info);
    if (v == conntrack::Verdict::Drop) {
      if (info.log) helper_log(info.reason, pkt);
      drop(info.reason.empty() ? std::string_view("conntrack: confirmation failed") : info.reason, pkt);
      return false;
    }
    if (expect_seq && conntrack_.next_expect_seq() != expect_seq) [[unlikely]]
      for (const auto& e : conntrack_.expectations())
        if (e.seq >= expect_seq) observer_->on_expectation(*this, e);
  }
  return true;
}

inline bool Host::conntrack_point(Hook hook, packet::Packet& pkt, uint64_t now_ns) {
  // A CT template from raw (--zone, --ctevents) is not a conntrack yet:
  // nf_conntrack_in reads and replaces it; the default zone otherwise.
  bool untracked_yet = !pkt.meta.ct || conntrack::is_template(pkt.meta.ct);
  if (untracked_yet && pkt.meta.ctinfo != packet::CtInfo::Untracked) {
    auto r = conntrack_.in(pkt, to_packet_hook(hook), conntrack::Zone{}, now_ns);
    if (r.verdict == conntrack::Verdict::Drop) {
      // The kernel's warning ("table full in netns N, dropping packet")
      // goes to the timeline as the drop's reason, not to kern.log:
      // outputs.md's kern.log holds only LOG and TRACE lines.
      drop(fmt::format("conntrack: {}", r.reason.empty() ? "dropped" : r.reason), pkt);
      return false;
    }
    // Neither tracked nor NOTRACK (the caller's condition): INVALID.
    if (!r.ct && observer_) [[unlikely]]
      observer_->on_conntrack_invalid(*this, hook, r.reason, pkt);
  }
  if (observer_) observer_->on_conntrack(*this, hook, pkt);
  return true;
}

void Host::helper_log(std::string_view reason, const packet::Packet& pkt) {
  if (!observer_) return;
  if (!observer_->wants_log_text()) return observer_->on_kernel_log(*this, kNoText);
  // "nf_ct_%s: dropping packet: %pV " then the packet as LOG dumps it with
  // NF_LOG_DEFAULT_MASK, IN= and OUT= empty (nf_log_packet gets no device).
  std::string prefix(reason);
  prefix += ' ';
  auto owner = log_owner(pkt);
  log::format_log_line(log_line_, prefix, log::LogOptions::trace(), pkt, packet::Hook::PreRouting, {}, {}, nullptr,
                       owner ? &*owner : nullptr);
  observer_->on_kernel_log(*this, log_line_);
}

void Host::fold_counters_now() const {
  // const_cast: folding adds to counters of rules in ruleset_, which
  // belongs to no const object here: counts are pending only after a
  // packet walked a compiled table, and walking (receive, send) and
  // compiling (set_classifier) need a non-const Host.
  auto& tables = const_cast<xt::Ruleset&>(ruleset_).tables();
  for (const auto& c : compiled_) {
    if (!c || !c->counters_pending()) continue;
    // Several tables of one id (never made by restore): the one it was
    // compiled for. A table changed since, or gone, takes none: the
    // counts are kept by rule position (see ruleset()).
    if (!std::any_of(tables.begin(), tables.end(), [&](xt::Table& t) { return c->fold_counters(t); }))
      c->drop_counters();
  }
}

void Host::recompile(xt::Table& t) {
  // The table changed since it was compiled: through ruleset(), which
  // folded the pending counts, or through a kept reference, whose changes
  // the counts do not survive (see ruleset()).
  fold_counters();
  compiled_[static_cast<size_t>(t.id())] = xt::CompiledTable::compile(t);
}

void Host::set_classifier(Classifier c) {
  // The linear walk counts in the rules directly; fold what the compiled
  // one kept aside before the tables are compiled again.
  fold_counters();
  classifier_ = c;
  if (c != Classifier::Compiled) return;
  for (const xt::Table& t : ruleset_.tables()) {
    auto& compiled = compiled_[static_cast<size_t>(t.id())];
    if (!compiled || !compiled->fresh_for(t)) compiled = xt::CompiledTable::compile(t);
  }
}

bool Host::classifier_ready() const {
  if (classifier_ != Classifier::Compiled) return true;
  return std::all_of(ruleset_.tables().begin(), ruleset_.tables().end(), [&](const xt::Table& t) {
    const auto& compiled = compiled_[static_cast<size_t>(t.id())];
    return compiled && compiled->fresh_for(t);
  });
}

inline bool Host::walk_table(Hook hook, TableId id, xt::Table& t, packet::Packet& pkt, uint64_t now_ns, Sink& sink) {
  auto ip = pkt.ip();
  xt::EvalContext ctx{pkt, id, hook};
  ctx.thoff = static_cast<uint16_t>(ip.ihl() * 4);
  ctx.fragoff = ip.frag_offset();
  ctx.now_ns = now_ns;
  ctx.effects = effects_.get();
  xt::Verdict v;
  // Nobody to tell: the walker skips its trace calls. Rule events go to
  // an observer that watches them and make TRACE lines: in raw, where the
  // TRACE target may set meta.trace in the middle of the walk, and for a
  // packet it set it on.
  xt::TraceSink* trace = observer_ ? &sink : nullptr;
  sink.events = rules_watched_ || pkt.meta.trace || id == TableId::Raw;
  if (classifier_ == Classifier::Compiled) {
    auto& compiled = compiled_[static_cast<size_t>(id)];
    if (!compiled || !compiled->fresh_for(t)) [[unlikely]]
      recompile(t);
    v = xt::run_table(t, *compiled, ctx, trace);
  } else {
    v = xt::run_table(t, ctx, trace);
  }
  if (observer_) {
    verdict_source_ = &ctx.verdict;
    observer_->on_table(*this, hook, id, v, pkt);
    verdict_source_ = nullptr;
  }
  if (v == xt::Verdict::Stolen) [[unlikely]] {
    if (observer_) observer_->on_stolen(*this, verdict_reason(id, hook, v), pkt);
    release(pkt);
    return false;
  }
  if (v != xt::Verdict::Accept) {
    drop(verdict_reason(id, hook, v), pkt);
    return false;
  }
  return true;
}

inline bool Host::run_nat(Hook hook, xt::Table& t, packet::Packet& pkt, uint64_t now_ns, Sink& sink) {
  // nf_nat_ipv4_fn / nf_nat_inet_fn: a related ICMP error is translated
  // back; only a packet that creates a connection not yet bound in this
  // manip walks the nat chain; every packet is then rewritten.
  auto* nat_ct = static_cast<conntrack::Entry*>(pkt.meta.ct);
  if (!nat_ct) return true;
  nat::Manip manip = nat::hook_manip(to_packet_hook(hook));
  // What the timeline shows as the NAT change: the datagram's start
  // before nat touched it (copied only when someone watches).
  std::array<uint8_t, kNatSnapshot> before_buf;
  std::span<const uint8_t> before;
  if (nat_observer_) {
    auto ip_bytes = pkt.ip().bytes();
    size_t n = std::min(ip_bytes.size(), before_buf.size());
    std::copy_n(ip_bytes.begin(), n, before_buf.begin());
    before = std::span<const uint8_t>(before_buf.data(), n);
  }
  auto ci = pkt.meta.ctinfo;
  bool related = ci == packet::CtInfo::Related || ci == packet::CtInfo::RelatedReply;
  if (related && pkt.ip().protocol() == packet::kIpProtoIcmp) {
    if (!nat::icmp_reply_translation(*nat_ct, ci, to_packet_hook(hook), pkt)) {
      drop("nat: ICMP error translation failed", pkt);
      return false;
    }
    if (nat_observer_) nat_observer_->on_nat(*this, hook, NatStep::IcmpError, before, pkt);
    return true;
  }
  if ((ci != packet::CtInfo::New && !related) || nat::initialized(*nat_ct, manip)) {
    if (!nat::manip_packet(*nat_ct, ci, to_packet_hook(hook), pkt)) {
      drop("nat: packet too short to rewrite", pkt);
      return false;
    }
    if (nat_observer_) nat_observer_->on_nat(*this, hook, NatStep::Bound, before, pkt);
    return true;
  }
  // A source NAT reads the source's by-source bucket (find_appropriate_src),
  // a cache miss at 100k connections: fetched while the chain is walked.
  if (manip == nat::Manip::Src) conntrack_.prefetch_by_source(*nat_ct);
  if (!walk_table(hook, TableId::Nat, t, pkt, now_ns, sink)) return false;
  if (!nat::initialized(*nat_ct, manip)) nat::alloc_null_binding(conntrack_, nat_ct, manip);
  if (!nat::manip_packet(*nat_ct, pkt.meta.ctinfo, to_packet_hook(hook), pkt)) {
    drop("nat: packet too short to rewrite", pkt);
    return false;
  }
  if (nat_observer_) nat_observer_->on_nat(*this, hook, NatStep::Walked, before, pkt);
  return true;
}

void Host::receive_frame(packet::Packet& pkt, std::string_view ifname, uint64_t now_ns) {
  // A packet entering a namespace over a link is scrubbed
  // (skb_scrub_packet): no conntrack entry, mark or trace flag travels with
  // it. loopback_xmit keeps them: a looped packet is "previously seen" for
  // conntrack and keeps its NAT binding.
  if (ifname != "lo") {
    pkt.meta.ct = nullptr;
    pkt.meta.ctinfo = packet::CtInfo::New;
    pkt.meta.mark = 0;
    pkt.meta.trace = false;
  }
  pkt.meta.in.set(ifname);
  pkt.meta.out = packet::IfName{};  // as set(""), without the copy
  pkt.meta.frag_max_size = 0;  // ip_rcv_core clears IPCB
  pkt.meta.tstamp_ns = now_ns;
  // A received packet has no socket (loopback_xmit orphans it too).
  pkt.meta.sk = packet::SockKind::None;
  // ip_rcv_core: a datagram the kernel cannot parse never reaches a hook.
  auto ip = packet::parse_ipv4(pkt.data(), {.verify_checksum = true});
  if (!ip) {
    drop_malformed(ip.error().message, pkt);
    return;
  }
  if (ip->size() < pkt.size()) pkt.resize(ip->size());  // link padding
  pkt.meta.hook = packet::Hook::PreRouting;
  if (!run_hook(Hook::PreRouting, pkt, now_ns)) return;
  route_input(pkt, now_ns);
}

void Host::drop_malformed(std::string_view message, packet::Packet& pkt) {
  drop(fmt::format("malformed IPv4 ({})", message), pkt);
}

void Host::route_input(packet::Packet& pkt, uint64_t now_ns) {
  uint32_t daddr = pkt.ip().daddr();
  // Looped packets keep their route (skb_dst): no source validation.
  const bool validate = pkt.meta.in.view() != "lo";
  if ((daddr >> 28) == 0xe && validate) [[unlikely]] {
    multicast_input(pkt, now_ns);
    return;
  }
  // ip_rcv_finish_core: early demux before the route lookup. A looped
  // packet keeps its route (skb_dst) and skips it.
  if (validate && !tcp_conns_.empty()) [[unlikely]]
    early_demux(pkt);
  const InputConf& conf = input_conf_of(pkt);
  if (validate) {
    uint32_t saddr = pkt.ip().saddr();
    if (auto why = early_martian_source(saddr, daddr)) {
      drop(*why, pkt);
      return;
    }
    if (zeronet_or_loopback(saddr, daddr) && !loopback_input_ok(pkt, conf.route_localnet)) [[unlikely]]
      return;
  }
  auto route = fib_.lookup(daddr);
  // ip_route_input_slow goes to brd_input for the limited broadcast before
  // any lookup: a DHCP DISCOVER reaches INPUT on a host with no default
  // route (checked on 6.18: rpfilter-match).
  const bool lbcast = daddr == 0xffffffffu;
  bool error_route = !lbcast && (!route || route->type == RouteType::Unreachable ||
                                 route->type == RouteType::Prohibit || route->type == RouteType::Blackhole ||
                                 route->type == RouteType::Throw);
  if (error_route) {
    // ip_error: with forwarding on the input device, the route's error
    // becomes an ICMP error (EHOSTUNREACH host unreachable, EACCES
    // communication administratively prohibited, ENETUNREACH net
    // unreachable; a blackhole's EINVAL none), paced by its own per-sender
    // bucket. Without forwarding the kernel looks no further and stays
    // silent.
    RouteType t = route ? route->type : RouteType::Unspec;
    if (conf.forwarding && t != RouteType::Blackhole && icmp_limiter_.ip_error_allow(pkt.ip().saddr(), now_ns)) {
      uint8_t code = t == RouteType::Unreachable ? icmp::kHostUnreach
                     : t == RouteType::Prohibit  ? icmp::kPktFiltered
                                                 : icmp::kNetUnreach;
      icmp_send(pkt, icmp::kDestUnreach, code, 0, now_ns);
    }
    drop(t == RouteType::Blackhole ? "blackhole route" : t == RouteType::Prohibit ? "prohibit route"
         : t == RouteType::Unreachable ? "unreachable route" : "no route to host",
         pkt);
    return;
  }
  if (lbcast || route->type == RouteType::Local || route->type == RouteType::Broadcast) {
    if (validate && pkt.ip().saddr() != 0 && !source_valid(pkt, conf.source)) return;
    local_deliver(pkt, now_ns);
    return;
  }
  // ip_route_input_slow: without forwarding on the input device the route
  // lookup fails with EHOSTUNREACH and ip_error drops silently.
  if (!conf.forwarding) [[unlikely]] {
    // Static texts: a replay through a host that does not forward drops
    // every transit packet here, without an allocation each.
    drop(sysctl("net.ipv4.ip_forward") == 0 && sysctl("net.ipv4.conf.all.forwarding") == 0
             ? "forwarding disabled (net.ipv4.ip_forward = 0)"
             : "forwarding disabled on the input interface (net.ipv4.conf.IF.forwarding = 0)",
         pkt);
    return;
  }
  if (validate && !source_valid(pkt, conf.source)) return;  // __mkroute_input
  forward(pkt, *route, now_ns);
}

bool Host::source_valid(packet::Packet& pkt, const SourcePolicy& policy) {
  // fib_validate_source: rp_filter is the max of conf/all and conf/DEV,
  // accept_local either; a rejected packet is dropped without ICMP.
  if (auto why = validate_source(fib_, pkt.ip().saddr(), pkt.meta.in.view(), policy)) {
    drop(*why, pkt);
    return false;
  }
  return true;
}

bool Host::loopback_input_ok(packet::Packet& pkt, bool route_localnet) {
  if (auto why = martian_zeronet_or_loopback(pkt.ip().saddr(), pkt.ip().daddr(), route_localnet)) {
    drop(*why, pkt);
    return false;
  }
  return true;
}

bool Host::loopback_output_ok(packet::Packet& pkt, std::string_view dev) {
  // __mkroute_output: a loopback source may leave only by lo, or by a
  // device with route_localnet (conf/all or conf/DEV). The socket's send
  // fails (EINVAL) before any hook sees the datagram.
  if (dev == "lo" || sysctl("net.ipv4.conf.all.route_localnet") != 0 || devconf(dev, "route_localnet") != 0)
    return true;
  drop("Invalid argument (sendto fails: a loopback source leaves another device than lo without route_localnet)",
       pkt);
  return false;
}

void Host::ttl_exceeded(packet::Packet& pkt, uint64_t now_ns) {
  icmp_send(pkt, icmp::kTimeExceeded, 0, 0, now_ns);  // ICMP_EXC_TTL
  drop("TTL exceeded in transit", pkt);
}

void Host::frag_needed(packet::Packet& pkt, uint32_t mtu, uint64_t now_ns) {
  icmp_send(pkt, icmp::kDestUnreach, icmp::kFragNeeded, mtu, now_ns);
  drop(fmt::format("fragmentation needed (DF set, {} > MTU {})", pkt.size(), mtu), pkt);
}

void Host::multicast_input(packet::Packet& pkt, uint64_t now_ns) {
  // ip_route_input_rcu: a multicast destination is the host's when the
  // interface joined the group (ip_check_mc_rcu). Every IPv4 interface
  // joins 224.0.0.1 (all hosts, ip_mc_up); no other membership is
  // modelled, nor multicast routing: any other group is EINVAL, dropped
  // after PREROUTING, never forwarded by the unicast routes.
  constexpr uint32_t kAllHosts = 0xe0000001;
  if (pkt.ip().daddr() != kAllHosts) {
    drop("multicast group not joined", pkt);
    return;
  }
  // ip_mc_validate_source: no multicast or limited-broadcast source, no
  // loopback one without route_localnet; 0.0.0.0 only to a link-local
  // group (224.0.0.0/24, which the all-hosts group is in); any
  // other source as fib_validate_source says.
  const uint32_t saddr = pkt.ip().saddr();
  if ((saddr >> 28) == 0xe || saddr == 0xffffffffu) {
    drop("martian source (multicast or broadcast)", pkt);
    return;
  }
  const InputConf& conf = input_conf_of(pkt);
  if ((saddr >> 24) == 127 && !conf.route_localnet) {
    drop("martian source (loopback, route_localnet off)", pkt);
    return;
  }
  if (saddr != 0 && !source_valid(pkt, conf.source)) return;
  local_deliver(pkt, now_ns);
}

size_t Host::gso_arrival_mtu(const packet::Packet& pkt) const {
  auto ip = pkt.ip();
  if (ip.protocol() != packet::kIpProtoTcp || ip.is_fragment() || pkt.meta.in.empty()) return 0;
  const Interface* in = find_interface(pkt.meta.in);
  return in && in->mtu < pkt.size() ? in->mtu : 0;
}

bool Host::gso_segments_fit(const packet::Packet& pkt, size_t mtu) const {
  const size_t in_mtu = gso_arrival_mtu(pkt);
  return in_mtu != 0 && in_mtu <= mtu;
}

void Host::forward(packet::Packet& pkt, const FibResult& route, uint64_t now_ns) {
  // ip_forward, before its TTL test: only a PACKET_HOST frame is forwarded.
  if (to_link_group(pkt)) [[unlikely]] {
    drop("not forwarded: a broadcast or multicast frame (pkt_type not PACKET_HOST)", pkt);
    return;
  }
  auto ip = pkt.ip();
  if (ip.ttl() <= 1) {
    ttl_exceeded(pkt, now_ns);
    return;
  }
  const Interface* out = route_interface(route);
  const KnownInterface known{out ? static_cast<int>(out - interfaces_.data()) : -1, interfaces_.size()};
  if (out && ip.df() && pkt.size() > out->mtu && !gso_segments_fit(pkt, out->mtu)) {
    frag_needed(pkt, out->mtu, now_ns);
    return;
  }
  packet::rewrite_ttl(ip, static_cast<uint8_t>(ip.ttl() - 1));  // before FORWARD, as ip_forward
  // Back out of the link it came in on: IPSKB_DOREDIRECT's first test.
  // Names compared as two words where they fit (a string compare here was
  // +34 instructions a forwarded frame).
  const bool hairpin = out && !long_names_ ? pkt.meta.in == if_keys_[static_cast<size_t>(known.index)]
                                           : pkt.meta.in.view() == route.dev;
  if (hairpin) [[unlikely]]
    send_redirect(pkt, route, now_ns);
  pkt.meta.out.set(route.dev);
  pkt.meta.hook = packet::Hook::Forward;
  if (!run_hook(Hook::Forward, pkt, now_ns)) return;
  // The same route: post_routing need not look its interface up again.
  post_routing(pkt, route, now_ns, known);
}

void Host::send_redirect(const packet::Packet& pkt, const FibResult& route, uint64_t now_ns) {
  // __mkroute_input sets IPSKB_DOREDIRECT for a packet routed back out of
  // its input device when send_redirects is on (conf/all or conf/DEV) and
  // fib_validate_source's full check says the source is reached over that
  // device without a gateway (its nexthop's scope is host); shared_media
  // (on by default) spares inet_addr_onlink. ip_forward then sends the
  // redirect after the TTL decrement, before FORWARD, whatever FORWARD
  // decides; ip_rt_send_redirect paces it per source.
  // On unless set to 0 (every conf/*/send_redirects defaults to 1).
  auto all = sysctl_.find("net.ipv4.conf.all.send_redirects");
  if (devconf(route.dev, "send_redirects") == 0 && all != sysctl_.end() && all->second == 0) return;
  auto back = fib_.lookup(pkt.ip().saddr());
  if (!back || back->type != RouteType::Unicast || back->dev != route.dev || !back->route ||
      back->route->gateway != 0)
    return;
  if (!icmp_limiter_.redirect_allow(pkt.ip().saddr(), now_ns)) return;
  icmp_send(pkt, icmp::kRedirect, icmp::kRedirectHost, route.nexthop, now_ns);  // rt_nexthop: the gateway
}

void Host::local_deliver(packet::Packet& pkt, uint64_t now_ns) {
  // ip_local_deliver: fragments are reassembled before LOCAL_IN, so INPUT
  // sees the whole datagram once (the meta of the completing fragment).
  if (pkt.ip().is_fragment() && !defrag(reassembler_, pkt, now_ns)) return;
  pkt.meta.hook = packet::Hook::LocalIn;
  if (!run_hook(Hook::LocalIn, pkt, now_ns)) return;
  if (observer_) observer_->on_local_deliver(*this, pkt);
  answer_local(pkt, now_ns);
  release(pkt);
}

void Host::send(packet::Packet pkt, uint64_t now_ns) {
  pkt.meta = packet::PacketMeta{};
  // The raw socket of the harness, a root process: a full socket, uid 0.
  pkt.meta.sk = packet::SockKind::Full;
  local_out(std::move(pkt), now_ns, /*check_source=*/false);
}

void Host::send_captured(packet::Packet& pkt, uint64_t now_ns) {
  pkt.meta = packet::PacketMeta{};
  pkt.meta.sk = packet::SockKind::Full;
  // Captured before the NIC: a checksum offloaded to it holds the pseudo
  // header's sum, which the kernel's skb knew as CHECKSUM_PARTIAL.
  if (packet::holds_pseudo_header_sum(pkt.ip())) pkt.meta.csum_partial = true;
  // NAT in OUTPUT and POSTROUTING rewrote the captured datagram after
  // conntrack saw it as the socket sent it: the replies of a REDIRECTed
  // connection leave from the address and port the client asked for, a
  // locally sent connection's SNAT from its new source. The connection
  // whose other direction is the datagram's inverse says what the socket
  // sent: its tuple of the datagram's direction.
  conntrack::Tuple seen, inverse;
  if (conntrack_enabled() && conntrack::packet_tuple(pkt, &seen) && conntrack::invert_tuple(seen, &inverse)) {
    conntrack::Dir d;
    const conntrack::Entry* ct = conntrack_.find(inverse, conntrack::Zone{}, &d);
    if (ct && (ct->status & conntrack::status::kNatMask)) {
      const conntrack::Tuple& sent = ct->tuple[d == conntrack::kOriginal ? conntrack::kReply : conntrack::kOriginal];
      if (!(sent == seen)) nat::rewrite_to_tuple(pkt, sent);
    }
  }
  local_out_kept(pkt, now_ns);
}

void Host::local_out(packet::Packet pkt, uint64_t now_ns, bool check_source) {
  local_out_kept(pkt, now_ns, check_source);
}

void Host::local_out_kept(packet::Packet& pkt, uint64_t now_ns, bool check_source) {
  pkt.meta.in.set("");
  pkt.meta.tstamp_ns = now_ns;
  auto route = fib_.lookup(pkt.ip().daddr());
  if (!route || route->type == RouteType::Unreachable || route->type == RouteType::Prohibit ||
      route->type == RouteType::Blackhole) {
    drop("Network is unreachable (sendto fails)", pkt);
    return;
  }
  // __mkroute_output: a packet to one of the host's own addresses leaves
  // through loopback, whichever device holds the address.
  if (route->type == RouteType::Local) route->dev = "lo";
  if (check_source && (pkt.ip().saddr() >> 24) == 127 && !loopback_output_ok(pkt, route->dev)) return;
  output_routed(pkt, *route, now_ns);
}

void Host::output_routed(packet::Packet& pkt, const FibResult& first_route, uint64_t now_ns) {
  std::optional<FibResult> route = first_route;
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
    if (route->type == RouteType::Local) route->dev = "lo";
    // Its lookup keeps a local source, whoever sent the datagram: loopback
    // traffic DNATed elsewhere needs route_localnet.
    if ((pkt.ip().saddr() >> 24) == 127 && !loopback_output_ok(pkt, route->dev)) return;
    pkt.meta.out.set(route->dev);
  }
  post_routing(pkt, *route, now_ns);
}

// nf_dup_ipv4: the copy is untracked (it must not count in the original's
// connection), gets DF so that a smaller MTU on its way is reported to the
// source, and loses one TTL when taken before routing or on input, against
// loops between two mirrors. nf_dup_ipv4_route asks for a route to gw with
// FLOWI_FLAG_KNOWN_NH: the route is not cached, so a connected one gets gw
// as its next hop; through a gateway it keeps the gateway. The copy keeps
// its addresses and goes through OUTPUT and POSTROUTING (ip_local_out), where
// TEE rules leave it alone. No route: the copy is freed, silently.
void Host::duplicate(const packet::Packet& pkt, xt::Hook hook, uint32_t gw, std::string_view oif, uint64_t now_ns) {
  if (duplicating_) return;
  std::optional<FibResult> route = fib_.lookup(gw);
  // With --oif only routes through it count; without one the kernel sends
  // through that link anyway (ip_route_output_key_hash_rcu's make_route),
  // and with no route behind it the next hop is the copy's own destination,
  // not gw: 6.18 asks ARP for the destination there. A name the host has
  // no interface for restricts nothing (priv->oif -1).
  if (const Interface* dev = oif.empty() ? nullptr : find_interface(oif); dev && (!route || route->dev != dev->name))
    route = FibResult{.type = RouteType::Unicast, .dev = dev->name, .nexthop = pkt.ip().daddr()};
  if (!route || (route->type != RouteType::Unicast && route->type != RouteType::Local)) return;
  if (route->type == RouteType::Local) route->dev = "lo";  // as local_out: an own address loops back
  // The copy's buffer is reused from one TEE to the next.
  AnswerBuffer buffer(*this);
  packet::Packet& copy = buffer.get();
  copy = pkt;
  copy.meta.ct = nullptr;
  copy.meta.ctinfo = packet::CtInfo::Untracked;
  copy.meta.in.set("");
  copy.meta.tstamp_ns = now_ns;
  auto ip = copy.ip();
  ip.set_df(true);
  if (hook == Hook::PreRouting || hook == Hook::LocalIn) ip.set_ttl(static_cast<uint8_t>(ip.ttl() - 1));
  ip.update_checksum();
  duplicating_ = true;
  output_routed(copy, *route, now_ns);
  duplicating_ = false;
}

void Host::post_routing(packet::Packet& pkt, const FibResult& route, uint64_t now_ns) {
  post_routing(pkt, route, now_ns, KnownInterface{});
}

void Host::post_routing(packet::Packet& pkt, const FibResult& route, uint64_t now_ns, KnownInterface known) {
  pkt.meta.hook = packet::Hook::PostRouting;
  // Restored after: a packet the hook sends (REJECT) has its own route.
  const FibResult* outer_route = std::exchange(post_route_, &route);
  bool pass = run_hook(Hook::PostRouting, pkt, now_ns);
  post_route_ = outer_route;
  if (!pass) return;
  if (route.dev == "lo") {
    loop_back(pkt, now_ns);
    return;
  }
  // Known from forward() unless an interface was added since (a name
  // without one may have found it).
  const Interface* out = known.ifs != interfaces_.size() ? route_interface(route)
                         : known.index < 0                ? nullptr
                                                          : &interfaces_[static_cast<size_t>(known.index)];
  packet::EthernetHeader eth;
  if (out) eth.src = out->mac;
  if (out && out->peer) eth.dst = *out->peer;
  else if (neighbour) eth.dst = neighbour(route.dev, route.nexthop);
  // ip_finish_output_gso/ip_fragment: a datagram larger than the device MTU
  // without DF leaves as fragments, after POSTROUTING saw it whole; a TCP
  // aggregate whose segments fit leaves whole, as through a device with
  // TSO (veth, most NICs: a device without would cut it into segments).
  // A datagram that defrag rebuilt leaves in fragments no larger than the
  // ones that came in (ip_do_fragment's frag_max_size).
  size_t mtu = out ? out->mtu : 0;
  if (pkt.meta.frag_max_size && pkt.meta.frag_max_size < mtu) mtu = pkt.meta.frag_max_size;
  if (out && pkt.size() > mtu && !pkt.ip().df() && !gso_segments_fit(pkt, mtu) &&
      transmit_fragments(pkt, route.dev, mtu, eth)) {
    release(pkt);
    return;
  }
  pkt.set_mac_header(eth);
  if (observer_) observer_->on_transmit(*this, route.dev, pkt);
  if (on_wire) on_wire(*this, route.dev, pkt);
  release(pkt);
}

void Host::loop_back(packet::Packet& pkt, uint64_t now_ns) {
  // Loopback: the packet comes straight back in through lo.
  if (observer_) observer_->on_transmit(*this, "lo", pkt);
  if (loop_depth_ > 8) {
    drop("loopback recursion", pkt);
    return;
  }
  ++loop_depth_;
  // A copy (pkt's buffer may be the caller's), in a reused buffer.
  AnswerBuffer looped(*this);
  packet::Packet& copy = looped.get();
  copy = pkt;
  if (copy.meta.ct) conntrack_.get(static_cast<conntrack::Entry*>(copy.meta.ct));
  release(pkt);
  receive_frame(copy, "lo", now_ns);
  --loop_depth_;
}

bool Host::transmit_fragments(const packet::Packet& pkt, std::string_view dev, size_t mtu,
                              const packet::EthernetHeader& eth) {
  return packet::fragment_ipv4(pkt.data(), mtu, [&](std::span<const uint8_t> bytes) {
    packet::Packet frag(bytes);
    frag.meta = pkt.meta;
    frag.meta.ct = nullptr;  // the conntrack reference stays with pkt
    frag.meta.frag_max_size = 0;
    frag.set_mac_header(eth);
    if (observer_) observer_->on_transmit(*this, dev, frag);
    if (on_wire) on_wire(*this, dev, frag);
  });
}

void Host::add_listener(uint8_t proto, uint16_t port) {
  if (!has_listener(proto, port)) listeners_.emplace_back(proto, port);
}

xt::LocalSocket Host::find_socket(uint8_t proto, uint32_t saddr, uint16_t sport, uint32_t daddr,
                                  uint16_t dport) const {
  // __inet_lookup_established first: a handshake's request sock (not a
  // full socket) or its child, bound to the address the SYN came to.
  if (proto == packet::kIpProtoTcp)
    for (const auto& c : tcp_conns_)
      if (c.saddr == saddr && c.daddr == daddr && c.sport == sport && c.dport == dport)
        return {.found = true, .full = c.established, .any_address = false};
  // Then the listeners (or UDP's bound sockets), all bound to INADDR_ANY:
  // any destination address, this host's or not, finds them.
  if ((proto == packet::kIpProtoTcp || proto == packet::kIpProtoUdp) && has_listener(proto, dport))
    return {.found = true, .full = true, .any_address = true};
  return {};
}

// tcp_v4_early_demux: a segment of a connection this host has (a request
// sock or its established child, __inet_lookup_established) gets that
// socket as skb->sk, which INPUT's cgroup match and LOG's --log-uid read.
// Not for fragments, frames to a group MAC (pkt_type not PACKET_HOST) or
// with net.ipv4.ip_early_demux or tcp_early_demux off. Hosts have no
// connected UDP sockets, so udp_v4_early_demux finds nothing.
void Host::early_demux(packet::Packet& pkt) const {
  auto ip = pkt.ip();
  if (ip.protocol() != packet::kIpProtoTcp || ip.is_fragment() || to_link_group(pkt)) return;
  if (!sysctl("net.ipv4.ip_early_demux") || !sysctl("net.ipv4.tcp_early_demux")) return;
  auto tcp = packet::parse_tcp(ip.payload());
  if (!tcp) return;
  for (const auto& c : tcp_conns_)
    if (c.saddr == ip.saddr() && c.daddr == ip.daddr() && c.sport == tcp->sport() && c.dport == tcp->dport()) {
      pkt.meta.sk = c.established ? packet::SockKind::Unaccepted : packet::SockKind::Request;
      return;
    }
}

bool Host::has_listener(uint8_t proto, uint16_t port) const {
  for (const auto& l : listeners_)
    if (l.first == proto && l.second == port) return true;
  return false;
}

icmp::RateConfig Host::icmp_rate_config() const {
  return {.ratelimit_ms = sysctl("net.ipv4.icmp_ratelimit"),
          .ratemask = static_cast<uint32_t>(sysctl("net.ipv4.icmp_ratemask")),
          .msgs_per_sec = sysctl("net.ipv4.icmp_msgs_per_sec"),
          .msgs_burst = sysctl("net.ipv4.icmp_msgs_burst")};
}

uint32_t Host::icmp_source(const packet::Packet& offending) const {
  auto ip = offending.ip();
  // RTCF_LOCAL: the offending packet was for this host.
  if (fib_.addr_type(ip.daddr()) == RouteType::Local) return ip.daddr();
  if (!offending.meta.in.empty() && sysctl("net.ipv4.icmp_errors_use_inbound_ifaddr")) {
    if (uint32_t a = fib_.select_source(std::string(offending.meta.in.view()), ip.saddr(), Scope::Link)) return a;
  }
  auto back = fib_.lookup(ip.saddr());
  if (!back || (back->type != RouteType::Unicast && back->type != RouteType::Local)) return 0;
  return back->src;
}

bool Host::icmp_send(const packet::Packet& offending, uint8_t type, uint8_t code, uint32_t info, uint64_t now_ns) {
  // __icmp_send: "No replies to physical multicast/broadcast".
  if (to_link_group(offending)) return false;
  auto ip = offending.ip();
  uint32_t daddr = ip.daddr();
  bool dst_not_unicast = daddr == 0xffffffffu || (daddr >> 28) == 0xe || fib_.addr_type(daddr) == RouteType::Broadcast;
  if (icmp::error_suppressed(ip, type, dst_not_unicast)) return false;
  icmp::RateConfig rc = icmp_rate_config();
  bool apply = false;
  // The global bucket is not consulted for packets that came in on lo.
  bool from_lo = offending.meta.in.view() == "lo";
  if (!from_lo && !icmp_limiter_.global_allow(rc, type, code, now_ns, apply)) return false;
  auto back = fib_.lookup(ip.saddr());
  if (!back || (back->type != RouteType::Unicast && back->type != RouteType::Local)) return false;
  uint32_t src = icmp_source(offending);
  if (!src) src = 0xc0000008;  // INADDR_DUMMY (192.0.0.8): never 0.0.0.0
  // icmpv4_xrlim_allow: no per-peer limit on loopback.
  if (apply && back->dev != "lo" && !icmp_limiter_.peer_allow(rc, ip.saddr(), now_ns)) return false;
  const Interface* dev = find_interface(back->dev);
  AnswerBuffer buffer(*this);
  packet::Packet* err = &buffer.get();
  if (!icmp::build_error(ip,
                         {.type = type, .code = code, .info = info, .src = src, .ttl = default_ttl(),
                          .mtu = dev ? dev->mtu : 1500, .ipid = next_ip_id()},
                         *err))
    return false;
  // icmp_glue_bits -> nf_ct_attach: the error carries the offending
  // packet's connection, as RELATED in the other direction.
  if (offending.meta.ct && offending.meta.ctinfo != packet::CtInfo::Untracked) {
    auto* ct = static_cast<conntrack::Entry*>(offending.meta.ct);
    conntrack_.get(ct);
    err->meta.ct = ct;
    bool reply_dir = offending.meta.ctinfo == packet::CtInfo::EstablishedReply ||
                     offending.meta.ctinfo == packet::CtInfo::RelatedReply;
    err->meta.ctinfo = reply_dir ? packet::CtInfo::Related : packet::CtInfo::RelatedReply;
  }
  err->meta.sk = packet::SockKind::Control;  // icmp_send's per-cpu icmp socket
  local_out_kept(*err, now_ns);
  return true;
}

namespace {
// The checksum tests of nf_reject and of the local TCP and UDP receive
// paths, which skip a datagram whose checksum counts as verified.
bool transport_checksum_ok(const packet::Packet& pkt) {
  return pkt.meta.transport_checksum_verified() || icmp::transport_checksum_ok(pkt.ip()) ||
         packet::holds_pseudo_header_sum(pkt.ip());  // CHECKSUM_PARTIAL: skb_csum_unnecessary
}
}  // namespace

void Host::reject(const packet::Packet& offending, icmp::RejectWith with, uint64_t now_ns) {
  auto ip = offending.ip();
  // nf_send_unreach / nf_send_reset: never about a later fragment, nor about
  // a TCP or UDP datagram whose checksum is wrong.
  if (ip.frag_offset() != 0 || !transport_checksum_ok(offending)) return;
  if (with != icmp::RejectWith::TcpReset) {
    icmp_send(offending, icmp::kDestUnreach, icmp::reject_types()[static_cast<size_t>(with)].code, 0, now_ns);
    return;
  }
  uint32_t daddr = ip.daddr();
  if (ip.protocol() != packet::kIpProtoTcp || daddr == 0xffffffffu || (daddr >> 28) == 0xe ||
      fib_.addr_type(daddr) == RouteType::Broadcast)
    return;
  // nf_reject_iphdr_put writes TOS 0; the TTL is the route's hop limit.
  AnswerBuffer buffer(*this);
  packet::Packet* rst = &buffer.get();
  if (!icmp::build_tcp_reset(ip, default_ttl(), 0, *rst)) return;
  if (offending.meta.ct && offending.meta.ctinfo != packet::CtInfo::Untracked) {
    auto* ct = static_cast<conntrack::Entry*>(offending.meta.ct);
    conntrack_.get(ct);
    rst->meta.ct = ct;
    bool reply_dir = offending.meta.ctinfo == packet::CtInfo::EstablishedReply ||
                     offending.meta.ctinfo == packet::CtInfo::RelatedReply;
    rst->meta.ctinfo = reply_dir ? packet::CtInfo::Related : packet::CtInfo::RelatedReply;
  }
  local_out_kept(*rst, now_ns);
}

void Host::send_synproxy_reply(const packet::Packet& trigger, packet::Packet& reply, uint64_t now_ns) {
  // synproxy_build_ip's TTL; synproxy_send_tcp attaches skb_nfct(skb) as
  // IP_CT_ESTABLISHED_REPLY. An untracked or invalid SYN has none: conntrack
  // then meets the SYN-ACK as a connection's first packet in OUTPUT, which
  // is INVALID (tcp_new refuses a SYN-ACK), as on the kernel.
  auto ip = reply.ip();
  ip.set_ttl(default_ttl());
  ip.update_checksum();
  if (trigger.meta.ct && trigger.meta.ctinfo != packet::CtInfo::Untracked) {
    auto* ct = static_cast<conntrack::Entry*>(trigger.meta.ct);
    conntrack_.get(ct);
    reply.meta.ct = ct;
    reply.meta.ctinfo = packet::CtInfo::EstablishedReply;
  }
  local_out_kept(reply, now_ns);
}

// Whether the capture shows a socket at the datagram's port: the port
// the capture's own frames left from is the one their peer asked for,
// before a REDIRECT or DNAT to this host made it `dport` (the original
// tuple of the connection the datagram opened or goes along has it).
bool Host::captured_socket(const packet::Packet& pkt, const std::bitset<65536>& ports, uint16_t dport) {
  if (ports[dport]) return true;
  const auto* ct = static_cast<const conntrack::Entry*>(pkt.meta.ct);
  const auto ci = pkt.meta.ctinfo;
  const bool original = ci == packet::CtInfo::New || ci == packet::CtInfo::Established;
  return ct && original && !conntrack::is_template(ct) && ports[ct->tuple[conntrack::kOriginal].dport];
}

void Host::answer_local(const packet::Packet& pkt, uint64_t now_ns) {
  auto ip = pkt.ip();
  uint32_t daddr = ip.daddr();
  bool unicast = !(daddr == 0xffffffffu || (daddr >> 28) == 0xe || fib_.addr_type(daddr) == RouteType::Broadcast);
  if (ip.frag_offset() != 0 || ip.mf()) return;  // reassembly is not modelled
  switch (ip.protocol()) {
    case packet::kIpProtoIcmp: {
      auto body = ip.payload();
      if (body.size() < packet::kIcmpHeader || !(pkt.meta.transport_checksum_verified() || packet::inet_checksum_ok(body)))
        return;
      if (body[0] != icmp::kEcho || sysctl("net.ipv4.icmp_echo_ignore_all")) return;
      if (!unicast && sysctl("net.ipv4.icmp_echo_ignore_broadcasts")) return;
      // icmp_reply: echo replies are outside the default ratemask, but a
      // changed mask can limit them like errors.
      icmp::RateConfig rc = icmp_rate_config();
      bool apply = false;
      if (!icmp_limiter_.global_allow(rc, icmp::kEchoReply, 0, now_ns, apply)) return;
      auto back = fib_.lookup(ip.saddr());
      if (!back || (back->type != RouteType::Unicast && back->type != RouteType::Local)) return;
      if (apply && back->dev != "lo" && !icmp_limiter_.peer_allow(rc, ip.saddr(), now_ns)) return;
      uint32_t src = unicast ? daddr : back->src;  // fib_compute_spec_dst
      AnswerBuffer reply(*this);
      icmp::build_echo_reply(ip, src, default_ttl(), next_ip_id(), reply.get());
      reply.get().meta.sk = packet::SockKind::Control;  // icmp_reply's icmp socket
      local_out_kept(reply.get(), now_ns);
      return;
    }
    case packet::kIpProtoTcp:
      // tcp_v4_rcv discards what did not come to the host's own MAC.
      if (unicast && !to_link_group(pkt) && ip.payload().size() >= packet::kTcpMinHeader && transport_checksum_ok(pkt)) {
        if (captured_sockets_ && captured_socket(pkt, captured_sockets_->tcp, packet::ConstTcpView(ip.payload()).dport()))
          return;
        answer_tcp(pkt, now_ns);
      }
      return;
    case packet::kIpProtoUdp: {
      if (ip.payload().size() < packet::kUdpHeader || !transport_checksum_ok(pkt)) return;
      packet::ConstUdpView uh(ip.payload());
      if (captured_sockets_ && captured_socket(pkt, captured_sockets_->udp, uh.dport())) return;
      if (unicast && !has_listener(packet::kIpProtoUdp, uh.dport()))
        icmp_send(pkt, icmp::kDestUnreach, icmp::kPortUnreach, 0, now_ns);
      return;
    }
    case 2:    // IGMP
    case 136:  // UDP-Lite
      return;  // protocols the kernel registers without modules; nothing to answer here
    default:
      // ip_local_deliver_finish: no handler and no raw socket.
      if (captured_sockets_ && captured_sockets_->protocols[ip.protocol()]) return;
      if (unicast) icmp_send(pkt, icmp::kDestUnreach, icmp::kProtUnreach, 0, now_ns);
      return;
  }
}

void Host::answer_tcp(const packet::Packet& pkt, uint64_t now_ns) {
  auto ip = pkt.ip();
  packet::ConstTcpView th(ip.payload());
  namespace f = packet::tcp_flag;
  for (auto it = tcp_conns_.begin(); it != tcp_conns_.end(); ++it) {
    auto& c = *it;
    if (c.saddr != ip.saddr() || c.daddr != ip.daddr() || c.sport != th.sport() || c.dport != th.dport()) continue;
    if (c.established) return;  // data transfer is not modelled
    if (th.has(f::kRst)) {
      // tcp_check_req: an in-window RST drops the request sock (and its
      // SYN-ACK timer); another is ignored.
      if (synrecv_rst_in_window(c, th.seq())) drop_request(it);
      return;
    }
    if (th.has(f::kAck) && !th.has(f::kSyn) && th.ack_seq() == c.isn + 1) {
      // The child socket: no SYN-ACK retransmission any more, so its
      // buffer serves the next request.
      c.established = true;
      spare_synacks_.push_back(std::move(c.synack));
      return;
    }
    if (th.has(f::kAck) && !th.has(f::kSyn)) ++foreign_isn_acks_;
    if (th.has(f::kSyn) && !th.has(f::kAck) && th.seq() == c.irs) {
      // A retransmitted SYN: inet_rtx_syn_ack resends the same SYN-ACK;
      // the timer keeps running. A copy: the trip may change tcp_conns_.
      AnswerBuffer again(*this);
      again.get() = c.synack;
      local_out_kept(again.get(), now_ns);
      return;
    }
    break;  // a stray segment: answered as by the listener
  }
  if (th.has(f::kRst)) return;
  if (has_listener(packet::kIpProtoTcp, th.dport())) {
    // tcp_rcv_state_process in LISTEN: an ACK is reset, a SYN answered,
    // anything else discarded.
    if (th.has(f::kAck)) {
      // tcp_v4_cookie_check first: the ACK of a SYN cookie makes the
      // connection (or, the accept queue full, is dropped).
      if (auto cookie = cookie_check(ip, th, now_ns); cookie != CookieCheck::NoCookie) {
        if (cookie == CookieCheck::Accepted) {
          TcpConn c{ip.saddr(), ip.daddr(), th.sport(), th.dport(), th.ack_seq() - 1, true};
          c.irs = th.seq() - 1;
          tcp_conns_.push_back(std::move(c));
        }
        return;
      }
      // ip_send_unicast_reply: skb_set_owner_edemux gives the reset the
      // listener (orig_sk), a root-owned full socket.
      AnswerBuffer rst(*this);
      if (icmp::build_tcp_reset(ip, default_ttl(), ip.tos(), rst.get())) {
        rst.get().meta.sk = packet::SockKind::Full;
        local_out_kept(rst.get(), now_ns);
      }
      return;
    }
    if (!th.has(f::kSyn)) return;
    // tcp_conn_request. The listener's queues: request socks (SYN_RECV)
    // and connections nobody accepted (nfemu's listeners never accept, as
    // nfemu verify's do not), each bounded by the listen backlog.
    size_t requests = 0, unaccepted = 0;
    bool known = false;
    for (const auto& c : tcp_conns_) {
      if (c.dport != th.dport()) continue;
      ++(c.established ? unaccepted : requests);
      known |= c.saddr == ip.saddr() && c.daddr == ip.daddr() && c.sport == th.sport();
    }
    const int64_t syncookies = sysctl("net.ipv4.tcp_syncookies");
    bool want_cookie = false;
    if (!known && (syncookies == 2 || requests > kListenBacklog)) {
      // tcp_syn_flood_action: a SYN cookie instead of a request sock, or
      // the SYN is dropped without them.
      if (syncookies == 0) return;
      want_cookie = true;
    }
    if (unaccepted > kListenBacklog) return;  // sk_acceptq_is_full
    auto back = fib_.lookup(ip.saddr());
    if (!back || (back->type != RouteType::Unicast && back->type != RouteType::Local)) return;
    const Interface* dev = find_interface(back->dev);
    uint16_t mss = static_cast<uint16_t>((dev ? dev->mtu : 1500) - 40);
    // A cookie's SYN-ACK looks the same (its MSS is ours; the client's is
    // in the cookie, which nfemu's ISN stands for); no request sock keeps
    // it, so it is never sent again.
    uint32_t isn = icmp::initial_sequence(ip.saddr(), ip.daddr(), th.sport(), th.dport());
    AnswerBuffer synack(*this);
    icmp::build_syn_ack(ip, isn, mss, default_ttl(), synack.get());
    // skb->sk is the request sock; tcp_make_synack attaches a cookie's
    // to no socket ("under synflood ... to avoid false sharing").
    synack.get().meta.sk = want_cookie ? packet::SockKind::None : packet::SockKind::Request;
    if (want_cookie) note_syn_cookie(th.dport(), now_ns);
    else if (!known) add_request(ip, th.seq(), isn, synack.get(), now_ns);
    local_out_kept(synack.get(), now_ns);
    return;
  }
  // tcp_v4_send_reset: the segment's TOS, the default TTL; no socket of
  // its own, so it leaves on the per-cpu TCP control socket.
  AnswerBuffer rst(*this);
  if (icmp::build_tcp_reset(ip, default_ttl(), ip.tos(), rst.get())) {
    rst.get().meta.sk = packet::SockKind::Control;
    local_out_kept(rst.get(), now_ns);
  }
}

}  // namespace nfemu::stack
