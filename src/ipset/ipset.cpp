#include "ipset/ipset.h"

#include <fmt/format.h>

#include <algorithm>

#include "packet/addr.h"
#include "packet/headers.h"
#include "util/strings.h"

namespace nfemu::ipset {

namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;
constexpr uint8_t kProtoSctp = 132, kProtoUdplite = 136;
// The kernel bounds one add of a range too (IPSET_MAX_RANGE); nfemu's
// bound keeps a line's expansion small enough to hold in memory at once.
constexpr size_t kMaxExpansion = 65536;
// All sets of a namespace together: a scenario is input, and a few lines of
// wide ranges in sets with a large maxelem must not exhaust memory.
constexpr size_t kMaxTotalElements = size_t{1} << 20;

uint32_t prefix_mask(uint8_t cidr) { return cidr == 0 ? 0 : ~uint32_t{0} << (32 - cidr); }

int dimension(Type t) {
  switch (t) {
    case Type::HashIpPort:
    case Type::HashNetPort:
    case Type::HashNetIface: return 2;
    case Type::HashIpPortIp:
    case Type::HashIpPortNet: return 3;
    default: return 1;
  }
}

constexpr std::pair<Type, std::string_view> kTypeNames[] = {
    {Type::HashIp, "hash:ip"},           {Type::HashNet, "hash:net"},
    {Type::HashIpPort, "hash:ip,port"},  {Type::HashNetPort, "hash:net,port"},
    {Type::BitmapPort, "bitmap:port"},   {Type::BitmapIp, "bitmap:ip"},
    {Type::HashIpPortIp, "hash:ip,port,ip"}, {Type::HashIpPortNet, "hash:ip,port,net"},
    {Type::HashNetIface, "hash:net,iface"},  {Type::ListSet, "list:set"},
};

std::string_view type_name(Type t) {
  for (const auto& [type, name] : kTypeNames)
    if (type == t) return name;
  return "";
}

// Types of ipset 7.17 that this kernel (6.18) has not built in: `ipset
// create` fails there with "set type not supported".
constexpr std::string_view kTypesTheKernelLacks[] = {"hash:net,net", "hash:net,port,net", "hash:mac", "hash:ip,mac",
                                                     "hash:ip,mark", "bitmap:ip,mac"};

// A line's words as ipset's restore reads them (blanks separate words; a
// double-quoted comment may hold blanks).
Result<std::vector<Word>> words_of(std::string_view line) { return shell_split(line); }

// IP, IP/CIDR or FROM-TO: the addresses of an element field, as the
// kernel's uadt functions expand them. cidr_out is the prefix length given
// (32 when none).
struct AddrSpec {
  uint32_t from = 0, to = 0;
  uint8_t cidr = 32;
  bool has_cidr = false, is_range = false;
};

Result<AddrSpec> parse_addr(std::string_view s, bool zero_cidr_ok = false) {
  AddrSpec a;
  if (auto dash = s.find('-'); dash != std::string_view::npos) {
    auto lo = packet::parse_ipv4_addr(s.substr(0, dash));
    auto hi = packet::parse_ipv4_addr(s.substr(dash + 1));
    if (!lo || !hi) return make_error(fmt::format("syntax error: `{}' is not an IPv4 address range", s));
    if (*hi < *lo) return make_error(fmt::format("range `{}' is invalid: its end is below its start", s));
    a.from = *lo, a.to = *hi, a.is_range = true;
    return a;
  }
  std::string_view addr = s;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    auto c = parse_uint(s.substr(slash + 1), 32);
    if (!c || (*c == 0 && !zero_cidr_ok))
      return make_error(fmt::format("the value of the CIDR parameter of `{}' is out of range", s));
    a.cidr = static_cast<uint8_t>(*c);
    a.has_cidr = true;
    addr = s.substr(0, slash);
  }
  auto ip = packet::parse_ipv4_addr(addr);
  if (!ip) return make_error(fmt::format("syntax error: `{}' is not an IPv4 address", addr));
  a.from = *ip & prefix_mask(a.cidr);
  a.to = a.from | ~prefix_mask(a.cidr);
  return a;
}

// ip_set_range_to_cidr: the largest prefix that starts at from and stays
// within to.
uint8_t range_to_cidr(uint32_t from, uint32_t to) {
  for (uint8_t cidr = 1; cidr <= 32; ++cidr) {
    uint32_t last = (from & prefix_mask(cidr)) | ~prefix_mask(cidr);
    if ((from & prefix_mask(cidr)) == from && last <= to) return cidr;
  }
  return 32;
}

struct PortSpec {
  uint8_t proto = packet::kIpProtoTcp;
  uint16_t from = 0, to = 0;
};

// [PROTO:]PORT[-PORT] of hash:ip,port (tcp when PROTO is omitted);
// icmp:TYPE/CODE. Service and ICMP type names are not resolved.
Result<PortSpec> parse_port(std::string_view s) {
  PortSpec p;
  std::string_view port = s;
  if (auto colon = s.find(':'); colon != std::string_view::npos) {
    std::string_view proto = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (proto == "tcp") p.proto = packet::kIpProtoTcp;
    else if (proto == "udp") p.proto = packet::kIpProtoUdp;
    else if (proto == "sctp") p.proto = kProtoSctp;
    else if (proto == "udplite") p.proto = kProtoUdplite;
    else if (proto == "icmp") {
      p.proto = packet::kIpProtoIcmp;
      auto slash = port.find('/');
      auto type = parse_uint(port.substr(0, slash), 255);
      auto code = slash == std::string_view::npos ? std::nullopt : parse_uint(port.substr(slash + 1), 255);
      if (!type || !code)
        return make_error(fmt::format("`{}': nfemu takes ICMP as icmp:TYPE/CODE in numbers, as icmp:8/0", s));
      p.from = p.to = static_cast<uint16_t>(*type << 8 | *code);
      return p;
    } else {
      return make_error(fmt::format("protocol `{}' in `{}' is not modelled (tcp, udp, sctp, udplite, icmp)", proto, s));
    }
  }
  auto dash = port.find('-');
  auto lo = parse_uint(port.substr(0, dash), 65535);
  auto hi = dash == std::string_view::npos ? lo : parse_uint(port.substr(dash + 1), 65535);
  if (!lo || !hi)
    return make_error(fmt::format("`{}' is not a port number or range (service names are not resolved)", port));
  if (*hi < *lo) return make_error(fmt::format("port range `{}' is invalid: its end is below its start", port));
  p.from = static_cast<uint16_t>(*lo), p.to = static_cast<uint16_t>(*hi);
  return p;
}

bool alive(const Element& e, uint64_t now_ns) { return e.expires_ns == 0 || now_ns <= e.expires_ns; }

// ip_set_get_ip4_port: the port (or ICMP type and code) and protocol of
// dimension two. False for a later fragment of a protocol with ports.
bool packet_port(const packet::Packet& pkt, bool src, uint8_t& proto, uint16_t& port) {
  auto ip = pkt.ip();
  proto = ip.protocol();
  port = 0;
  bool has_ports = proto == packet::kIpProtoTcp || proto == packet::kIpProtoUdp || proto == kProtoSctp ||
                   proto == kProtoUdplite || proto == packet::kIpProtoIcmp;
  if (ip.frag_offset() != 0) return !has_ports;
  if (!has_ports) return true;
  auto l4 = ip.payload();
  if (proto == packet::kIpProtoIcmp) {
    if (l4.size() < 2) return false;
    port = static_cast<uint16_t>(l4[0] << 8 | l4[1]);
    return true;
  }
  if (l4.size() < 4) return false;
  size_t off = src ? 0 : 2;
  port = static_cast<uint16_t>(l4[off] << 8 | l4[off + 1]);
  return true;
}

}  // namespace

std::optional<uint16_t> Registry::find(std::string_view name) const {
  for (size_t i = 0; i < sets_.size(); ++i)
    if (sets_[i].name == name) return static_cast<uint16_t>(i);
  return std::nullopt;
}

Result<void> Registry::restore(std::string_view text) {
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    std::string_view t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    auto words = words_of(line);
    if (!words) return make_error(words.error().message, line_no, 1);
    std::vector<std::string> w;
    for (auto& x : *words) w.push_back(x.text);
    const int col = words->front().col;
    std::string_view cmd = w[0];
    bool exist_ok = false;
    if (cmd == "-exist" && w.size() > 1) {
      exist_ok = true;
      w.erase(w.begin());
      cmd = w[0];
    }
    Result<void> r;
    if (cmd == "create" || cmd == "-N") r = create(w);
    else if (cmd == "add" || cmd == "-A") r = add(w, exist_ok);
    else
      r = make_error(fmt::format("`{}': nfemu's ipset restore reads create and add lines only (as `ipset save' "
                                 "writes them)",
                                 cmd));
    if (!r) return make_error(r.error().message, line_no, col);
  }
  return {};
}

Result<void> Registry::create(const std::vector<std::string>& w) {
  if (w.size() < 3) return make_error("create needs a set name and a type, as `create f2b hash:ip'");
  const std::string& name = w[1];
  if (name.size() > 31) return make_error(fmt::format("setname `{}' is longer than 31 characters", name));
  if (find(name)) return make_error(fmt::format("set cannot be created: set with the same name `{}' already exists", name));
  Set s;
  s.name = name;
  bool has_range = false;
  const std::string& type = w[2];
  const auto* known = std::find_if(std::begin(kTypeNames), std::end(kTypeNames),
                                   [&](const auto& t) { return t.second == type; });
  if (known == std::end(kTypeNames)) {
    std::string names;
    for (const auto& [t, name] : kTypeNames) names += fmt::format("{}{}", names.empty() ? "" : ", ", name);
    if (std::find(std::begin(kTypesTheKernelLacks), std::end(kTypesTheKernelLacks), type) !=
        std::end(kTypesTheKernelLacks))
      return make_error(fmt::format("set type `{}' is not modelled: the kernel nfemu is checked against (Linux 6.18) "
                                    "does not have it either (nfemu knows {})",
                                    type, names));
    return make_error(fmt::format("unknown set type `{}' (nfemu knows {})", type, names));
  }
  s.type = known->first;
  for (size_t i = 3; i < w.size(); ++i) {
    const std::string& o = w[i];
    auto value = [&](uint64_t max) -> Result<uint64_t> {
      if (i + 1 >= w.size()) return make_error(fmt::format("option `{}' needs a value", o));
      auto v = parse_uint(w[++i], max);
      if (!v) return make_error(fmt::format("`{}' is not a valid value of {}", w[i], o));
      return *v;
    };
    if (o == "family") {
      if (i + 1 >= w.size()) return make_error("option `family' needs a value");
      const std::string& f = w[++i];
      if (f == "inet6") return make_error("family inet6 is not modelled (nfemu is IPv4 only)");
      if (f != "inet") return make_error(fmt::format("unknown family `{}'", f));
    } else if (o == "hashsize" || o == "maxelem" || o == "bucketsize" || o == "initval" || o == "timeout" ||
               o == "netmask" || (o == "size" && s.type == Type::ListSet)) {
      auto v = value(UINT32_MAX);
      if (!v) return v.error();
      if (o == "hashsize") s.hashsize = static_cast<uint32_t>(*v);
      else if (o == "maxelem") s.maxelem = static_cast<uint32_t>(*v);
      else if (o == "timeout") s.timeout = static_cast<uint32_t>(*v);
      else if (o == "size") s.list_size = std::max<uint32_t>(static_cast<uint32_t>(*v), 4);  // IP_SET_LIST_MIN_SIZE
      else if (o == "netmask") {
        if (s.type != Type::HashIp && s.type != Type::BitmapIp)
          return make_error(fmt::format("option netmask is not valid for {}", type));
        if (*v == 0 || *v > 32) return make_error(fmt::format("netmask {} is out of range (1..32)", *v));
        s.netmask = static_cast<uint8_t>(*v);
      }
    } else if (o == "range" && s.type == Type::BitmapPort) {
      if (i + 1 >= w.size()) return make_error("option `range' needs a value");
      auto p = parse_port(w[++i]);
      if (!p || p->proto != packet::kIpProtoTcp || w[i].find(':') != std::string::npos)
        return make_error(fmt::format("`{}' is not a port range FROM-TO", w[i]));
      s.first_port = p->from, s.last_port = p->to;
      has_range = true;
    } else if (o == "range" && s.type == Type::BitmapIp) {
      if (i + 1 >= w.size()) return make_error("option `range' needs a value");
      auto a = parse_addr(w[++i]);
      if (!a) return a.error();
      s.first_ip = a->from, s.last_ip = a->to;
      has_range = true;
    } else if (o == "comment") {
      s.comment = true;
    } else if (o == "counters") {
      s.counters = true;
    } else if (o == "skbinfo") {
      s.skbinfo = true;
    } else {
      return make_error(fmt::format("unknown or unmodelled create option `{}'", o));
    }
  }
  if (s.type == Type::BitmapPort && !has_range) return make_error("bitmap:port needs its port range: `range FROM-TO'");
  if (s.type == Type::BitmapIp) {
    if (!has_range) return make_error("bitmap:ip needs its address range: `range FROM-TO' or `range IP/CIDR'");
    // bitmap_ip_create: the range widens to whole netmask blocks, and holds
    // at most 65536 of them.
    s.first_ip &= prefix_mask(s.netmask);
    s.last_ip |= ~prefix_mask(s.netmask);
    if (((uint64_t{s.last_ip} - s.first_ip) >> (32 - s.netmask)) + 1 > 65536)
      return make_error("the range exceeds the size limit of the set type (65536 addresses or netmask blocks)");
  }
  if (sets_.size() >= 65535) return make_error("too many sets");
  sets_.push_back(std::move(s));
  return {};
}

namespace {

// libipset's skbmark (VALUE[/MASK], the mask all ones when absent),
// skbprio (MAJOR:MINOR, both hexadecimal as tc writes them) and skbqueue.
Result<void> parse_skbinfo(std::string_view opt, std::string_view text, SkbInfo& info) {
  auto bad = [&] { return make_error(fmt::format("`{}' is not a valid {} value", text, opt)); };
  if (opt == "skbmark") {
    size_t slash = text.find('/');
    auto v = parse_uint(text.substr(0, slash), UINT32_MAX);
    auto m = slash == std::string_view::npos ? std::optional<uint64_t>(UINT32_MAX)
                                             : parse_uint(text.substr(slash + 1), UINT32_MAX);
    if (!v || !m) return bad();
    info.mark = static_cast<uint32_t>(*v);
    info.mark_mask = static_cast<uint32_t>(*m);
  } else if (opt == "skbprio") {
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) return bad();
    auto hex = [](std::string_view h) -> std::optional<uint32_t> {
      if (h.empty() || h.size() > 4) return std::nullopt;
      uint32_t v = 0;
      for (char ch : h) {
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                                  : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (d < 0) return std::nullopt;
        v = v << 4 | static_cast<uint32_t>(d);
      }
      return v;
    };
    auto major = hex(text.substr(0, colon)), minor = hex(text.substr(colon + 1));
    if (!major || !minor) return bad();
    info.prio = *major << 16 | *minor;
  } else {
    auto q = parse_uint(text, UINT16_MAX);
    if (!q) return bad();
    info.queue = static_cast<uint16_t>(*q);
  }
  return {};
}

}  // namespace

Result<void> Registry::add(const std::vector<std::string>& w, bool exist_ok) {
  if (w.size() < 3) return make_error("add needs a set name and an element, as `add f2b 192.0.2.7'");
  auto index = find(w[1]);
  if (!index) return make_error(fmt::format("the set with the given name `{}' does not exist", w[1]));
  Set& s = sets_[*index];
  Element proto_elem;
  size_t first_option = 3;
  // list:set: NAME [before|after NAME], placed where it says.
  std::optional<size_t> position;
  if (s.type == Type::ListSet) {
    if (auto r = add_member(s, w, first_option, proto_elem); !r) return r.error();
    position = s.elements.size();
    if (first_option == 5) {
      auto ref = find(w[4]);
      auto it = ref ? s.by_key.find(element_key(Element{.member = *ref})) : s.by_key.end();
      if (it == s.by_key.end())
        return make_error(fmt::format("the set `{}' named by {} is not a member of {}", w[4], w[3], s.name));
      position = it->second + (w[3] == "after" ? 1 : 0);
    }
  }
  std::optional<uint32_t> timeout = s.timeout;
  for (size_t i = first_option; i < w.size(); ++i) {
    const std::string& o = w[i];
    if (o == "timeout") {
      if (!s.timeout) return make_error("timeout cannot be used: set was created without timeout support");
      if (i + 1 >= w.size()) return make_error("option `timeout' needs a value");
      auto v = parse_uint(w[++i], UINT32_MAX / 1000);
      if (!v) return make_error(fmt::format("`{}' is not a valid timeout", w[i]));
      timeout = static_cast<uint32_t>(*v);
    } else if (o == "nomatch") {
      if (!has_prefixes(s.type)) return make_error(fmt::format("nomatch is not valid for {}", type_name(s.type)));
      proto_elem.nomatch = true;
    } else if (o == "wildcard" && s.type == Type::HashNetIface) {
      proto_elem.wildcard = true;
    } else if (o == "comment") {
      if (!s.comment) return make_error("comment cannot be used: set was created without comment support");
      if (i + 1 >= w.size()) return make_error("option `comment' needs a value");
      proto_elem.comment = w[++i];
    } else if (o == "packets" || o == "bytes") {
      if (!s.counters) return make_error(fmt::format("{} cannot be used: set was created without counter support", o));
      if (i + 1 >= w.size()) return make_error(fmt::format("option `{}' needs a value", o));
      auto v = parse_uint(w[++i], UINT64_MAX);
      if (!v) return make_error(fmt::format("`{}' is not a valid {} value", w[i], o));
      (o == "packets" ? proto_elem.packets : proto_elem.bytes) = *v;
    } else if (o == "skbmark" || o == "skbprio" || o == "skbqueue") {
      if (!s.skbinfo) return make_error(fmt::format("{} cannot be used: set was created without skbinfo support", o));
      if (i + 1 >= w.size()) return make_error(fmt::format("option `{}' needs a value", o));
      if (auto r = parse_skbinfo(o, w[++i], proto_elem.skbinfo); !r) return r.error();
    } else {
      return make_error(fmt::format("unknown or unmodelled add option `{}'", o));
    }
  }
  if (timeout && *timeout) proto_elem.expires_ns = uint64_t{*timeout} * kNsPerSec;

  std::vector<Element> fresh;
  std::string_view field = w[2];
  auto push = [&](const Element& e) -> Result<void> {
    if (fresh.size() == kMaxExpansion)
      return make_error(fmt::format("`{}' is more than {} elements: nfemu expands at most that many per line",
                                    field, kMaxExpansion));
    if (s.type == Type::ListSet && fresh.size() + s.elements.size() >= s.list_size)
      return make_error(fmt::format("the set is full, more elements cannot be added (size {})", s.list_size));
    if (fresh.size() + s.elements.size() >= s.maxelem)
      return make_error(fmt::format("hash is full, cannot add more elements (maxelem {})", s.maxelem));
    if (fresh.size() + total_elements_ >= kMaxTotalElements)
      return make_error(fmt::format("more than {} elements in this host's sets: nfemu's limit", kMaxTotalElements));
    fresh.push_back(e);
    return {};
  };

  if (s.type == Type::ListSet) {
    if (auto r = push(proto_elem); !r) return r;
  } else {
    // The element field, split at its commas: IP or NET, then [PROTO:]PORT
    // for the port types, then IP or NET (hash:ip,port,ip/net); NET,IFACE
    // for hash:net,iface; bitmap:port's is a port or a range of them.
    std::vector<std::string_view> parts = split(field, ',');
    const size_t want = s.type == Type::BitmapPort ? 1 : static_cast<size_t>(dimension(s.type));
    static constexpr std::string_view kForms[] = {"IP", "IP,[PROTO:]PORT", "IP,[PROTO:]PORT,IP"};
    if (parts.size() != want) {
      std::string_view form = s.type == Type::HashNetIface ? "NET,IFACE"
                              : s.type == Type::HashNetPort ? "NET,[PROTO:]PORT"
                              : s.type == Type::HashIpPortNet ? "IP,[PROTO:]PORT,NET"
                              : s.type == Type::BitmapPort ? "PORT[-PORT]"
                                                           : kForms[want - 1];
      return make_error(fmt::format("`{}' is not {}: a {} element", field, form, type_name(s.type)));
    }
    PortSpec ports;
    std::optional<AddrSpec> addr2;
    Element base = proto_elem;
    if (s.type == Type::BitmapPort) {
      auto p = parse_port(field);
      if (!p || field.find(':') != std::string_view::npos)
        return make_error(fmt::format("`{}' is not a port or a port range", field));
      if (p->from < s.first_port || p->to > s.last_port)
        return make_error(fmt::format("element `{}' is out of the range of the set", field));
      parts[0] = "0.0.0.0";
      ports = *p;
      ports.proto = 0;
    } else if (s.type == Type::HashNetIface) {
      std::string_view dev = parts[1];
      if (dev.starts_with("physdev:")) {
        base.physdev = true;
        dev.remove_prefix(8);
      }
      if (dev.empty() || dev.size() >= kIfNameSize)
        return make_error(fmt::format("`{}' is not an interface name (1 to {} characters)", dev, kIfNameSize - 1));
      std::copy(dev.begin(), dev.end(), base.iface.begin());
    } else if (want >= 2) {
      auto p = parse_port(parts[1]);
      if (!p) return p.error();
      ports = *p;
    }
    if (s.type != Type::HashIpPort && s.type != Type::HashNetPort && s.type != Type::HashIpPortIp &&
        s.type != Type::HashIpPortNet)
      ports.proto = 0;
    if (want == 3) {
      if (s.type == Type::HashIpPortIp && parts[2].find_first_of("/-") != std::string_view::npos)
        return make_error(fmt::format("syntax error: plain IP address must be supplied: {}", parts[2]));
      auto a2 = parse_addr(parts[2]);
      if (!a2) return a2.error();
      addr2 = *a2;
    }
    auto a = parse_addr(parts[0], s.type == Type::HashNetIface);  // hash:net,iface takes /0
    if (!a) return a.error();
    if (s.type == Type::BitmapIp && (a->from < s.first_ip || a->to > s.last_ip))
      return make_error(fmt::format("element `{}' is out of the range of the set", field));

    // Each prefix of a range (ip_set_range_to_cidr), or the one given.
    auto for_each_prefix = [](const AddrSpec& spec, auto&& fn) -> Result<void> {
      uint64_t ip = spec.from;
      while (ip <= spec.to) {
        uint8_t cidr = spec.is_range ? range_to_cidr(static_cast<uint32_t>(ip), spec.to) : spec.cidr;
        if (auto r = fn(static_cast<uint32_t>(ip), cidr); !r) return r;
        ip = uint64_t(static_cast<uint32_t>(ip) | ~prefix_mask(cidr)) + 1;
      }
      return {};
    };
    // The third dimension: a plain address, or the prefixes of a net.
    auto with_addr2 = [&](Element e) -> Result<void> {
      if (!addr2) return push(e);
      if (s.type == Type::HashIpPortIp) {
        e.addr2 = addr2->from;
        return push(e);
      }
      return for_each_prefix(*addr2, [&](uint32_t ip2, uint8_t cidr2) {
        e.addr2 = ip2, e.cidr2 = cidr2;
        return push(e);
      });
    };
    auto with_ports = [&](Element e) -> Result<void> {
      for (uint32_t port = ports.from; port <= ports.to; ++port) {
        e.proto = ports.proto, e.port = static_cast<uint16_t>(port);
        if (auto r = with_addr2(e); !r) return r;
      }
      return {};
    };
    if (has_prefixes(s.type) && !prefix_on_addr2(s.type)) {
      if (auto r = for_each_prefix(*a, [&](uint32_t ip, uint8_t cidr) {
            Element e = base;
            e.addr = ip, e.cidr = cidr;
            return with_ports(e);
          });
          !r)
        return r;
    } else {
      // hash:ip and bitmap:ip store addresses masked to the set's netmask,
      // one per block; a CIDR or range adds every such block it covers.
      // bitmap_ip_uadt steps from the range's own start, not its block's:
      // 192.0.2.70-192.0.2.97 with netmask 28 is the blocks .64 and .80
      // only (70, 86; 102 is past the end), where hash:ip adds .96 too
      // (measured on 6.18).
      const uint8_t step_cidr = s.type == Type::HashIp || s.type == Type::BitmapIp ? s.netmask : 32;
      const uint64_t step = uint64_t{1} << (32 - step_cidr);
      const uint64_t first = s.type == Type::BitmapIp ? a->from : a->from & prefix_mask(step_cidr);
      for (uint64_t ip = first; ip <= a->to; ip += step) {
        Element e = base;
        e.addr = static_cast<uint32_t>(ip) & prefix_mask(step_cidr);
        if (auto r = with_ports(e); !r) return r;
      }
    }
  }
  for (auto& e : fresh) {
    if (auto it = s.by_key.find(element_key(e)); it != s.by_key.end()) {
      if (!exist_ok) return make_error("element cannot be added to the set: it's already added");
      s.elements[it->second] = std::move(e);  // -exist: the new timeout and flags replace the old
      continue;
    }
    if (has_prefixes(s.type)) {
      uint8_t c = prefix_on_addr2(s.type) ? e.cidr2 : e.cidr;
      if (std::find(s.cidrs.begin(), s.cidrs.end(), c) == s.cidrs.end()) {
        s.cidrs.push_back(c);
        std::sort(s.cidrs.begin(), s.cidrs.end(), std::greater<>());
      }
    }
    s.wildcards = s.wildcards || e.wildcard;
    size_t at = position.value_or(s.elements.size());
    s.elements.insert(s.elements.begin() + static_cast<std::ptrdiff_t>(at), std::move(e));
    for (size_t k = at; k < s.elements.size(); ++k) s.by_key[element_key(s.elements[k])] = static_cast<uint32_t>(k);
    ++total_elements_;
  }
  return {};
}

Result<void> Registry::add_member(Set& s, const std::vector<std::string>& w, size_t& next_word, Element& elem) {
  auto member = find(w[2]);
  if (!member) return make_error(fmt::format("set to be added/deleted/tested as element does not exist: `{}'", w[2]));
  if (sets_[*member].type == Type::ListSet)
    return make_error(fmt::format("sets with list:set type cannot be added to the set (`{}' is one)", w[2]));
  elem.member = *member;
  if (w.size() > 3 && (w[3] == "before" || w[3] == "after")) {
    if (w.size() < 5) return make_error(fmt::format("`{}' needs the name of a member of {}", w[3], s.name));
    next_word = 5;
  }
  return {};
}

std::optional<Element> Registry::packet_element(const Set& s, const packet::Packet& pkt, Dirs dirs) const {
  // ip_set_test/add/del: a match or target with fewer dimensions than the
  // set's type never reaches it.
  if (dirs.dim < dimension(s.type)) return std::nullopt;
  auto ip = pkt.ip();
  Element key;
  auto addr_of = [&](int dim) { return (dirs.src_bits >> dim & 1) ? ip.saddr() : ip.daddr(); };
  key.addr = addr_of(0);
  switch (s.type) {
    case Type::HashIp: key.addr &= prefix_mask(s.netmask); break;
    case Type::BitmapIp:
      // bitmap_ip_kadt: outside the range is an error, no element.
      key.addr &= prefix_mask(s.netmask);
      if (key.addr < s.first_ip || key.addr > s.last_ip) return std::nullopt;
      break;
    case Type::HashNet:
    case Type::HashNetPort:
    case Type::HashNetIface:
      // hash_net4_kadt: ADD and DEL take the longest prefix in use (a
      // host when none); TEST tries each in use (test()).
      key.cidr = s.cidrs.empty() ? 32 : s.cidrs.front();
      key.addr &= prefix_mask(key.cidr);
      if (s.type == Type::HashNetPort && !packet_port(pkt, (dirs.src_bits & 2) != 0, key.proto, key.port))
        return std::nullopt;
      if (s.type == Type::HashNetIface) {
        // hash_netiface4_kadt: the input device for src, the output one for
        // dst; none (PREROUTING's output, OUTPUT's input) is an error.
        std::string_view dev = (dirs.src_bits & 2) ? pkt.meta.in.view() : pkt.meta.out.view();
        if (dev.empty() || dev.size() >= kIfNameSize) return std::nullopt;
        std::copy(dev.begin(), dev.end(), key.iface.begin());
      }
      break;
    case Type::HashIpPort:
    case Type::HashIpPortIp:
    case Type::HashIpPortNet:
      if (!packet_port(pkt, (dirs.src_bits & 2) != 0, key.proto, key.port)) return std::nullopt;
      if (s.type == Type::HashIpPortIp) key.addr2 = addr_of(2);
      if (s.type == Type::HashIpPortNet) {
        key.cidr2 = s.cidrs.empty() ? 32 : s.cidrs.front();
        key.addr2 = addr_of(2) & prefix_mask(key.cidr2);
      }
      break;
    case Type::BitmapPort: {
      // bitmap_port_kadt: TCP and UDP ports only, within the set's range.
      key.addr = 0;
      if (!packet_port(pkt, (dirs.src_bits & 1) != 0, key.proto, key.port) ||
          (key.proto != packet::kIpProtoTcp && key.proto != packet::kIpProtoUdp) || key.port < s.first_port ||
          key.port > s.last_port)
        return std::nullopt;
      key.proto = 0;
      break;
    }
    case Type::ListSet: return std::nullopt;  // a list has no element of its own (test_list)
  }
  return key;
}

namespace {

// ip_set_match_counter
bool counter_holds(uint64_t have, const CounterMatch& m) {
  switch (m.op) {
    case CounterOp::None: return true;
    case CounterOp::Eq: return have == m.value;
    case CounterOp::Ne: return have != m.value;
    case CounterOp::Lt: return have < m.value;
    case CounterOp::Gt: return have > m.value;
  }
  return false;
}

// A wildcard interface element names a prefix of the device's name.
bool iface_prefix_of(const std::array<char, kIfNameSize>& prefix, const std::array<char, kIfNameSize>& dev) {
  for (size_t i = 0; i < kIfNameSize && prefix[i]; ++i)
    if (prefix[i] != dev[i]) return false;
  return true;
}

}  // namespace

TestResult Registry::test(uint16_t index, const packet::Packet& pkt, Dirs dirs, uint64_t now_ns,
                          const TestOptions& opt) const {
  if (index >= sets_.size()) return TestResult::NoMatch;
  const Set& s = sets_[index];
  if (s.type == Type::ListSet) return test_list(s, pkt, dirs, now_ns, opt);
  auto key = packet_element(s, pkt, dirs);
  if (!key) return TestResult::NoMatch;
  auto decide = [&](const Element& e) -> TestResult {
    if (!alive(e, now_ns)) return TestResult::NoMatch;
    if (s.counters) {
      // ip_set_match_extensions: counted first (skb->len bytes), then compared.
      if (opt.update_counters) {
        ++e.packets;
        e.bytes += pkt.size();
      }
      if (!counter_holds(e.packets, opt.packets) || !counter_holds(e.bytes, opt.bytes)) return TestResult::NoMatch;
    }
    if (s.skbinfo && opt.skbinfo_out) *opt.skbinfo_out = e.skbinfo;
    return e.nomatch ? TestResult::NoMatchEntry : TestResult::Match;
  };
  auto found = [&](const Element& k) -> TestResult {
    if (auto it = s.by_key.find(element_key(k)); it != s.by_key.end())
      if (auto r = decide(s.elements[it->second]); r != TestResult::NoMatch) return r;
    // hash:net,iface: an element with a wildcard interface is the same
    // net with a prefix of the device's name (hash_netiface4_data_equal).
    if (s.wildcards)
      for (const Element& e : s.elements)
        if (e.wildcard && e.addr == k.addr && e.cidr == k.cidr && !e.physdev && iface_prefix_of(e.iface, k.iface))
          if (auto r = decide(e); r != TestResult::NoMatch) return r;
    return TestResult::NoMatch;
  };
  if (!has_prefixes(s.type)) return found(*key);
  // mtype_test_cidrs: the longest prefix in use first; the first element
  // found decides, a nomatch one included.
  const bool on2 = prefix_on_addr2(s.type);
  const uint32_t addr = (dirs.src_bits >> (on2 ? 2 : 0) & 1) ? pkt.ip().saddr() : pkt.ip().daddr();
  for (uint8_t cidr : s.cidrs) {
    (on2 ? key->cidr2 : key->cidr) = cidr;
    (on2 ? key->addr2 : key->addr) = addr & prefix_mask(cidr);
    if (auto r = found(*key); r != TestResult::NoMatch) return r;
  }
  return TestResult::NoMatch;
}

TestResult Registry::test_list(const Set& s, const packet::Packet& pkt, Dirs dirs, uint64_t now_ns,
                               const TestOptions& opt) const {
  // list_set_ktest: the members in order, the first that says yes decides
  // (a member of a nomatch type says yes for a nomatch entry only under
  // --return-nomatch, as the match itself would). Members count the packet
  // (unless ! --update-subcounters) but compare no counts: the match's
  // --packets/--bytes options are the list's own element's.
  TestOptions member_opt = opt;
  member_opt.packets = {};
  member_opt.bytes = {};
  member_opt.update_counters = opt.update_counters && opt.update_subcounters;
  for (const Element& m : s.elements) {
    if (!alive(m, now_ns)) continue;
    TestResult r = test(m.member, pkt, dirs, now_ns, member_opt);
    bool inverts = opt.return_nomatch && has_prefixes(sets_[m.member].type);
    if (inverts ? r != TestResult::NoMatchEntry : r != TestResult::Match) continue;
    if (s.counters) {
      if (opt.update_counters) {
        ++m.packets;
        m.bytes += pkt.size();
      }
      if (!counter_holds(m.packets, opt.packets) || !counter_holds(m.bytes, opt.bytes)) continue;
    }
    if (s.skbinfo && opt.skbinfo_out) *opt.skbinfo_out = m.skbinfo;
    return TestResult::Match;
  }
  return TestResult::NoMatch;
}

bool Registry::add(uint16_t index, const packet::Packet& pkt, Dirs dirs, uint64_t now_ns,
                   std::optional<uint32_t> timeout, bool exist) {
  if (index >= sets_.size()) return false;
  Set& s = sets_[index];
  if (s.type == Type::ListSet) {
    // list_set_kadd: the first member that takes it (ip_set_add returns 0).
    for (size_t k = 0; k < s.elements.size(); ++k)
      if (alive(s.elements[k], now_ns) && add(s.elements[k].member, pkt, dirs, now_ns, timeout, exist)) return true;
    return false;
  }
  auto e = packet_element(s, pkt, dirs);
  if (!e) return false;
  // mtype_add: the timeout only where the set has them (--timeout, else
  // the set's); an expired element is overwritten like a fresh one.
  if (s.timeout) {
    uint32_t t = timeout.value_or(*s.timeout);
    e->expires_ns = t ? now_ns + uint64_t{t} * kNsPerSec : 0;
  }
  // ip_set_init_counter: an element the target adds (or overwrites) has
  // counted the packet that added it.
  if (s.counters) {
    e->packets = 1;
    e->bytes = pkt.size();
  }
  if (auto it = s.by_key.find(element_key(*e)); it != s.by_key.end()) {
    Element& old = s.elements[it->second];
    if (!exist && alive(old, now_ns)) return false;  // IPSET_ERR_EXIST
    old.expires_ns = e->expires_ns;
    old.nomatch = false;
    old.packets = e->packets;
    old.bytes = e->bytes;
    return true;
  }
  if (s.elements.size() >= s.maxelem) return false;  // IPSET_ERR_HASH_FULL
  s.by_key.emplace(element_key(*e), static_cast<uint32_t>(s.elements.size()));
  s.elements.push_back(std::move(*e));
  return true;
}

bool Registry::del(uint16_t index, const packet::Packet& pkt, Dirs dirs, uint64_t now_ns) {
  if (index >= sets_.size()) return false;
  Set& s = sets_[index];
  if (s.type == Type::ListSet) {
    // list_set_kdel: the first member that had it.
    for (size_t k = 0; k < s.elements.size(); ++k)
      if (alive(s.elements[k], now_ns) && del(s.elements[k].member, pkt, dirs, now_ns)) return true;
    return false;
  }
  auto e = packet_element(s, pkt, dirs);
  if (!e) return false;
  auto it = s.by_key.find(element_key(*e));
  if (it == s.by_key.end() || !alive(s.elements[it->second], now_ns)) return false;
  // Swap-remove: the last element takes the freed slot.
  const uint32_t slot = it->second;
  s.by_key.erase(it);
  if (slot + 1 != s.elements.size()) {
    s.elements[slot] = std::move(s.elements.back());
    s.by_key[element_key(s.elements[slot])] = slot;
  }
  s.elements.pop_back();
  return true;
}

}  // namespace nfemu::ipset
