// -m physdev: the bridge ports a bridged packet came in on or goes out of
// (xt_physdev.c, libxt_physdev.c).
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

// XT_PHYSDEV_OP_* bits.
constexpr uint8_t kIn = 0x01, kOut = 0x02, kBridged = 0x04, kIsIn = 0x08, kIsOut = 0x10;

class PhysdevMatch : public MatchBase<PhysdevMatch> {
 public:
  std::string_view name() const override { return "physdev"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"physdev-in", ArgKind::Required, true},
                                              {"physdev-out", ArgKind::Required, true},
                                              {"physdev-is-in", ArgKind::None, true},
                                              {"physdev-is-out", ArgKind::None, true},
                                              {"physdev-is-bridged", ArgKind::None, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    uint8_t bit = opt.name == "physdev-in"      ? kIn
                  : opt.name == "physdev-out"   ? kOut
                  : opt.name == "physdev-is-in" ? kIsIn
                  : opt.name == "physdev-is-out" ? kIsOut
                                                 : kBridged;
    if (bit == kIn || bit == kOut) {
      auto iface = parse_iface(opt.arg);
      if (!iface) return iface.error();
      (bit == kIn ? in_ : out_) = *iface;
      (bit == kIn ? in_name_ : out_name_) = std::string(opt.arg);
    }
    bitmask_ |= bit;
    if (opt.invert) invert_ |= bit;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!bitmask_) return make_error("PHYSDEV: no physdev option specified");
    return {};
  }

  Result<void> check(const CheckContext& ctx) const override {
    // physdev_mt_check: the output port is only known for bridged packets,
    // which never come from a local socket.
    if ((bitmask_ & (kOut | kIsOut)) && (!(bitmask_ & kBridged) || (invert_ & kBridged)) &&
        (ctx.hooks & hook_bit(Hook::LocalOut)))
      return make_error("xt_physdev: --physdev-out and --physdev-is-out only supported in the FORWARD and POSTROUTING "
                        "chains with bridged traffic");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    auto inv = [&](uint8_t b) { return (invert_ & b) ? " !" : ""; };
    if (bitmask_ & kIsIn) out += fmt::format("{} --physdev-is-in", inv(kIsIn));
    if (bitmask_ & kIn) out += fmt::format("{} --physdev-in {}", inv(kIn), in_name_);
    if (bitmask_ & kIsOut) out += fmt::format("{} --physdev-is-out", inv(kIsOut));
    if (bitmask_ & kOut) out += fmt::format("{} --physdev-out {}", inv(kOut), out_name_);
    if (bitmask_ & kBridged) out += fmt::format("{} --physdev-is-bridged", inv(kBridged));
  }

  bool can_evaluate() const override { return true; }

  // physdev_mt without bridge info, the only case nfemu has (no bridges):
  // the rule matches exactly when every option it uses is inverted.
  MatchOutcome evaluate(const EvalContext&) const override {
    return (bitmask_ & ~invert_) == 0 ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  IfaceMatch in_, out_;
  std::string in_name_, out_name_;
  uint8_t bitmask_ = 0, invert_ = 0;
};

}  // namespace

void register_match_physdev(Registry& r) { r.add_match<PhysdevMatch>("physdev"); }

}  // namespace nfemu::xt
