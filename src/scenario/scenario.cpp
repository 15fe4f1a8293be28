#include "scenario/scenario.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "ruleset/restore.h"
#include "scenario/routes.h"
#include "scenario/sha256.h"
#include "scenario/sysctl.h"
#include "util/strings.h"

namespace nfemu::scenario {

uint32_t Address::network() const { return prefix_len == 0 ? 0 : addr & (~uint32_t(0) << (32 - prefix_len)); }

uint32_t Address::broadcast() const {
  if (prefix_len > 30) return 0;
  return addr | (prefix_len == 0 ? ~uint32_t(0) : ~(~uint32_t(0) << (32 - prefix_len)));
}

const Interface* Host::find_interface(std::string_view n) const {
  int i = interface_index(n);
  return i < 0 ? nullptr : &interfaces[static_cast<size_t>(i)];
}

int Host::interface_index(std::string_view n) const {
  for (size_t i = 0; i < interfaces.size(); ++i)
    if (interfaces[i].name == n) return static_cast<int>(i);
  return -1;
}

int64_t Host::sysctl_int(std::string_view n, int64_t fallback) const {
  auto it = sysctls.find(std::string(n));
  if (it == sysctls.end()) return fallback;
  if (const auto* v = std::get_if<int64_t>(&it->second)) return *v;
  return fallback;
}

size_t Host::rule_count() const {
  size_t n = 0;
  for (const auto& t : ruleset.tables())
    for (const auto& c : t.chains()) n += c.rules.size();
  return n;
}

const Host* Scenario::find_host(std::string_view n) const {
  int i = host_index(n);
  return i < 0 ? nullptr : &hosts[static_cast<size_t>(i)];
}

int Scenario::host_index(std::string_view n) const {
  for (size_t i = 0; i < hosts.size(); ++i)
    if (hosts[i].name == n) return static_cast<int>(i);
  return -1;
}

std::optional<Endpoint> Scenario::peer(Endpoint e) const {
  for (const auto& l : links) {
    if (l.a == e) return l.b;
    if (l.b == e) return l.a;
  }
  return std::nullopt;
}

packet::Mac default_mac(std::string_view host, std::string_view ifname) {
  auto d = sha256(fmt::format("{}/{}", host, ifname));
  return {0x02, d[0], d[1], d[2], d[3], d[4]};
}

namespace {

constexpr int64_t kSecond = 1000000000;

// Number of UTF-8 code points in s: toml++ counts columns in code points.
int codepoints(std::string_view s) {
  int n = 0;
  for (unsigned char c : s)
    if ((c & 0xc0) != 0x80) ++n;
  return n;
}

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

Error at(const toml::source_region& s, std::string msg) {
  return make_error(std::move(msg), static_cast<int>(s.begin.line), static_cast<int>(s.begin.column));
}
Error at(const toml::node& n, std::string msg) { return at(n.source(), std::move(msg)); }
Error at(const toml::key& k, std::string msg) { return at(k.source(), std::move(msg)); }

bool before(const toml::source_region& a, const toml::source_region& b) {
  if (a.begin.line != b.begin.line) return a.begin.line < b.begin.line;
  return a.begin.column < b.begin.column;
}

// toml++ keeps tables sorted by key; the format's order is the file's.
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> out;
  for (auto&& [k, v] : t) out.emplace_back(&k, &v);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return before(a.first->source(), b.first->source()); });
  return out;
}

Result<void> check_keys(const toml::table& t, std::initializer_list<std::string_view> allowed, std::string_view where) {
  for (auto [k, v] : in_file_order(t))
    if (std::find(allowed.begin(), allowed.end(), k->str()) == allowed.end())
      return at(*k, fmt::format("unknown key `{}' {}", k->str(), where));
  return {};
}

class Loader {
 public:
  Loader(std::string_view text, std::string path, std::string base_dir, const LoadOptions& opts)
      : path_(std::move(path)), base_dir_(std::move(base_dir)), opts_(opts) {
    for (auto l : split(text, '\n')) lines_.push_back(l);
  }

  Result<Scenario> run(const toml::table& root) {
    Scenario sc;
    sc.path = path_;
    sc.limits = opts_.limits;
    if (auto r = check_keys(root, {"hosts", "links", "traffic"}, "at the top level"); !r) return r.error();
    const toml::node* hosts = root.get("hosts");
    if (!hosts) return make_error("a scenario needs at least one host: no [hosts.NAME] table", 1, 1);
    const toml::table* ht = hosts->as_table();
    if (!ht) return at(*hosts, fmt::format("`hosts' must be a table of hosts ([hosts.NAME]), not {}", type_name(*hosts)));
    if (ht->empty()) return at(*hosts, "a scenario needs at least one host: [hosts] is empty");
    for (auto [k, v] : in_file_order(*ht)) {
      if (sc.hosts.size() == opts_.limits.max_hosts)
        return at(*k, fmt::format("too many hosts: the limit is {}", opts_.limits.max_hosts));
      auto h = load_host(*k, *v);
      if (!h) return h.error();
      sc.hosts.push_back(std::move(*h));
    }
    if (const toml::node* links = root.get("links")) {
      const toml::array* arr = links->as_array();
      if (!arr) return at(*links, "`links' must be an array of tables ([[links]])");
      for (const toml::node& l : *arr) {
        auto link = load_link(sc, l);
        if (!link) return link.error();
        sc.links.push_back(*link);
      }
    }
    if (const toml::node* traffic = root.get("traffic")) {
      const toml::array* arr = traffic->as_array();
      if (!arr) return at(*traffic, "`traffic' must be an array of tables ([[traffic]])");
      for (const toml::node& t : *arr) {
        if (sc.traffic.size() == opts_.limits.max_traffic)
          return at(t, fmt::format("too many traffic entries: the limit is {}", opts_.limits.max_traffic));
        auto tr = load_traffic(sc, t);
        if (!tr) return tr.error();
        sc.traffic.push_back(std::move(*tr));
      }
    }
    sc.end_ns = (sc.traffic.empty() ? 0 : sc.traffic.back().at_ns) + kSecond;
    sc.end_time = static_cast<double>(sc.end_ns) / kSecond;
    return sc;
  }

 private:
  // The file column of byte inner_col (1-based) of a string value, when
  // the value is written on one line without escapes; else the column of
  // the value itself.
  Error in_string(const toml::node& n, std::string_view value, Error e) {
    const auto& pos = n.source().begin;
    e.line = static_cast<int>(pos.line);
    int col = static_cast<int>(pos.column);
    int mapped = col;
    if (e.col > 0 && pos.line >= 1 && pos.line <= lines_.size()) {
      std::string_view raw = lines_[pos.line - 1];
      // Byte offset of the value's first code point.
      size_t off = 0;
      for (int c = 1; off < raw.size() && c < col; ++c) {
        ++off;
        while (off < raw.size() && (static_cast<unsigned char>(raw[off]) & 0xc0) == 0x80) ++off;
      }
      if (off < raw.size() && (raw[off] == '"' || raw[off] == '\'')) {
        char q = raw[off];
        bool triple = raw.substr(off, 3) == std::string_view(q == '"' ? "\"\"\"" : "'''");
        std::string_view body = raw.substr(off + 1);
        if (!triple && body.size() > value.size() && body.substr(0, value.size()) == value && body[value.size()] == q) {
          size_t inner = std::min(static_cast<size_t>(e.col - 1), value.size());
          mapped = col + 1 + codepoints(value.substr(0, inner));
        }
      }
    }
    e.col = mapped;
    e.file.clear();
    return e;
  }

  Result<std::string> string_of(const toml::node& n, std::string_view what) {
    if (const auto* s = n.as_string()) return s->get();
    return at(n, fmt::format("{} must be a string, not {}", what, type_name(n)));
  }

  Result<const toml::array*> array_of_strings(const toml::node& n, std::string_view what) {
    const toml::array* arr = n.as_array();
    if (!arr) return at(n, fmt::format("`{}' must be an array of strings, not {}", what, type_name(n)));
    for (const toml::node& e : *arr)
      if (!e.is_string()) return at(e, fmt::format("`{}' entries must be strings, not {}", what, type_name(e)));
    return arr;
  }

  // "HOST:IFNAME" with the host and interface looked up.
  Result<Endpoint> endpoint(const Scenario& sc, const toml::node& n, std::string_view what) {
    auto s = string_of(n, what);
    if (!s) return s.error();
    size_t colon = s->find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s->size())
      return in_string(n, *s, make_error(fmt::format("expected HOST:IFNAME, not `{}'", *s), 0, 1));
    std::string host = s->substr(0, colon), ifname = s->substr(colon + 1);
    int hi = sc.host_index(host);
    if (hi < 0) return in_string(n, *s, make_error(fmt::format("unknown host `{}'", host), 0, 1));
    int ii = sc.hosts[hi].interface_index(ifname);
    if (ii < 0)
      return in_string(n, *s, make_error(fmt::format("host `{}' has no interface `{}'", host, ifname), 0,
                                         static_cast<int>(colon) + 2));
    return Endpoint{static_cast<size_t>(hi), static_cast<size_t>(ii)};
  }

  Result<Link> load_link(const Scenario& sc, const toml::node& n) {
    const toml::table* t = n.as_table();
    if (!t) return at(n, fmt::format("`links' entries must be tables ([[links]]), not {}", type_name(n)));
    if (auto r = check_keys(*t, {"between"}, "in [[links]]"); !r) return r.error();
    const toml::node* between = t->get("between");
    if (!between) return at(n, "a link needs `between = [\"HOST:IFNAME\", \"HOST:IFNAME\"]'");
    const toml::array* arr = between->as_array();
    if (!arr || arr->size() != 2)
      return at(*between, "`between' must be an array of two \"HOST:IFNAME\" strings");
    Link link;
    link.line = static_cast<int>(n.source().begin.line);
    Endpoint ends[2];
    for (size_t i = 0; i < 2; ++i) {
      const toml::node& e = *arr->get(i);
      auto ep = endpoint(sc, e, "a link end");
      if (!ep) return ep.error();
      const Interface& ifc = sc.hosts[ep->host].interfaces[ep->iface];
      if (ifc.loopback) return at(e, "lo cannot be linked: it is the host's loopback");
      for (const auto& other : sc.links)
        if (other.a == *ep || other.b == *ep)
          return at(e, fmt::format("interface {}:{} is already in the link of line {}", sc.hosts[ep->host].name,
                                   ifc.name, other.line));
      if (i == 1 && *ep == ends[0]) return at(e, "a link needs two different interfaces");
      ends[i] = *ep;
    }
    link.a = ends[0];
    link.b = ends[1];
    return link;
  }

  Result<Traffic> load_traffic(const Scenario& sc, const toml::node& n) {
    const toml::table* t = n.as_table();
    if (!t) return at(n, fmt::format("`traffic' entries must be tables ([[traffic]]), not {}", type_name(n)));
    if (auto r = check_keys(*t, {"at", "from", "on", "packet"}, "in [[traffic]]"); !r) return r.error();
    Traffic tr;
    tr.line = static_cast<int>(n.source().begin.line);
    const toml::node* atn = t->get("at");
    if (!atn) return at(n, "a traffic entry needs `at' (seconds from the start)");
    if (const auto* i = atn->as_integer()) tr.at = static_cast<double>(i->get());
    else if (const auto* f = atn->as_floating_point()) tr.at = f->get();
    else return at(*atn, fmt::format("`at' must be a number of seconds, not {}", type_name(*atn)));
    // 1e9 s keeps nanoseconds far inside int64_t.
    if (!std::isfinite(tr.at) || tr.at < 0 || tr.at > 1e9)
      return at(*atn, fmt::format("`at' must be between 0 and 1e9 seconds, not {}", tr.at));
    tr.at_ns = std::llround(tr.at * 1e9);
    if (!sc.traffic.empty() && tr.at_ns < sc.traffic.back().at_ns)
      return at(*atn, fmt::format("traffic at {} s comes after traffic at {} s (line {}): `at' must not decrease",
                                  tr.at, sc.traffic.back().at, sc.traffic.back().line));
    const toml::node* from = t->get("from");
    const toml::node* on = t->get("on");
    if (from && on)
      return at(before(from->source(), on->source()) ? *on : *from,
                "`from' and `on' exclude each other: a packet is sent by a host or arrives on an interface");
    if (from) {
      auto s = string_of(*from, "`from'");
      if (!s) return s.error();
      int hi = sc.host_index(*s);
      if (hi < 0) return at(*from, fmt::format("unknown host `{}'", *s));
      tr.origin = Origin::From;
      tr.host = static_cast<size_t>(hi);
    } else if (on) {
      auto ep = endpoint(sc, *on, "`on'");
      if (!ep) return ep.error();
      if (sc.hosts[ep->host].interfaces[ep->iface].loopback)
        return at(*on, "nothing arrives on lo from a wire: use `from' to send from a host");
      tr.origin = Origin::On;
      tr.host = ep->host;
      tr.iface = ep->iface;
    } else {
      return at(n, "a traffic entry needs `from = \"HOST\"' or `on = \"HOST:IFNAME\"'");
    }
    const toml::node* pk = t->get("packet");
    if (!pk) return at(n, "a traffic entry needs `packet'");
    auto text = string_of(*pk, "`packet'");
    if (!text) return text.error();
    auto spec = packet::parse_packet_spec(*text);
    if (!spec) return in_string(*pk, *text, spec.error());
    tr.text = *text;
    tr.packet = *spec;
    return tr;
  }

  static bool valid_host_name(std::string_view s) {
    if (s.empty() || s.size() > 15 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; });
  }

  // dev_valid_name, plus the names net.ipv4.conf already uses.
  static std::optional<std::string> invalid_ifname(std::string_view s) {
    if (s.empty()) return "an interface name cannot be empty";
    if (s.size() > 15) return fmt::format("interface name `{}' is longer than 15 characters", s);
    if (s == "." || s == "..") return fmt::format("`{}' is not a valid interface name", s);
    for (char c : s)
      if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r'))
        return fmt::format("interface name `{}' contains `{}', which Linux refuses", s, c == '/' || c == ':' ? c : ' ');
      else if (c == '%')  // a template: Linux would name it e0, e1...
        return fmt::format("interface name `{}' contains `%', which Linux expands to a number", s);
    if (s == "all" || s == "default") return fmt::format("interface name `{}' is taken by net.ipv4.conf.{}", s, s);
    return std::nullopt;
  }

  Result<void> load_interface(Host& h, const toml::key& k, const toml::node& v) {
    std::string where = fmt::format("in [hosts.{}.interfaces.{}]", h.name, k.str());
    if (auto bad = invalid_ifname(k.str())) return at(k, *bad);
    const toml::table* t = v.as_table();
    if (!t) return at(v, fmt::format("interface `{}' must be a table, not {}", k.str(), type_name(v)));
    if (auto r = check_keys(*t, {"addresses", "mac", "mtu", "group"}, where); !r) return r.error();
    bool is_lo = k.str() == "lo";
    Interface ifc;
    if (is_lo) {
      ifc = h.interfaces[0];
    } else {
      ifc.name = std::string(k.str());
      ifc.mac = default_mac(h.name, ifc.name);
    }
    ifc.line = static_cast<int>(k.source().begin.line);
    if (const toml::node* a = t->get("addresses")) {
      auto arr = array_of_strings(*a, "addresses");
      if (!arr) return arr.error();
      for (const toml::node& e : **arr) {
        const std::string& s = e.as_string()->get();
        auto words = shell_split(s);
        if (words && words->size() > 1)
          return in_string(e, s, make_error("nfemu reads only ADDRESS/PREFIXLEN here (no brd, peer, scope...)", 0,
                                            (*words)[1].col));
        auto prefix = parse_iproute_prefix(s);
        if (!prefix) return at(e, fmt::format("Error: inet prefix is expected rather than \"{}\".", s));
        Address ad{prefix->first, prefix->second};
        for (const auto& o : ifc.addresses) {
          if (o.addr == ad.addr && o.prefix_len == ad.prefix_len)
            return at(e, fmt::format("RTNETLINK answers: File exists ({} is already on {})", s, ifc.name));
          if (o.prefix_len == ad.prefix_len && o.network() == ad.network()) ad.secondary = true;
        }
        ifc.addresses.push_back(ad);
      }
    }
    if (const toml::node* m = t->get("mac")) {
      auto s = string_of(*m, "`mac'");
      if (!s) return s.error();
      if (is_lo) return at(*m, "lo has no MAC address to set");
      auto mac = packet::parse_mac(*s);
      if (!mac) return at(*m, fmt::format("invalid MAC address `{}': expected six hex bytes as 02:00:00:00:00:01", *s));
      if ((*mac)[0] & 1) return at(*m, fmt::format("RTNETLINK answers: Cannot assign requested address ({} is a multicast "
                                                  "address)", *s));
      if (*mac == packet::Mac{}) return at(*m, "RTNETLINK answers: Cannot assign requested address (all-zero MAC)");
      ifc.mac = *mac;
    }
    if (const toml::node* m = t->get("mtu")) {
      const auto* i = m->as_integer();
      if (!i) return at(*m, fmt::format("`mtu' must be an integer, not {}", type_name(*m)));
      // 68 is IPv4's minimum; veth stops at ETH_MAX_MTU, loopback allows its 65536.
      int64_t max = is_lo ? 65536 : 65535;
      if (i->get() < 68 || i->get() > max)
        return at(*m, fmt::format("mtu {} is out of range (68..{})", i->get(), max));
      ifc.mtu = static_cast<uint32_t>(i->get());
    }
    if (const toml::node* g = t->get("group")) {
      const auto* i = g->as_integer();
      if (!i) return at(*g, fmt::format("`group' must be an integer, not {}", type_name(*g)));
      if (i->get() < 0 || i->get() > UINT32_MAX)
        return at(*g, fmt::format("group {} is out of range (0..{})", i->get(), UINT32_MAX));
      ifc.group = static_cast<uint32_t>(i->get());
    }
    if (is_lo) h.interfaces[0] = std::move(ifc);
    else h.interfaces.push_back(std::move(ifc));
    return {};
  }

  // Collects sysctl entries, flattening dotted keys written without quotes
  // (`net.ipv4.ip_forward = 1` under [hosts.X.sysctl] nests tables).
  // Every known name has at most six parts: deeper nesting is a mistake,
  // and refusing it bounds the recursion on hostile input.
  Result<void> flatten(const toml::table& t, const std::string& prefix, int depth,
                       std::vector<std::tuple<std::string, const toml::key*, const toml::node*>>& out) {
    for (auto [k, v] : in_file_order(t)) {
      std::string name = prefix.empty() ? std::string(k->str()) : prefix + "." + std::string(k->str());
      if (const auto* sub = v->as_table()) {
        if (depth == 8) return at(*k, fmt::format("unknown sysctl `{}...': nested too deep", name));
        if (auto r = flatten(*sub, name, depth + 1, out); !r) return r;
      } else {
        out.emplace_back(name, k, v);
      }
    }
    return {};
  }

  Result<void> load_sysctls(Host& h, const toml::node& n) {
    const toml::table* t = n.as_table();
    if (!t) return at(n, fmt::format("`sysctl' must be a table, as {{ \"net.ipv4.ip_forward\" = 1 }}, not {}",
                                     type_name(n)));
    std::vector<std::string> ifnames;
    for (const auto& i : h.interfaces) ifnames.push_back(i.name);
    std::vector<std::tuple<std::string, const toml::key*, const toml::node*>> entries;
    if (auto r = flatten(*t, "", 0, entries); !r) return r.error();
    for (auto& [name, k, v] : entries) {
      SysctlInput in;
      if (const auto* i = v->as_integer()) in = i->get();
      else if (const auto* s = v->as_string()) in = s->get();
      else return at(*v, fmt::format("sysctl values are integers or strings, as written to /proc/sys; {} is {}", name,
                                     type_name(*v)));
      auto val = check_sysctl(name, in, ifnames);
      if (!val) {
        bool name_error = starts_with(val.error().message, "unknown sysctl");
        return at(name_error ? k->source() : v->source(), val.error().message);
      }
      h.sysctls[name] = *val;
      // One entry under two names: the file cannot say which write came last.
      const std::string_view alias = name == "net.ipv4.ip_forward"            ? "net.ipv4.conf.all.forwarding"
                                     : name == "net.ipv4.conf.all.forwarding" ? "net.ipv4.ip_forward"
                                                                              : "";
      if (!alias.empty())
        if (auto other = h.sysctls.find(std::string(alias)); other != h.sysctls.end() && other->second != *val)
          return at(v->source(), fmt::format("{} and {} are the same setting and the file gives them different "
                                             "values; keep one",
                                             name, alias));
    }
    return {};
  }

  Result<void> check_rule_limit(const Host& h, const toml::node& n) {
    if (h.rule_count() > opts_.limits.max_rules_per_host)
      return at(n, fmt::format("host `{}' has {} rules: the limit is {}", h.name, h.rule_count(),
                               opts_.limits.max_rules_per_host));
    return {};
  }

  struct RuleSets {
    const ipset::Registry* registry;
    const xt::NfacctObjects* nfacct;
  };

  // A file a host entry names (`what`), relative to this scenario file.
  struct NamedFile {
    std::string path, text;
  };
  Result<NamedFile> read_named_file(const toml::node& n, std::string_view what) {
    auto name = string_of(n, what);
    if (!name) return name.error();
    std::filesystem::path p(*name);
    std::string full = p.is_absolute() || base_dir_.empty() ? *name : (std::filesystem::path(base_dir_) / p).string();
    std::error_code ec;
    if (std::filesystem::is_directory(full, ec)) return at(n, fmt::format("cannot read `{}': Is a directory", full));
    std::ifstream in(full, std::ios::binary);
    if (!in) return at(n, fmt::format("cannot read `{}': {}", full, std::strerror(errno)));
    std::ostringstream ss;
    ss << in.rdbuf();
    return NamedFile{std::move(full), std::move(ss).str()};
  }

  // `ipset save` output (or `ipset restore` input).
  Result<void> load_ipset_file(Host& h, const toml::node& n) {
    auto f = read_named_file(n, "`ipset-save'");
    if (!f) return f.error();
    if (auto r = h.ipsets.restore(f->text); !r) {
      Error e = r.error();
      e.file = f->path;
      return e;
    }
    h.ipset_restore += f->text;
    if (!h.ipset_restore.empty() && h.ipset_restore.back() != '\n') h.ipset_restore += '\n';
    return {};
  }

  Result<void> load_rules_file(Host& h, const toml::node& n, const RuleSets& sets) {
    auto f = read_named_file(n, "`iptables-save'");
    if (!f) return f.error();
    // iptables-restore without --counters, as `nfemu verify' loads it: [p:b]
    // in the file are accepted and ignored.
    if (auto r = ruleset::restore(f->text, h.ruleset, {.sets = sets.registry, .nfacct = sets.nfacct}); !r) {
      Error e = r.error();
      e.file = f->path;
      return e;
    }
    return check_rule_limit(h, n);
  }

  Result<Host> load_host(const toml::key& k, const toml::node& v) {
    Host h;
    h.name = std::string(k.str());
    h.line = static_cast<int>(k.source().begin.line);
    if (!valid_host_name(h.name))
      return at(k, fmt::format("invalid host name `{}': it must match [a-z][a-z0-9_-]{{0,14}}", h.name));
    const toml::table* t = v.as_table();
    if (!t) return at(v, fmt::format("host `{}' must be a table ([hosts.{}]), not {}", h.name, h.name, type_name(v)));
    std::string where = fmt::format("in [hosts.{}]", h.name);
    if (auto r = check_keys(*t, {"sysctl", "ipset-save", "ipset", "nfacct", "iptables-save", "iptables", "routes",
                                 "listen", "interfaces"},
                            where);
        !r)
      return r.error();

    Interface lo;
    lo.name = "lo";
    lo.loopback = true;
    lo.mtu = 65536;
    lo.addresses.push_back({0x7f000001, 8});
    h.interfaces.push_back(lo);
    if (const toml::node* ifs = t->get("interfaces")) {
      const toml::table* it = ifs->as_table();
      if (!it) return at(*ifs, fmt::format("`interfaces' must be a table ([hosts.{}.interfaces.IFNAME]), not {}", h.name,
                                           type_name(*ifs)));
      for (auto [ik, iv] : in_file_order(*it)) {
        if (ik->str() != "lo" && h.interfaces.size() - 1 == opts_.limits.max_interfaces_per_host)
          return at(*ik, fmt::format("too many interfaces on host `{}': the limit is {}", h.name,
                                     opts_.limits.max_interfaces_per_host));
        if (auto r = load_interface(h, *ik, *iv); !r) return r.error();
      }
    }
    if (const toml::node* s = t->get("sysctl"))
      if (auto r = load_sysctls(h, *s); !r) return r.error();
    h.conntrack_max = h.sysctl_int("net.netfilter.nf_conntrack_max", opts_.limits.conntrack_max);

    // Sets first: iptables resolves a set's name while it parses the rule.
    if (const toml::node* f = t->get("ipset-save"))
      if (auto r = load_ipset_file(h, *f); !r) return r.error();
    if (const toml::node* lines = t->get("ipset")) {
      auto arr = array_of_strings(*lines, "ipset");
      if (!arr) return arr.error();
      for (const toml::node& e : **arr) {
        const std::string& line = e.as_string()->get();
        if (line.find('\n') != std::string::npos)
          return at(e, "an `ipset' entry is one line; give several entries for several lines");
        if (auto r = h.ipsets.restore(line); !r) return in_string(e, line, r.error());
        h.ipset_restore += line + "\n";
      }
    }
    // Accounting objects too: the kernel looks a rule's object up when the
    // rule is loaded.
    if (const toml::node* objects = t->get("nfacct")) {
      auto arr = array_of_strings(*objects, "nfacct");
      if (!arr) return arr.error();
      for (const toml::node& e : **arr) {
        const std::string& name = e.as_string()->get();
        if (name.empty() || name.size() > xt::kNfacctNameMax)
          return at(e, fmt::format("nfacct object name `{}' must have 1 to {} characters (nfacct and iptables cut a "
                                   "longer one)",
                                   name, xt::kNfacctNameMax));
        if (!h.nfacct.add(name))
          return at(e, fmt::format("duplicate nfacct object `{}' (`nfacct add' fails: Device or resource busy)", name));
      }
    }
    const RuleSets sets{&h.ipsets, &h.nfacct};
    if (const toml::node* f = t->get("iptables-save"))
      if (auto r = load_rules_file(h, *f, sets); !r) return r.error();
    if (const toml::node* ipt = t->get("iptables")) {
      auto arr = array_of_strings(*ipt, "iptables");
      if (!arr) return arr.error();
      for (const toml::node& e : **arr) {
        const std::string& line = e.as_string()->get();
        if (auto r = ruleset::apply_iptables_line(line, h.ruleset, static_cast<int>(e.source().begin.line),
                                                  sets.registry, sets.nfacct);
            !r) {
          Error err = r.error();
          return in_string(e, line, std::move(err));
        }
        if (auto r = check_rule_limit(h, e); !r) return r.error();
      }
    }

    add_kernel_routes(h);
    if (const toml::node* routes = t->get("routes")) {
      auto arr = array_of_strings(*routes, "routes");
      if (!arr) return arr.error();
      if ((*arr)->size() > opts_.limits.max_routes_per_host)
        return at(*routes, fmt::format("host `{}' has {} routes: the limit is {}", h.name, (*arr)->size(),
                                       opts_.limits.max_routes_per_host));
      for (const toml::node& e : **arr) {
        const std::string& text = e.as_string()->get();
        if (auto r = add_route(h, text); !r) return in_string(e, text, r.error());
        h.routes.back().line = static_cast<int>(e.source().begin.line);
      }
    }

    if (const toml::node* listen = t->get("listen")) {
      auto arr = array_of_strings(*listen, "listen");
      if (!arr) return arr.error();
      for (const toml::node& e : **arr) {
        const std::string& s = e.as_string()->get();
        Listener l;
        std::string_view port;
        if (starts_with(s, "tcp/")) l.proto = Proto::Tcp, port = std::string_view(s).substr(4);
        else if (starts_with(s, "udp/")) l.proto = Proto::Udp, port = std::string_view(s).substr(4);
        else return at(e, fmt::format("invalid listener `{}': expected tcp/PORT or udp/PORT", s));
        auto p = parse_uint(port, 65535);
        if (!p || *p == 0)
          return in_string(e, s, make_error(fmt::format("invalid port `{}' (1..65535)", port), 0, 5));
        l.port = static_cast<uint16_t>(*p);
        if (std::find(h.listeners.begin(), h.listeners.end(), l) != h.listeners.end())
          return at(e, fmt::format("duplicate listener `{}'", s));
        h.listeners.push_back(l);
      }
    }
    return h;
  }

  std::string path_;
  std::string base_dir_;
  LoadOptions opts_;
  std::vector<std::string_view> lines_;
};

}  // namespace

Result<Scenario> load_scenario_text(std::string_view text, const std::string& path_for_messages,
                                    const std::string& base_dir, const LoadOptions& opts) {
  toml::table root;
  try {
    root = toml::parse(text, path_for_messages);
  } catch (const toml::parse_error& e) {
    return make_error(std::string(e.description()), static_cast<int>(e.source().begin.line),
                      static_cast<int>(e.source().begin.column));
  }
  Loader loader(text, path_for_messages, base_dir, opts);
  return loader.run(root);
}

Result<Scenario> load_scenario(const std::string& path, const LoadOptions& opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("cannot read scenario: {}", std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return load_scenario_text(text, path, std::filesystem::path(path).parent_path().string(), opts);
}

}  // namespace nfemu::scenario
