// -j TEE: a copy of the packet sent on to a gateway, the original going
// its way (xt_TEE.c, nf_dup_ipv4.c, libxt_TEE.c). Traffic mirrors to an
// IDS use it. Any table takes it (6.18 loads it in filter, raw and nat
// too; only old kernels kept it to mangle).
#include <fmt/format.h>

#include "xtables/addr.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr size_t kIfNameSize = 16;  // IFNAMSIZ

class TeeTarget : public TargetBase<TeeTarget> {
 public:
  std::string_view name() const override { return "TEE"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"gateway", ArgKind::Required}, {"oif", ArgKind::Required}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "gateway") {
      if (have_gw_) return xtopt::used_once("TEE", "gateway");
      // XTTYPE_HOST: getaddrinfo. nfemu resolves no host names, so only the
      // numeric (inet_aton) forms are accepted.
      auto a = xtopt::inet_aton(opt.arg);
      if (!a) return make_error("getaddrinfo: Name or service not known");
      gw_ = *a;
      have_gw_ = true;
    } else {
      if (have_oif_) return xtopt::used_once("TEE", "oif");
      // XTOPT_PUT into char[IFNAMSIZ]: cut, not refused.
      oif_ = std::string(opt.arg.substr(0, kIfNameSize - 1));
      have_oif_ = true;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_gw_) return xtopt::must_be_specified("TEE", "gateway");
    return {};
  }

  // tee_tg_check: 0.0.0.0 is no gateway.
  Result<void> check(const CheckContext&) const override {
    if (gw_ == 0) return make_error("TEE: the gateway 0.0.0.0 is refused (EINVAL)");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += " --gateway ";
    out += format_ipv4(gw_);
    if (!oif_.empty()) out += " --oif " + oif_;
  }

  bool can_evaluate() const override { return true; }

  // tee_tg4: nf_dup_ipv4 sends the copy, the original continues.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    if (ctx.effects) ctx.effects->duplicate(ctx, gw_, oif_);
    return TargetVerdict::Continue;
  }

 private:
  uint32_t gw_ = 0;
  std::string oif_;
  bool have_gw_ = false, have_oif_ = false;
};

}  // namespace

void register_target_TEE(Registry& r) { r.add_target<TeeTarget>("TEE"); }

}  // namespace nfemu::xt
