#include "net/json.h"

#include <nlohmann/json.hpp>

#include "packet/addr.h"
#include "packet/headers.h"

namespace nfemu::net {

namespace {

using json = nlohmann::ordered_json;  // keys in the order written: time, host, kind first

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

// Only the fields of the event's kind; empty strings and zero rule
// numbers are left out so that a program can test for a key.
json event_json(const Event& e) {
  json j;
  j["time"] = seconds(static_cast<int64_t>(e.time_ns));
  j["traffic"] = e.traffic;
  j["host"] = e.host;
  j["kind"] = to_string(e.kind);
  auto put = [&j](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  put("hook", e.hook);
  put("table", e.table);
  put("chain", e.chain);
  put("position", e.position);
  if (e.kind == EventKind::Rule) j["rulenum"] = e.rulenum;
  put("rule", e.rule);
  put("verdict", e.verdict);
  put("ct_state", e.ct_state);
  put("ct_dir", e.ct_dir);
  if (e.kind == EventKind::Nat) {
    j["nat_step"] = e.nat_step;
    j["before"] = e.before;
    j["after"] = e.after;
    j["changed"] = e.changed();
    if (e.nat_step != "walked") j["skipped_rules"] = e.skipped_rules;
  }
  put("interface", e.ifname);
  put("packet", e.packet);
  put("reason", e.reason);
  put("text", e.text);
  return j;
}

std::string proto_name(uint8_t p) {
  if (p == packet::kIpProtoTcp) return "tcp";
  if (p == packet::kIpProtoUdp) return "udp";
  if (p == packet::kIpProtoIcmp) return "icmp";
  return std::to_string(p);
}

json tuple_json(const conntrack::Tuple& t) {
  json j;
  j["src"] = packet::format_ipv4_addr(t.src);
  j["dst"] = packet::format_ipv4_addr(t.dst);
  if (t.proto == packet::kIpProtoIcmp) {
    j["type"] = t.icmp_type;
    j["code"] = t.icmp_code;
    j["id"] = t.icmp_id();
  } else if (t.proto == packet::kIpProtoTcp || t.proto == packet::kIpProtoUdp) {
    j["sport"] = t.sport;
    j["dport"] = t.dport;
  }
  return j;
}

json status_json(uint32_t status) {
  namespace st = conntrack::status;
  static const std::pair<uint32_t, const char*> names[] = {
      {st::kExpected, "EXPECTED"},     {st::kSeenReply, "SEEN_REPLY"},         {st::kAssured, "ASSURED"},
      {st::kConfirmed, "CONFIRMED"},   {st::kSrcNat, "SRC_NAT"},               {st::kDstNat, "DST_NAT"},
      {st::kSrcNatDone, "SRC_NAT_DONE"}, {st::kDstNatDone, "DST_NAT_DONE"},
  };
  json j = json::array();
  for (const auto& [bit, name] : names)
    if (status & bit) j.push_back(name);
  return j;
}

json host_json(const stack::Host& h, const HostRecord& rec) {
  json counters = json::array(), policies = json::array();
  for (const xt::Table& t : h.ruleset().tables()) {
    for (const xt::Chain& c : t.chains()) {
      if (c.builtin()) {
        policies.push_back({{"table", t.name()},
                            {"chain", c.name},
                            {"policy", c.policy == xt::Policy::Drop ? "DROP" : "ACCEPT"},
                            {"packets", c.counters.packets},
                            {"bytes", c.counters.bytes}});
      }
      for (size_t i = 0; i < c.rules.size(); ++i) {
        const xt::Rule& r = c.rules[i];
        counters.push_back({{"table", t.name()},
                            {"chain", c.name},
                            {"rulenum", i + 1},
                            {"rule", "-A " + c.name + r.spec_text()},
                            {"target", r.target_name()},
                            {"packets", r.counters.packets},
                            {"bytes", r.counters.bytes}});
      }
    }
  }
  json ct = json::array();
  for (size_t i = 0; i < rec.conntrack_views.size(); ++i) {
    const conntrack::View& v = rec.conntrack_views[i];
    json e{{"text", rec.conntrack_table[i]},
           {"proto", proto_name(v.orig.proto)},
           {"timeout", v.timeout_s},
           {"orig", tuple_json(v.orig)},
           {"reply", tuple_json(v.reply)},
           {"status", status_json(v.status)},
           {"mark", v.mark}};
    if (v.has_tcp_state) e["tcp_state"] = conntrack::to_string(v.tcp_state);
    if (v.has_sctp_state) e["sctp_state"] = conntrack::to_string(v.sctp_state);
    if (v.helper != conntrack::Helper::None) e["helper"] = conntrack::to_string(v.helper);
    if (v.has_counters) {
      const conntrack::Counter& o = v.counters[conntrack::kOriginal];
      const conntrack::Counter& r = v.counters[conntrack::kReply];
      e["counters"] = {{"orig", {{"packets", o.packets}, {"bytes", o.bytes}}},
                       {"reply", {{"packets", r.packets}, {"bytes", r.bytes}}}};
    }
    ct.push_back(std::move(e));
  }
  return {{"counters", std::move(counters)},
          {"policies", std::move(policies)},
          {"conntrack", std::move(ct)},
          {"conntrack_events", rec.conntrack_events},
          {"kern_log", rec.kern_log},
          {"iptables_save", rec.iptables_save}};
}

}  // namespace

std::string run_json(const Network& net, std::string_view scenario_path) {
  const scenario::Scenario& sc = net.scenario();
  json doc;
  doc["format"] = "nfemu-run";
  doc["version"] = 1;
  doc["scenario"] = std::string(scenario_path);
  doc["end"] = seconds(sc.end_ns);
  json traffic = json::array();
  for (size_t i = 0; i < sc.traffic.size(); ++i) {
    const scenario::Traffic& t = sc.traffic[i];
    json j{{"index", i}, {"at", seconds(t.at_ns)}, {"host", sc.hosts[t.host].name}, {"packet", t.text}};
    if (t.origin == scenario::Origin::From)
      j["from"] = sc.hosts[t.host].name;
    else
      j["on"] = sc.hosts[t.host].name + ":" + sc.hosts[t.host].interfaces[t.iface].name;
    traffic.push_back(std::move(j));
  }
  doc["traffic"] = std::move(traffic);
  json events = json::array();
  for (const Event& e : net.events()) events.push_back(event_json(e));
  doc["events"] = std::move(events);
  json hosts = json::object();
  for (const auto& h : net.hosts()) hosts[h->name()] = host_json(*h, net.record(h->name()));
  doc["hosts"] = std::move(hosts);
  doc["unsupported"] = net.unsupported();
  // error_handler replace: a rule's text is user input; invalid UTF-8 in a
  // comment must not abort the run.
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace nfemu::net
