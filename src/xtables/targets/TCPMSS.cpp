// -j TCPMSS: rewrite the MSS option of TCP SYN packets (xt_TCPMSS.c,
// libxt_TCPMSS.c). Any table; -p tcp; clamping to the path MTU needs a
// route, so only FORWARD, OUTPUT and POSTROUTING may reach it.
// The kernel also refuses a rule without a tcp match that requires SYN
// ("Only works on TCP SYN packets", find_syn_match in xt_TCPMSS.c).
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/matches/tcp.h"
#include "xtables/targets/xtopt_b.h"

namespace nfemu::xt {
namespace {

// XT_TCPMSS_CLAMP_PMTU: a value --set-mss cannot reach (its maximum is
// 65535 - sizeof(struct iphdr)).
constexpr uint16_t kClampPmtu = 0xffff;
constexpr uint32_t kMaxMss = 65535 - 20;

class TcpmssTarget : public TargetBase<TcpmssTarget> {
 public:
  std::string_view name() const override { return "TCPMSS"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"set-mss"}, {"clamp-mss-to-pmtu", ArgKind::None}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    // The two options do not exclude each other: the last one given wins.
    if (opt.name == "set-mss") {
      auto v = xtopt::parse_uint(opt.arg, "TCPMSS", opt.name, 0, kMaxMss);
      if (!v) return v.error();
      mss_ = static_cast<uint16_t>(*v);
    } else {
      mss_ = kClampPmtu;
    }
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return make_error("TCPMSS target: At least one parameter is required");
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = 6}; }

  Result<void> check(const CheckContext& ctx) const override {
    constexpr HookMask kRouted = hook_bit(Hook::Forward) | hook_bit(Hook::LocalOut) | hook_bit(Hook::PostRouting);
    if (mss_ == kClampPmtu && (ctx.hooks & ~kRouted) != 0)
      return make_error("xt_TCPMSS: path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks");
    for (const auto& m : ctx.matches)
      if (tcp_match_requires_syn(*m)) return {};
    return make_error("xt_TCPMSS: Only works on TCP SYN packets");
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (mss_ == kClampPmtu)
      out += " --clamp-mss-to-pmtu";
    else
      out += fmt::format(" --set-mss {}", mss_);
  }

 private:
  uint16_t mss_ = 0;
  bool given_ = false;
};

}  // namespace

void register_target_TCPMSS(Registry& r) { r.add_target<TcpmssTarget>("TCPMSS"); }

}  // namespace nfemu::xt
