// -m conntrack: connection tracking state, tuple, status, expiry and
// direction (xt_conntrack.c revision 3, libxt_conntrack.c conntrack3_*).
//
// Addresses, masks and ports go through getaddrinfo() in libxtables, not
// through the parsers -s and -d use, so they follow inet_aton rules here:
// "10.1" is 10.0.0.1, a non-contiguous dotted mask is silently /32, a port
// is decimal or a service name. Host names are refused: nfemu never
// resolves names.
#include <fmt/format.h>

#include <array>
#include <cctype>

#include "util/strings.h"
#include "xtables/addr.h"
#include "xtables/ext_util.h"
#include "xtables/matches/strtoul_compat.h"
#include "conntrack/conntrack.h"
#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

// XT_CONNTRACK_* match/invert flags.
enum : uint16_t {
  kState = 1 << 0,
  kProto = 1 << 1,
  kOrigSrc = 1 << 2,
  kOrigDst = 1 << 3,
  kReplSrc = 1 << 4,
  kReplDst = 1 << 5,
  kStatus = 1 << 6,
  kExpires = 1 << 7,
  kOrigSrcPort = 1 << 8,
  kOrigDstPort = 1 << 9,
  kReplSrcPort = 1 << 10,
  kReplDstPort = 1 << 11,
  kDirection = 1 << 12,
};
// libxt_conntrack tests its "never match" case against XT_INV_PROTO (0x40),
// which in this flag word is the --ctstatus inversion bit.
constexpr uint16_t kInvProtoQuirk = 0x40;
// XT_CONNTRACK_STATE_* bits that do not come from ctinfo.
constexpr uint32_t kStateInvalid = 1u << 0, kStateUntracked = 1u << 8, kStateSnat = 1u << 9, kStateDnat = 1u << 10;

struct Name {
  std::string_view name;
  uint32_t bit;
};
// XT_CONNTRACK_STATE_* bits, in parse order (first prefix match wins).
constexpr std::array<Name, 7> kStates = {{{"INVALID", 1u << 0},
                                          {"NEW", 1u << 3},
                                          {"ESTABLISHED", 1u << 1},
                                          {"RELATED", 1u << 2},
                                          {"UNTRACKED", 1u << 8},
                                          {"SNAT", 1u << 9},
                                          {"DNAT", 1u << 10}}};
constexpr std::array<Name, 7> kStatesSaveOrder = {{{"INVALID", 1u << 0},
                                                   {"NEW", 1u << 3},
                                                   {"RELATED", 1u << 2},
                                                   {"ESTABLISHED", 1u << 1},
                                                   {"UNTRACKED", 1u << 8},
                                                   {"SNAT", 1u << 9},
                                                   {"DNAT", 1u << 10}}};
// IPS_* bits; NONE adds nothing.
constexpr std::array<Name, 5> kStatuses = {
    {{"NONE", 0}, {"EXPECTED", 1u << 0}, {"SEEN_REPLY", 1u << 1}, {"ASSURED", 1u << 2}, {"CONFIRMED", 1u << 3}}};

// Aliases of Debian's /etc/protocols, which getprotobyname() also accepts.
// (mptcp is 262 there; libxtables keeps the low byte.)
constexpr std::array<std::pair<std::string_view, uint8_t>, 58> kProtoAliases = {{
    {"IP", 0},          {"HOPOPT", 0},      {"ICMP", 1},         {"IGMP", 2},        {"GGP", 3},
    {"IP-ENCAP", 4},    {"ST", 5},          {"TCP", 6},          {"EGP", 8},         {"IGP", 9},
    {"PUP", 12},        {"UDP", 17},        {"HMP", 20},         {"XNS-IDP", 22},    {"RDP", 27},
    {"ISO-TP4", 29},    {"DCCP", 33},       {"XTP", 36},         {"DDP", 37},        {"IDPR-CMTP", 38},
    {"IPv6", 41},       {"IPv6-Route", 43}, {"IPv6-Frag", 44},   {"IDRP", 45},       {"RSVP", 46},
    {"GRE", 47},        {"IPSEC-ESP", 50},  {"IPSEC-AH", 51},    {"SKIP", 57},       {"IPv6-ICMP", 58},
    {"IPv6-NoNxt", 59}, {"IPv6-Opts", 60},  {"RSPF", 73},        {"VMTP", 81},       {"EIGRP", 88},
    {"OSPFIGP", 89},    {"AX.25", 93},      {"IPIP", 94},        {"ETHERIP", 97},    {"ENCAP", 98},
    {"PIM", 103},       {"IPCOMP", 108},    {"VRRP", 112},       {"L2TP", 115},      {"ISIS", 124},
    {"SCTP", 132},      {"FC", 133},        {"Mobility-Header", 135}, {"UDPLite", 136}, {"MPLS-in-IP", 137},
    {"HIP", 139},       {"Shim6", 140},     {"WESP", 141},       {"ROHC", 142},      {"Ethernet", 143},
    {"mptcp", 6},       {"MPTCP", 6},       {"icmpv6", 58},
}};

bool is_prefix_nocase(std::string_view word, std::string_view keyword) {
  if (word.size() > keyword.size()) return false;
  for (size_t i = 0; i < word.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(word[i])) != keyword[i]) return false;
  return true;
}

template <size_t N>
std::optional<uint32_t> lookup(const std::array<Name, N>& table, std::string_view word) {
  for (const auto& n : table)
    if (is_prefix_nocase(word, n.name)) return n.bit;
  return std::nullopt;
}

// "A,B,C" where each word is a case-insensitive prefix of a keyword.
template <size_t N>
Result<uint32_t> parse_names(const std::array<Name, N>& table, std::string_view arg, std::string_view what) {
  uint32_t mask = 0;
  auto bad = [&](std::string_view rest) { return make_error(fmt::format("Bad {} \"{}\"", what, rest)); };
  for (size_t comma; (comma = arg.find(',')) != std::string_view::npos; arg.remove_prefix(comma + 1)) {
    auto bit = comma == 0 ? std::nullopt : lookup(table, arg.substr(0, comma));
    if (!bit) return bad(arg);
    mask |= *bit;
  }
  auto bit = arg.empty() ? std::nullopt : lookup(table, arg);
  if (!bit) return bad(arg);
  return mask | *bit;
}

// inet_aton() without trailing blanks (glibc's getaddrinfo numeric path).
std::optional<uint32_t> inet_aton_exact(std::string_view s) { return number::inet_aton(s); }

struct AddrOpt {
  uint32_t addr = 0, mask = 0;
};

// XTTYPE_HOSTMASK: "HOST[/PREFIX|/DOTTED-MASK]".
Result<AddrOpt> parse_hostmask(std::string_view arg, std::string_view option) {
  size_t slash = arg.find('/');
  std::string_view host = arg.substr(0, slash);
  auto a = inet_aton_exact(host);
  if (!a) return make_error("getaddrinfo: Name or service not known");
  AddrOpt r{*a, 0xffffffffu};
  if (slash == std::string_view::npos) return r;
  std::string_view m = arg.substr(slash + 1);
  if (auto bits = compat::strtoul_full(m, 32)) {
    r.mask = prefix_to_mask(static_cast<int>(*bits));
  } else if (auto dotted = inet_aton_exact(m)) {
    // A mask that is not a prefix keeps the host mask: libxtables shifts by
    // a prefix length of -1 and so changes nothing.
    int bits2 = mask_prefix_len(*dotted);
    r.mask = bits2 >= 0 ? prefix_to_mask(bits2) : 0xffffffffu;
  } else {
    return make_error(fmt::format("conntrack: bad value for option \"--{}\", neither a valid network mask nor valid "
                                  "CIDR (0-32).",
                                  option));
  }
  return r;
}

// One port as getaddrinfo(NULL, port) resolves it: strtoul(port, 10) over
// the whole string, kept in an int where -1 means "not a number" and then
// truncated to 16 bits, as glibc does; otherwise a service name of any
// protocol.
Result<uint16_t> resolve_port(std::string_view s) {
  if (auto v = compat::strtoul_full(s, UINT64_MAX, 10); v && (*v & 0xffffffffu) != 0xffffffffu)
    return static_cast<uint16_t>(*v & 0xffff);
  // parse_port also takes numbers (0x16); only a name may pass here.
  if (!parse_uint_c(s))
    for (std::string_view proto : {"tcp", "udp", "dccp", "sctp"})
      if (auto p = parse_port(s, proto)) return *p;
  return make_error(fmt::format("Port \"{}\" does not resolve to anything.", s));
}

struct PortRangeOpt {
  uint16_t lo = 0, hi = 0;
};

// XTTYPE_PORTRC: "P", "P:Q", ":Q", "P:", ":"; empty ends are 0 and 65535.
Result<PortRangeOpt> parse_port_rc(std::string_view arg, std::string_view option) {
  uint16_t vals[2] = {0, 0xffff};
  int n = 0;
  while (true) {
    size_t colon = arg.find(':');
    std::string_view part = arg.substr(0, colon);
    if (n == 2) return make_error(fmt::format("conntrack: Too many components for option \"--{}\" (max: 2)", option));
    if (!part.empty()) {
      auto p = resolve_port(part);
      if (!p) return p.error();
      vals[n] = *p;
    }
    ++n;
    if (colon == std::string_view::npos) break;
    arg.remove_prefix(colon + 1);
  }
  if (n == 1) vals[1] = vals[0];
  return PortRangeOpt{vals[0], vals[1]};
}

// XTTYPE_UINT32RC: "A", "A:B", ":B", "A:"; empty first is 0, empty second is the maximum.
Result<std::pair<uint32_t, uint32_t>> parse_u32_range(std::string_view arg, std::string_view option) {
  uint32_t vals[2] = {0, 0};
  int n = 0;
  while (true) {
    if (n == 2) return make_error(fmt::format("conntrack: Too many components for option \"--{}\" (max: 2)", option));
    size_t colon = arg.find(':');
    std::string_view part = arg.substr(0, colon);
    uint32_t v;
    if (part.empty()) {
      v = n == 1 ? 0xffffffffu : 0;
    } else {
      auto num = compat::strtoul_prefix(part, 0xffffffffu);
      if (!num)
        return make_error(fmt::format("conntrack: bad value for option \"--{}\" near \"{}\", or out of range "
                                      "(0-4294967295).",
                                      option, arg));
      if (num->end != part.size())
        return make_error(fmt::format("conntrack: Argument to \"--{}\" has unexpected characters near \"{}\".", option,
                                      arg.substr(num->end)));
      v = static_cast<uint32_t>(num->value);
    }
    vals[n++] = v;
    if (colon == std::string_view::npos) break;
    arg.remove_prefix(colon + 1);
  }
  if (n == 1) vals[1] = vals[0];
  return std::pair<uint32_t, uint32_t>{vals[0], vals[1]};
}

Result<uint8_t> parse_protocol(std::string_view s) {
  if (auto v = compat::strtoul_full(s, 255)) return static_cast<uint8_t>(*v);
  if (auto p = protocol_from_name(s)) return static_cast<uint8_t>(*p);
  for (const auto& [alias, num] : kProtoAliases)
    if (alias == s) return num;
  return make_error(fmt::format("unknown protocol \"{}\" specified", s));
}

struct OptionInfo {
  std::string_view name;
  uint16_t flag;
};
constexpr std::array<OptionInfo, 13> kOptionFlags = {{{"ctstate", kState},
                                                      {"ctproto", kProto},
                                                      {"ctorigsrc", kOrigSrc},
                                                      {"ctorigdst", kOrigDst},
                                                      {"ctreplsrc", kReplSrc},
                                                      {"ctrepldst", kReplDst},
                                                      {"ctstatus", kStatus},
                                                      {"ctexpire", kExpires},
                                                      {"ctorigsrcport", kOrigSrcPort},
                                                      {"ctorigdstport", kOrigDstPort},
                                                      {"ctreplsrcport", kReplSrcPort},
                                                      {"ctrepldstport", kReplDstPort},
                                                      {"ctdir", kDirection}}};

class ConntrackMatch : public MatchBase<ConntrackMatch> {
 public:
  std::string_view name() const override { return "conntrack"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"ctstate", ArgKind::Required, true},       {"ctproto", ArgKind::Required, true},
        {"ctorigsrc", ArgKind::Required, true},     {"ctorigdst", ArgKind::Required, true},
        {"ctreplsrc", ArgKind::Required, true},     {"ctrepldst", ArgKind::Required, true},
        {"ctstatus", ArgKind::Required, true},      {"ctexpire", ArgKind::Required, true},
        {"ctorigsrcport", ArgKind::Required, true}, {"ctorigdstport", ArgKind::Required, true},
        {"ctreplsrcport", ArgKind::Required, true}, {"ctrepldstport", ArgKind::Required, true},
        {"ctdir", ArgKind::Required, false},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    uint16_t flag = 0;
    for (const auto& o : kOptionFlags)
      if (o.name == opt.name) flag = o.flag;
    given_ = true;
    std::string_view arg = opt.arg;
    switch (flag) {
      case kState: {
        auto m = parse_names(kStates, arg, "ctstate");
        if (!m) return m.error();
        state_mask_ = *m;
        break;
      }
      case kProto: {
        auto p = parse_protocol(arg);
        if (!p) return p.error();
        l4proto_ = *p;
        if (l4proto_ == 0 && (invert_ & kInvProtoQuirk)) return make_error("conntrack: rule would never match protocol");
        break;
      }
      case kOrigSrc: case kOrigDst: case kReplSrc: case kReplDst: {
        auto a = parse_hostmask(arg, opt.name);
        if (!a) return a.error();
        addr_[addr_index(flag)] = *a;
        break;
      }
      case kStatus: {
        auto m = parse_names(kStatuses, arg, "ctstatus");
        if (!m) return m.error();
        status_mask_ = *m;
        break;
      }
      case kExpires: {
        auto r = parse_u32_range(arg, opt.name);
        if (!r) return r.error();
        expires_ = *r;
        break;
      }
      case kOrigSrcPort: case kOrigDstPort: case kReplSrcPort: case kReplDstPort: {
        auto r = parse_port_rc(arg, opt.name);
        if (!r) return r.error();
        port_[port_index(flag)] = *r;
        break;
      }
      case kDirection:
        if (iequals(arg, "ORIGINAL")) {
          invert_ &= static_cast<uint16_t>(~kDirection);
        } else if (iequals(arg, "REPLY")) {
          invert_ |= kDirection;
        } else {
          return bad_value("conntrack", "ctdir", arg);
        }
        match_ |= kDirection;
        return {};
    }
    match_ |= flag;
    if (opt.invert) invert_ |= flag;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return make_error("conntrack: At least one option is required");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    auto inv = [&](uint16_t f) {
      if (invert_ & f) out += " !";
    };
    if (match_ & kState) {
      inv(kState);
      out += " --ctstate";
      names(out, kStatesSaveOrder, state_mask_);
    }
    if (match_ & kProto) {
      inv(kProto);
      out += fmt::format(" --ctproto {}", l4proto_);
    }
    static constexpr std::array<std::pair<uint16_t, std::string_view>, 4> kAddrs = {
        {{kOrigSrc, "ctorigsrc"}, {kOrigDst, "ctorigdst"}, {kReplSrc, "ctreplsrc"}, {kReplDst, "ctrepldst"}}};
    for (const auto& [f, n] : kAddrs) {
      if (!(match_ & f)) continue;
      inv(f);
      const AddrOpt& a = addr_[addr_index(f)];
      out += fmt::format(" --{} {}", n, format_ipv4(a.addr));
      int bits = mask_prefix_len(a.mask);
      if (bits < 0) {
        out += '/';
        out += format_ipv4(a.mask);
      } else if (bits != 32) out += fmt::format("/{}", bits);
    }
    static constexpr std::array<std::pair<uint16_t, std::string_view>, 4> kPorts = {{{kOrigSrcPort, "ctorigsrcport"},
                                                                                     {kOrigDstPort, "ctorigdstport"},
                                                                                     {kReplSrcPort, "ctreplsrcport"},
                                                                                     {kReplDstPort, "ctrepldstport"}}};
    for (const auto& [f, n] : kPorts) {
      if (!(match_ & f)) continue;
      inv(f);
      const PortRangeOpt& p = port_[port_index(f)];
      if (p.hi == 0 || p.lo == p.hi) out += fmt::format(" --{} {}", n, p.lo);
      else out += fmt::format(" --{} {}:{}", n, p.lo, p.hi);
    }
    if (match_ & kStatus) {
      inv(kStatus);
      out += " --ctstatus";
      if (status_mask_ == 0) out += " NONE";
      else names(out, kStatuses, status_mask_);
    }
    if (match_ & kExpires) {
      inv(kExpires);
      if (expires_.first == expires_.second) out += fmt::format(" --ctexpire {}", expires_.first);
      else out += fmt::format(" --ctexpire {}:{}", expires_.first, expires_.second);
    }
    if (match_ & kDirection) out += (invert_ & kDirection) ? " --ctdir REPLY" : " --ctdir ORIGINAL";
  }

  bool can_evaluate() const override { return true; }

  // conntrack_mt, revision 3. Each test fails when (criterion holds) equals
  // its inversion bit; a packet without entry matches only through
  // --ctstate (INVALID or UNTRACKED, or an inverted state list).
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const auto& meta = ctx.pkt.meta;
    const auto* ct = static_cast<const conntrack::Entry*>(meta.ct);
    const unsigned ctinfo = static_cast<unsigned>(meta.ctinfo);
    auto fails = [&](uint16_t flag, bool holds) { return (match_ & flag) && holds == !!(invert_ & flag); };
    uint32_t statebit;
    if (ct) statebit = 1u << (ctinfo % 3 + 1);
    else if (meta.ctinfo == packet::CtInfo::Untracked) statebit = kStateUntracked;
    else statebit = kStateInvalid;
    if (match_ & kState) {
      if (ct) {
        if (ct->status & conntrack::status::kSrcNat) statebit |= kStateSnat;
        if (ct->status & conntrack::status::kDstNat) statebit |= kStateDnat;
      }
      if (fails(kState, (state_mask_ & statebit) != 0)) return MatchOutcome::NoMatch;
    }
    if (!ct) return (match_ & kState) ? MatchOutcome::Match : MatchOutcome::NoMatch;
    // --ctdir ORIGINAL clears the inversion bit, REPLY sets it.
    if (fails(kDirection, ctinfo < 3)) return MatchOutcome::NoMatch;
    const conntrack::Tuple& orig = ct->tuple[conntrack::kOriginal];
    const conntrack::Tuple& repl = ct->tuple[conntrack::kReply];
    auto addr_ok = [&](uint16_t flag, uint32_t a) {
      const AddrOpt& o = addr_[addr_index(flag)];
      return !fails(flag, ((a ^ o.addr) & o.mask) == 0);
    };
    if (!addr_ok(kOrigSrc, orig.src) || !addr_ok(kOrigDst, orig.dst) || !addr_ok(kReplSrc, repl.src) ||
        !addr_ok(kReplDst, repl.dst))
      return MatchOutcome::NoMatch;
    if (fails(kProto, ct->proto() == l4proto_)) return MatchOutcome::NoMatch;
    // The kernel compares src.u.all / dst.u.all: for ICMP the source is the
    // echo id and the destination is type and code in one 16-bit word.
    auto dst_all = [](const conntrack::Tuple& t) {
      return t.proto == 1 ? static_cast<uint16_t>(t.icmp_type << 8 | t.icmp_code) : t.dport;
    };
    auto port_ok = [&](uint16_t flag, uint16_t p) {
      const PortRangeOpt& r = port_[port_index(flag)];
      return !fails(flag, p >= r.lo && p <= r.hi);
    };
    if (!port_ok(kOrigSrcPort, orig.sport) || !port_ok(kOrigDstPort, dst_all(orig)) ||
        !port_ok(kReplSrcPort, repl.sport) || !port_ok(kReplDstPort, dst_all(repl)))
      return MatchOutcome::NoMatch;
    if (fails(kStatus, (status_mask_ & ct->status) != 0)) return MatchOutcome::NoMatch;
    if (match_ & kExpires) {
      // nf_ct_expires: (s32)(timeout - now) clamped at 0, in whole seconds.
      // An unconfirmed entry still holds its relative timeout, which the
      // kernel compares with jiffies since boot: 0 on any host up longer
      // than that timeout, which is what nfemu reports.
      uint64_t secs = 0;
      if (ct->confirmed()) {
        auto left = static_cast<int32_t>(static_cast<uint32_t>(ct->timeout - conntrack::to_jiffies(ctx.now_ns)));
        secs = left > 0 ? static_cast<uint64_t>(left) / conntrack::kHz : 0;
      }
      if (fails(kExpires, secs >= expires_.first && secs <= expires_.second)) return MatchOutcome::NoMatch;
    }
    return MatchOutcome::Match;
  }

  // Only --ctstate is a packet field; the SNAT/DNAT pseudo-states depend
  // on the entry, so a list naming them constrains nothing.
  void describe(MatchFacts& f) const override {
    f.pure = true;
    if (!(match_ & kState) || (state_mask_ & (kStateSnat | kStateDnat))) return;
    bool inv = invert_ & kState;
    ValueSet allowed;
    for (uint32_t bit : {1u, 2u, 4u, 8u, kStateUntracked})
      if (((state_mask_ & bit) != 0) != inv) allowed.ranges.push_back({bit, bit});
    f.ctstate = allowed;
  }

 private:
  static bool iequals(std::string_view a, std::string_view upper) {
    return a.size() == upper.size() && is_prefix_nocase(a, upper);
  }
  static int addr_index(uint16_t f) { return f == kOrigSrc ? 0 : f == kOrigDst ? 1 : f == kReplSrc ? 2 : 3; }
  static int port_index(uint16_t f) { return f == kOrigSrcPort ? 0 : f == kOrigDstPort ? 1 : f == kReplSrcPort ? 2 : 3; }
  template <size_t N>
  static void names(std::string& out, const std::array<Name, N>& table, uint32_t mask) {
    char sep = ' ';
    for (const auto& n : table) {
      if (!n.bit || !(mask & n.bit)) continue;
      out += sep;
      out += n.name;
      sep = ',';
    }
  }

  uint16_t match_ = 0, invert_ = 0;
  uint32_t state_mask_ = 0, status_mask_ = 0;
  uint8_t l4proto_ = 0;
  AddrOpt addr_[4];
  PortRangeOpt port_[4];
  std::pair<uint32_t, uint32_t> expires_{0, 0};
  bool given_ = false;
};

}  // namespace

void register_match_conntrack(Registry& r) { r.add_match<ConntrackMatch>("conntrack"); }

}  // namespace nfemu::xt
