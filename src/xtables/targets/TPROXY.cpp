// -j TPROXY: hand a packet to a local transparent socket without
// rewriting it, and mark it for the policy routing that delivers it
// (xt_TPROXY.c, libxt_TPROXY.c; iptables 1.8.9 uses revision 1 for IPv4).
// tproxy_tg4 looks for an established socket on the packet's addresses,
// else a listener at --on-ip/--on-port, and takes the packet only when the
// socket it finds is IP_TRANSPARENT (then it sets the mark and accepts);
// otherwise, and when the first 8 transport bytes are missing, NF_DROP.
// nfemu's hosts have no transparent socket (a `listen` socket is a plain
// one, as `nfemu verify` makes it), so whatever the lookup finds fails that
// test: the packet is dropped and its mark left alone, as the kernel does
// for a TPROXY rule whose proxy is not running.
#include <fmt/format.h>

#include "packet/addr.h"
#include "xtables/ext_util.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"
#include "xtables/rule.h"
#include "xtables/targets/xtopt_b.h"

namespace nfemu::xt {
namespace {

class TproxyTarget : public TargetBase<TproxyTarget> {
 public:
  std::string_view name() const override { return "TPROXY"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"on-port"}, {"on-ip"}, {"tproxy-mark"}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "on-port") {
      // XTTYPE_PORT: getaddrinfo's service lookup, 65536 being port 0.
      if (opt.arg.find(':') != std::string_view::npos)
        return make_error(fmt::format("Port \"{}\" does not resolve to anything.", opt.arg));
      auto p = parse_port_range_getaddrinfo(opt.arg, "TPROXY", opt.name);
      if (!p) return p.error();
      port_ = p->lo;
      has_port_ = true;
    } else if (opt.name == "on-ip") {
      // XTTYPE_HOST: nfemu resolves no names, only inet_aton's forms.
      auto a = xtopt::inet_aton(opt.arg);
      if (!a) return make_error("getaddrinfo: Name or service not known");
      ip_ = *a;
    } else {
      auto mm = xtopt::parse_markmask(opt.arg, "TPROXY", opt.name);
      if (!mm) return mm.error();
      mark_ = mm->first;
      mask_ = mm->second;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!has_port_) return xtopt::must_be_specified("TPROXY", "on-port");
    return {};
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = hook_bit(Hook::PreRouting), .tables = table_mask_bit(TableId::Mangle)};
  }

  // tproxy_tg4_check: TCP or UDP, not inverted.
  Result<void> check(const CheckContext& ctx) const override {
    if ((ctx.ip.proto == 6 || ctx.ip.proto == 17) && !(ctx.ip.inv & IpCriteria::kInvProto)) return {};
    return make_error("xt_TPROXY: Can be used only with -p tcp or -p udp");
  }

  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext&) const override { return TargetVerdict::Drop; }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format(" --on-port {} --on-ip {} --tproxy-mark 0x{:x}/0x{:x}", port_,
                       packet::format_ipv4_addr(ip_), mark_, mask_);
  }

 private:
  uint16_t port_ = 0;
  uint32_t ip_ = 0, mark_ = 0, mask_ = 0;
  bool has_port_ = false;
};

}  // namespace

void register_target_TPROXY(Registry& r) { r.add_target<TproxyTarget>("TPROXY"); }

}  // namespace nfemu::xt
