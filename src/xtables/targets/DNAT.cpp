// -j DNAT: rewrite the destination (xt_nat.c, libxt_NAT.c). iptables picks
// revision 2 (struct nf_nat_range2), which keeps a shifted port range's base.
#include "xtables/registry.h"
#include "xtables/targets/nat_range.h"

namespace nfemu::xt {
namespace {

constexpr OptionSpec kOptions[] = {
    {"to-destination", ArgKind::Required}, {"random", ArgKind::None}, {"persistent", ArgKind::None}};
constexpr NatKind kDnat{.name = "DNAT",
                        .options = kOptions,
                        .range_option = "to-destination",
                        .mandatory = true,
                        .skip_colon = false,
                        .compat = false,
                        .refuse_offset = false,
                        .hooks = static_cast<HookMask>(hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalOut)),
        .kind = NatRequest::Kind::Dnat};

}  // namespace

void register_target_DNAT(Registry& r) { r.add_target<NatTarget<kDnat>>("DNAT"); }

}  // namespace nfemu::xt
