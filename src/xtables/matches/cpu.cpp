// -m cpu: the CPU that runs the packet through netfilter (xt_cpu.c,
// libxt_cpu.c), smp_processor_id() == N. On a real machine that is what
// receive steering and the scheduler choose, which no scenario describes;
// nfemu's hosts have one CPU, number 0, and `nfemu verify` pins the process
// that sends the scenario's packets to CPU 0, where the kernel then runs
// them (veth_xmit queues to the sending CPU's backlog).
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class CpuMatch : public MatchBase<CpuMatch> {
 public:
  std::string_view name() const override { return "cpu"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"cpu", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto v = xtopt::parse_int("cpu", "cpu", opt.arg, 0, UINT32_MAX);
    if (!v) return v.error();
    cpu_ = static_cast<uint32_t>(*v);
    invert_ = opt.invert;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("cpu", "cpu");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format("{} --cpu {}", invert_ ? " !" : "", cpu_);
  }

  bool can_evaluate() const override { return true; }
  MatchOutcome evaluate(const EvalContext&) const override {
    return (cpu_ == kTheCpu) != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  static constexpr uint32_t kTheCpu = 0;
  uint32_t cpu_ = 0;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_cpu(Registry& r) { r.add_match<CpuMatch>("cpu"); }

}  // namespace nfemu::xt
