// -m mark: the packet's nfmark under a mask (xt_mark.c revision 1,
// libxt_mark.c). Parsing and saving are shared with connmark.
#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/matches/mark_common.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class MarkMatch : public markmatch::MaskedMark<MarkMatch> {
 public:
  static constexpr std::string_view kName = "mark";
  MatchOutcome evaluate(const EvalContext& ctx) const override { return test(ctx.pkt.meta.mark); }
  void describe(MatchFacts& f) const override {
    f.pure = true;
    f.exact = exact_set();
    f.mark = value_set();
  }
};

}  // namespace

void register_match_mark(Registry& r) { r.add_match<MarkMatch>("mark"); }

}  // namespace nfemu::xt
