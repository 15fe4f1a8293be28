// -m socket: whether a local socket would take the packet (xt_socket.c,
// libxt_socket.c; iptables 1.8.9 uses revision 3: --transparent,
// --nowildcard, --restore-skmark). Transparent proxies pair it with
// TPROXY. Loads, checks and saves as the kernel and iptables do; the
// socket lookup (nf_sk_lookup_slow_v4 over established and listening
// sockets, IP_TRANSPARENT) is not modelled yet, so rules with it are
// reported "not evaluated yet" and treated as no match.
#include <fmt/format.h>

#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class SocketMatch : public MatchBase<SocketMatch> {
 public:
  std::string_view name() const override { return "socket"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"transparent", ArgKind::None}, {"nowildcard", ArgKind::None}, {"restore-skmark", ArgKind::None}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "transparent") transparent_ = true;
    else if (opt.name == "nowildcard") nowildcard_ = true;
    else restore_skmark_ = true;
    return {};
  }

  // socket_mt_v3: PREROUTING and INPUT, any table.
  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalIn))};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (transparent_) out += " --transparent";
    if (nowildcard_) out += " --nowildcard";
    if (restore_skmark_) out += " --restore-skmark";
  }

 private:
  bool transparent_ = false, nowildcard_ = false, restore_skmark_ = false;
};

}  // namespace

void register_match_socket(Registry& r) { r.add_match<SocketMatch>("socket"); }

}  // namespace nfemu::xt
