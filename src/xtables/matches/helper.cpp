// -m helper: the conntrack helper attached to the connection (xt_helper.c,
// libxt_helper.c). The kernel keeps 30 bytes, so longer names are cut at
// 29 characters.
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/ext_util.h"
#include "conntrack/conntrack.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr size_t kNameSize = 30;  // sizeof(xt_helper_info.name)


class HelperMatch : public MatchBase<HelperMatch> {
 public:
  std::string_view name() const override { return "helper"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"helper", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    helper_ = std::string(opt.arg.substr(0, kNameSize - 1));
    invert_ = opt.invert;
    have_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_) return make_error("helper: option \"--helper\" must be specified");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += invert_ ? " ! --helper" : " --helper";
    save_string(out, std::string_view(helper_).substr(0, helper_.find('\0')));
  }

  bool can_evaluate() const override { return true; }

  // helper_mt: only an expected connection (one with a master) has a
  // helper name to compare, its master's; otherwise the answer is the
  // inversion flag. The name given is compared for the helper's length
  // (strncmp), so "ftp-21" matches ftp; "" matches any helper.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    bool ret = invert_;
    const auto* ct = static_cast<const conntrack::Entry*>(ctx.pkt.meta.ct);
    const conntrack::Entry* master = ct ? ct->master : nullptr;
    if (master && master->helper != conntrack::Helper::None) {
      std::string_view have = conntrack::to_string(master->helper);
      std::string_view want = std::string_view(helper_).substr(0, helper_.find('\0'));
      if (want.empty())
        ret = !ret;
      else
        ret ^= want.size() >= have.size() && want.substr(0, have.size()) == have;
    }
    return ret ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  std::string helper_;
  bool invert_ = false, have_ = false;
};

}  // namespace

void register_match_helper(Registry& r) { r.add_match<HelperMatch>("helper"); }

}  // namespace nfemu::xt
