// -m quota: a byte budget per rule, counted down by the packets that reach
// the match (xt_quota.c, libxt_quota.c). Home routers cap a client's
// traffic with it.
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class QuotaMatch : public MatchBase<QuotaMatch> {
 public:
  std::string_view name() const override { return "quota"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"quota", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto v = xtopt::parse_int("quota", "quota", opt.arg, 0, UINT64_MAX);
    if (!v) return v.error();
    quota_ = *v;
    if (opt.invert) invert_ = true;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("quota", "quota");
    return {};
  }

  // The kernel keeps what is left in its own copy (xt_quota_priv) and
  // hands back the rule as loaded, so iptables-save prints the quota given.
  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format("{} --quota {}", invert_ ? " !" : "", quota_);
  }

  bool can_evaluate() const override { return true; }

  // quota_mt: a packet that fits takes its length (skb->len, the IP packet)
  // from the budget and matches; the first one that does not fit empties
  // it, so no smaller packet passes after it.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    Budget& b = *budget_;
    if (!b.loaded) {
      b.loaded = true;
      b.left = quota_;
    }
    uint64_t len = ctx.pkt.data().size();
    bool hit = false;
    if (b.left >= len) {
      b.left -= len;
      hit = true;
    } else {
      b.left = 0;
    }
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint64_t quota_ = 0;
  // xt_quota_priv: quota_mt_check gives every loaded rule (each copy, each
  // rule `-s A,B` expands to) the whole budget.
  struct Budget {
    bool loaded = false;
    uint64_t left = 0;
  };
  PerRuleState<Budget> budget_;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_quota(Registry& r) { r.add_match<QuotaMatch>("quota"); }

}  // namespace nfemu::xt
