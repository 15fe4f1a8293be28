// -j REDIRECT: DNAT to the receiving host itself (xt_REDIRECT.c,
// libxt_NAT.c), revision 0, whose final check refuses shifted port ranges.
#include "xtables/registry.h"
#include "xtables/targets/nat_range.h"

namespace nfemu::xt {
namespace {

constexpr OptionSpec kOptions[] = {{"to-ports", ArgKind::Required}, {"random", ArgKind::None}};
constexpr NatKind kRedirect{.name = "REDIRECT",
                            .options = kOptions,
                            .range_option = "to-ports",
                            .mandatory = false,
                            .skip_colon = true,
                            .compat = true,
                            .refuse_offset = true,
                            .hooks = static_cast<HookMask>(hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalOut)),
        .kind = NatRequest::Kind::Redirect};

}  // namespace

void register_target_REDIRECT(Registry& r) { r.add_target<NatTarget<kRedirect>>("REDIRECT"); }

}  // namespace nfemu::xt
