// -m ipcomp --ipcompspi: the CPI of an IPComp packet (RFC 3173) in a range;
// the header is next header, flags, then the 16-bit CPI (struct
// ip_comp_hdr, 4 bytes).
#include "xtables/matches/spi_range.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {
constexpr SpiHeader kIpcomp{.name = "ipcomp",
                            .option = "ipcompspi",
                            .proto = 108,
                            .header_len = 4,
                            .spi_offset = 2,
                            .spi_bytes = 2,
                            .zero_without_option = true,
                            .has_compres = true};
}  // namespace

void register_match_ipcomp(Registry& r) { r.add_match<SpiRangeMatch<kIpcomp>>("ipcomp"); }

}  // namespace nfemu::xt
