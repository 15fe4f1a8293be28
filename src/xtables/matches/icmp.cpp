// -m icmp: ICMP type and code (ip_tables.c icmp_match, libipt_icmp.c).
#include <fmt/format.h>

#include <array>
#include <cctype>

#include "xtables/ext_util.h"
#include "xtables/matches/strtoul_compat.h"
#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kInvType = 0x01;  // IPT_ICMP_INV
constexpr uint8_t kProtoIcmp = 1;

struct IcmpName {
  std::string_view name;
  uint8_t type, code_min, code_max;
};
// libxt_icmp.h's table, in its order: a prefix that fits more than one
// entry is ambiguous, so the order only shows in the message.
constexpr std::array<IcmpName, 40> kIcmpNames = {{
    {"any", 0xFF, 0, 0xFF},
    {"echo-reply", 0, 0, 0xFF},
    {"pong", 0, 0, 0xFF},
    {"destination-unreachable", 3, 0, 0xFF},
    {"network-unreachable", 3, 0, 0},
    {"host-unreachable", 3, 1, 1},
    {"protocol-unreachable", 3, 2, 2},
    {"port-unreachable", 3, 3, 3},
    {"fragmentation-needed", 3, 4, 4},
    {"source-route-failed", 3, 5, 5},
    {"network-unknown", 3, 6, 6},
    {"host-unknown", 3, 7, 7},
    {"network-prohibited", 3, 9, 9},
    {"host-prohibited", 3, 10, 10},
    {"TOS-network-unreachable", 3, 11, 11},
    {"TOS-host-unreachable", 3, 12, 12},
    {"communication-prohibited", 3, 13, 13},
    {"host-precedence-violation", 3, 14, 14},
    {"precedence-cutoff", 3, 15, 15},
    {"source-quench", 4, 0, 0xFF},
    {"redirect", 5, 0, 0xFF},
    {"network-redirect", 5, 0, 0},
    {"host-redirect", 5, 1, 1},
    {"TOS-network-redirect", 5, 2, 2},
    {"TOS-host-redirect", 5, 3, 3},
    {"echo-request", 8, 0, 0xFF},
    {"ping", 8, 0, 0xFF},
    {"router-advertisement", 9, 0, 0xFF},
    {"router-solicitation", 10, 0, 0xFF},
    {"time-exceeded", 11, 0, 0xFF},
    {"ttl-exceeded", 11, 0, 0xFF},
    {"ttl-zero-during-transit", 11, 0, 0},
    {"ttl-zero-during-reassembly", 11, 1, 1},
    {"parameter-problem", 12, 0, 0xFF},
    {"ip-header-bad", 12, 0, 0},
    {"required-option-missing", 12, 1, 1},
    {"timestamp-request", 13, 0, 0xFF},
    {"timestamp-reply", 14, 0, 0xFF},
    {"address-mask-request", 17, 0, 0xFF},
    {"address-mask-reply", 18, 0, 0xFF},
}};
constexpr size_t kNumNames = kIcmpNames.size();

bool iprefix(std::string_view name, std::string_view prefix) {
  if (prefix.size() > name.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(name[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// xtables_strtoui(str, &end, 0, 255): a number at the start of s, the rest in *rest.
bool leading_number(std::string_view s, uint32_t& value, std::string_view& rest) {
  auto p = compat::strtoul_prefix(s, 255);
  if (!p) return false;
  value = static_cast<uint32_t>(p->value);
  rest = s.substr(p->end);
  return true;
}

// "N" or "N:M", as parse_range in libxt_icmp.h.
bool number_range(std::string_view s, uint32_t out[2], std::string_view& rest) {
  if (!leading_number(s, out[0], rest)) return false;
  out[1] = out[0];
  if (!rest.empty() && rest[0] == ':')
    if (!leading_number(rest.substr(1), out[1], rest)) return false;
  return true;
}

class IcmpMatch : public MatchBase<IcmpMatch> {
 public:
  std::string_view name() const override { return "icmp"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"icmp-type", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto r = parse_type(opt.arg);
    if (!r) return r;
    have_type_ = true;
    if (opt.invert) inv_ |= kInvType;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_type_) return make_error("icmp: option \"--icmp-type\" must be specified");
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = kProtoIcmp}; }

  void save(std::string& out, const IpCriteria&) const override {
    if (inv_ & kInvType) out += " !";
    if (type_ == 0xFF) {
      out += " --icmp-type any";
      return;
    }
    out += fmt::format(" --icmp-type {}", type_);
    if (code_[0] != 0 || code_[1] != 0xFF) out += fmt::format("/{}", code_[0]);
  }

  bool can_evaluate() const override { return true; }

  // icmp_match: later fragments never match; a header shorter than the 8
  // bytes of struct icmphdr is dropped.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (ctx.fragoff != 0) return MatchOutcome::NoMatch;
    auto l4 = ctx.pkt.data().subspan(std::min<size_t>(ctx.thoff, ctx.pkt.size()));
    if (l4.size() < 8) return MatchOutcome::HotDrop;
    bool hit = type_ == 0xFF || (l4[0] == type_ && l4[1] >= code_[0] && l4[1] <= code_[1]);
    return hit != static_cast<bool>(inv_ & kInvType) ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

  // An inverted type with a code range still matches that type's other codes.
  void describe(MatchFacts& f) const override {
    if (type_ == 0xFF) return;
    bool all_codes = code_[0] == 0 && code_[1] == 0xFF;
    bool inv = inv_ & kInvType;
    if (inv && !all_codes) return;
    f.l4_bytes = 8;
    // With every code the test is the type alone.
    f.exact = all_codes;
    f.icmp_type = ValueSet::range(type_, type_, inv, 0xff);
  }

 private:
  Result<void> parse_type(std::string_view arg) {
    size_t match = kNumNames;
    for (size_t i = 0; i < kNumNames; ++i) {
      if (!iprefix(kIcmpNames[i].name, arg)) continue;
      if (match != kNumNames)
        return make_error(fmt::format("Ambiguous ICMP type `{}': `{}' or `{}'?", arg, kIcmpNames[match].name,
                                      kIcmpNames[i].name));
      match = i;
    }
    if (match < kNumNames) {
      type_ = kIcmpNames[match].type;
      code_[0] = kIcmpNames[match].code_min;
      code_[1] = kIcmpNames[match].code_max;
      return {};
    }
    uint32_t types[2], codes[2];
    std::string_view rest;
    if (!number_range(arg, types, rest)) return make_error(fmt::format("Unknown ICMP type `{}'", arg));
    if (rest.empty()) {
      code_[0] = 0;
      code_[1] = 0xFF;
    } else if (rest[0] == '/') {
      if (!number_range(rest.substr(1), codes, rest)) return make_error(fmt::format("Unknown ICMP code `{}'", arg));
      if (!rest.empty()) return make_error(fmt::format("unknown character {}", rest[0]));
      code_[0] = static_cast<uint8_t>(codes[0]);
      code_[1] = static_cast<uint8_t>(codes[1]);
    } else {
      return make_error(fmt::format("unknown character {}", rest[0]));
    }
    if (types[0] != types[1]) return make_error("ICMP type range not supported");
    type_ = static_cast<uint8_t>(types[0]);
    return {};
  }

  // 0xFF is "any", as icmp_init leaves it when no type is given.
  uint8_t type_ = 0xFF;
  uint8_t code_[2] = {0, 0xFF};
  uint8_t inv_ = 0;
  bool have_type_ = false;
};

}  // namespace

void register_match_icmp(Registry& r) { r.add_match<IcmpMatch>("icmp"); }

}  // namespace nfemu::xt
