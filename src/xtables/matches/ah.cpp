// -m ah --ahspi: the SPI of an IPv4 AH header (RFC 4302) in a range; the
// header is next header, length, reserved, SPI, sequence number (struct
// ip_auth_hdr, 12 bytes). IPv4's ah has no --ahlen or --ahres (ip6t_ah's).
#include "xtables/matches/spi_range.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {
constexpr SpiHeader kAh{.name = "ah", .option = "ahspi", .proto = 51, .header_len = 12, .spi_offset = 4};
}  // namespace

void register_match_ah(Registry& r) { r.add_match<SpiRangeMatch<kAh>>("ah"); }

}  // namespace nfemu::xt
