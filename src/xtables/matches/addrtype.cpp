// -m addrtype: the routing type of the source/destination address
// (xt_addrtype.c revision 1, libxt_addrtype.c).
#include <fmt/format.h>

#include <array>
#include <cctype>

#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr uint32_t kInvSource = 0x1, kInvDest = 0x2, kLimitIn = 0x4, kLimitOut = 0x8;  // XT_ADDRTYPE_*

// RTN_* in kernel order: bit i of a type mask is rtn_names[i].
constexpr std::array<std::string_view, 12> kTypes = {"UNSPEC",    "UNICAST",     "LOCAL",    "BROADCAST",
                                                     "ANYCAST",   "MULTICAST",   "BLACKHOLE", "UNREACHABLE",
                                                     "PROHIBIT",  "THROW",       "NAT",      "XRESOLVE"};

// strncasecmp(word, name, word.size()): the first type the word is a prefix of.
std::optional<uint16_t> type_bit(std::string_view word) {
  for (size_t i = 0; i < kTypes.size(); ++i) {
    std::string_view t = kTypes[i];
    if (word.size() > t.size()) continue;
    bool ok = true;
    for (size_t k = 0; k < word.size() && ok; ++k)
      ok = std::toupper(static_cast<unsigned char>(word[k])) == t[k];
    if (ok) return static_cast<uint16_t>(1u << i);
  }
  return std::nullopt;
}

Result<uint16_t> parse_types(std::string_view arg) {
  uint16_t mask = 0;
  for (size_t comma; (comma = arg.find(',')) != std::string_view::npos; arg.remove_prefix(comma + 1)) {
    auto bit = comma == 0 ? std::nullopt : type_bit(arg.substr(0, comma));
    if (!bit) return make_error(fmt::format("addrtype: bad type `{}'", arg));
    mask |= *bit;
  }
  auto bit = arg.empty() ? std::nullopt : type_bit(arg);
  if (!bit) return make_error(fmt::format("addrtype: bad type \"{}\"", arg));
  return static_cast<uint16_t>(mask | *bit);
}

class AddrtypeMatch : public MatchBase<AddrtypeMatch> {
 public:
  std::string_view name() const override { return "addrtype"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"src-type", ArgKind::Required, true},
                                              {"dst-type", ArgKind::Required, true},
                                              {"limit-iface-in", ArgKind::None, false},
                                              {"limit-iface-out", ArgKind::None, false}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "limit-iface-in") {
      flags_ |= kLimitIn;
      return {};
    }
    if (opt.name == "limit-iface-out") {
      flags_ |= kLimitOut;
      return {};
    }
    auto m = parse_types(opt.arg);
    if (!m) return m.error();
    bool src = opt.name == "src-type";
    (src ? source_ : dest_) = *m;
    (src ? have_src_ : have_dst_) = true;
    if (opt.invert) flags_ |= src ? kInvSource : kInvDest;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_src_ && !have_dst_) return make_error("addrtype: you must specify --src-type or --dst-type");
    if ((flags_ & kLimitIn) && (flags_ & kLimitOut))
      return make_error("addrtype: option \"--limit-iface-in\" cannot be used together with \"--limit-iface-out\".");
    return {};
  }

  Result<void> check(const CheckContext& ctx) const override {
    // addrtype_mt_checkentry_v1, with the kernel's log text.
    if ((flags_ & kLimitIn) && (flags_ & kLimitOut))
      return make_error("xt_addrtype: both incoming and outgoing interface limitation cannot be selected");
    const HookMask in_hooks = hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalIn);
    const HookMask out_hooks = hook_bit(Hook::PostRouting) | hook_bit(Hook::LocalOut);
    if ((ctx.hooks & in_hooks) && (flags_ & kLimitOut))
      return make_error("xt_addrtype: output interface limitation not valid in PREROUTING and INPUT");
    if ((ctx.hooks & out_hooks) && (flags_ & kLimitIn))
      return make_error("xt_addrtype: input interface limitation not valid in POSTROUTING and OUTPUT");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    auto types = [&](uint16_t mask) {
      char sep = ' ';
      for (size_t i = 0; i < kTypes.size(); ++i) {
        if (!(mask & (1u << i))) continue;
        out += sep;
        out += kTypes[i];
        sep = ',';
      }
    };
    if (source_) {
      if (flags_ & kInvSource) out += " !";
      out += " --src-type";
      types(source_);
    }
    if (dest_) {
      if (flags_ & kInvDest) out += " !";
      out += " --dst-type";
      types(dest_);
    }
    if (flags_ & kLimitIn) out += " --limit-iface-in";
    if (flags_ & kLimitOut) out += " --limit-iface-out";
  }

  bool can_evaluate() const override { return true; }

  // addrtype_mt_v1: bit N of a type mask is RTN type N, as
  // inet_dev_addr_type returns it; --limit-iface-in/out restrict the
  // lookup to the packet's input/output interface.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    // No host to ask (a bare table walk): no route knows the address.
    if (!ctx.effects) return MatchOutcome::NoMatch;
    std::string_view dev;
    if (flags_ & kLimitIn) dev = ctx.pkt.meta.in.view();
    else if (flags_ & kLimitOut) dev = ctx.pkt.meta.out.view();
    auto type_in = [&](uint32_t addr, uint16_t mask) {
      unsigned t = ctx.effects->addr_type(addr, dev);
      return t < 16 && (mask & (1u << t)) != 0;
    };
    auto ip = ctx.pkt.ip();
    if (source_ && type_in(ip.saddr(), source_) == static_cast<bool>(flags_ & kInvSource))
      return MatchOutcome::NoMatch;
    if (dest_ && type_in(ip.daddr(), dest_) == static_cast<bool>(flags_ & kInvDest)) return MatchOutcome::NoMatch;
    return MatchOutcome::Match;
  }

 private:
  uint16_t source_ = 0, dest_ = 0;
  uint32_t flags_ = 0;
  bool have_src_ = false, have_dst_ = false;
};

}  // namespace

void register_match_addrtype(Registry& r) { r.add_match<AddrtypeMatch>("addrtype"); }

}  // namespace nfemu::xt
