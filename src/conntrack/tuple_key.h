// The table's internal view of a Tuple as two 64-bit words, for the hot
// compares of a chain walk (core.cpp). Not for other modules.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "conntrack/conntrack.h"

namespace nfemu::conntrack::detail {

// Bytes 0-7: src, dst; 8-14: sport, dport, proto, icmp_type, icmp_code;
// byte 15 is padding, which may hold anything: it is masked.
static_assert(sizeof(Tuple) == 16 && offsetof(Tuple, src) == 0 && offsetof(Tuple, dst) == 4 &&
              offsetof(Tuple, sport) == 8 && offsetof(Tuple, dport) == 10 && offsetof(Tuple, proto) == 12 &&
              offsetof(Tuple, icmp_type) == 13 && offsetof(Tuple, icmp_code) == 14);
inline constexpr uint64_t kTupleHighMask = 0x00ffffffffffffffULL;

inline uint64_t tuple_lo(const Tuple& t) {
  uint64_t w;
  std::memcpy(&w, &t, 8);
  return w;
}
inline uint64_t tuple_hi(const Tuple& t) {
  uint64_t w;
  std::memcpy(&w, reinterpret_cast<const char*>(&t) + 8, 8);
  return w & kTupleHighMask;
}

// A tuple written as these two words, so that the word loads of a hash or
// a compare soon after are forwarded from the stores. Written field by
// field (4-, 2- and 1-byte stores), an 8-byte load of it waits until the
// stores reach the cache: perf found that stall on in()'s hash of the
// tuple it had just built. Little-endian layout (x86-64, arm64).
static_assert(std::endian::native == std::endian::little, "tuple words assume little-endian");
inline uint64_t make_lo(uint32_t src, uint32_t dst) { return uint64_t{src} | (uint64_t{dst} << 32); }
inline uint64_t make_hi(uint16_t sport, uint16_t dport, uint8_t proto, uint8_t icmp_type = 0, uint8_t icmp_code = 0) {
  return uint64_t{sport} | (uint64_t{dport} << 16) | (uint64_t{proto} << 32) | (uint64_t{icmp_type} << 40) |
         (uint64_t{icmp_code} << 48);
}
// Tuple is trivially copyable; only its default member initializers make
// GCC call it non-trivial (-Wclass-memaccess), hence the void*.
static_assert(std::is_trivially_copyable_v<Tuple>);
inline void store_words(Tuple* t, uint64_t lo, uint64_t hi) {
  std::memcpy(static_cast<void*>(t), &lo, 8);
  std::memcpy(reinterpret_cast<char*>(t) + 8, &hi, 8);
}
// *to = from, as two word copies: a 16-byte load of a tuple stored as two
// words would not be forwarded either.
inline void copy_tuple(Tuple* to, const Tuple& from) {
  uint64_t lo, hi;
  std::memcpy(&lo, &from, 8);
  std::memcpy(&hi, reinterpret_cast<const char*>(&from) + 8, 8);
  store_words(to, lo, hi);
}

// Tuple::operator== in two compares (three loads a side fewer).
inline bool same_tuple(const Tuple& a, const Tuple& b) {
  return ((tuple_lo(a) ^ tuple_lo(b)) | (tuple_hi(a) ^ tuple_hi(b))) == 0;
}

}  // namespace nfemu::conntrack::detail
