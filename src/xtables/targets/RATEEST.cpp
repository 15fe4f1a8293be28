// -j RATEEST --rateest-name NAME --rateest-interval TIME --rateest-ewmalog
// TIME (xt_RATEEST.c, libxt_RATEEST.c): counts every packet into the
// namespace's rate estimator NAME and continues. The first rule of a name
// makes the estimator when its table loads; a later one must give the same
// interval and averaging constant (the kernel's EINVAL). See
// xtables/rate_estimators.h for the estimator itself.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <strings.h>

#include "xtables/eval.h"
#include "xtables/rate_estimators.h"
#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"

namespace nfemu::xt {
namespace {

constexpr uint32_t kTimeUnitsPerSec = 1000000;  // iproute's TIME_UNITS_PER_SEC: microseconds
constexpr xtopt::Entry kEntries[] = {{"rateest-name", 0, 0, 0, true},
                                     {"rateest-interval", 1, 0, 0, true},
                                     {"rateest-ewmalog", 2, 0, 0, true}};

// RATEEST_get_time: strtod, then s/sec/secs, ms/msec/msecs, us/usec/usecs
// (any case) or nothing (microseconds).
std::optional<uint32_t> get_time(std::string_view arg) {
  std::string s(arg);
  char* end = nullptr;
  double t = std::strtod(s.c_str(), &end);
  if (end == s.c_str()) return std::nullopt;
  if (*end) {
    auto is = [&](const char* unit) { return strcasecmp(end, unit) == 0; };
    if (is("s") || is("sec") || is("secs"))
      t *= kTimeUnitsPerSec;
    else if (is("ms") || is("msec") || is("msecs"))
      t *= kTimeUnitsPerSec / 1000;
    else if (is("us") || is("usec") || is("usecs"))
      t *= kTimeUnitsPerSec / 1000000;
    else
      return std::nullopt;
  }
  return c_double_to_u32(t);
}

// RATEEST_print_time (printf's own rounding of "%.1f").
void print_time(std::string& out, uint32_t time) {
  double tmp = time;
  char buf[64];
  if (tmp >= kTimeUnitsPerSec)
    std::snprintf(buf, sizeof buf, " %.1fs", tmp / kTimeUnitsPerSec);
  else if (tmp >= kTimeUnitsPerSec / 1000)
    std::snprintf(buf, sizeof buf, " %.1fms", tmp / (kTimeUnitsPerSec / 1000));
  else
    std::snprintf(buf, sizeof buf, " %uus", time);
  out += buf;
}

class RateestTarget : public TargetBase<RateestTarget> {
 public:
  std::string_view name() const override { return "RATEEST"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"rateest-name"}, {"rateest-interval"}, {"rateest-ewmalog"}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "rateest-name") {
      // XTTYPE_STRING put into char[IFNAMSIZ]: cut.
      name_ = std::string(opt.arg.substr(0, kRateEstNameMax));
      seen_ |= 1;
    } else if (opt.name == "rateest-interval") {
      auto t = get_time(opt.arg);
      if (!t) return make_error(fmt::format("RATEEST: bad interval value \"{}\"", opt.arg));
      interval_us_ = *t;
      seen_ |= 2;
    } else {
      auto t = get_time(opt.arg);
      if (!t) return make_error(fmt::format("RATEEST: bad ewmalog value \"{}\"", opt.arg));
      ewmalog_us_ = *t;
      seen_ |= 4;
    }
    return {};
  }

  // RATEEST_final_check: the shortest period at least as long as the
  // interval asked for, then the largest ewma_log whose time constant
  // (period / -ln(1 - 2^-ewma_log)) does not exceed the one asked for.
  Result<void> final_check(const ParseContext&) override {
    if (auto r = xtopt::fcheck("RATEEST", seen_, kEntries); !r) return r;
    int interval = 0;
    for (; interval <= 5; ++interval)
      if (interval_us_ <= (uint32_t{1} << interval) * (kTimeUnitsPerSec / 4)) break;
    if (interval > 5) return make_error("RATEEST: interval value is too large");
    params_.interval = static_cast<int8_t>(interval - 2);
    unsigned ewma = 1;
    for (; ewma < 32; ++ewma) {
      // (1 << 31) is INT_MIN in C: w is then above 1 and the test fails.
      const int32_t one_shifted = static_cast<int32_t>(uint32_t{1} << ewma);
      const double w = 1.0 - 1.0 / one_shifted;
      if (static_cast<double>(interval_us_) / (-std::log(w)) > static_cast<double>(ewmalog_us_)) break;
    }
    --ewma;
    if (ewma == 0 || ewma >= 31) return make_error("RATEEST: ewmalog value is out of range");
    params_.ewma_log = static_cast<uint8_t>(ewma);
    return {};
  }

  Result<void> check(const CheckContext& ctx) const override {
    if (!ctx.estimators) return {};
    return ctx.estimators->declare(name_, params_);
  }

  // __RATEEST_print with the "--rateest-" prefix; the times are printed
  // back from what the kernel holds, in unsigned int arithmetic.
  void save(std::string& out, const IpCriteria&) const override {
    const uint32_t interval = (kTimeUnitsPerSec << (params_.interval + 2)) / 4;
    const uint32_t ewmalog = interval * (uint32_t{1} << params_.ewma_log);
    out += " --rateest-name ";
    out += name_;
    out += " --rateest-interval";
    print_time(out, interval);
    out += " --rateest-ewmalog";
    print_time(out, ewmalog);
  }

  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext& ctx) const override {
    RateEstimators* ests = ctx.effects ? ctx.effects->rate_estimators() : nullptr;
    if (!ests) return TargetVerdict::Continue;
    // Checked by name too: a copy of this rule keeps the binding, and
    // another namespace's table may sit where the bound one was.
    if (bound_to_ != ests || index_ >= ests->size() || ests->name(index_) != name_) {
      index_ = ests->find_or_add(name_, params_);
      bound_to_ = ests;
    }
    ests->at(index_).count(ctx.now_ns, static_cast<uint32_t>(ctx.pkt.size()));
    return TargetVerdict::Continue;
  }

 private:
  std::string name_;
  uint32_t interval_us_ = 0, ewmalog_us_ = 0;
  unsigned seen_ = 0;
  RateEstimatorParams params_;
  // The estimator of the namespace this rule last counted in (one index
  // lookup by name per namespace, not per packet).
  mutable const RateEstimators* bound_to_ = nullptr;
  mutable size_t index_ = 0;
};

}  // namespace

void register_target_RATEEST(Registry& r) { r.add_target<RateestTarget>("RATEEST"); }

}  // namespace nfemu::xt
