// -m length: IP total length in a range (xt_length.c, libxt_length.c).
#include <fmt/format.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
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
    auto v = xtopt::parse_mint("length", "length", opt.arg, UINT16_MAX);
    if (!v) return v.error();
    min_ = static_cast<uint16_t>((*v)[0]);
    // A single value is an exact length; min > max is accepted and never matches.
    max_ = v->size() >= 2 ? static_cast<uint16_t>((*v)[1]) : min_;
    invert_ = opt.invert;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("length", "length");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += invert_ ? " ! --length " : " --length ";
    out += min_ == max_ ? fmt::format("{}", min_) : fmt::format("{}:{}", min_, max_);
  }

  bool can_evaluate() const override { return true; }

  // length_mt: the IP total length field.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    uint16_t len = ctx.pkt.ip().total_length();
    bool hit = len >= min_ && len <= max_;
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint16_t min_ = 0, max_ = 0;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_length(Registry& r) { r.add_match<LengthMatch>("length"); }

}  // namespace nfemu::xt
