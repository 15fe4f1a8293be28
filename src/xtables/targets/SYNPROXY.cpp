// -j SYNPROXY: answer a SYN with a syncookie SYN-ACK and open the
// connection to the server only after the client's ACK proves its address
// (xt_SYNPROXY.c, libxt_SYNPROXY.c). Loads, checks and saves as the kernel
// and iptables do; the proxy itself (cookies from a per-boot secret, the
// second handshake, sequence adjustment) is not modelled yet, so the rule
// is reported "not evaluated yet" and the packet goes on.
#include <fmt/format.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

class SynproxyTarget : public TargetBase<SynproxyTarget> {
 public:
  std::string_view name() const override { return "SYNPROXY"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"mss"},
                                              {"wscale"},
                                              {"sack-perm", ArgKind::None},
                                              {"timestamp", ArgKind::None},
                                              {"ecn", ArgKind::None}};
    return kOptions;
  }

  // XTTYPE_UINT32 stored into struct xt_synproxy_info's u16 mss and u8
  // wscale: larger values are cut, not refused (--wscale 256 is 0).
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "mss" || opt.name == "wscale") {
      auto v = xtopt::parse_int("SYNPROXY", opt.name, opt.arg, 0, UINT32_MAX);
      if (!v) return v.error();
      if (opt.name == "mss") {
        mss_ = static_cast<uint16_t>(*v);
        has_mss_ = true;
      } else {
        wscale_ = static_cast<uint8_t>(*v);
        has_wscale_ = true;
      }
    } else if (opt.name == "sack-perm") {
      sack_perm_ = true;
    } else if (opt.name == "timestamp") {
      timestamp_ = true;
    } else {
      ecn_ = true;
    }
    return {};
  }

  // synproxy_tg4_check: INPUT and FORWARD, any table, TCP not inverted.
  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::LocalIn) | hook_bit(Hook::Forward))};
  }
  Result<void> check(const CheckContext& ctx) const override {
    if (ctx.ip.proto != 6 || (ctx.ip.inv & IpCriteria::kInvProto))
      return make_error("xt_SYNPROXY: needs -p tcp (not inverted)");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (sack_perm_) out += " --sack-perm";
    if (timestamp_) out += " --timestamp";
    if (has_wscale_) out += fmt::format(" --wscale {}", wscale_);
    if (has_mss_) out += fmt::format(" --mss {}", mss_);
    if (ecn_) out += " --ecn";
  }

 private:
  uint16_t mss_ = 0;
  uint8_t wscale_ = 0;
  bool has_mss_ = false, has_wscale_ = false, sack_perm_ = false, timestamp_ = false, ecn_ = false;
};

}  // namespace

void register_target_SYNPROXY(Registry& r) { r.add_target<SynproxyTarget>("SYNPROXY"); }

}  // namespace nfemu::xt
