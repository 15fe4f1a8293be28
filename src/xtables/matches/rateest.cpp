// -m rateest (xt_rateest.c, libxt_rateest.c): compares the rates of the
// namespace's estimators (made by RATEEST rules, see
// xtables/rate_estimators.h) with given rates or with each other.
//
//   --rateest NAME --rateest-bps RATE --rateest-gt          NAME's bytes/s > RATE
//   --rateest1 A --rateest-pps --rateest-lt --rateest2 B    A's packets/s < B's
//   --rateest-delta ...                                     (given - estimate) instead of the estimate
//
// Parsed by libxt_rateest's own getopt code: a rate follows its option as
// the next word, when there is one that does not start with `-' or `!';
// lt, gt and eq each have their own "given twice" flag, so a later one of
// them replaces an earlier one. The kernel refuses, when the table loads,
// a rule without bps or pps or without lt/gt/eq (EINVAL) and one whose
// estimator no RATEEST rule made before it (ENOENT).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <strings.h>

#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/rate_estimators.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

enum Flag : uint16_t {  // xt_rateest_match_flags
  kInvert = 1 << 0,
  kAbs = 1 << 1,
  kRel = 1 << 2,
  kDelta = 1 << 3,
  kBps = 1 << 4,
  kPps = 1 << 5,
};
enum Mode : uint16_t { kNone, kEq, kLt, kGt };

// Which option libxt_rateest's parser saw (its `*flags` bits).
enum Seen : unsigned { kSeen1, kSeen2, kSeenBps1, kSeenPps1, kSeenBps2, kSeenPps2, kSeenDelta, kSeenLt, kSeenGt, kSeenEq };

struct RateSuffix {
  const char* name;
  double scale;
};
// iproute's units, matched without regard to case.
constexpr RateSuffix kSuffixes[] = {
    {"bit", 1.},           {"Kibit", 1024.},          {"kbit", 1000.},
    {"Mibit", 1024. * 1024.}, {"mbit", 1000000.},      {"Gibit", 1024. * 1024. * 1024.},
    {"gbit", 1000000000.}, {"Tibit", 1024. * 1024. * 1024. * 1024.}, {"tbit", 1000000000000.},
    {"Bps", 8.},           {"KiBps", 8. * 1024.},     {"KBps", 8000.},
    {"MiBps", 8. * 1024 * 1024}, {"MBps", 8000000.},  {"GiBps", 8. * 1024. * 1024. * 1024.},
    {"GBps", 8000000000.}, {"TiBps", 8. * 1024. * 1024. * 1024. * 1024.}, {"TBps", 8000000000000.},
};

// rateest_get_rate: bytes per second; a bare number is bits per second.
std::optional<uint32_t> get_rate(std::string_view arg) {
  std::string s(arg);
  char* end = nullptr;
  double bps = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return std::nullopt;
  if (*end == '\0') return c_double_to_u32(bps / 8.);
  for (const auto& suffix : kSuffixes)
    if (strcasecmp(suffix.name, end) == 0) return c_double_to_u32((bps * suffix.scale) / 8.);
  return std::nullopt;
}

class RateestMatch : public MatchBase<RateestMatch> {
 public:
  std::string_view name() const override { return "rateest"; }
  std::span<const OptionSpec> options() const override {
    // Every option "invertible" and "repeatable" for the generic parser:
    // libxt_rateest checks both itself, with its own messages.
    static constexpr OptionSpec kOptions[] = {
        {"rateest1", ArgKind::Required, true, true},      {"rateest", ArgKind::Required, true, true},
        {"rateest2", ArgKind::Required, true, true},      {"rateest-bps1", ArgKind::Trailing, true, true},
        {"rateest-pps1", ArgKind::Trailing, true, true},  {"rateest-bps2", ArgKind::Trailing, true, true},
        {"rateest-pps2", ArgKind::Trailing, true, true},  {"rateest-bps", ArgKind::Trailing, true, true},
        {"rateest-pps", ArgKind::Trailing, true, true},   {"rateest-delta", ArgKind::None, true, true},
        {"rateest-lt", ArgKind::None, true, true},        {"rateest-gt", ArgKind::None, true, true},
        {"rateest-eq", ArgKind::None, true, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    auto once = [&](Seen bit, std::string_view what) -> Result<void> {
      if (seen_ & (1u << bit)) return make_error(fmt::format("rateest: can't specify {} twice", what));
      seen_ |= 1u << bit;
      return {};
    };
    auto no_invert = [&](std::string_view what) -> Result<void> {
      if (opt.invert) return make_error(fmt::format("rateest: {} can't be inverted", what));
      return {};
    };
    if (o == "rateest1" || o == "rateest" || o == "rateest2") {
      if (auto r = no_invert("rateest"); !r) return r;
      const bool first = o != "rateest2";
      if (auto r = once(first ? kSeen1 : kSeen2, first ? "--rateest1" : "--rateest2"); !r) return r;
      (first ? name1_ : name2_) = std::string(opt.arg.substr(0, kRateEstNameMax));
      if (!first) flags_ |= kRel;
      return {};
    }
    if (o == "rateest-delta") {
      if (auto r = no_invert("rateest-delta"); !r) return r;
      if (auto r = once(kSeenDelta, "--rateest-delta"); !r) return r;
      flags_ |= kDelta;
      return {};
    }
    if (o == "rateest-lt" || o == "rateest-gt" || o == "rateest-eq") {
      const Seen bit = o == "rateest-lt" ? kSeenLt : o == "rateest-gt" ? kSeenGt : kSeenEq;
      if (auto r = once(bit, "lt/gt/eq"); !r) return r;
      mode_ = o == "rateest-lt" ? kLt : o == "rateest-gt" ? kGt : kEq;
      if (opt.invert) flags_ |= kInvert;
      return {};
    }
    // The rates: bps1, pps1, bps2 (and its alias bps), pps2 (and pps).
    const bool bps = o.starts_with("rateest-bps");
    const bool second = !o.ends_with("1");
    if (auto r = no_invert(bps ? "rateest-bps" : "rateest-pps"); !r) return r;
    const Seen bit = bps ? (second ? kSeenBps2 : kSeenBps1) : (second ? kSeenPps2 : kSeenPps1);
    if (auto r = once(bit, fmt::format("--rateest-{}{}", bps ? "bps" : "pps", second ? 2 : 1)); !r) return r;
    flags_ |= bps ? kBps : kPps;
    if (!opt.has_arg) return {};  // the rate is optional (not needed to compare two estimators)
    uint32_t& slot = bps ? (second ? bps2_ : bps1_) : (second ? pps2_ : pps1_);
    if (bps) {
      auto rate = get_rate(opt.arg);
      if (!rate) return make_error(fmt::format("rateest: could not parse rate `{}'", opt.arg));
      slot = *rate;
    } else {
      uint64_t v = 0;
      if (!xtopt::strtoul_x(opt.arg, &v, 0, UINT32_MAX))
        return make_error(fmt::format("rateest: could not parse pps `{}'", opt.arg));
      slot = static_cast<uint32_t>(v);
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!(flags_ & kRel)) flags_ |= kAbs;
    return {};
  }

  // xt_rateest_mt_checkentry. The rule then holds its estimators: it keeps
  // their parameters to declare them again for the tables loaded after it.
  Result<void> check(const CheckContext& ctx) const override {
    if (ctx.declaring) {
      if (ctx.estimators && held1_) (void)ctx.estimators->declare(name1_, *held1_);
      if (ctx.estimators && held2_) (void)ctx.estimators->declare(name2_, *held2_);
      return {};
    }
    if (!(flags_ & (kBps | kPps)))
      return make_error(
          "rateest: neither bytes nor packets to compare (the kernel's EINVAL: iptables-restore fails at COMMIT); "
          "add --rateest-bps or --rateest-pps");
    if (mode_ == kNone)
      return make_error(
          "rateest: no comparison (the kernel's EINVAL: iptables-restore fails at COMMIT); add --rateest-lt, "
          "--rateest-gt or --rateest-eq");
    if (!ctx.estimators) return {};
    held1_ = ctx.estimators->find(name1_);
    held2_ = (flags_ & kRel) ? ctx.estimators->find(name2_) : std::nullopt;
    for (const std::string* n : {&name1_, (flags_ & kRel) ? &name2_ : nullptr}) {
      if (!n || (n == &name1_ ? held1_ : held2_)) continue;
      return make_error(fmt::format(
          "rateest: no rate estimator `{}' (the kernel's ENOENT: iptables-restore fails at COMMIT); a RATEEST rule "
          "--rateest-name {} must be loaded before this rule: in an earlier table, or earlier in this one (builtin "
          "chains in hook order, then user chains by name)",
          *n, *n));
    }
    return {};
  }

  // rateest_save of iptables 1.8.9.
  void save(std::string& out, const IpCriteria&) const override {
    if (flags_ & kDelta) out += " --rateest-delta";
    out += (flags_ & kRel) ? " --rateest1 " : " --rateest ";
    out += name1_;
    if (flags_ & kBps) save_rate(out, "bps", bps1_, bps2_, false);
    if (flags_ & kPps) save_rate(out, "pps", pps1_, pps2_, true);
    if (flags_ & kRel) {
      out += " --rateest2 ";
      out += name2_;
    }
  }

  bool can_evaluate() const override { return true; }
  // xt_rateest_mt.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    RateEstimators* ests = ctx.effects ? ctx.effects->rate_estimators() : nullptr;
    const Rates r1 = side(sample(ests, name1_, index1_, ctx.now_ns), bps1_, pps1_);
    const Rates r2 = (flags_ & kAbs) ? Rates{bps2_, pps2_} : side(sample(ests, name2_, index2_, ctx.now_ns), bps2_, pps2_);
    const uint32_t bps1 = r1.bps, pps1 = r1.pps, bps2 = r2.bps, pps2 = r2.pps;
    bool ret = true;
    switch (mode_) {
      case kLt:
        if (flags_ & kBps) ret &= bps1 < bps2;
        if (flags_ & kPps) ret &= pps1 < pps2;
        break;
      case kGt:
        if (flags_ & kBps) ret &= bps1 > bps2;
        if (flags_ & kPps) ret &= pps1 > pps2;
        break;
      case kEq:
        if (flags_ & kBps) ret &= bps1 == bps2;
        if (flags_ & kPps) ret &= pps1 == pps2;
        break;
      default:
        break;
    }
    if (flags_ & kInvert) ret = !ret;
    return ret ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  // rateest_print_rate: bits per second, or the number itself for pps.
  static void print_rate(std::string& out, uint32_t rate, bool numeric) {
    char buf[64];
    const double tmp = static_cast<double>(rate) * 8;
    if (numeric)
      std::snprintf(buf, sizeof buf, " %u", rate);
    else if (tmp >= 1000.0 * 1000000.0)
      std::snprintf(buf, sizeof buf, " %.0fMbit", tmp / 1000000.0);
    else if (tmp >= 1000.0 * 1000.0)
      std::snprintf(buf, sizeof buf, " %.0fKbit", tmp / 1000.0);
    else
      std::snprintf(buf, sizeof buf, " %.0fbit", tmp);
    out += buf;
  }
  void print_mode(std::string& out) const {
    if (flags_ & kInvert) out += " !";
    out += mode_ == kEq ? " --rateest-eq" : mode_ == kLt ? " --rateest-lt" : " --rateest-gt";
  }
  // __rateest_save_rate.
  void save_rate(std::string& out, std::string_view what, uint32_t r1, uint32_t r2, bool numeric) const {
    if (flags_ & kDelta) {
      out += fmt::format(" --rateest-{}1", what);
      print_rate(out, r1, numeric);
      print_mode(out);
      out += fmt::format(" --rateest-{}2", what);
    } else {
      print_mode(out);
      out += fmt::format(" --rateest-{}", what);
    }
    if (flags_ & (kAbs | kDelta)) print_rate(out, r2, numeric);
  }

  struct Rates {
    uint32_t bps, pps;
  };
  // One side of the comparison: the estimate, or with --rateest-delta what
  // the given rate exceeds it by (0 when it does not), in u32 as the kernel.
  Rates side(RateEstimator::Sample s, uint32_t given_bps, uint32_t given_pps) const {
    if (!(flags_ & kDelta)) return {static_cast<uint32_t>(s.bps), static_cast<uint32_t>(s.pps)};
    return {given_bps >= s.bps ? static_cast<uint32_t>(given_bps - s.bps) : 0u,
            given_pps >= s.pps ? static_cast<uint32_t>(given_pps - s.pps) : 0u};
  }

  // An estimator no RATEEST rule has counted into yet has a rate of 0.
  RateEstimator::Sample sample(RateEstimators* ests, const std::string& name, long& index, uint64_t now_ns) const {
    if (!ests) return {};
    if (bound_to_ != ests) {
      bound_to_ = ests;
      index1_ = index2_ = -1;
    }
    // Checked by name too: a copy of this rule keeps the binding, and
    // another namespace's table may sit where the bound one was.
    if (index < 0 || static_cast<size_t>(index) >= ests->size() || ests->name(static_cast<size_t>(index)) != name)
      index = ests->find(name);
    if (index < 0) return {};
    return ests->at(static_cast<size_t>(index)).read(now_ns);
  }

  std::string name1_, name2_;
  uint16_t flags_ = 0;
  Mode mode_ = kNone;
  uint32_t bps1_ = 0, pps1_ = 0, bps2_ = 0, pps2_ = 0;
  unsigned seen_ = 0;
  // The parameters of the estimators this rule holds, as its load found them.
  mutable std::optional<RateEstimatorParams> held1_, held2_;
  // Where this rule's estimators are in the namespace it last ran in.
  mutable const RateEstimators* bound_to_ = nullptr;
  mutable long index1_ = -1, index2_ = -1;
};

}  // namespace

void register_match_rateest(Registry& r) { r.add_match<RateestMatch>("rateest"); }

}  // namespace nfemu::xt
