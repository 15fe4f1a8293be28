// -m ttl: IPv4 time to live equal, not equal, below or above (ipt_ttl.c,
// libipt_ttl.c). --ttl is an old alias of --ttl-eq that cannot be inverted.
#include <fmt/format.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

enum class Mode : uint8_t { None, Eq, Ne, Lt, Gt };

class TtlMatch : public MatchBase<TtlMatch> {
 public:
  std::string_view name() const override { return "ttl"; }
  std::span<const OptionSpec> options() const override {
    // Order as libipt_ttl's table: getopt prefix resolution depends on it
    // only for ambiguity, which the parser detects on its own.
    static constexpr OptionSpec kOptions[] = {
        {"ttl-lt", ArgKind::Required, false, false},
        {"ttl-gt", ArgKind::Required, false, false},
        {"ttl-eq", ArgKind::Required, true, true},  // repeat check shared with --ttl below
        // Shares its id with --ttl-eq, and libxtables looks options up by
        // id, so `! --ttl` is accepted as `! --ttl-eq`.
        {"ttl", ArgKind::Required, true, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    Mode m = Mode::Eq;
    if (opt.name == "ttl-lt") m = Mode::Lt;
    else if (opt.name == "ttl-gt") m = Mode::Gt;
    else {
      // --ttl and --ttl-eq are one option id in libipt_ttl: one use in all.
      if (eq_given_) return xtopt::used_once("ttl", "ttl-eq");
      eq_given_ = true;
      if (opt.invert) m = Mode::Ne;
    }
    auto v = xtopt::parse_int("ttl", m == Mode::Lt ? "ttl-lt" : m == Mode::Gt ? "ttl-gt" : "ttl-eq", opt.arg, 0,
                              UINT8_MAX);
    if (!v) return v.error();
    given_ |= m == Mode::Lt ? kLt : m == Mode::Gt ? kGt : kEq;
    mode_ = m;
    ttl_ = static_cast<uint8_t>(*v);
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (given_ == 0) return make_error("TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt");
    // xtables_options_fcheck walks the option table (lt, gt, eq) and, for
    // each, the other options by id (eq, lt, gt): name the pair it would.
    for (uint8_t self : {kLt, kGt, kEq}) {
      if (!(given_ & self)) continue;
      for (uint8_t other : {kEq, kLt, kGt})
        if (other != self && (given_ & other)) return xtopt::cannot_combine("ttl", flag_name(self), flag_name(other));
    }
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    switch (mode_) {
      case Mode::Eq: out += " --ttl-eq"; break;
      case Mode::Ne: out += " ! --ttl-eq"; break;
      case Mode::Lt: out += " --ttl-lt"; break;
      case Mode::Gt: out += " --ttl-gt"; break;
      case Mode::None: break;
    }
    out += fmt::format(" {}", ttl_);
  }

  bool can_evaluate() const override { return true; }

  MatchOutcome evaluate(const EvalContext& ctx) const override {
    uint8_t t = ctx.pkt.ip().ttl();
    bool hit = false;
    switch (mode_) {
      case Mode::Eq: hit = t == ttl_; break;
      case Mode::Ne: hit = t != ttl_; break;
      case Mode::Lt: hit = t < ttl_; break;
      case Mode::Gt: hit = t > ttl_; break;
      case Mode::None: break;
    }
    return hit ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  Mode mode_ = Mode::None;
  uint8_t ttl_ = 0;
  static constexpr uint8_t kEq = 1, kLt = 2, kGt = 4;
  static const char* flag_name(uint8_t f) { return f == kEq ? "ttl-eq" : f == kLt ? "ttl-lt" : "ttl-gt"; }
  uint8_t given_ = 0;
  bool eq_given_ = false;
};

}  // namespace

void register_match_ttl(Registry& r) { r.add_match<TtlMatch>("ttl"); }

}  // namespace nfemu::xt
