// -m statistic: random sampling and every-nth packet (xt_statistic.c,
// libxt_statistic.c). kube-proxy balances services with it. The
// probability is stored as a 31-bit fraction, so 1/3 saves as
// 0.33333333349, exactly as iptables-save prints it.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "util/strings.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

class StatisticMatch : public MatchBase<StatisticMatch> {
 public:
  std::string_view name() const override { return "statistic"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"mode", ArgKind::Required},
        {"probability", ArgKind::Required, true},
        {"every", ArgKind::Required, true},
        {"packet", ArgKind::Required},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.invert) invert_ = true;
    if (opt.name == "mode") {
      if (opt.arg == "random") mode_ = Mode::Random;
      else if (opt.arg == "nth") mode_ = Mode::Nth;
      else return make_error(fmt::format("Bad mode \"{}\"", opt.arg));
      have_mode_ = true;
    } else if (opt.name == "probability") {
      if (have_every_ || have_packet_) return exclusive("probability");
      std::string s(opt.arg);
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || *end != '\0' || !(d >= 0.0 && d <= 1.0))
        return make_error(fmt::format("statistic: Bad value for \"--probability\" option: \"{}\"", opt.arg));
      // Shares its storage with --every (a union in xt_statistic_info).
      value_ = static_cast<uint32_t>(std::lround(2147483648.0 * d));
      have_probability_ = true;
    } else if (opt.name == "every") {
      if (have_probability_) return exclusive("every");
      auto v = parse_uint_c(opt.arg, UINT32_MAX);
      if (!v || *v < 1) return make_error(fmt::format("statistic: Bad value for \"--every\" option: \"{}\"", opt.arg));
      value_ = static_cast<uint32_t>(*v) - 1;
      have_every_ = true;
    } else if (opt.name == "packet") {
      if (have_probability_) return exclusive("packet");
      auto v = parse_uint_c(opt.arg, UINT32_MAX);
      if (!v) return make_error(fmt::format("statistic: Bad value for \"--packet\" option: \"{}\"", opt.arg));
      packet_ = static_cast<uint32_t>(*v);
      have_packet_ = true;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_mode_) return make_error("statistic: option \"--mode\" must be specified");
    if (have_every_ != have_packet_ && (have_every_ || have_packet_))
      return make_error(have_every_ ? "statistic: option \"--every\" also requires \"--packet\"."
                                    : "statistic: option \"--packet\" also requires \"--every\".");
    if (mode_ == Mode::Random && !have_probability_)
      return make_error("--probability must be specified when using random mode");
    if (mode_ == Mode::Nth && !(have_every_ || have_packet_))
      return make_error("--every and --packet must be specified when using nth mode");
    if (packet_ > value_) return make_error("the --packet p must be 0 <= p <= n-1");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    const char* neg = invert_ ? " !" : "";
    if (mode_ == Mode::Random)
      out += fmt::format(" --mode random{} --probability {:.11f}", neg, value_ / 2147483648.0);
    else
      out += fmt::format(" --mode nth{} --every {} --packet {}", neg, static_cast<uint64_t>(value_) + 1, packet_);
  }

  bool can_evaluate() const override { return true; }

  // statistic_mt. nth: one counter per loaded rule runs
  // 0..every-1 and the packet that brings it back to 0 matches. iptables
  // (libxt_statistic final check) hands the kernel count = (every-1) - packet,
  // so the first match is packet number packet+1 (checked on 6.18: --every 3
  // --packet 0 matches datagrams 1, 4, 7; --every 2 --packet 1 matches 2, 4, 6). random: (random & 0x7fffffff) < probability; the kernel's
  // get_random_u32 is replaced by a per-rule xorshift generator with a
  // fixed seed, so runs are reproducible but not the kernel's draws.
  MatchOutcome evaluate(const EvalContext&) const override {
    bool hit = false;
    State& s = *state_;
    if (!s.started) {
      s.started = true;
      s.count = value_ - packet_;
    }
    if (mode_ == Mode::Nth) {
      s.count = s.count == value_ ? 0 : s.count + 1;
      hit = s.count == 0;
    } else {
      uint64_t x = s.rng;
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      s.rng = x;
      hit = (static_cast<uint32_t>(x >> 32) & 0x7fffffffu) < value_;
    }
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  enum class Mode : uint8_t { Random, Nth };
  static Error exclusive(std::string_view opt) {
    return make_error(fmt::format("statistic: option \"--{}\" cannot be used together with the other mode's options.", opt));
  }
  Mode mode_ = Mode::Random;
  uint32_t value_ = 0;  // probability * 2^31, or every - 1
  uint32_t packet_ = 0;
  struct State {
    bool started = false;
    uint32_t count = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
  };
  // Made at the first evaluation so that the count starts at every-1-packet.
  PerRuleState<State> state_;
  bool invert_ = false, have_mode_ = false, have_probability_ = false, have_every_ = false, have_packet_ = false;
};

}  // namespace

void register_match_statistic(Registry& r) { r.add_match<StatisticMatch>("statistic"); }

}  // namespace nfemu::xt
