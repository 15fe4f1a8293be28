// -j NETMAP: map a whole network 1:1 (xt_NETMAP.c, libipt_NETMAP.c).
// iptables stores the network as the range [addr & mask, addr | ~mask].
#include <fmt/format.h>

#include "xtables/addr.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"
#include "xtables/targets/nat_range.h"
#include "xtables/targets/xtopt_a.h"

namespace nfemu::xt {
namespace {

// xtopt_parse_host: getaddrinfo, which takes inet_aton's numeric forms.
// nfemu never resolves names, so a name fails as an unknown host does.
Result<uint32_t> parse_host(std::string_view s) {
  if (auto a = xtopt::inet_aton(s)) return *a;
  return make_error("getaddrinfo: Name or service not known");
}

// xtopt_parse_plenmask: a prefix length 0..32, else a mask in address form.
// A mask that is not contiguous ends up as /32: its length becomes
// (uint8_t)-1, which the mask rebuilding treats as "all ones".
Result<uint32_t> parse_mask(std::string_view s) {
  if (auto len = xtopt::strtoul_whole(s, 0, 32)) return prefix_to_mask(static_cast<int>(*len));
  if (auto m = xtopt::inet_aton(s)) {
    int len = mask_prefix_len(*m);
    return len < 0 ? 0xffffffffu : prefix_to_mask(len);
  }
  return make_error(
      "NETMAP: bad value for option \"--to\", neither a valid network mask nor valid CIDR (0-32).");
}

class NetmapTarget : public TargetBase<NetmapTarget> {
 public:
  std::string_view name() const override { return "NETMAP"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"to", ArgKind::Required}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view arg = opt.arg;
    uint32_t mask = 0xffffffffu;
    size_t slash = arg.find('/');
    auto host = parse_host(arg.substr(0, slash));
    if (!host) return host.error();
    if (slash != std::string_view::npos) {
      auto m = parse_mask(arg.substr(slash + 1));
      if (!m) return m.error();
      mask = *m;
    }
    min_ip_ = *host & mask;
    max_ip_ = min_ip_ | ~mask;
    have_to_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_to_) return xtopt::must_be_specified("NETMAP", "to");
    return {};
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalIn) |
                                           hook_bit(Hook::LocalOut) | hook_bit(Hook::PostRouting)),
            .tables = table_mask_bit(TableId::Nat),
            .module = "NETMAP"};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += " --to " + format_addr_mask(min_ip_, ~(min_ip_ ^ max_ip_));
  }

  // netmap_tg: the address to map (destination before routing, source
  // after) comes from the packet; the host computes it and binds.
  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext& ctx) const override {
    NatRequest req{.kind = NatRequest::Kind::Netmap, .flags = kNatMapIps, .min_ip = min_ip_, .max_ip = max_ip_};
    return ctx.effects ? ctx.effects->nat(req, ctx) : TargetVerdict::Accept;
  }

 private:
  uint32_t min_ip_ = 0, max_ip_ = 0;
  bool have_to_ = false;
};

}  // namespace

void register_target_NETMAP(Registry& r) { r.add_target<NetmapTarget>("NETMAP"); }

}  // namespace nfemu::xt
