// -j CHECKSUM --checksum-fill: compute a missing layer 4 checksum
// (xt_CHECKSUM.c, libxt_CHECKSUM.c); mangle table only. The kernel only
// warns (once) when the rule is not restricted to -p udp.
#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

constexpr xtopt::Entry kEntries[] = {{"checksum-fill", 0, 0, 0, true}};

class ChecksumTarget : public TargetBase<ChecksumTarget> {
 public:
  std::string_view name() const override { return "CHECKSUM"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"checksum-fill", ArgKind::None}};
    return kOptions;
  }
  Result<void> parse(const OptionCall&, const ParseContext&) override {
    fill_ = true;
    return {};
  }
  Result<void> final_check(const ParseContext&) override {
    return xtopt::fcheck("CHECKSUM", fill_ ? 1u : 0u, kEntries);
  }
  KernelSpec kernel_spec() const override { return {.tables = table_mask_bit(TableId::Mangle)}; }
  void save(std::string& out, const IpCriteria&) const override {
    if (fill_) out += " --checksum-fill";
  }

  bool can_evaluate() const override { return true; }
  // checksum_tg fills the checksum of a CHECKSUM_PARTIAL (offloaded) skb.
  // nfemu packets always carry complete checksums, as if every device did
  // no offload, so there is nothing to fill: XT_CONTINUE.
  TargetVerdict evaluate(EvalContext&) const override { return TargetVerdict::Continue; }

 private:
  bool fill_ = false;
};

}  // namespace

void register_target_CHECKSUM(Registry& r) { r.add_target<ChecksumTarget>("CHECKSUM"); }

}  // namespace nfemu::xt
