#include "packet/fragment.h"

#include <algorithm>
#include <vector>

#include "packet/headers.h"

namespace nfemu::packet {

namespace {
// ip_options_fragment: options without the copied flag (bit 7 of the type)
// are overwritten with NOOPs; the header keeps its length.
void strip_uncopied_options(std::span<uint8_t> opts) {
  size_t i = 0;
  while (i < opts.size()) {
    uint8_t type = opts[i];
    if (type == 0) break;  // IPOPT_END
    if (type == 1) {       // IPOPT_NOOP
      ++i;
      continue;
    }
    if (i + 1 >= opts.size()) break;
    size_t len = opts[i + 1];
    if (len < 2 || i + len > opts.size()) break;
    if (!(type & 0x80)) std::fill(opts.begin() + static_cast<std::ptrdiff_t>(i),
                                  opts.begin() + static_cast<std::ptrdiff_t>(i + len), uint8_t{1});
    i += len;
  }
}
}  // namespace

bool fragment_ipv4(std::span<const uint8_t> dgram, size_t mtu,
                   const std::function<void(std::span<const uint8_t>)>& emit) {
  ConstIpv4View in(dgram);
  const size_t hlen = in.header_len();
  const size_t total = std::min<size_t>(in.total_length(), dgram.size());
  if (total <= mtu || hlen >= total || mtu <= hlen + 8) return false;
  const size_t room = mtu - hlen;
  const bool more_after = in.mf();  // not_last_frag
  size_t offset = in.frag_offset_bytes();
  size_t left = total - hlen, pos = hlen;
  std::vector<uint8_t> buf(mtu);
  std::vector<uint8_t> header(dgram.begin(), dgram.begin() + static_cast<std::ptrdiff_t>(hlen));
  bool first = true;
  while (left > 0) {
    size_t len = std::min(left, room);
    if (len < left) len &= ~size_t{7};
    std::copy(header.begin(), header.end(), buf.begin());
    std::copy(dgram.begin() + static_cast<std::ptrdiff_t>(pos), dgram.begin() + static_cast<std::ptrdiff_t>(pos + len),
              buf.begin() + static_cast<std::ptrdiff_t>(hlen));
    Ipv4View out(std::span<uint8_t>(buf.data(), hlen + len));
    out.set_total_length(static_cast<uint16_t>(hlen + len));
    left -= len;
    uint16_t field = static_cast<uint16_t>(offset >> 3);
    if (left > 0 || more_after) field |= 0x2000;
    out.set_frag_field(field);
    out.update_checksum();
    emit(std::span<const uint8_t>(buf.data(), hlen + len));
    if (first) {
      // Later fragments carry only the copied options.
      strip_uncopied_options(std::span<uint8_t>(header.data() + kIpv4MinHeader, hlen - kIpv4MinHeader));
      first = false;
    }
    pos += len;
    offset += len;
  }
  return true;
}

}  // namespace nfemu::packet
