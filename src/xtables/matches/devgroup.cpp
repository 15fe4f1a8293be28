// -m devgroup: the device group of the packet's input or output interface
// (xt_devgroup.c, libxt_devgroup.c). Groups are `ip link set DEV group N`;
// every interface starts in group 0 ("default").
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/matches/mark_common.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

// Debian's /etc/iproute2/group, which libxt_devgroup reads for names.
constexpr markmatch::NameMap kGroups[] = {{0, "default"}};

class DevgroupMatch : public MatchBase<DevgroupMatch> {
 public:
  std::string_view name() const override { return "devgroup"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"src-group", ArgKind::Required, true},
                                              {"dst-group", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto r = markmatch::parse_val_mask(opt.arg, "devgroup", opt.name, kGroups);
    if (!r) return r.error();
    Side& side = opt.name == "src-group" ? src_ : dst_;
    side = {.given = true, .invert = opt.invert, .group = r->first, .mask = r->second};
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!src_.given && !dst_.given)
      return make_error("devgroup match: You must specify either '--src-group' or '--dst-group'");
    return {};
  }

  // devgroup_mt_checkentry: the input device exists only up to FORWARD,
  // the output device only from FORWARD on.
  Result<void> check(const CheckContext& ctx) const override {
    constexpr HookMask kIn = hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalIn) | hook_bit(Hook::Forward);
    constexpr HookMask kOut = hook_bit(Hook::Forward) | hook_bit(Hook::LocalOut) | hook_bit(Hook::PostRouting);
    if (src_.given && (ctx.hooks & ~kIn))
      return make_error("xt_devgroup: --src-group is valid only in PREROUTING, INPUT and FORWARD");
    if (dst_.given && (ctx.hooks & ~kOut))
      return make_error("xt_devgroup: --dst-group is valid only in FORWARD, OUTPUT and POSTROUTING");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    auto one = [&](const Side& s, std::string_view opt) {
      if (!s.given) return;
      if (s.invert) out += " !";
      out += opt;
      markmatch::save_val_mask(out, s.group, s.mask, kGroups);
    };
    one(src_, " --src-group");
    one(dst_, " --dst-group");
  }

  bool can_evaluate() const override { return true; }

  MatchOutcome evaluate(const EvalContext& ctx) const override {
    auto group = [&](const packet::IfName& dev) { return ctx.effects ? ctx.effects->device_group(dev.view()) : 0u; };
    if (src_.given && !src_.accepts(group(ctx.pkt.meta.in))) return MatchOutcome::NoMatch;
    if (dst_.given && !dst_.accepts(group(ctx.pkt.meta.out))) return MatchOutcome::NoMatch;
    return MatchOutcome::Match;
  }

 private:
  struct Side {
    bool given = false, invert = false;
    uint32_t group = 0, mask = 0xffffffffu;
    bool accepts(uint32_t g) const { return (((group ^ g) & mask) == 0) != invert; }
  };
  Side src_, dst_;
};

}  // namespace

void register_match_devgroup(Registry& r) { r.add_match<DevgroupMatch>("devgroup"); }

}  // namespace nfemu::xt
