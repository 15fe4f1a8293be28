// -m length: IP total length in a range (xt_length.c, libxt_length.c).
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class LengthMatch : public MatchBase<LengthMatch> {
 public:
  std::string_view name() const override { return "length"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"length", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    // A single value is an exact length; min > max is accepted and never matches.
    auto r = xtopt::parse_u16_range("length", "length", opt.arg);
    if (!r) return r.error();
    range_ = *r;
    invert_ = opt.invert;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("length", "length");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    xtopt::save_u16_range(out, "length", range_, invert_);
  }

  bool can_evaluate() const override { return true; }

  // length_mt: the IP total length field.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    bool hit = range_.contains(ctx.pkt.ip().total_length());
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  xtopt::U16Range range_;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_length(Registry& r) { r.add_match<LengthMatch>("length"); }

}  // namespace nfemu::xt
