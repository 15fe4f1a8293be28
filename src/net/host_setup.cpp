#include "net/host_setup.h"

#include "log/conntrack_text.h"
#include "stack/ct_demand.h"

namespace nfemu::net {

namespace {

// The MAC network.cpp gives the far end of an interface without a link.
constexpr packet::Mac kWirePeerMac = {0x02, 0, 0, 0, 0, 0};

stack::RouteType to_stack(scenario::RouteType t) {
  switch (t) {
    case scenario::RouteType::Unicast: return stack::RouteType::Unicast;
    case scenario::RouteType::Local: return stack::RouteType::Local;
    case scenario::RouteType::Broadcast: return stack::RouteType::Broadcast;
    case scenario::RouteType::Unreachable: return stack::RouteType::Unreachable;
    case scenario::RouteType::Prohibit: return stack::RouteType::Prohibit;
    case scenario::RouteType::Blackhole: return stack::RouteType::Blackhole;
  }
  return stack::RouteType::Unicast;
}

log::CtTuple to_log(const conntrack::Tuple& t) {
  log::CtTuple out;
  out.src = t.src;
  out.dst = t.dst;
  out.sport = t.sport;
  out.dport = t.dport;
  out.icmp_type = t.icmp_type;
  out.icmp_code = t.icmp_code;
  out.icmp_id = t.icmp_id();
  return out;
}

log::ConntrackView to_log(const conntrack::View& v, uint32_t mask) {
  log::ConntrackView out;
  out.l4proto = v.orig.proto;
  out.timeout = v.has_timeout ? v.timeout_s : 0;
  out.tcp_state = v.has_tcp_state    ? conntrack::to_string(v.tcp_state)
                  : v.has_sctp_state ? conntrack::to_string(v.sctp_state)
                                     : std::string_view();
  out.orig = to_log(v.orig);
  out.reply = to_log(v.reply);
  out.seen_reply = v.status & conntrack::status::kSeenReply;
  out.assured = v.status & conntrack::status::kAssured;
  out.mark = v.mark;
  out.mark_event = (mask & conntrack::ipct::kMark) != 0;
  out.state_event = v.has_tcp_state || v.has_sctp_state;
  out.zone = v.zone;
  out.zone_orig = v.zone_orig;
  out.zone_reply = v.zone_reply;
  out.use = v.use;
  out.helper = conntrack::to_string(v.helper);
  out.counters = v.has_counters;
  for (int d = 0; d < 2; ++d) {
    out.packets[d] = v.counters[d].packets;
    out.bytes[d] = v.counters[d].bytes;
  }
  return out;
}

}  // namespace

void conntrack_event_text(std::string& line, const conntrack::Event& ev) {
  auto type = ev.type == conntrack::EventType::New      ? log::CtEventType::New
              : ev.type == conntrack::EventType::Update ? log::CtEventType::Update
                                                        : log::CtEventType::Destroy;
  log::format_ct_event(line, type, to_log(ev.view, ev.mask));
}

std::string conntrack_event_text(const conntrack::Event& ev) {
  std::string line;
  conntrack_event_text(line, ev);
  return line;
}

std::string conntrack_list_text(const conntrack::View& v) { return log::format_ct_list_line(to_log(v, 0)); }

Result<std::unique_ptr<stack::Host>> build_host(const scenario::Scenario& sc, size_t hi) {
  if (hi >= sc.hosts.size()) return make_error("no such host");
  const scenario::Host& sh = sc.hosts[hi];
  auto h = std::make_unique<stack::Host>(sh.name);
  for (const auto& l : sh.listeners) h->add_listener(l.proto == scenario::Proto::Tcp ? 6 : 17, l.port);
  // The peer MACs are resolved once: the lambda must not keep the scenario.
  std::vector<std::pair<std::string, packet::Mac>> peers;
  for (size_t i = 0; i < sh.interfaces.size(); ++i) {
    const auto& ifc = sh.interfaces[i];
    packet::Mac peer = kWirePeerMac;
    if (auto p = sc.peer({hi, i})) peer = sc.hosts[p->host].interfaces[p->iface].mac;
    peers.emplace_back(ifc.name, peer);
    if (!ifc.loopback) h->add_interface(ifc.name, ifc.mac, ifc.mtu).peer = peer;
    if (ifc.group != 0) h->set_device_group(ifc.name, ifc.group);
    for (const auto& a : ifc.addresses) {
      if (ifc.loopback && a.addr == 0x7f000001 && a.prefix_len == 8) continue;  // the Host has it
      h->add_address(ifc.name, a.addr, a.prefix_len);
    }
  }
  for (const auto& r : sh.routes) {
    if (r.origin != scenario::RouteOrigin::User) continue;
    stack::Route route;
    route.dst = r.dst;
    route.plen = r.prefix_len;
    route.type = to_stack(r.type);
    route.gateway = r.via.value_or(0);
    if (r.dev >= 0) route.dev = sh.interfaces[static_cast<size_t>(r.dev)].name;
    route.prefsrc = r.src.value_or(0);
    route.metric = r.metric;
    route.local_table = r.table == scenario::RouteTable::Local;
    if (auto ok = h->fib().add(route); !ok) {
      Error e = ok.error();
      e.line = r.line;
      return e;
    }
  }
  for (const auto& [name, value] : sh.sysctls) {
    std::string text = std::holds_alternative<int64_t>(value) ? std::to_string(std::get<int64_t>(value))
                                                              : std::get<std::string>(value);
    if (std::holds_alternative<int64_t>(value)) h->set_sysctl(name, std::get<int64_t>(value));
    if (name.rfind("net.netfilter.", 0) == 0) {
      if (auto ok = h->conntrack().set_sysctl(name, text); !ok) return ok.error();
    }
  }
  h->ipsets() = sh.ipsets;  // before the rules, whose set matches bind by index
  h->nfacct() = sh.nfacct;  // and nfacct matches likewise
  h->ruleset() = sh.ruleset;
  // connbytes_mt_check turns accounting on as the rules load; the kernel
  // side sets the net.netfilter sysctls after the rules (kernel_plan.cpp),
  // so an explicit nf_conntrack_acct still has the last word.
  if (stack::ruleset_forces_acct(h->ruleset())) {
    h->conntrack().set_acct(true);
    for (const auto& [name, value] : sh.sysctls)
      if (name == "net.netfilter.nf_conntrack_acct") {
        std::string text = std::holds_alternative<int64_t>(value) ? std::to_string(std::get<int64_t>(value))
                                                                  : std::get<std::string>(value);
        if (auto ok = h->conntrack().set_sysctl(name, text); !ok) return ok.error();
      }
  }
  // Asked by name (network.cpp, replay's input links), and for an interface
  // added later without a peer of its own.
  h->neighbour = [peers = std::move(peers)](std::string_view ifname, uint32_t) {
    for (const auto& [name, mac] : peers)
      if (name == ifname) return mac;
    return kWirePeerMac;
  };
  return h;
}

}  // namespace nfemu::net
