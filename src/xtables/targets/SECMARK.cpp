// -j SECMARK --selctx CONTEXT: set the packet's security mark from an LSM
// context (xt_SECMARK.c, libxt_SECMARK.c; revision 1, secctx[256]).
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"

namespace nfemu::xt {
namespace {

constexpr size_t kSecctxSize = 256;
constexpr xtopt::Entry kEntries[] = {{"selctx", 0, 0, 0, true}};

class SecmarkTarget : public TargetBase<SecmarkTarget> {
 public:
  std::string_view name() const override { return "SECMARK"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"selctx"}};
    return kOptions;
  }
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    // XTOPT_PUT into char[256]: cut to 255 bytes.
    selctx_ = std::string(opt.arg.substr(0, kSecctxSize - 1));
    given_ = true;
    return {};
  }
  Result<void> final_check(const ParseContext&) override {
    return xtopt::fcheck("SECMARK", given_ ? 1u : 0u, kEntries);
  }
  Result<void> check(const CheckContext& ctx) const override {
    if (ctx.table != TableId::Mangle && ctx.table != TableId::Security)
      return make_error(fmt::format("xt_SECMARK: only valid in 'mangle' or 'security' table, not '{}'",
                                    table_name(ctx.table)));
    // The reference kernel runs no LSM that maps contexts to ids (SELinux
    // is built but not enabled), so every context is refused, as there.
    return make_error(fmt::format("xt_SECMARK: unable to map security context '{}'", selctx_));
  }
  void save(std::string& out, const IpCriteria&) const override { out += " --selctx " + selctx_; }

 private:
  std::string selctx_;
  bool given_ = false;
};

}  // namespace

void register_target_SECMARK(Registry& r) { r.add_target<SecmarkTarget>("SECMARK"); }

}  // namespace nfemu::xt
