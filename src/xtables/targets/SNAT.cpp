// -j SNAT: rewrite the source (xt_nat.c, libxt_NAT.c), revision 0.
#include "xtables/registry.h"
#include "xtables/targets/nat_range.h"

namespace nfemu::xt {
namespace {

constexpr OptionSpec kOptions[] = {{"to-source", ArgKind::Required},
                                   {"random", ArgKind::None},
                                   {"random-fully", ArgKind::None},
                                   {"persistent", ArgKind::None}};
constexpr NatKind kSnat{.name = "SNAT",
                        .options = kOptions,
                        .range_option = "to-source",
                        .mandatory = true,
                        .skip_colon = false,
                        .compat = true,
                        .refuse_offset = false,
                        .hooks = static_cast<HookMask>(hook_bit(Hook::PostRouting) | hook_bit(Hook::LocalIn)),
        .kind = NatRequest::Kind::Snat};

}  // namespace

void register_target_SNAT(Registry& r) { r.add_target<NatTarget<kSnat>>("SNAT"); }

}  // namespace nfemu::xt
