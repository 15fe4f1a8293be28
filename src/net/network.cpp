#include "net/network.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include "net/host_setup.h"
#include "packet/grammar.h"
#include "packet/pcap_io.h"
#include "ruleset/restore.h"

namespace nfemu::net {

namespace {

constexpr packet::Mac kWirePeerMac = {0x02, 0, 0, 0, 0, 0};

std::string describe(const packet::Packet& pkt) {
  auto text = packet::format_packet(pkt.ip());
  return text ? *text : describe_headers(pkt.ip().bytes());
}

// The state names of the state/conntrack matches, and the direction.
void set_ct_state(Event& e, const packet::Packet& pkt) {
  using packet::CtInfo;
  CtInfo ci = pkt.meta.ctinfo;
  if (ci == CtInfo::Untracked) {
    e.ct_state = "UNTRACKED";
    return;
  }
  if (!pkt.meta.ct) {
    e.ct_state = "INVALID";
    return;
  }
  switch (ci) {
    case CtInfo::New: e.ct_state = "NEW"; break;
    case CtInfo::Established:
    case CtInfo::EstablishedReply: e.ct_state = "ESTABLISHED"; break;
    case CtInfo::Related:
    case CtInfo::RelatedReply: e.ct_state = "RELATED"; break;
    default: e.ct_state = "INVALID"; break;
  }
  e.ct_dir = ci == CtInfo::EstablishedReply || ci == CtInfo::RelatedReply ? "reply" : "original";
}

std::string_view verdict_name(xt::Verdict v) {
  switch (v) {
    case xt::Verdict::Accept: return "ACCEPT";
    case xt::Verdict::Drop: return "DROP";
    case xt::Verdict::Stolen: return "STOLEN";
    case xt::Verdict::Queue: return "QUEUE";
  }
  return "?";
}

}  // namespace

Network::~Network() = default;

Result<std::unique_ptr<Network>> Network::build(const scenario::Scenario& sc) {
  std::unique_ptr<Network> net(new Network(sc));
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi) {
    const scenario::Host& sh = sc.hosts[hi];
    auto built = build_host(sc, hi);
    if (!built) return built.error();
    auto h = std::move(*built);
    h->set_observer(net.get());
    Network* self = net.get();
    h->on_wire = [self, hi](const stack::Host&, std::string_view ifname, packet::Packet& pkt) {
      self->wire(hi, ifname, pkt);
    };
    net->records_[sh.name];
    net->hosts_.push_back(std::move(h));
  }
  return net;
}

Event& Network::add(const std::string& host, EventKind kind) {
  Event& e = events_.emplace_back();
  e.time_ns = now_ns_;
  e.traffic = traffic_;
  e.host = host;
  e.kind = kind;
  return e;
}

Event& Network::add(const stack::Host& h, EventKind kind) { return add(h.name(), kind); }

void Network::capture(size_t host_index, std::string_view ifname, const packet::Packet& pkt) {
  if (ifname == "lo") return;
  auto frame = pkt.frame();
  records_[hosts_[host_index]->name()].captures[std::string(ifname)].push_back(
      {now_ns_, std::vector<uint8_t>(frame.begin(), frame.end())});
}

void Network::wire(size_t host_index, std::string_view ifname, packet::Packet& pkt) {
  capture(host_index, ifname, pkt);
  const scenario::Host& sh = sc_.hosts[host_index];
  const scenario::Endpoint me{host_index, static_cast<size_t>(sh.interface_index(ifname))};
  for (const auto& l : sc_.links) {
    const scenario::Endpoint* peer = l.a == me ? &l.b : (l.b == me ? &l.a : nullptr);
    if (!peer) continue;
    const std::string& peer_if = sc_.hosts[peer->host].interfaces[peer->iface].name;
    capture(peer->host, peer_if, pkt);
    queue_.push_back({peer->host, peer_if, pkt});
    return;
  }
}

void Network::drain() {
  // Frames cross links in the order they were sent, at the same virtual
  // time (a veth delivers at once); a queue keeps the order deterministic.
  for (size_t i = 0; i < queue_.size(); ++i) {
    Pending p = std::move(queue_[i]);
    Event& e = add(*hosts_[p.host], EventKind::Receive);
    e.ifname = p.ifname;
    e.packet = describe(p.pkt);
    hosts_[p.host]->receive(std::move(p.pkt), p.ifname, now_ns_);
    if (i > 100000) break;  // a forwarding loop: TTL ends it long before this
  }
  queue_.clear();
}

// Confirmation (INPUT, POSTROUTING) has happened by the time a packet is
// delivered, transmitted or dropped: taking the events here puts each
// `conntrack -E` line next to the packet that caused it in the timeline.
void Network::collect_events(const stack::Host& h) {
  for (size_t hi = 0; hi < hosts_.size(); ++hi)
    if (hosts_[hi].get() == &h) collect_events(hi);
}

void Network::collect_events(size_t hi) {
  auto& rec = records_[hosts_[hi]->name()];
  for (const auto& ev : hosts_[hi]->conntrack().take_events()) {
    rec.conntrack_events.push_back(conntrack_event_text(ev));
    std::string_view line = rec.conntrack_events.back();
    line.remove_prefix(std::min(line.find_first_not_of(' '), line.size()));
    Event& e = add(*hosts_[hi], EventKind::CtEvent);
    e.text = line;
    e.time_ns = ev.time_ns;  // an expiry's own time, not the time it was noticed
  }
}

void Network::run_timers_until(uint64_t until) {
  // Host timers in time order across hosts; what one sends may arm
  // another's. Conntrack expiries due before each firing happen first.
  for (;;) {
    std::optional<uint64_t> next;
    size_t who = 0;
    for (size_t hi = 0; hi < hosts_.size(); ++hi)
      if (auto t = hosts_[hi]->next_timer(); t && *t <= until && (!next || *t < *next)) {
        next = t;
        who = hi;
      }
    if (!next) return;
    now_ns_ = std::max(now_ns_, *next);
    for (size_t hi = 0; hi < hosts_.size(); ++hi) {
      hosts_[hi]->conntrack().expire_until(now_ns_);
      collect_events(hi);
    }
    hosts_[who]->run_timers(now_ns_);
    drain();
    for (size_t hi = 0; hi < hosts_.size(); ++hi) collect_events(hi);
  }
}

void Network::run() {
  for (size_t ti = 0; ti < sc_.traffic.size(); ++ti) {
    const auto& t = sc_.traffic[ti];
    // Expiries and timers due by now belong to no traffic entry.
    traffic_ = -1;
    // A kernel timer fires after its nominal time (the timer wheel rounds
    // up: 0-32 ms late for 1-2 s at HZ=250), so traffic at that very
    // instant comes first.
    if (t.at_ns > 0) run_timers_until(static_cast<uint64_t>(t.at_ns) - 1);
    now_ns_ = static_cast<uint64_t>(t.at_ns);
    for (size_t hi = 0; hi < hosts_.size(); ++hi) {
      hosts_[hi]->conntrack().expire_until(now_ns_);
      collect_events(hi);
    }
    traffic_ = static_cast<int>(ti);
    packet::Packet pkt = packet::build_packet(t.packet);
    stack::Host& h = *hosts_[t.host];
    if (t.origin == scenario::Origin::From) {
      add(h, EventKind::Send).text = t.text;
      h.send(std::move(pkt), now_ns_);
    } else {
      const auto& ifc = sc_.hosts[t.host].interfaces[t.iface];
      packet::EthernetHeader eth;
      eth.dst = ifc.mac;
      eth.src = h.neighbour ? h.neighbour(ifc.name, 0) : kWirePeerMac;
      pkt.set_mac_header(eth);
      Event& e = add(h, EventKind::Inject);
      e.ifname = ifc.name;
      e.text = t.text;
      // veth_xmit -> __dev_forward_skb -> is_skb_forwardable: the receiving
      // veth takes a frame of at most mtu + hard_header_len (14) +
      // VLAN_HLEN (4) bytes, so a datagram up to mtu + 4; a larger one is
      // dropped before the interface sees it (no capture, rx_dropped).
      // Checked on 6.18: mtu 1400, datagrams of 1400 and 1404 bytes
      // arrived, 1405 and 1408 did not.
      if (pkt.size() > size_t{ifc.mtu} + 4) {
        on_drop(h, fmt::format("{}: frame larger than the MTU {} (veth: is_skb_forwardable)", ifc.name, ifc.mtu),
                pkt);
        drain();
        for (size_t hi = 0; hi < hosts_.size(); ++hi) collect_events(hi);
        continue;
      }
      capture(t.host, ifc.name, pkt);
      h.receive(std::move(pkt), ifc.name, now_ns_);
    }
    drain();
    for (size_t hi = 0; hi < hosts_.size(); ++hi) collect_events(hi);
  }
  traffic_ = -1;
  // The spec: everything due until the end happens, the end included.
  run_timers_until(static_cast<uint64_t>(sc_.end_ns));
  now_ns_ = static_cast<uint64_t>(sc_.end_ns);
  for (size_t hi = 0; hi < hosts_.size(); ++hi) {
    hosts_[hi]->conntrack().expire_until(now_ns_);
    collect_events(hi);
    auto& rec = records_[hosts_[hi]->name()];
    std::vector<std::pair<std::string, conntrack::View>> entries;
    for (const auto& v : hosts_[hi]->conntrack().dump(now_ns_))
      entries.emplace_back(conntrack_list_text(v), v);
    std::stable_sort(entries.begin(), entries.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [line, view] : entries) {
      rec.conntrack_table.push_back(std::move(line));
      rec.conntrack_views.push_back(view);
    }
    rec.iptables_save = ruleset::save(hosts_[hi]->ruleset(), {.counters = true});
  }
  timeline_.clear();
  for (const Event& e : events_)
    timeline_.push_back(fmt::format("{} {}: {}", format_seconds(e.time_ns), e.host, event_text(e)));
}

void Network::on_rule(const stack::Host& h, xt::Hook hook, const xt::TraceEvent& ev, const packet::Packet&) {
  static const char* kinds[] = {"rule", "return", "policy"};
  Event& e = add(h, EventKind::Rule);
  e.hook = xt::hook_chain_name(hook);
  e.table = ev.table;
  e.chain = ev.chain;
  e.position = kinds[static_cast<int>(ev.kind)];
  e.rulenum = ev.rulenum;
  if (ev.rule) {
    e.rule = fmt::format("-A {}{}", ev.chain, ev.rule->spec_text());
    e.verdict = ev.rule->target_name();
  } else if (ev.kind == xt::TraceEvent::Kind::Policy) {
    const xt::Table* t = nullptr;
    for (const auto& table : h.ruleset().tables())
      if (table.name() == ev.table) t = &table;
    const xt::Chain* c = t ? t->find(ev.chain) : nullptr;
    e.verdict = c && c->policy == xt::Policy::Drop ? "DROP" : "ACCEPT";
  } else {
    e.verdict = "RETURN";
  }
}

void Network::on_table(const stack::Host& h, xt::Hook hook, xt::TableId t, xt::Verdict v, const packet::Packet&) {
  Event& e = add(h, EventKind::Table);
  e.hook = xt::hook_chain_name(hook);
  e.table = xt::table_name(t);
  e.verdict = verdict_name(v);
}

void Network::on_conntrack(const stack::Host& h, xt::Hook hook, const packet::Packet& pkt) {
  Event& e = add(h, EventKind::Conntrack);
  e.hook = xt::hook_chain_name(hook);
  set_ct_state(e, pkt);
}

void Network::on_nat(const stack::Host& h, xt::Hook hook, stack::NatStep step, std::span<const uint8_t> before,
                     const packet::Packet& after) {
  Event& e = add(h, EventKind::Nat);
  e.hook = xt::hook_chain_name(hook);
  e.table = "nat";
  e.nat_step = step == stack::NatStep::Walked ? "walked" : step == stack::NatStep::Bound ? "bound" : "icmp-error";
  e.before = describe_headers(before);
  e.after = describe_headers(after.ip().bytes());
  if (step == stack::NatStep::Walked) return;
  // What the packet did not see: the point of issue 3's motivating case
  // (an SNAT rule an ICMP error never meets).
  for (const auto& table : h.ruleset().tables()) {
    if (table.id() != xt::TableId::Nat) continue;
    if (const xt::Chain* c = table.find(e.hook))
      for (const auto& r : c->rules) e.skipped_rules.push_back(fmt::format("-A {}{}", c->name, r.spec_text()));
  }
}

void Network::on_drop(const stack::Host& h, std::string_view reason, const packet::Packet& pkt) {
  collect_events(h);
  Event& e = add(h, EventKind::Drop);
  e.reason = reason;
  e.packet = describe(pkt);
}

void Network::on_stolen(const stack::Host& h, std::string_view reason, const packet::Packet& pkt) {
  collect_events(h);
  Event& e = add(h, EventKind::Stolen);
  // "filter INPUT STOLEN": the timeline says stolen already.
  if (reason.ends_with(" STOLEN")) reason.remove_suffix(7);
  e.reason = reason;
  e.packet = describe(pkt);
}

void Network::on_local_deliver(const stack::Host& h, const packet::Packet& pkt) {
  collect_events(h);
  Event& e = add(h, EventKind::Deliver);
  // A host without conntrack hooks has no state to show (CT --notrack
  // still marks a packet untracked).
  if (h.conntrack_enabled() || pkt.meta.ctinfo == packet::CtInfo::Untracked) set_ct_state(e, pkt);
  e.packet = describe(pkt);
}

void Network::on_transmit(const stack::Host& h, std::string_view ifname, const packet::Packet& pkt) {
  collect_events(h);
  Event& e = add(h, EventKind::Transmit);
  e.ifname = ifname;
  e.packet = describe(pkt);
}

void Network::on_unsupported(const stack::Host& h, std::string_view extension) {
  std::string name(extension);
  if (std::find(unsupported_.begin(), unsupported_.end(), name) == unsupported_.end()) unsupported_.push_back(name);
  add(h, EventKind::Unsupported).text = name;
}

void Network::on_expectation(const stack::Host& h, const conntrack::Expectation& exp) {
  // "irc: expects tcp any > 203.0.113.1:5000 for 300 s; NATed to
  // 198.51.100.10:5000 as its master": what the next connection there
  // will be, RELATED, and where NAT sends it; for as long as the helper's
  // policy keeps it.
  auto addr = [](uint32_t a) { return packet::format_ipv4_addr(a); };
  std::string text = fmt::format("{}: expects {} {}{} > {}:{} for {} s", conntrack::to_string(exp.helper),
                                 exp.tuple.proto == packet::kIpProtoTcp ? "tcp" : "udp",
                                 exp.any_src ? "any" : addr(exp.tuple.src),
                                 exp.any_sport ? "" : fmt::format(":{}", exp.tuple.sport), addr(exp.tuple.dst),
                                 exp.tuple.dport, conntrack::expect_policy(exp.helper).timeout_s);
  if (exp.expectfn && exp.master)
    text += fmt::format("; NATed to {}:{} as its master", addr(exp.master->tuple[!exp.dir].src), exp.saved_port);
  add(h, EventKind::Expect).text = std::move(text);
}

void Network::on_kernel_log(const stack::Host& h, const std::string& line) {
  records_[h.name()].kern_log.push_back(line);
  add(h, EventKind::KernelLog).text = line;
}

Result<void> Network::write_artifacts(const std::string& dir) const {
  namespace fs = std::filesystem;
  auto write_lines = [](const fs::path& p, const std::vector<std::string>& lines) -> Result<void> {
    std::ofstream out(p, std::ios::binary);
    if (!out) return make_error(fmt::format("cannot write {}", p.string()));
    for (const auto& l : lines) out << l << '\n';
    return {};
  };
  for (size_t hi = 0; hi < hosts_.size(); ++hi) {
    const std::string& name = hosts_[hi]->name();
    const HostRecord& rec = records_.at(name);
    fs::path d = fs::path(dir) / name;
    std::error_code ec;
    fs::create_directories(d, ec);
    if (ec) return make_error(fmt::format("cannot create {}: {}", d.string(), ec.message()));
    if (auto r = write_lines(d / "kern.log", rec.kern_log); !r) return r;
    if (auto r = write_lines(d / "conntrack-events.txt", rec.conntrack_events); !r) return r;
    if (auto r = write_lines(d / "conntrack.txt", rec.conntrack_table); !r) return r;
    {
      std::ofstream out(d / "iptables-save.txt", std::ios::binary);
      out << rec.iptables_save;
    }
    // `nfacct list`, for a host that has accounting objects.
    if (!hosts_[hi]->nfacct().empty()) {
      std::ofstream out(d / "nfacct.txt", std::ios::binary);
      out << hosts_[hi]->nfacct().list_text();
    }
    for (const auto& ifc : hosts_[hi]->interfaces()) {
      if (ifc.name == "lo") continue;
      auto w = packet::PcapWriter::open((d / (ifc.name + ".pcap")).string());
      if (!w) return w.error();
      auto it = rec.captures.find(ifc.name);
      if (it != rec.captures.end())
        for (const auto& f : it->second) w->write(f.ts_ns / 1000, f.bytes);
      if (auto r = w->close(); !r) return r;
    }
  }
  return {};
}

}  // namespace nfemu::net
