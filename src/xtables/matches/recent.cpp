// -m recent: lists of recently seen addresses (xt_recent.c, libxt_recent.c
// revision 1, which adds --mask).
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "xtables/addr.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

// XT_RECENT_* bits of check_set.
constexpr uint8_t kCheck = 1, kSet = 2, kUpdate = 4, kRemove = 8, kTtl = 16, kReap = 32;
constexpr size_t kNameLen = 200;      // XT_RECENT_NAME_LEN
// XT_RECENT_MAX_NSTAMPS of this kernel (dmesg: "allowed maximum (65535)");
// kernels before 6.x had 256.
constexpr uint32_t kMaxNstamps = 65536;

class RecentMatch : public MatchBase<RecentMatch> {
 public:
  std::string_view name() const override { return "recent"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"set", ArgKind::None, true},     {"rcheck", ArgKind::None, true}, {"update", ArgKind::None, true},
        {"remove", ArgKind::None, true},  {"seconds", ArgKind::Required},  {"reap", ArgKind::None},
        {"hitcount", ArgKind::Required},  {"rttl", ArgKind::None},         {"name", ArgKind::Required},
        {"rsource", ArgKind::None},       {"rdest", ArgKind::None},        {"mask", ArgKind::Required},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    auto op = [&](uint8_t bit) {
      check_set_ |= bit;
      ops_.push_back(std::string(o));
      if (opt.invert) invert_ = true;
    };
    if (o == "set") op(kSet);
    else if (o == "rcheck") op(kCheck);
    else if (o == "update") op(kUpdate);
    else if (o == "remove") op(kRemove);
    else if (o == "seconds") {
      auto v = xtopt::parse_int("recent", o, opt.arg, 1, UINT32_MAX);
      if (!v) return v.error();
      seconds_ = static_cast<uint32_t>(*v);
    } else if (o == "reap") {
      check_set_ |= kReap;
    } else if (o == "hitcount") {
      auto v = xtopt::parse_int("recent", o, opt.arg, 0, UINT32_MAX);
      if (!v) return v.error();
      hit_count_ = static_cast<uint32_t>(*v);
    } else if (o == "rttl") {
      check_set_ |= kTtl;
    } else if (o == "name") {
      // XTOPT_PUT into char[200]: cut, not refused.
      name_ = std::string(opt.arg.substr(0, kNameLen - 1));
    } else if (o == "rsource") {
      dest_ = false;
    } else if (o == "rdest") {
      dest_ = true;
    } else if (o == "mask") {
      // XTTYPE_HOST: getaddrinfo. nfemu resolves no host names, so only the
      // numeric (inet_aton) forms are accepted.
      auto a = xtopt::inet_aton(opt.arg);
      if (!a) return make_error("getaddrinfo: Name or service not known");
      mask_ = *a;
    }
    return {};
  }

  // recent_check, then xtables_options_fcheck in option-table order.
  Result<void> final_check(const ParseContext&) override {
    if (ops_.empty())
      return make_error("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'");
    if (ops_.size() > 1) {
      // libxtables names the first two given, in option-table order.
      static constexpr const char* kOrder[] = {"set", "rcheck", "update", "remove"};
      std::vector<std::string_view> given;
      for (const char* n : kOrder)
        if (std::find(ops_.begin(), ops_.end(), n) != ops_.end()) given.push_back(n);
      return xtopt::cannot_combine("recent", given[0], given[1]);
    }
    if ((check_set_ & kReap) && seconds_ == 0) return make_error("recent: option \"--reap\" also requires \"--seconds\".");
    if ((check_set_ & kTtl) && (check_set_ & (kSet | kRemove)))
      return xtopt::cannot_combine("recent", "rttl", (check_set_ & kSet) ? "set" : "remove");
    return {};
  }

  // recent_mt_check: --set and --remove take no modifiers; hitcount bound; proc name.
  Result<void> check(const CheckContext&) const override {
    if ((check_set_ & (kSet | kRemove)) && (seconds_ || hit_count_ || (check_set_ & (kTtl | kReap))))
      return make_error("xt_recent: --set and --remove take no --seconds, --hitcount, --rttl or --reap (EINVAL)");
    if ((check_set_ & kReap) && !seconds_) return make_error("xt_recent: --reap needs --seconds (EINVAL)");
    if (hit_count_ >= kMaxNstamps)
      return make_error(
          fmt::format("xt_recent: hitcount ({}) is larger than allowed maximum ({})", hit_count_, kMaxNstamps - 1));
    if (name_.empty() || name_ == "." || name_ == ".." || name_.find('/') != std::string::npos)
      return make_error(fmt::format("xt_recent: invalid list name \"{}\" (xt_check_proc_name: EINVAL)", name_));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    if (check_set_ & kSet) out += " --set";
    if (check_set_ & kCheck) out += " --rcheck";
    if (check_set_ & kUpdate) out += " --update";
    if (check_set_ & kRemove) out += " --remove";
    if (seconds_) out += fmt::format(" --seconds {}", static_cast<int32_t>(seconds_));
    if (check_set_ & kReap) out += " --reap";
    if (hit_count_) out += fmt::format(" --hitcount {}", static_cast<int32_t>(hit_count_));
    if (check_set_ & kTtl) out += " --rttl";
    out += fmt::format(" --name {} --mask {}", name_, format_ipv4(mask_));
    out += dest_ ? " --rdest" : " --rsource";
  }

 private:
  uint8_t check_set_ = 0;
  uint32_t seconds_ = 0, hit_count_ = 0, mask_ = 0xffffffffu;
  std::string name_ = "DEFAULT";
  std::vector<std::string> ops_;
  bool invert_ = false, dest_ = false;
};

}  // namespace

void register_match_recent(Registry& r) { r.add_match<RecentMatch>("recent"); }

}  // namespace nfemu::xt
