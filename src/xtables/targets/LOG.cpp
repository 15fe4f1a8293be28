// -j LOG: kernel log line per packet (xt_LOG.c, libxt_LOG.c).
#include <fmt/format.h>

#include <array>

#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"
#include "xtables/targets/xtopt_a.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kDefaultLevel = 4;  // LOG_WARNING: not saved
constexpr size_t kPrefixSize = 30;    // char prefix[30] in struct xt_log_info

// XT_LOG_* bits, in the order iptables-save prints them.
struct Flag {
  std::string_view option;
  uint8_t bit;
};
constexpr std::array<Flag, 5> kFlags = {{{"log-tcp-sequence", 0x01},
                                         {"log-tcp-options", 0x02},
                                         {"log-ip-options", 0x04},
                                         {"log-uid", 0x08},
                                         {"log-macdecode", 0x20}}};

// xtopt_parse_sysloglevel: a number 0..7 or one of these exact names (no
// "err" or "warn": libxtables has its own table, not syslog.h's).
struct Level {
  std::string_view name;
  uint8_t level;
};
constexpr std::array<Level, 9> kLevels = {{{"alert", 1},
                                           {"crit", 2},
                                           {"debug", 7},
                                           {"emerg", 0},
                                           {"error", 3},
                                           {"info", 6},
                                           {"notice", 5},
                                           {"panic", 0},
                                           {"warning", 4}}};

class LogTarget : public TargetBase<LogTarget> {
 public:
  std::string_view name() const override { return "LOG"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"log-level", ArgKind::Required},      {"log-prefix", ArgKind::Required},
        {"log-tcp-sequence", ArgKind::None},   {"log-tcp-options", ArgKind::None},
        {"log-ip-options", ArgKind::None},     {"log-uid", ArgKind::None},
        {"log-macdecode", ArgKind::None},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "log-level") {
      if (auto n = xtopt::strtoul_whole(opt.arg, 0, 7)) {
        level_ = static_cast<uint8_t>(*n);
        return {};
      }
      for (const auto& l : kLevels) {
        if (l.name == opt.arg) {
          level_ = l.level;
          return {};
        }
      }
      return make_error(fmt::format("log level \"{}\" unknown", opt.arg));
    }
    if (opt.name == "log-prefix") {
      auto p = xtopt::parse_put_string(opt.arg, kPrefixSize);
      if (!p) return p.error();
      if (opt.arg.find('\n') != std::string_view::npos) return make_error("Newlines not allowed in --log-prefix");
      prefix_ = *p;
      return {};
    }
    for (const auto& f : kFlags)
      if (opt.name == f.option) flags_ |= f.bit;
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (!prefix_.empty()) {
      out += " --log-prefix";
      xtopt::save_string(out, prefix_);
    }
    if (level_ != kDefaultLevel) out += fmt::format(" --log-level {}", level_);
    for (const auto& f : kFlags)
      if (flags_ & f.bit) out += fmt::format(" --{}", f.option);
  }

  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext& ctx) const override {
    if (ctx.effects) ctx.effects->log(prefix_, level_, flags_, ctx.pkt, ctx.hook);
    return TargetVerdict::Continue;
  }

 private:
  std::string prefix_;
  uint8_t level_ = kDefaultLevel;
  uint8_t flags_ = 0;
};

}  // namespace

void register_target_LOG(Registry& r) { r.add_target<LogTarget>("LOG"); }

}  // namespace nfemu::xt
