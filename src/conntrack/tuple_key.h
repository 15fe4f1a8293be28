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

// Byte 15 of a tuple is padding, which may hold anything: it is masked.
// (The layout and make_lo/make_hi/store_words: conntrack.h.)
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
