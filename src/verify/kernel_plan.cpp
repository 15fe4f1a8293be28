#include "verify/kernel_plan.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "packet/addr.h"
#include "packet/ethernet.h"
#include "packet/grammar.h"
#include "util/strings.h"

namespace nfemu::verify {

namespace {

constexpr packet::Mac kWirePeerMac = {0x02, 0, 0, 0, 0, 0};

std::vector<std::string> ip_in(const std::string& ns, std::initializer_list<std::string> args) {
  std::vector<std::string> v = {"ip", "-n", ns};
  v.insert(v.end(), args);
  return v;
}

std::vector<std::string> exec_in(const std::string& ns, std::initializer_list<std::string> args) {
  std::vector<std::string> v = {"ip", "netns", "exec", ns};
  v.insert(v.end(), args);
  return v;
}

std::string sysctl_text(const scenario::SysctlValue& v) {
  if (const auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  return std::get<std::string>(v);
}

bool in_subnet(uint32_t a, const scenario::Address& net) {
  uint32_t mask = net.prefix_len == 0 ? 0 : ~uint32_t(0) << (32 - net.prefix_len);
  return (a & mask) == (net.addr & mask);
}

bool in_prefix(uint32_t a, uint32_t dst, uint8_t plen) {
  uint32_t mask = plen == 0 ? 0 : ~uint32_t(0) << (32 - plen);
  return (a & mask) == (dst & mask);
}

}  // namespace

std::vector<uint32_t> addresses_in_text(std::string_view text) {
  std::vector<uint32_t> out;
  size_t i = 0;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < text.size()) {
    if (!digit(text[i]) || (i > 0 && (digit(text[i - 1]) || text[i - 1] == '.'))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && (digit(text[j]) || text[j] == '.')) ++j;
    std::string_view word = text.substr(i, j - i);
    while (!word.empty() && word.back() == '.') word.remove_suffix(1);
    auto a = packet::parse_ipv4_addr(word);
    if (a) out.push_back(*a);
    // NAT ranges (A-B) and NETMAP's --to prefix name every address in
    // them: the kernel may pick any, each needs its neighbour entry.
    if (a && j < text.size() && text[j] == '-') {
      size_t k = j + 1;
      while (k < text.size() && (digit(text[k]) || text[k] == '.')) ++k;
      auto b = packet::parse_ipv4_addr(text.substr(j + 1, k - j - 1));
      if (b && *b > *a && *b - *a <= 255)
        for (uint32_t x = *a + 1; x < *b; ++x) out.push_back(x);
    } else if (a && j < text.size() && text[j] == '/' && i >= 5 && text.substr(i - 5, 5) == "--to ") {
      size_t k = j + 1;
      while (k < text.size() && digit(text[k])) ++k;
      auto plen = parse_uint(text.substr(j + 1, k - j - 1), 32);
      if (plen && *plen >= 24) {
        uint32_t mask = ~uint32_t(0) << (32 - *plen);
        if (*plen == 32) mask = ~uint32_t(0);
        for (uint32_t x = (*a & mask); x <= ((*a & mask) | ~mask); ++x) {
          out.push_back(x);
          if (x == UINT32_MAX) break;
        }
      }
    }
    i = j;
  }
  return out;
}

std::string make_run_id() {
  std::random_device rd;
  return fmt::format("nfv{}x{}", static_cast<long>(getpid()), rd() % 100000);
}

Result<std::vector<RawRules>> read_raw_rules(const std::string& scenario_path, const scenario::Scenario& sc) {
  toml::table root;
  try {
    root = toml::parse_file(scenario_path);
  } catch (const toml::parse_error& e) {
    return make_error(std::string(e.description()), static_cast<int>(e.source().begin.line),
                      static_cast<int>(e.source().begin.column));
  }
  std::vector<RawRules> out(sc.hosts.size());
  const toml::table* hosts = root["hosts"].as_table();
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi) {
    const toml::table* h = hosts ? (*hosts)[sc.hosts[hi].name].as_table() : nullptr;
    if (!h) continue;
    if (const auto* f = (*h)["iptables-save"].as_string()) {
      std::filesystem::path p(f->get());
      std::string base = std::filesystem::path(scenario_path).parent_path().string();
      std::string full = p.is_absolute() || base.empty() ? p.string() : (std::filesystem::path(base) / p).string();
      std::ifstream in(full, std::ios::binary);
      if (!in) return make_error(fmt::format("cannot read `{}'", full), static_cast<int>(f->source().begin.line));
      std::ostringstream ss;
      ss << in.rdbuf();
      out[hi].save_path = full;
      out[hi].save_text = ss.str();
    }
    if (const auto* arr = (*h)["iptables"].as_array())
      for (const auto& e : *arr)
        if (const auto* s = e.as_string())
          out[hi].lines.push_back({s->get(), static_cast<int>(s->source().begin.line)});
  }
  return out;
}

Result<KernelPlan> plan_kernel(const scenario::Scenario& sc, const std::vector<RawRules>& raw, const std::string& id) {
  KernelPlan plan;
  plan.id = id;
  plan.end_ns = sc.end_ns;
  if (raw.size() != sc.hosts.size()) return make_error("internal: raw rules do not match the hosts");

  // Which interfaces are linked, and to what.
  auto peer_of = [&](size_t h, size_t i) { return sc.peer(scenario::Endpoint{h, i}); };
  bool any_wire = false;
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    for (size_t ii = 0; ii < sc.hosts[hi].interfaces.size(); ++ii)
      if (!sc.hosts[hi].interfaces[ii].loopback && !peer_of(hi, ii)) any_wire = true;

  for (const auto& h : sc.hosts) plan.host_ns.push_back(fmt::format("{}-{}", id, h.name));
  plan.namespaces = plan.host_ns;
  if (any_wire) {
    plan.wire_ns = fmt::format("{}-wire", id);
    plan.namespaces.push_back(plan.wire_ns);
  }

  auto add = [&](std::vector<std::string> argv, bool may_fail = false) {
    plan.setup.push_back(Command{std::move(argv), "", may_fail, false, "", 0, ""});
  };

  // Namespaces: no IPv6 (no router solicitations or MLD reports in the
  // captures), lo up, and the conf.default sysctls before any interface
  // exists so that they apply to the scenario's interfaces as written.
  for (const auto& ns : plan.namespaces) {
    add({"ip", "netns", "add", ns});
    add(exec_in(ns, {"sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"}));
    add(ip_in(ns, {"link", "set", "lo", "up"}));
  }
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    for (const auto& [name, value] : sc.hosts[hi].sysctls)
      if (starts_with(name, "net.ipv4.conf.default."))
        add(exec_in(plan.host_ns[hi], {"sysctl", "-q", "-w", fmt::format("{}={}", name, sysctl_text(value))}));

  // Links and wires.
  for (const auto& l : sc.links) {
    const auto& a = sc.hosts[l.a.host].interfaces[l.a.iface];
    const auto& b = sc.hosts[l.b.host].interfaces[l.b.iface];
    add({"ip", "link", "add", a.name, "netns", plan.host_ns[l.a.host], "type", "veth", "peer", "name", b.name, "netns",
         plan.host_ns[l.b.host]});
  }
  // wire peer name per (host, iface)
  std::vector<std::vector<std::string>> wire_peer(sc.hosts.size());
  int nwire = 0;
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi) {
    wire_peer[hi].resize(sc.hosts[hi].interfaces.size());
    for (size_t ii = 0; ii < sc.hosts[hi].interfaces.size(); ++ii) {
      const auto& ifc = sc.hosts[hi].interfaces[ii];
      if (ifc.loopback || peer_of(hi, ii)) continue;
      std::string w = fmt::format("w{}", nwire++);
      wire_peer[hi][ii] = w;
      add({"ip", "link", "add", ifc.name, "netns", plan.host_ns[hi], "type", "veth", "peer", "name", w, "netns",
           plan.wire_ns});
      // The wire sends whatever the scenario says; the host's interface
      // (its MTU) decides what it takes.
      add(ip_in(plan.wire_ns, {"link", "set", w, "address", packet::format_mac(kWirePeerMac), "mtu", "65535", "up"}));
      add(exec_in(plan.wire_ns, {"ethtool", "-K", w, "tx", "off", "tso", "off", "gso", "off", "gro", "off"}), true);
    }
  }

  // Interfaces: MAC, MTU, offloads off (captured segments = what the hooks
  // see), addresses, up.
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi) {
    const std::string& ns = plan.host_ns[hi];
    for (const auto& ifc : sc.hosts[hi].interfaces) {
      if (ifc.loopback) {
        if (ifc.mtu != 65536) add(ip_in(ns, {"link", "set", "lo", "mtu", std::to_string(ifc.mtu)}));
      } else {
        add(ip_in(ns, {"link", "set", ifc.name, "address", packet::format_mac(ifc.mac), "mtu", std::to_string(ifc.mtu)}));
        add(exec_in(ns, {"ethtool", "-K", ifc.name, "tx", "off", "tso", "off", "gso", "off", "gro", "off"}));
      }
      if (ifc.group != 0) add(ip_in(ns, {"link", "set", ifc.name, "group", std::to_string(ifc.group)}));
      for (const auto& a : ifc.addresses) {
        if (ifc.loopback && a.addr == 0x7f000001 && a.prefix_len == 8) continue;
        add(ip_in(ns, {"addr", "add", fmt::format("{}/{}", packet::format_ipv4_addr(a.addr), a.prefix_len), "dev",
                       ifc.name}));
      }
    }
  }
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    for (const auto& ifc : sc.hosts[hi].interfaces)
      if (!ifc.loopback) add(ip_in(plan.host_ns[hi], {"link", "set", ifc.name, "up"}));

  // Routes, as written.
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    for (const auto& r : sc.hosts[hi].routes) {
      if (r.origin != scenario::RouteOrigin::User) continue;
      std::vector<std::string> argv = {"ip", "-n", plan.host_ns[hi], "route", "add"};
      std::istringstream words(r.text);
      for (std::string w; words >> w;) argv.push_back(w);
      add(std::move(argv));
    }

  // Neighbours: every address the scenario mentions that a host could
  // resolve on an interface gets the MAC the emulator uses there (the link
  // peer's, or the wire's 02:00:00:00:00:00).
  std::set<uint32_t> mentioned;
  for (const auto& t : sc.traffic) mentioned.insert(t.packet.src), mentioned.insert(t.packet.dst);
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi) {
    for (const auto& r : sc.hosts[hi].routes)
      if (r.via) mentioned.insert(*r.via);
    for (const auto& ifc : sc.hosts[hi].interfaces)
      for (const auto& a : ifc.addresses) mentioned.insert(a.addr);
    for (uint32_t a : addresses_in_text(raw[hi].save_text)) mentioned.insert(a);
    for (const auto& l : raw[hi].lines)
      for (uint32_t a : addresses_in_text(l.text)) mentioned.insert(a);
  }
  std::vector<std::string> neigh(sc.hosts.size());
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi) {
    const auto& h = sc.hosts[hi];
    std::set<uint32_t> own;
    for (const auto& ifc : h.interfaces)
      for (const auto& a : ifc.addresses) own.insert(a.addr);
    for (size_t ii = 0; ii < h.interfaces.size(); ++ii) {
      const auto& ifc = h.interfaces[ii];
      if (ifc.loopback) continue;
      auto peer = peer_of(hi, ii);
      packet::Mac mac = peer ? sc.hosts[peer->host].interfaces[peer->iface].mac : kWirePeerMac;
      std::set<uint32_t> on_link;
      for (uint32_t m : mentioned) {
        if (own.count(m) || m == 0 || (m >> 24) == 127 || (m >> 28) >= 14) continue;
        bool hit = false;
        for (const auto& a : ifc.addresses)
          if (in_subnet(m, a) && m != a.broadcast()) hit = true;
        for (const auto& r : h.routes) {
          if (r.dev != static_cast<int>(ii) || r.type != scenario::RouteType::Unicast) continue;
          if (r.via && *r.via == m) hit = true;
          if (!r.via && r.origin == scenario::RouteOrigin::User && in_prefix(m, r.dst, r.prefix_len)) hit = true;
        }
        if (hit) on_link.insert(m);
      }
      for (uint32_t m : on_link)
        neigh[hi] += fmt::format("neigh replace {} lladdr {} dev {} nud permanent\n", packet::format_ipv4_addr(m),
                                 packet::format_mac(mac), ifc.name);
    }
  }
  // One `ip -batch' per host: NAT ranges can name hundreds of neighbours.
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    if (!neigh[hi].empty())
      plan.setup.push_back(Command{ip_in(plan.host_ns[hi], {"-batch", "-"}), neigh[hi], false, false, "", 0, ""});

  // Sysctls (the conf.default ones are set above; the net.netfilter ones
  // after the rules, which load conntrack into the namespace). The global
  // forwarding switch first: writing it sets every interface's
  // conf/DEV/forwarding, and the scenario's own per-interface values
  // must win, as they would in a dump of the state it describes.
  auto global_forwarding = [](const std::string& name) {
    return name == "net.ipv4.ip_forward" || name == "net.ipv4.conf.all.forwarding";
  };
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    for (const auto& [name, value] : sc.hosts[hi].sysctls)
      if (global_forwarding(name))
        add(exec_in(plan.host_ns[hi], {"sysctl", "-q", "-w", fmt::format("{}={}", name, sysctl_text(value))}));
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    for (const auto& [name, value] : sc.hosts[hi].sysctls) {
      if (starts_with(name, "net.ipv4.conf.default.") || global_forwarding(name)) continue;
      if (name == "net.netfilter.nf_conntrack_max") {
        plan.notes.push_back(fmt::format("{}: net.netfilter.nf_conntrack_max is read-only outside the initial "
                                         "namespace; the kernel side keeps the machine's value",
                                         sc.hosts[hi].name));
        continue;
      }
      Command c{exec_in(plan.host_ns[hi], {"sysctl", "-q", "-w", fmt::format("{}={}", name, sysctl_text(value))}), "",
                false, false, "", 0, ""};
      if (starts_with(name, "net.netfilter.")) plan.late_sysctls.push_back(std::move(c));
      else plan.setup.push_back(std::move(c));
    }

  // IP sets before the rules: iptables resolves a set's name as it parses.
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    if (!sc.hosts[hi].ipset_restore.empty())
      plan.setup.push_back(
          Command{exec_in(plan.host_ns[hi], {"ipset", "restore"}), sc.hosts[hi].ipset_restore, false, false, "", 0, ""});

  // Accounting objects before the rules too: the kernel looks a rule's
  // object up when the rule is loaded.
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi)
    for (size_t k = 0; k < sc.hosts[hi].nfacct.size(); ++k)
      plan.setup.push_back(Command{exec_in(plan.host_ns[hi], {"nfacct", "add", sc.hosts[hi].nfacct.at(k).name}), "",
                                   false, false, "", 0, ""});

  // Rules: the file through iptables-legacy-restore (without --counters,
  // as the scenario loader reads it), then each entry.
  for (size_t hi = 0; hi < sc.hosts.size(); ++hi) {
    const auto& r = raw[hi];
    if (!r.save_path.empty())
      plan.rules.push_back(Command{exec_in(plan.host_ns[hi], {"iptables-legacy-restore"}), r.save_text, false, true,
                                   r.save_path, 0, ""});
    for (const auto& l : r.lines) {
      auto words = shell_split(l.text);
      if (!words) return make_error(words.error().message, l.line);
      std::vector<std::string> argv = exec_in(plan.host_ns[hi], {"iptables-legacy", "-w"});
      size_t start = !words->empty() && (*words)[0].text == "iptables" ? 1 : 0;
      for (size_t k = start; k < words->size(); ++k) argv.push_back((*words)[k].text);
      plan.rules.push_back(Command{std::move(argv), "", false, true, sc.path, l.line, l.text});
    }
  }

  for (size_t hi = 0; hi < sc.hosts.size(); ++hi) {
    for (const auto& ifc : sc.hosts[hi].interfaces)
      if (!ifc.loopback) plan.captures.push_back({hi, plan.host_ns[hi], ifc.name});
    for (const auto& l : sc.hosts[hi].listeners)
      plan.listeners.push_back({plan.host_ns[hi], l.proto == scenario::Proto::Tcp ? 6 : 17, l.port});
  }

  for (const auto& t : sc.traffic) {
    Injection inj;
    inj.at_ns = t.at_ns;
    inj.line = t.line;
    inj.text = t.text;
    packet::Packet pkt = packet::build_packet(t.packet);
    if (t.origin == scenario::Origin::From) {
      // raw_send_hdrinc fills these in: the kernel's packet is not the text's.
      if (t.packet.ipid == 0)
        plan.notes.push_back(fmt::format("{}:{}: the kernel's raw socket replaces IPv4 ID 0 with its own choice",
                                         sc.path, t.line));
      if (t.packet.src == 0)
        plan.notes.push_back(fmt::format("{}:{}: the kernel's raw socket replaces source 0.0.0.0 with the route's",
                                         sc.path, t.line));
      inj.from = true;
      inj.ns = plan.host_ns[t.host];
      inj.dst = t.packet.dst;
      auto d = pkt.data();
      inj.bytes.assign(d.begin(), d.end());
    } else {
      inj.from = false;
      const auto& ifc = sc.hosts[t.host].interfaces[t.iface];
      auto peer = peer_of(t.host, t.iface);
      packet::EthernetHeader eth;
      eth.dst = ifc.mac;
      if (peer) {
        const auto& pi = sc.hosts[peer->host].interfaces[peer->iface];
        eth.src = pi.mac;
        inj.ns = plan.host_ns[peer->host];
        inj.ifname = pi.name;
        inj.strip_from_peer = true;
        inj.peer_host = peer->host;
        inj.peer_ifname = pi.name;
      } else {
        eth.src = kWirePeerMac;
        inj.ns = plan.wire_ns;
        inj.ifname = wire_peer[t.host][t.iface];
      }
      pkt.set_mac_header(eth);
      auto f = pkt.frame();
      inj.bytes.assign(f.begin(), f.end());
    }
    plan.traffic.push_back(std::move(inj));
  }
  return plan;
}

}  // namespace nfemu::verify
