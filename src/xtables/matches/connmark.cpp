// -m connmark: the connection's ctmark under a mask (xt_connmark.c
// revision 1, libxt_connmark.c). Parsing and saving are shared with mark.
#include "conntrack/conntrack.h"
#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/matches/mark_common.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class ConnmarkMatch : public markmatch::MaskedMark<ConnmarkMatch> {
 public:
  static constexpr std::string_view kName = "connmark";
  // connmark_mt: no connection (INVALID, untracked) never matches, inverted or not.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const auto* ct = static_cast<const conntrack::Entry*>(ctx.pkt.meta.ct);
    if (!ct) return MatchOutcome::NoMatch;
    return test(ct->mark);
  }
  void describe(MatchFacts& f) const override { f.pure = true; }
};

}  // namespace

void register_match_connmark(Registry& r) { r.add_match<ConnmarkMatch>("connmark"); }

}  // namespace nfemu::xt
