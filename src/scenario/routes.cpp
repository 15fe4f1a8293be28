#include "scenario/routes.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "util/strings.h"

namespace nfemu::scenario {

namespace {

uint32_t mask_of(uint8_t len) { return len == 0 ? 0 : ~uint32_t(0) << (32 - len); }

bool is_error_type(RouteType t) {
  return t == RouteType::Unreachable || t == RouteType::Prohibit || t == RouteType::Blackhole;
}

void add_unique(Host& h, Route r) {
  for (const auto& o : h.routes)
    if (o.table == r.table && o.type == r.type && o.dst == r.dst && o.prefix_len == r.prefix_len && o.dev == r.dev &&
        o.metric == r.metric)
      return;
  h.routes.push_back(std::move(r));
}

// The prefix argument of `ip route add`: default, or ADDR[/LEN].
std::optional<std::pair<uint32_t, uint8_t>> parse_prefix(std::string_view s) {
  if (s == "default") return std::make_pair(uint32_t(0), uint8_t(0));
  return parse_iproute_prefix(s);
}

Error word_error(std::string msg, const Word& w) { return make_error(std::move(msg), 0, w.col); }

}  // namespace

std::optional<std::pair<uint32_t, uint8_t>> parse_iproute_prefix(std::string_view s) {
  size_t slash = s.find('/');
  auto addr = parse_iproute_addr(s.substr(0, slash));
  if (!addr) return std::nullopt;
  if (slash == std::string_view::npos) return std::make_pair(*addr, uint8_t(32));
  std::string_view len = s.substr(slash + 1);
  if (auto n = parse_uint_c(len, 32)) return std::make_pair(*addr, uint8_t(*n));
  if (auto m = parse_iproute_addr(len)) {
    // A netmask must be contiguous ones.
    uint32_t inv = ~*m;
    if ((inv & (inv + 1)) != 0) return std::nullopt;
    uint8_t bits = 0;
    for (uint32_t v = *m; v & 0x80000000u; v <<= 1) ++bits;
    return std::make_pair(*addr, bits);
  }
  return std::nullopt;
}

std::optional<uint32_t> parse_iproute_addr(std::string_view s) {
  uint32_t out = 0;
  int parts = 0;
  while (true) {
    size_t dot = s.find('.');
    std::string_view part = s.substr(0, dot);
    auto n = parse_uint_c(part, 255);
    if (!n || parts == 4) return std::nullopt;
    out |= uint32_t(*n) << (24 - 8 * parts);
    ++parts;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return out;
}

void add_kernel_routes(Host& h) {
  for (size_t i = 0; i < h.interfaces.size(); ++i) {
    const Interface& ifc = h.interfaces[i];
    int dev = static_cast<int>(i);
    for (const Address& a : ifc.addresses) {
      // The primary address of the subnet is every route's preferred source.
      uint32_t prim = a.addr;
      if (a.secondary)
        for (const Address& p : ifc.addresses)
          if (!p.secondary && p.prefix_len == a.prefix_len && p.network() == a.network()) {
            prim = p.addr;
            break;
          }
      Route local;
      local.type = RouteType::Local;
      local.table = RouteTable::Local;
      local.origin = RouteOrigin::Kernel;
      local.dst = a.addr;
      local.prefix_len = 32;
      local.dev = dev;
      local.src = prim;
      local.scope = kScopeHost;
      add_unique(h, local);
      if (uint32_t brd = a.broadcast()) {
        Route b = local;
        b.type = RouteType::Broadcast;
        b.dst = brd;
        b.scope = kScopeLink;
        add_unique(h, b);
      }
      uint32_t net = a.network();
      if ((net >> 24) != 0 && !a.secondary && (net != a.addr || a.prefix_len < 32)) {
        Route c = local;
        c.dst = net;
        c.prefix_len = a.prefix_len;
        c.src = a.addr;
        if (ifc.loopback) {
          c.type = RouteType::Local;  // the whole 127.0.0.0/8 is local
        } else {
          c.type = RouteType::Unicast;
          c.table = RouteTable::Main;
          c.scope = kScopeLink;
        }
        add_unique(h, c);
      }
    }
  }
}

const Route* lookup_route(const Host& h, uint32_t daddr, uint8_t min_scope, int oif) {
  for (RouteTable table : {RouteTable::Local, RouteTable::Main}) {
    std::vector<const Route*> cands;
    for (const auto& r : h.routes)
      if (r.table == table && ((daddr ^ r.dst) & mask_of(r.prefix_len)) == 0) cands.push_back(&r);
    std::stable_sort(cands.begin(), cands.end(), [](const Route* a, const Route* b) {
      if (a->prefix_len != b->prefix_len) return a->prefix_len > b->prefix_len;
      return a->metric < b->metric;
    });
    for (const Route* r : cands) {
      if (r->scope < min_scope) continue;
      if (is_error_type(r->type)) return nullptr;
      if (oif >= 0 && r->dev != oif) continue;
      return r;
    }
  }
  return nullptr;
}

RouteType address_type(const Host& h, uint32_t addr) {
  if (addr == 0 || addr == 0xffffffffu) return RouteType::Broadcast;
  const Route* best = nullptr;
  for (const auto& r : h.routes)
    if (r.table == RouteTable::Local && ((addr ^ r.dst) & mask_of(r.prefix_len)) == 0 &&
        (!best || r.prefix_len > best->prefix_len))
      best = &r;
  if (best && (best->type == RouteType::Local || best->type == RouteType::Broadcast)) return best->type;
  return RouteType::Unicast;
}

Result<void> add_route(Host& h, std::string_view text) {
  auto split_words = shell_split(text);
  if (!split_words) return split_words.error();
  const std::vector<Word>& w = *split_words;
  if (!w.empty() && w[0].text == "ip") {
    // A pasted `ip route add ...` is not what the format says; say so.
    return word_error("write the arguments of `ip route add' only, without `ip route add'", w[0]);
  }

  Route r;
  r.text = std::string(text);
  bool dst_ok = false, type_ok = false, scope_ok = false, table_ok = false;
  const Word* dst_word = nullptr;
  const Word* via_word = nullptr;
  const Word* dev_word = nullptr;
  const Word* src_word = nullptr;
  const Word* type_word = nullptr;
  Error incomplete = make_error("Command line is not complete. Try option \"help\"", 0,
                                w.empty() ? 1 : w.back().col + static_cast<int>(w.back().text.size()));

  for (size_t i = 0; i < w.size(); ++i) {
    const std::string& k = w[i].text;
    auto next = [&]() -> const Word* { return i + 1 < w.size() ? &w[++i] : nullptr; };
    if (k == "via") {
      if (via_word)
        return word_error("Error: argument \"via\" is wrong: use nexthop syntax to specify multiple via", w[i]);
      const Word* a = next();
      if (!a) return incomplete;
      if (a->text == "inet") {
        a = next();
        if (!a) return incomplete;
      }
      auto g = parse_iproute_addr(a->text);
      if (!g) return word_error(fmt::format("Error: inet address is expected rather than \"{}\".", a->text), *a);
      r.via = *g;
      via_word = a;
    } else if (k == "src") {
      const Word* a = next();
      if (!a) return incomplete;
      auto s = parse_iproute_addr(a->text);
      if (!s) return word_error(fmt::format("Error: inet address is expected rather than \"{}\".", a->text), *a);
      r.src = *s;
      src_word = a;
    } else if (k == "metric" || k == "priority" || k == "preference") {
      const Word* a = next();
      if (!a) return incomplete;
      auto m = parse_uint_c(a->text, UINT32_MAX);
      if (!m) return word_error(fmt::format("Error: argument \"{}\" is wrong: \"metric\" value is invalid", a->text), *a);
      r.metric = static_cast<uint32_t>(*m);
    } else if (k == "scope") {
      const Word* a = next();
      if (!a) return incomplete;
      std::optional<uint64_t> s;
      if (a->text == "host") s = kScopeHost;
      else if (a->text == "link") s = kScopeLink;
      else if (a->text == "global" || a->text == "universe") s = kScopeUniverse;
      else if (a->text == "site") s = kScopeSite;
      else if (a->text == "nowhere") s = kScopeNowhere;
      else s = parse_uint_c(a->text, 255);
      if (!s) return word_error(fmt::format("Error: argument \"{}\" is wrong: invalid \"scope\" value", a->text), *a);
      r.scope = static_cast<uint8_t>(*s);
      scope_ok = true;
    } else if (k == "dev" || k == "oif") {
      const Word* a = next();
      if (!a) return incomplete;
      dev_word = a;
    } else if (k == "onlink") {
      r.onlink = true;
    } else if (k == "proto" || k == "protocol") {
      const Word* a = next();
      if (!a) return incomplete;
      if (a->text != "kernel" && a->text != "boot" && a->text != "static" && !parse_uint_c(a->text, 255))
        return word_error(fmt::format("Error: argument \"{}\" is wrong: \"protocol\" value is invalid", a->text), *a);
    } else if (k == "table") {
      const Word* a = next();
      if (!a) return incomplete;
      if (a->text == "main" || a->text == "254") r.table = RouteTable::Main;
      else if (a->text == "local" || a->text == "255") r.table = RouteTable::Local;
      else return word_error(fmt::format("nfemu models only the main and local routing tables, not `{}'", a->text), *a);
      table_ok = true;
    } else {
      const Word* a = &w[i];
      if (a->text == "to") {
        a = next();
        if (!a) return incomplete;
      }
      static constexpr std::pair<std::string_view, RouteType> kTypes[] = {
          {"unicast", RouteType::Unicast},         {"local", RouteType::Local},
          {"unreachable", RouteType::Unreachable}, {"prohibit", RouteType::Prohibit},
          {"blackhole", RouteType::Blackhole},
      };
      static constexpr std::string_view kUnmodelled[] = {"broadcast", "brd", "multicast", "anycast", "throw", "nat",
                                                         "xresolve"};
      if (!a->text.empty() && !(a->text[0] >= '0' && a->text[0] <= '9')) {
        bool is_type = false;
        for (auto [name, t] : kTypes)
          if (a->text == name) r.type = t, is_type = true;
        for (auto name : kUnmodelled)
          if (a->text == name) return word_error(fmt::format("nfemu does not model `{}' routes", name), *a);
        if (is_type) {
          type_ok = true;
          type_word = a;
          a = next();
          if (!a) return incomplete;
        }
      }
      if (dst_ok)
        return word_error(fmt::format("Error: either \"to\" is duplicate, or \"{}\" is a garbage.", a->text), *a);
      auto p = parse_prefix(a->text);
      if (!p) return word_error(fmt::format("Error: inet prefix is expected rather than \"{}\".", a->text), *a);
      r.dst = p->first;
      r.prefix_len = p->second;
      dst_ok = true;
      dst_word = a;
    }
  }
  (void)type_ok;
  (void)type_word;
  if (!dst_ok) return make_error("Error: a destination prefix is required (ip route add prints its usage)", 0, 1);

  // iproute2's defaults.
  if (!table_ok && r.type == RouteType::Local) r.table = RouteTable::Local;
  if (!scope_ok) {
    if (r.type == RouteType::Local) r.scope = kScopeHost;
    else if (r.type == RouteType::Unicast && !r.via) r.scope = kScopeLink;
    else r.scope = kScopeUniverse;
  }
  if (dev_word) {
    r.dev = h.interface_index(dev_word->text);
    if (r.dev < 0) return word_error(fmt::format("Cannot find device \"{}\"", dev_word->text), *dev_word);
  }

  // The kernel: fib_table_insert, then fib_create_info.
  if (r.dst & ~mask_of(r.prefix_len)) return word_error("Error: Invalid prefix for given prefix length.", *dst_word);
  uint8_t type_scope = r.type == RouteType::Local ? kScopeHost : kScopeUniverse;
  if (type_scope > r.scope) return make_error("Error: Invalid scope.", 0, 1);
  if (is_error_type(r.type)) {
    if (r.via || r.dev >= 0)
      return word_error("Error: Gateway, device and multipath can not be specified for this route type.",
                        via_word ? *via_word : *dev_word);
  } else if (r.scope == kScopeHost) {
    if (r.via) return word_error("Error: Route with host scope can not have a gateway.", *via_word);
    if (r.dev < 0) return make_error("RTNETLINK answers: No such device", 0, 1);
  } else if (r.via) {
    const Word& at = *via_word;
    if (r.onlink) {
      if (r.scope >= kScopeLink) return word_error("Error: Nexthop has invalid scope.", at);
      if (r.dev < 0) return word_error("Error: Nexthop device required for onlink.", at);
      if (address_type(h, *r.via) != RouteType::Unicast) return word_error("Error: Nexthop has invalid gateway.", at);
    } else {
      uint8_t min_scope = static_cast<uint8_t>(std::max<int>(r.scope + 1, kScopeLink));
      const Route* gw = r.scope == kScopeNowhere ? nullptr : lookup_route(h, *r.via, min_scope, r.dev);
      if (!gw || (gw->type != RouteType::Unicast && gw->type != RouteType::Local))
        return word_error("Error: Nexthop has invalid gateway.", at);
      r.dev = gw->dev;
    }
  } else {
    if (r.onlink) return make_error("Error: Invalid flags for nexthop - PERVASIVE and ONLINK can not be set.", 0, 1);
    if (r.dev < 0) return make_error("Error: Nexthop device required.", 0, 1);
  }
  if (r.src && !(r.type == RouteType::Local && r.dst == *r.src)) {
    if (address_type(h, *r.src) != RouteType::Local || *r.src == 0)
      return word_error("Error: Invalid prefsrc address.", *src_word);
  }
  for (const auto& o : h.routes)
    if (o.table == r.table && o.dst == r.dst && o.prefix_len == r.prefix_len && o.metric == r.metric)
      return make_error("RTNETLINK answers: File exists", 0, 1);
  h.routes.push_back(std::move(r));
  return {};
}

}  // namespace nfemu::scenario
