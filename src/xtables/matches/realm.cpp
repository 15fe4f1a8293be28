// -m realm: the routing realm of the packet's route (xt_realm.c,
// libipt_realm.c): (dst->tclassid & mask) == id.
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/matches/mark_common.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

// Debian's /etc/iproute2/rt_realms, which libipt_realm reads for names
// (every other line of it is a comment).
constexpr markmatch::NameMap kRealms[] = {{0, "cosmos"}};

class RealmMatch : public MatchBase<RealmMatch> {
 public:
  std::string_view name() const override { return "realm"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"realm", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto r = markmatch::parse_val_mask(opt.arg, "realm", "realm", kRealms);
    if (!r) return r.error();
    std::tie(id_, mask_) = *r;
    invert_ = opt.invert;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return make_error("realm: option \"--realm\" must be specified");
    return {};
  }

  // Only a routed packet has a dst to read.
  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::PostRouting) | hook_bit(Hook::Forward) |
                                           hook_bit(Hook::LocalOut) | hook_bit(Hook::LocalIn))};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    out += " --realm";
    markmatch::save_val_mask(out, id_, mask_, kRealms);
  }

  bool can_evaluate() const override { return true; }

  // A route's tclassid comes from `realm`/`realms` on routes and ip rules
  // (and fib_validate_source's reverse route). Scenario routes carry no
  // realms, so every dst has tclassid 0.
  MatchOutcome evaluate(const EvalContext&) const override {
    constexpr uint32_t kTclassid = 0;
    return ((kTclassid & mask_) == id_) != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint32_t id_ = 0, mask_ = 0xffffffffu;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_realm(Registry& r) { r.add_match<RealmMatch>("realm"); }

}  // namespace nfemu::xt
