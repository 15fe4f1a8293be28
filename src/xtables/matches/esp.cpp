// -m esp --espspi: the SPI of an ESP packet (RFC 4303) in a range; the
// header is SPI then sequence number (struct ip_esp_hdr, 8 bytes).
#include "xtables/matches/spi_range.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {
constexpr SpiHeader kEsp{.name = "esp", .option = "espspi", .proto = 50, .header_len = 8, .spi_offset = 0};
}  // namespace

void register_match_esp(Registry& r) { r.add_match<SpiRangeMatch<kEsp>>("esp"); }

}  // namespace nfemu::xt
