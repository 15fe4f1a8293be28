// -j TRACE: mark packets for rule tracing (xt_TRACE.c, libxt_TRACE.c).
// No options; the kernel allows it in the raw table only.
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

class TraceTarget : public TargetBase<TraceTarget> {
 public:
  std::string_view name() const override { return "TRACE"; }
  std::span<const OptionSpec> options() const override { return {}; }
  Result<void> parse(const OptionCall&, const ParseContext&) override { return {}; }
  KernelSpec kernel_spec() const override { return {.tables = table_mask_bit(TableId::Raw), .module = "TRACE"}; }
  void save(std::string&, const IpCriteria&) const override {}
  bool can_evaluate() const override { return true; }
  // trace_tg: from here on every rule the packet matches is logged.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    ctx.pkt.meta.trace = true;
    return TargetVerdict::Continue;
  }
};

}  // namespace

void register_target_TRACE(Registry& r) { r.add_target<TraceTarget>("TRACE"); }

}  // namespace nfemu::xt
