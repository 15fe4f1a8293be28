// -j IDLETIMER: restart a named timer that tells userspace (a sysfs file
// under /sys/class/xt_idletimer/timers, a uevent) when the rule has seen
// no packet for --timeout seconds (xt_IDLETIMER.c, libxt_IDLETIMER.c;
// iptables 1.8.9 uses revision 1, which adds --alarm). Packets go on
// untouched: the timer is the only effect, and it is no artifact of a run.
#include <fmt/format.h>

#include <climits>

#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr size_t kLabelSize = 28;  // MAX_IDLETIMER_LABEL_SIZE, with its NUL

class IdletimerTarget : public TargetBase<IdletimerTarget> {
 public:
  std::string_view name() const override { return "IDLETIMER"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"timeout"}, {"label"}, {"alarm", ArgKind::None}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "timeout") {
      auto v = xtopt::parse_int("IDLETIMER", "timeout", opt.arg, 0, UINT32_MAX);
      if (!v) return v.error();
      timeout_ = static_cast<uint32_t>(*v);
      has_timeout_ = true;
    } else if (opt.name == "label") {
      // XTTYPE_STRING into char[28]: a longer label is cut, silently.
      label_ = std::string(opt.arg.substr(0, kLabelSize - 1));
      has_label_ = true;
    } else {
      alarm_ = true;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!has_timeout_) return xtopt::must_be_specified("IDLETIMER", "timeout");
    if (!has_label_) return xtopt::must_be_specified("IDLETIMER", "label");
    return {};
  }

  // idletimer_tg_helper: a timeout the timer can hold, and a label that
  // can name a sysfs file (xt_check_proc_name, then the class's own
  // attributes). Not checked: the kernel's timers are global, so a label
  // already used with the other timer type (--alarm or not), by this
  // ruleset or any other namespace's, is refused too.
  Result<void> check(const CheckContext&) const override {
    if (timeout_ == 0 || timeout_ >= INT_MAX / 1000)
      return make_error(fmt::format("xt_IDLETIMER: timeout value is zero or too big ({})", timeout_));
    if (label_.empty() || label_ == "." || label_ == ".." || label_.find('/') != std::string::npos ||
        label_ == "power" || label_ == "subsystem" || label_ == "uevent")
      return make_error(fmt::format("xt_IDLETIMER: label \"{}\" cannot name a sysfs file", label_));
    return {};
  }

  // The label as it is, blanks and quotes included (libxt_IDLETIMER prints
  // it with %s).
  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format(" --timeout {} --label {}", timeout_, label_);
    if (alarm_) out += " --alarm";
  }

  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext&) const override { return TargetVerdict::Continue; }

 private:
  uint32_t timeout_ = 0;
  std::string label_;
  bool alarm_ = false, has_timeout_ = false, has_label_ = false;
};

}  // namespace

void register_target_IDLETIMER(Registry& r) { r.add_target<IdletimerTarget>("IDLETIMER"); }

}  // namespace nfemu::xt
