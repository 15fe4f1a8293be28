// -j NFQUEUE: hand packets to a userspace queue (xt_NFQUEUE.c,
// libxt_NFQUEUE.c). iptables picks revision 3 (flags: bypass, cpu-fanout).
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/rule.h"
#include "xtables/targets/xtopt_a.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

constexpr uint16_t kBypass = 0x1, kCpuFanout = 0x2;

class NfqueueTarget : public TargetBase<NfqueueTarget> {
 public:
  std::string_view name() const override { return "NFQUEUE"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"queue-num", ArgKind::Required},
        {"queue-balance", ArgKind::Required},
        {"queue-bypass", ArgKind::None},
        {"queue-cpu-fanout", ArgKind::None},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "queue-num") {
      auto v = xtopt::parse_uint_option(opt.arg, UINT16_MAX, "NFQUEUE", "queue-num");
      if (!v) return v.error();
      queuenum_ = static_cast<uint16_t>(*v);
      have_num_ = true;
    } else if (opt.name == "queue-balance") {
      auto ok = parse_balance(opt.arg);
      if (!ok) return ok;
      have_balance_ = true;
    } else if (opt.name == "queue-bypass") {
      flags_ |= kBypass;
    } else if (opt.name == "queue-cpu-fanout") {
      flags_ |= kCpuFanout;
      have_fanout_ = true;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (have_num_ && have_balance_) return xtopt::cannot_be_used_together("NFQUEUE", "queue-num", "queue-balance");
    if (have_fanout_ && !have_balance_) return xtopt::also_requires("NFQUEUE", "queue-cpu-fanout", "queue-balance");
    return {};
  }

  Result<void> check(const CheckContext&) const override {
    // nfqueue_tg_check; "0:65535" wraps queues_total (a u16) to 0.
    if (total_ == 0) return make_error("xt_NFQUEUE: number of total queues is 0");
    uint32_t maxid = total_ - 1u + queuenum_;
    if (maxid > 0xffff)
      return make_error(fmt::format("xt_NFQUEUE: number of queues ({}) out of range (got {})", total_, maxid));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (total_ > 1)
      out += fmt::format(" --queue-balance {}:{}", queuenum_, queuenum_ + total_ - 1u);
    else
      out += fmt::format(" --queue-num {}", queuenum_);
    if (flags_ & kBypass) out += " --queue-bypass";
    if (flags_ & kCpuFanout) out += " --queue-cpu-fanout";
  }

  bool can_evaluate() const override { return true; }
  // nfqueue_tg_v3 returns NF_QUEUE; nf_queue finds no userspace listener
  // in nfemu (-ESRCH), so nf_hook_slow drops the packet unless the
  // verdict carries NF_VERDICT_FLAG_QUEUE_BYPASS, in which case the packet
  // goes on with the next hook function, as after an ACCEPT.
  TargetVerdict evaluate(EvalContext&) const override {
    return (flags_ & kBypass) ? TargetVerdict::Accept : TargetVerdict::Queue;
  }

 private:
  // XTTYPE_UINT16RC: "A:B", either side may be empty (0 and 65535).
  Result<void> parse_balance(std::string_view arg) {
    uint32_t r[2] = {0, 0};
    int n = 0;
    std::string_view rest = arg;
    while (true) {
      if (n == 2)
        return make_error("NFQUEUE: Too many components for option \"--queue-balance\" (max: 2)");
      uint32_t value;
      std::string_view end;
      if (rest.empty() || rest[0] == ':') {
        value = n == 1 ? 65535 : 0;
        end = rest;
      } else {
        auto p = xtopt::strtoul_prefix(rest, 0, 65535);
        if (!p)
          return make_error(fmt::format(
              "NFQUEUE: bad value for option \"--queue-balance\" near \"{}\", or out of range (0-65535).", rest));
        if (!p->rest.empty() && p->rest[0] != ':')
          return make_error(fmt::format(
              "NFQUEUE: Argument to \"--queue-balance\" has unexpected characters near \"{}\".", p->rest));
        value = static_cast<uint32_t>(p->value);
        end = p->rest;
      }
      r[n++] = value;
      if (end.empty()) break;
      rest = end.substr(1);
    }
    if (n != 2) return make_error(fmt::format("Bad range \"{}\"", arg));
    if (r[0] >= r[1]) return make_error(fmt::format("{} should be less than {}", r[0], r[1]));
    queuenum_ = static_cast<uint16_t>(r[0]);
    total_ = static_cast<uint16_t>(r[1] - r[0] + 1);
    return {};
  }

  uint16_t queuenum_ = 0, total_ = 1, flags_ = 0;
  bool have_num_ = false, have_balance_ = false, have_fanout_ = false;
};

}  // namespace

void register_target_NFQUEUE(Registry& r) { r.add_target<NfqueueTarget>("NFQUEUE"); }

}  // namespace nfemu::xt
