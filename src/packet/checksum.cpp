#include "packet/checksum.h"

#include <bit>
#include <cstring>

namespace nfemu::packet {

// Sums native-endian 32-bit words into a 64-bit accumulator and swaps once
// at the end: the ones' complement sum is byte-order independent (RFC 1071
// section 2(B)), and this runs several times faster than 16-bit big-endian
// loads on the replay path.
uint32_t csum_bytes(std::span<const uint8_t> data, uint32_t sum) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
  while (n >= 32) {
    uint32_t w[8];
    std::memcpy(w, p, sizeof w);
    acc += uint64_t{w[0]} + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7];
    p += 32;
    n -= 32;
  }
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    uint8_t pad[2] = {p[0], 0};
    uint16_t w;
    std::memcpy(&w, pad, 2);
    acc += w;
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  auto native = static_cast<uint16_t>(acc);
  uint16_t be;
  if constexpr (std::endian::native == std::endian::little)
    be = static_cast<uint16_t>(native << 8 | native >> 8);
  else
    be = native;
  return csum_add(sum, be);
}

}  // namespace nfemu::packet
