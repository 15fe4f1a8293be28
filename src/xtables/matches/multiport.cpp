// -m multiport: up to 15 ports or port ranges (xt_multiport.c revision 1,
// libxt_multiport.c).
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "util/strings.h"
#include "xtables/ext_util.h"
#include "xtables/matches/strtoul_compat.h"
#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr size_t kMaxPorts = 15;  // XT_MULTI_PORTS: a range takes two slots

enum class Which : uint8_t { Source = 1, Destination = 2, Either = 3 };

std::optional<std::string_view> proto_name(uint16_t proto) {
  switch (proto) {
    case 6: return "tcp";
    case 17: return "udp";
    case 136: return "udplite";
    case 132: return "sctp";
    case 33: return "dccp";
    default: return std::nullopt;
  }
}

// xtables_parse_port: a strtoul() number (so "+22" and " 22" too) or a
// service name of the protocol.
Result<uint16_t> port_of(std::string_view s, std::string_view proto) {
  if (auto v = compat::strtoul_full(s, 65535)) return static_cast<uint16_t>(*v);
  return parse_port(s, proto);
}

struct Entry {
  uint16_t lo, hi;
  bool range;
};

class MultiportMatch : public MatchBase<MultiportMatch> {
 public:
  std::string_view name() const override { return "multiport"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"source-ports", ArgKind::Required, true},      {"sports", ArgKind::Required, true},
        {"destination-ports", ArgKind::Required, true}, {"dports", ArgKind::Required, true},
        {"ports", ArgKind::Required, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext& ctx) override {
    Which w = opt.name == "source-ports" || opt.name == "sports"          ? Which::Source
              : opt.name == "destination-ports" || opt.name == "dports" ? Which::Destination
                                                                         : Which::Either;
    uint8_t bit = static_cast<uint8_t>(1u << (static_cast<unsigned>(w) - 1));
    if (seen_ & bit) return make_error(fmt::format("multiport: option \"--{}\" can only be used once.", long_name(w)));
    seen_ |= bit;
    // The protocol must already be known: iptables checks it while parsing.
    if (ctx.ip.inv & IpCriteria::kInvProto)
      return make_error("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP");
    auto proto = proto_name(ctx.ip.proto);
    if (!proto) {
      if (ctx.ip.proto == 0)
        return make_error("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
      return make_error("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP");
    }
    auto r = parse_list(opt.arg, *proto);
    if (!r) return r;
    which_ = w;
    invert_ = opt.invert;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (seen_ == 0) return make_error("multiport expection an option");
    // Exclusion is checked after parsing, in option table order.
    for (Which a : {Which::Source, Which::Destination, Which::Either})
      for (Which b : {Which::Source, Which::Destination, Which::Either})
        if (a != b && has(a) && has(b))
          return make_error(fmt::format("multiport: option \"--{}\" cannot be used together with \"--{}\".",
                                        long_name(a), long_name(b)));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    out += which_ == Which::Source ? " --sports " : which_ == Which::Destination ? " --dports " : " --ports ";
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (i) out += ',';
      out += fmt::format("{}", entries_[i].lo);
      if (entries_[i].range) out += fmt::format(":{}", entries_[i].hi);
    }
  }

  bool can_evaluate() const override { return true; }

  // multiport_mt (revision 1): later fragments never match, a header
  // without both ports is dropped; ports_match_v1 returns !invert when no
  // entry matched.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (ctx.fragoff != 0) return MatchOutcome::NoMatch;
    auto l4 = ctx.pkt.data().subspan(std::min<size_t>(ctx.thoff, ctx.pkt.size()));
    if (l4.size() < 4) return MatchOutcome::HotDrop;
    uint16_t sport = static_cast<uint16_t>(l4[0] << 8 | l4[1]);
    uint16_t dport = static_cast<uint16_t>(l4[2] << 8 | l4[3]);
    bool src = which_ != Which::Destination, dst = which_ != Which::Source;
    bool hit = false;
    for (const Entry& e : entries_) {
      if ((src && sport >= e.lo && sport <= e.hi) || (dst && dport >= e.lo && dport <= e.hi)) {
        hit = true;
        break;
      }
    }
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

  // --ports (either side) constrains neither field alone.
  void describe(MatchFacts& f) const override {
    if (which_ == Which::Either) return;
    f.l4_bytes = 4;
    ValueSet allowed;
    std::vector<std::pair<uint32_t, uint32_t>> sorted;
    for (const Entry& e : entries_) sorted.push_back({e.lo, e.hi});
    std::sort(sorted.begin(), sorted.end());
    for (auto r : sorted) {
      if (!allowed.ranges.empty() && r.first <= allowed.ranges.back().second + 1)
        allowed.ranges.back().second = std::max(allowed.ranges.back().second, r.second);
      else allowed.ranges.push_back(r);
    }
    if (invert_) {
      ValueSet comp;
      uint32_t next = 0;
      for (auto r : allowed.ranges) {
        if (r.first > next) comp.ranges.push_back({next, r.first - 1});
        next = r.second + 1;
      }
      if (next <= 0xffff) comp.ranges.push_back({next, 0xffff});
      allowed = comp;
    }
    (which_ == Which::Source ? f.sport : f.dport) = allowed;
  }

 private:
  static std::string_view long_name(Which w) {
    return w == Which::Source ? "source-ports" : w == Which::Destination ? "destination-ports" : "ports";
  }
  bool has(Which w) const { return seen_ & (1u << (static_cast<unsigned>(w) - 1)); }

  // parse_multi_ports_v1: comma-separated ports, "lo:hi" with lo < hi;
  // counting slots as the kernel stores them.
  Result<void> parse_list(std::string_view arg, std::string_view proto) {
    entries_.clear();
    size_t slots = 0;
    std::string_view rest = arg;
    bool more = true;
    while (more && slots < kMaxPorts) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      more = comma != std::string_view::npos;
      rest = more ? rest.substr(comma + 1) : std::string_view{};
      size_t colon = item.find(':');
      if (colon != std::string_view::npos && slots == kMaxPorts - 1) return make_error("too many ports specified");
      auto lo = port_of(item.substr(0, colon), proto);
      if (!lo) return lo.error();
      Entry e{*lo, *lo, false};
      ++slots;
      if (colon != std::string_view::npos) {
        auto hi = port_of(item.substr(colon + 1), proto);
        if (!hi) return hi.error();
        if (*lo >= *hi) return make_error("invalid portrange specified");
        e.hi = *hi;
        e.range = true;
        ++slots;
      }
      entries_.push_back(e);
    }
    if (more) return make_error("too many ports specified");
    return {};
  }

  std::vector<Entry> entries_;
  Which which_ = Which::Destination;
  bool invert_ = false;
  uint8_t seen_ = 0;
};

}  // namespace

void register_match_multiport(Registry& r) { r.add_match<MultiportMatch>("multiport"); }

}  // namespace nfemu::xt
