// The table's internal view of a Tuple as two 64-bit words, for the hot
// compares of a chain walk (core.cpp). Not for other modules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

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

// Tuple::operator== in two compares (three loads a side fewer).
inline bool same_tuple(const Tuple& a, const Tuple& b) {
  return ((tuple_lo(a) ^ tuple_lo(b)) | (tuple_hi(a) ^ tuple_hi(b))) == 0;
}

}  // namespace nfemu::conntrack::detail
