// -m tcpmss: the MSS option of a TCP segment in a range (xt_tcpmss.c,
// libxt_tcpmss.c). Routers pair it with TCPMSS to clamp only the SYNs
// that announce too large a segment.
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class TcpmssMatch : public MatchBase<TcpmssMatch> {
 public:
  std::string_view name() const override { return "tcpmss"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"mss", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto r = xtopt::parse_u16_range("tcpmss", "mss", opt.arg);
    if (!r) return r.error();
    if (r->min > r->max) return make_error("tcpmss: invalid range given");
    range_ = *r;
    invert_ = opt.invert;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("tcpmss", "mss");
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = 6}; }

  void save(std::string& out, const IpCriteria&) const override {
    xtopt::save_u16_range(out, "mss", range_, invert_);
  }

  bool can_evaluate() const override { return true; }

  // tcpmss_mt. Unlike the tcp match it never looks at the fragment offset:
  // a later fragment's payload is read as if it were the header. A header
  // or options cut short hot-drop; a segment without a well-formed MSS
  // option matches only inverted.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    auto l4 = ctx.pkt.data().subspan(ctx.thoff);
    if (l4.size() < 20) return MatchOutcome::HotDrop;
    size_t doff = static_cast<size_t>(l4[12] >> 4) * 4;
    if (doff < 20) return MatchOutcome::HotDrop;
    if (doff > l4.size()) return MatchOutcome::HotDrop;
    auto opts = l4.subspan(20, doff - 20);
    for (size_t i = 0; i < opts.size();) {
      if (opts[i] == packet::kTcpOptMss && opts.size() - i >= packet::kTcpOptLenMss &&
          opts[i + 1] == packet::kTcpOptLenMss) {
        uint16_t mss = static_cast<uint16_t>(opts[i + 2] << 8 | opts[i + 3]);
        bool hit = range_.contains(mss);
        return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
      }
      // A kind >= 2 in the last byte makes the kernel read one byte past
      // the options; any value it finds ends the walk, as the break does.
      if (opts[i] < 2) ++i;
      else if (i + 1 < opts.size()) i += opts[i + 1] ? opts[i + 1] : 1;
      else break;
    }
    return invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  xtopt::U16Range range_;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_tcpmss(Registry& r) { r.add_match<TcpmssMatch>("tcpmss"); }

}  // namespace nfemu::xt
