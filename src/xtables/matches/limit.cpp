// -m limit: token bucket rate limit (xt_limit.c, libxt_limit.c).
//
// The rate is kept as iptables passes it to the kernel: the average period
// between packets in units of 1/10000 s (XT_LIMIT_SCALE). Save prints it
// back in the largest unit that divides it well, as print_rate does, so
// `--limit 2/min` comes back as `--limit 2/min` but `--limit 7/hour` too.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <strings.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr uint32_t kScale = 10000;  // XT_LIMIT_SCALE
constexpr uint32_t kDefaultBurst = 5;
constexpr uint64_t kNsPerJiffy = 4'000'000;  // HZ=250, as conntrack's clock
constexpr uint32_t kCreditsPerJiffy = 128;   // POW2_BELOW32(0xFFFFFFFF / (HZ*60*60*24))

// atoi() as glibc does it: strtol clamped to long, then truncated to int.
int32_t c_atoi(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  constexpr uint64_t kLimit = uint64_t{1} << 63;  // |LONG_MIN|
  uint64_t v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
    v = v > kLimit / 10 ? kLimit : std::min(kLimit, v * 10 + static_cast<uint64_t>(s[i] - '0'));
  int64_t l = neg ? (v == kLimit ? LONG_MIN : -static_cast<int64_t>(v))
                  : (v >= kLimit ? LONG_MAX : static_cast<int64_t>(v));
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(l)));
}

// parse_rate: "N[/second|minute|hour|day]" with any prefix of the unit.
// Returns 0 for a malformed rate; fails for one that rounds to no period.
Result<uint32_t> parse_rate(std::string_view rate) {
  uint32_t mult = 1;
  if (size_t slash = rate.find('/'); slash != std::string_view::npos) {
    std::string unit(rate.substr(slash + 1));
    if (unit.empty()) return 0u;
    auto is = [&](const char* full) { return strncasecmp(unit.c_str(), full, unit.size()) == 0; };
    if (is("second")) mult = 1;
    else if (is("minute")) mult = 60;
    else if (is("hour")) mult = 60 * 60;
    else if (is("day")) mult = 24 * 60 * 60;
    else return 0u;
  }
  uint32_t r = static_cast<uint32_t>(c_atoi(rate));
  if (r == 0) return 0u;
  uint32_t period = kScale * mult / r;
  if (period == 0) return make_error(fmt::format("Rate too fast \"{}\"", rate));
  return period;
}

// The kernel's credit conversion with HZ=250 (CREDITS_PER_JIFFY 128), in
// u32 arithmetic: limit_mt_check compares these to catch overflow.
uint32_t user2credits(uint32_t user) {
  constexpr uint32_t kHzCpj = 250 * 128;
  if (user > 0xFFFFFFFFu / kHzCpj) return (user / kScale) * kHzCpj;
  return (user * kHzCpj) / kScale;
}

class LimitMatch : public MatchBase<LimitMatch> {
 public:
  std::string_view name() const override { return "limit"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"limit", ArgKind::Required}, {"limit-burst", ArgKind::Required}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "limit") {
      auto p = parse_rate(opt.arg);
      if (!p) return p.error();
      if (*p == 0) return make_error(fmt::format("bad rate \"{}\"'", opt.arg));
      avg_ = *p;
    } else {
      auto v = xtopt::parse_int("limit", "limit-burst", opt.arg, 0, 10000);
      if (!v) return v.error();
      burst_ = static_cast<uint32_t>(*v);
    }
    return {};
  }

  Result<void> check(const CheckContext&) const override {
    if (burst_ == 0 || user2credits(avg_ * burst_) < user2credits(avg_))
      return make_error(fmt::format("xt_limit: Overflow, try lower: {}/{}", avg_, burst_));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += " --limit";
    print_rate(out, avg_);
    if (burst_ != kDefaultBurst) out += fmt::format(" --limit-burst {}", burst_);
  }

  // print_rate: walk from days down and stop at the first unit that is
  // shorter than the period or would lose more than it keeps.
  static void print_rate(std::string& out, uint32_t period) {
    struct Unit {
      const char* name;
      uint32_t mult;
    };
    static constexpr std::array<Unit, 4> kUnits = {
        {{"day", kScale * 24 * 60 * 60}, {"hour", kScale * 60 * 60}, {"min", kScale * 60}, {"sec", kScale}}};
    if (period == 0) {
      out += " inf";
      return;
    }
    size_t i = 1;
    for (; i < kUnits.size(); ++i)
      if (period > kUnits[i].mult || kUnits[i].mult / period < kUnits[i].mult % period) break;
    out += fmt::format(" {}/{}", kUnits[i - 1].mult / period, kUnits[i - 1].name);
  }

  bool can_evaluate() const override { return true; }

  // limit_mt: one credit per jiffy times CREDITS_PER_JIFFY (128 at
  // HZ=250), capped at avg*burst; a packet costs avg. The bucket starts
  // full; the kernel stamps `prev` at checkentry, and since the bucket is
  // already full, stamping it at the first packet gives the same credits.
  // Credits are u32 as in the kernel, so a very long idle time wraps.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    State& s = *state_;
    uint64_t now = ctx.now_ns / kNsPerJiffy;
    uint32_t cap = user2credits(avg_ * burst_);
    uint32_t cost = user2credits(avg_);
    if (!s.started) {
      s.started = true;
      s.prev = now;
      s.credit = cap;
    }
    uint32_t credit = s.credit + static_cast<uint32_t>((now - s.prev) * kCreditsPerJiffy);
    s.prev = now;
    if (credit > cap) credit = cap;
    bool pass = credit >= cost;
    if (pass) credit -= cost;
    s.credit = credit;
    return pass ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint32_t avg_ = kScale * 60 * 60 / 3;  // 3/hour
  uint32_t burst_ = kDefaultBurst;
  // The kernel's xt_limit_priv: one bucket per loaded rule, full at load.
  struct State {
    bool started = false;
    uint64_t prev = 0;  // jiffies
    uint32_t credit = 0;
  };
  PerRuleState<State> state_;
};

}  // namespace

void register_match_limit(Registry& r) { r.add_match<LimitMatch>("limit"); }

}  // namespace nfemu::xt
