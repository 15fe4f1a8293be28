#include "packet/checksum.h"

#include <bit>
#include <cstring>

#include "packet/checksum_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

// The native-endian 64-bit words of [p, p + n) added to acc with
// end-around carry (an odd trailing byte padded with zero).
[[gnu::always_inline]] inline uint64_t sum_scalar(const uint8_t* p, size_t n, uint64_t acc) {
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
  return acc;
}

// csum_bytes's initial sum (big-endian words) as a value for the native
// accumulator: on a little-endian machine the final byte swap multiplies by
// 256 modulo 0xffff, so the sum goes in multiplied by 256, whose square is 1
// there. Zero only when the sum is, so the result is zero only when the sum
// and the data are, as csum_add(sum, data's sum) was; a csum_add after the
// fold cost more than this shift.
[[gnu::always_inline]] inline uint64_t initial(uint32_t sum) {
  if constexpr (std::endian::native == std::endian::little)
    return uint64_t{sum} << 8;
  else
    return sum;
}

// From the 64-bit accumulator to what csum_bytes returns.
[[gnu::always_inline]] inline uint32_t finish(uint64_t acc) {
  // 64 -> 16 bits by exact additions of the halves: nonzero stays nonzero.
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  auto native = static_cast<uint16_t>(acc);
  if constexpr (std::endian::native == std::endian::little)
    return static_cast<uint16_t>(native << 8 | native >> 8);
  else
    return native;
}

#if defined(__x86_64__)

constexpr size_t kAvx2Block = 128;    // bytes per iteration: four 32-byte loads
constexpr size_t kAvx2Chunk = 65536;  // bytes summed before the lanes are reduced
// Below this the lane setup and reduction cost more than they save.
constexpr size_t kAvx2Min = 256;

// The exact sum of the native-endian 16-bit words of [p, p + n), n a
// multiple of kAvx2Block and at most kAvx2Chunk. vpmaddwd adds pairs of
// words into 32-bit lanes, but signed: flipping each word's top bit turns
// u into the signed u - 32768, and the 32768 per word is added back once at
// the end. Three instructions per 32 bytes against four adc for the scalar
// chain, and no carry chain through every add. Lane bounds: each pair adds
// at most 2^16 in magnitude, n / 128 <= 512 times per accumulator, so even
// the sum of all 32 lanes stays below 2^30.
[[gnu::target("avx2"), gnu::always_inline]] inline uint64_t sum_words_avx2(const uint8_t* p, size_t n) {
  const __m256i flip = _mm256_set1_epi16(static_cast<int16_t>(0x8000));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += kAvx2Block) {
    // In asm because GCC 12 copies every accumulator to another register
    // on each iteration (19 instructions per 128 bytes instead of 15).
    __m256i t0, t1, t2, t3;
    asm("vpxor 0(%[p]), %[flip], %[t0]\n\t"
        "vpxor 32(%[p]), %[flip], %[t1]\n\t"
        "vpxor 64(%[p]), %[flip], %[t2]\n\t"
        "vpxor 96(%[p]), %[flip], %[t3]\n\t"
        "vpmaddwd %[ones], %[t0], %[t0]\n\t"
        "vpmaddwd %[ones], %[t1], %[t1]\n\t"
        "vpmaddwd %[ones], %[t2], %[t2]\n\t"
        "vpmaddwd %[ones], %[t3], %[t3]\n\t"
        "vpaddd %[t0], %[a0], %[a0]\n\t"
        "vpaddd %[t1], %[a1], %[a1]\n\t"
        "vpaddd %[t2], %[a2], %[a2]\n\t"
        "vpaddd %[t3], %[a3], %[a3]"
        : [a0] "+x"(a0), [a1] "+x"(a1), [a2] "+x"(a2), [a3] "+x"(a3), [t0] "=&x"(t0), [t1] "=&x"(t1),
          [t2] "=&x"(t2), [t3] "=&x"(t3)
        : [p] "r"(p + i), [flip] "x"(flip), [ones] "x"(ones),
          "m"(*reinterpret_cast<const uint8_t(*)[kAvx2Block]>(p + i)));
  }
  __m256i a = _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  int64_t total = _mm_cvtsi128_si32(s);
  return static_cast<uint64_t>(total + int64_t{32768} * static_cast<int64_t>(n / 2));
}

// csum_bytes with the whole kAvx2Block multiples of the buffer summed
// by sum_words_avx2. Everything in one function, so that csum_bytes's
// short path calls nothing and saves no registers.
[[gnu::target("avx2")]] uint32_t csum_bytes_avx2(const uint8_t* p, size_t n, uint32_t sum) {
  uint64_t acc = initial(sum);
  size_t m = n & ~(kAvx2Block - 1);
  for (size_t i = 0; i < m; i += kAvx2Chunk) {
    size_t len = m - i < kAvx2Chunk ? m - i : kAvx2Chunk;
    // The word sum is congruent to the 64-bit words' sum modulo 0xffff (a
    // 64-bit word is its four 16-bit words times powers of 2^16, which is 1
    // there) and zero only for zero data, as add_wrap needs.
    acc = add_wrap(acc, sum_words_avx2(p + i, len));
  }
  return finish(sum_scalar(p + m, n - m, acc));
}

// Read once before main(); a call during static initialisation that comes
// first sees false and takes the scalar path, which gives the same result.
const bool g_has_avx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}();

#endif

}  // namespace

// Sums native-endian words with end-around carry and swaps once at the
// end: the ones' complement sum is byte-order independent (RFC 1071
// section 2(B)). Every partial sum is congruent to the exact sum of the
// 16-bit words modulo 0xffff and is zero only for all-zero data, so the
// folded result is the same as summing 16-bit words one by one.
uint32_t csum_bytes(std::span<const uint8_t> data, uint32_t sum) {
#if defined(__x86_64__)
  // Long buffers only: the L4 checksum of every replayed frame with a
  // payload of a few hundred bytes or more.
  if (data.size() >= kAvx2Min && g_has_avx2) return csum_bytes_avx2(data.data(), data.size(), sum);
#endif
  return finish(sum_scalar(data.data(), data.size(), initial(sum)));
}

namespace detail {

bool csum_impl_available(CsumImpl impl) {
  switch (impl) {
    case CsumImpl::Scalar: return true;
    case CsumImpl::Avx2:
#if defined(__x86_64__)
      return g_has_avx2;
#else
      return false;
#endif
  }
  return false;
}

uint32_t csum_bytes_using(CsumImpl impl, std::span<const uint8_t> data, uint32_t sum) {
#if defined(__x86_64__)
  if (impl == CsumImpl::Avx2) return csum_bytes_avx2(data.data(), data.size(), sum);
#endif
  return finish(sum_scalar(data.data(), data.size(), initial(sum)));
}

}  // namespace detail

}  // namespace nfemu::packet
