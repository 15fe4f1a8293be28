// The kernel's jhash2 (include/linux/jhash.h: Bob Jenkins' lookup3 on
// 32-bit words), which NAT's address choice and the cluster match hash
// with. jhash_1word(a, seed) is jhash2(&a, 1, seed). Words as the kernel
// holds them: addresses in network byte order.
#pragma once

#include <bit>
#include <cstdint>

namespace nfemu::util {

inline uint32_t jhash2(const uint32_t* k, uint32_t length, uint32_t initval) {
  auto rol = [](uint32_t v, int s) { return std::rotl(v, s); };
  uint32_t a, b, c;
  a = b = c = 0xdeadbeef + (length << 2) + initval;
  while (length > 3) {
    a += k[0];
    b += k[1];
    c += k[2];
    a -= c; a ^= rol(c, 4);  c += b;
    b -= a; b ^= rol(a, 6);  a += c;
    c -= b; c ^= rol(b, 8);  b += a;
    a -= c; a ^= rol(c, 16); c += b;
    b -= a; b ^= rol(a, 19); a += c;
    c -= b; c ^= rol(b, 4);  b += a;
    length -= 3;
    k += 3;
  }
  switch (length) {
    case 3: c += k[2]; [[fallthrough]];
    case 2: b += k[1]; [[fallthrough]];
    case 1:
      a += k[0];
      c ^= b; c -= rol(b, 14);
      a ^= c; a -= rol(c, 11);
      b ^= a; b -= rol(a, 25);
      c ^= b; c -= rol(b, 16);
      a ^= c; a -= rol(c, 4);
      b ^= a; b -= rol(a, 14);
      c ^= b; c -= rol(b, 24);
      break;
    default: break;
  }
  return c;
}

}  // namespace nfemu::util
