#include "packet/checksum.h"

#include <bit>
#include <cstring>

namespace nfemu::packet {

namespace {

uint64_t load64(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// a + b with the carry wrapped around: ones' complement addition of 64-bit
// words, which keeps the sum congruent modulo 2^16 - 1 (2^64 is 1 there).
// Zero only when both are.
uint64_t add_wrap(uint64_t a, uint64_t b) {
  a += b;
  return a + (a < b);
}

}  // namespace

// Sums native-endian 64-bit words with end-around carry and swaps once at
// the end: the ones' complement sum is byte-order independent (RFC 1071
// section 2(B)). Every partial sum is congruent to the exact sum of the
// 16-bit words modulo 0xffff and is zero only for all-zero data, so the
// folded result is the same as summing 16-bit words one by one.
uint32_t csum_bytes(std::span<const uint8_t> data, uint32_t sum) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t acc = 0;
#if defined(__x86_64__)
  // An add-with-carry chain, as the kernel's csum_partial: the compiler
  // does not produce one from C, and it halves the instructions per byte
  // (the replay checks every L4 checksum on its way through conntrack).
  uint64_t carries = 0;
  while (n >= 32) {
    asm("addq 0(%[p]), %[acc]\n\t"
        "adcq 8(%[p]), %[acc]\n\t"
        "adcq 16(%[p]), %[acc]\n\t"
        "adcq 24(%[p]), %[acc]\n\t"
        "adcq $0, %[carries]"
        : [acc] "+r"(acc), [carries] "+r"(carries)
        : [p] "r"(p), "m"(*reinterpret_cast<const uint8_t(*)[32]>(p))
        : "cc");
    p += 32;
    n -= 32;
  }
  acc = add_wrap(acc, carries);
#endif
  while (n >= 8) {
    acc = add_wrap(acc, load64(p));
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc = add_wrap(acc, w);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc = add_wrap(acc, w);
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    uint8_t pad[2] = {p[0], 0};
    uint16_t w;
    std::memcpy(&w, pad, 2);
    acc = add_wrap(acc, w);
  }
  // 64 -> 16 bits by exact additions of the halves: nonzero stays nonzero.
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  auto native = static_cast<uint16_t>(acc);
  uint16_t be;
  if constexpr (std::endian::native == std::endian::little)
    be = static_cast<uint16_t>(native << 8 | native >> 8);
  else
    be = native;
  return csum_add(sum, be);
}

}  // namespace nfemu::packet
