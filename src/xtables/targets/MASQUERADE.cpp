// -j MASQUERADE: SNAT to the outgoing interface's address (xt_MASQUERADE.c,
// libxt_NAT.c), revision 0. Only ports can be given, so the kernel's "no
// MAP_IPS" check cannot fail for rules iptables builds.
#include "xtables/registry.h"
#include "xtables/targets/nat_range.h"

namespace nfemu::xt {
namespace {

constexpr OptionSpec kOptions[] = {
    {"to-ports", ArgKind::Required}, {"random", ArgKind::None}, {"random-fully", ArgKind::None}};
constexpr NatKind kMasquerade{.name = "MASQUERADE",
                              .options = kOptions,
                              .range_option = "to-ports",
                              .mandatory = false,
                              .skip_colon = true,
                              .compat = true,
                              .refuse_offset = false,
                              .hooks = hook_bit(Hook::PostRouting),
        .kind = NatRequest::Kind::Masquerade};

}  // namespace

void register_target_MASQUERADE(Registry& r) { r.add_target<NatTarget<kMasquerade>>("MASQUERADE"); }

}  // namespace nfemu::xt
