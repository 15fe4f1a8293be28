// -j CONNSECMARK --save|--restore: copy the security mark between packet
// and connection (xt_CONNSECMARK.c, libxt_CONNSECMARK.c).
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

enum : unsigned { kSave, kRestore };
constexpr xtopt::Entry kEntries[] = {{"save", kSave, 1u << kRestore}, {"restore", kRestore, 1u << kSave}};

class ConnsecmarkTarget : public TargetBase<ConnsecmarkTarget> {
 public:
  std::string_view name() const override { return "CONNSECMARK"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"save", ArgKind::None}, {"restore", ArgKind::None}};
    return kOptions;
  }
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    restore_ = opt.name == "restore";
    xflags_ |= 1u << (restore_ ? kRestore : kSave);
    return {};
  }
  Result<void> final_check(const ParseContext&) override {
    if (xflags_ == 0) return make_error("CONNSECMARK target: parameter required");
    return xtopt::fcheck("CONNSECMARK", xflags_, kEntries);
  }
  Result<void> check(const CheckContext& ctx) const override {
    // Two tables allowed: the kernel checks by name, with its own message.
    if (ctx.table != TableId::Mangle && ctx.table != TableId::Security)
      return make_error(fmt::format("xt_CONNSECMARK: only valid in 'mangle' or 'security' table, not '{}'",
                                    table_name(ctx.table)));
    return {};
  }
  void save(std::string& out, const IpCriteria&) const override { out += restore_ ? " --restore" : " --save"; }

  bool can_evaluate() const override { return true; }
  // connsecmark_tg copies a non-zero secmark between packet and
  // connection. Only SECMARK sets a secmark, and it cannot load here (no
  // LSM maps contexts), so both stay 0 and the copy never happens.
  TargetVerdict evaluate(EvalContext&) const override { return TargetVerdict::Continue; }

 private:
  bool restore_ = false;
  uint32_t xflags_ = 0;
};

}  // namespace

void register_target_CONNSECMARK(Registry& r) { r.add_target<ConnsecmarkTarget>("CONNSECMARK"); }

}  // namespace nfemu::xt
