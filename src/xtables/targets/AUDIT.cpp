// -j AUDIT --type accept|drop|reject: write an audit record (xt_AUDIT.c,
// libxt_AUDIT.c). Any table and hook; the type name is case-insensitive.
#include <fmt/format.h>

#include <array>
#include <cctype>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

constexpr xtopt::Entry kEntries[] = {{"type", 0, 0, 0, true}};
constexpr std::array<std::string_view, 3> kTypes = {"accept", "drop", "reject"};

class AuditTarget : public TargetBase<AuditTarget> {
 public:
  std::string_view name() const override { return "AUDIT"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"type"}};
    return kOptions;
  }
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    for (size_t i = 0; i < kTypes.size(); ++i) {
      std::string_view t = kTypes[i];
      bool same = opt.arg.size() == t.size();
      for (size_t k = 0; same && k < t.size(); ++k)
        same = std::tolower(static_cast<unsigned char>(opt.arg[k])) == t[k];
      if (same) {
        type_ = static_cast<int>(i);
        return {};
      }
    }
    return make_error(fmt::format("Bad action type value \"{}\"", opt.arg));
  }
  Result<void> final_check(const ParseContext&) override {
    return xtopt::fcheck("AUDIT", type_ >= 0 ? 1u : 0u, kEntries);
  }
  void save(std::string& out, const IpCriteria&) const override {
    if (type_ >= 0) out += fmt::format(" --type {}", kTypes[static_cast<size_t>(type_)]);
  }

  bool can_evaluate() const override { return true; }
  // audit_tg: an audit record (only when auditing is enabled, which a
  // namespace cannot do and nfemu does not model), then XT_CONTINUE.
  TargetVerdict evaluate(EvalContext&) const override { return TargetVerdict::Continue; }

 private:
  int type_ = -1;
};

}  // namespace

void register_target_AUDIT(Registry& r) { r.add_target<AuditTarget>("AUDIT"); }

}  // namespace nfemu::xt
