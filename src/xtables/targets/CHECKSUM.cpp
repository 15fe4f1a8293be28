// -j CHECKSUM --checksum-fill: compute a missing layer 4 checksum
// (xt_CHECKSUM.c, libxt_CHECKSUM.c); mangle table only. The kernel only
// warns (once) when the rule is not restricted to -p udp.
#include "packet/mangle.h"
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
  // checksum_tg fills the checksum of a CHECKSUM_PARTIAL (offloaded) skb;
  // nfemu's own packets carry complete ones, replayed captures may not
  // (PacketMeta::csum_partial). A GSO aggregate's stays partial
  // (skb_is_gso): its segments get theirs when it is cut.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    if ((ctx.pkt.meta.csum_partial || packet::l4_checksum_partial(ctx.pkt.ip())) &&
        !(ctx.effects && ctx.effects->gso_aggregate(ctx.pkt))) {
      packet::fill_checksums(ctx.pkt.ip());
      ctx.pkt.meta.csum_partial = false;
    }
    return TargetVerdict::Continue;
  }

 private:
  bool fill_ = false;
};

}  // namespace

void register_target_CHECKSUM(Registry& r) { r.add_target<ChecksumTarget>("CHECKSUM"); }

}  // namespace nfemu::xt
