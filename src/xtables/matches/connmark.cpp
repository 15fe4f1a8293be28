// -m connmark: the connection's ctmark under a mask (xt_connmark.c
// revision 1, libxt_connmark.c).
#include <fmt/format.h>


#include "xtables/matches/strtoul_compat.h"
#include "xtables/eval.h"
#include "conntrack/conntrack.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

// strtoul(s, &end, 0) limited to 32 bits: the value and the bytes it used.
std::optional<std::pair<uint32_t, size_t>> leading_u32(std::string_view s) {
  auto p = compat::strtoul_prefix(s, 0xffffffffu);
  if (!p) return std::nullopt;
  return std::pair<uint32_t, size_t>{static_cast<uint32_t>(p->value), p->end};
}

// xtables_parse_val_mask for "VALUE[/MASK]", with its messages.
Result<std::pair<uint32_t, uint32_t>> parse_val_mask(std::string_view arg, std::string_view ext) {
  auto bad = make_error(fmt::format("{}: bad integer value for option \"--mark\", or out of range.", ext));
  auto garbage = make_error(fmt::format("{}: trailing garbage after value for option \"--mark\".", ext));
  auto v = leading_u32(arg);
  if (!v) return bad;
  std::string_view rest = arg.substr(v->second);
  if (rest.empty()) return std::pair<uint32_t, uint32_t>{v->first, 0xffffffffu};
  if (rest[0] != '/') return garbage;
  rest.remove_prefix(1);
  auto m = leading_u32(rest);
  if (!m) return bad;
  if (m->second != rest.size()) return garbage;
  return std::pair<uint32_t, uint32_t>{v->first, m->first};
}

class ConnmarkMatch : public MatchBase<ConnmarkMatch> {
 public:
  std::string_view name() const override { return "connmark"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"mark", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto r = parse_val_mask(opt.arg, "connmark");
    if (!r) return r.error();
    std::tie(mark_, mask_) = *r;
    invert_ = opt.invert;
    have_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_) return make_error("connmark: option \"--mark\" must be specified");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    if (mask_ != 0xffffffffu) out += fmt::format(" --mark 0x{:x}/0x{:x}", mark_, mask_);
    else out += fmt::format(" --mark 0x{:x}", mark_);
  }

  bool can_evaluate() const override { return true; }

  // connmark_mt: no connection (INVALID, untracked) never matches, inverted or not.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const auto* ct = static_cast<const conntrack::Entry*>(ctx.pkt.meta.ct);
    if (!ct) return MatchOutcome::NoMatch;
    bool hit = (ct->mark & mask_) == mark_;
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint32_t mark_ = 0, mask_ = 0xffffffffu;
  bool invert_ = false, have_ = false;
};

}  // namespace

void register_match_connmark(Registry& r) { r.add_match<ConnmarkMatch>("connmark"); }

}  // namespace nfemu::xt
