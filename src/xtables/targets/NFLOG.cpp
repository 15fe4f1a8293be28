// -j NFLOG: hand packets to nfnetlink_log (xt_NFLOG.c, libxt_NFLOG.c).
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/rule.h"
#include "xtables/targets/xtopt_a.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

constexpr size_t kPrefixSize = 64;      // char prefix[64] in struct xt_nflog_info
constexpr uint16_t kFlagCopyLen = 0x1;  // XT_NFLOG_F_COPY_LEN: --nflog-size was given

class NflogTarget : public TargetBase<NflogTarget> {
 public:
  std::string_view name() const override { return "NFLOG"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"nflog-group", ArgKind::Required}, {"nflog-prefix", ArgKind::Required},
        {"nflog-range", ArgKind::Required}, {"nflog-size", ArgKind::Required},
        {"nflog-threshold", ArgKind::Required},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "nflog-prefix") {
      auto p = xtopt::parse_put_string(opt.arg, kPrefixSize);
      if (!p) return p.error();
      if (opt.arg.find('\n') != std::string_view::npos) return make_error("Newlines not allowed in --log-prefix");
      prefix_ = *p;
      return {};
    }
    const uint32_t max = (opt.name == "nflog-range" || opt.name == "nflog-size") ? UINT32_MAX : UINT16_MAX;
    auto v = xtopt::parse_uint_option(opt.arg, max, "NFLOG", opt.name);
    if (!v) return v.error();
    if (opt.name == "nflog-group") {
      group_ = static_cast<uint16_t>(*v);
    } else if (opt.name == "nflog-threshold") {
      threshold_ = static_cast<uint16_t>(*v);
    } else {
      // Both options write the same length field.
      len_ = *v;
      if (opt.name == "nflog-range") have_range_ = true;
      else have_size_ = true;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    // iptables warns that --nflog-range never worked, then refuses the pair.
    if (have_range_ && have_size_) return xtopt::cannot_be_used_together("NFLOG", "nflog-range", "nflog-size");
    if (have_size_) flags_ |= kFlagCopyLen;
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (!prefix_.empty()) {
      out += " --nflog-prefix";
      xtopt::save_string(out, prefix_);
    }
    if (group_) out += fmt::format(" --nflog-group {}", group_);
    if (flags_ & kFlagCopyLen) out += fmt::format(" --nflog-size {}", len_);
    else if (len_) out += fmt::format(" --nflog-range {}", len_);
    if (threshold_) out += fmt::format(" --nflog-threshold {}", threshold_);
  }

  bool can_evaluate() const override { return true; }
  // nflog_tg hands a copy to nfnetlink_log and continues. Nothing listens
  // on a group in nfemu and NFLOG never writes to the kernel log, so the
  // packet just goes on.
  TargetVerdict evaluate(EvalContext&) const override { return TargetVerdict::Continue; }

 private:
  std::string prefix_;
  uint32_t len_ = 0;
  uint16_t group_ = 0, threshold_ = 0, flags_ = 0;
  bool have_range_ = false, have_size_ = false;
};

}  // namespace

void register_target_NFLOG(Registry& r) { r.add_target<NflogTarget>("NFLOG"); }

}  // namespace nfemu::xt
