// Every csum_bytes implementation this CPU runs (checksum_impl.h) against
// a byte-at-a-time definition, over random lengths, start offsets, initial
// sums and carry-heavy contents. The SIMD path must be bit-identical to the
// scalar one for every input, or replayed frames would be judged
// differently on different machines.
#include "packet/checksum_impl.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "packet/checksum.h"

namespace nfemu::packet {
namespace {

using detail::CsumImpl;

// Byte by byte: even offsets are the high byte of a big-endian word.
uint32_t reference_sum(std::span<const uint8_t> d, uint32_t sum) {
  uint64_t s = sum;
  for (size_t i = 0; i < d.size(); ++i) s += i % 2 == 0 ? uint64_t{d[i]} << 8 : d[i];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

// What each case runs: the public function and each available
// implementation forced for every length.
struct Impl {
  const char* name;
  uint32_t (*fn)(std::span<const uint8_t>, uint32_t);
};
std::vector<Impl> impls() {
  std::vector<Impl> v = {{"csum_bytes", [](std::span<const uint8_t> d, uint32_t s) { return csum_bytes(d, s); }},
                         {"scalar", [](std::span<const uint8_t> d, uint32_t s) {
                            return detail::csum_bytes_using(CsumImpl::Scalar, d, s);
                          }}};
  if (detail::csum_impl_available(CsumImpl::Avx2))
    v.push_back({"avx2", [](std::span<const uint8_t> d, uint32_t s) {
                   return detail::csum_bytes_using(CsumImpl::Avx2, d, s);
                 }});
  else
    std::printf("note: no AVX2 on this CPU, only the scalar implementation is tested\n");
  return v;
}

void fill(std::vector<uint8_t>& buf, int mode, std::mt19937& rng) {
  for (size_t i = 0; i < buf.size(); ++i) {
    uint8_t b;
    switch (mode) {
      case 0: b = static_cast<uint8_t>(rng()); break;
      case 1: b = 0xff; break;  // most positive after the AVX2 path's sign flip, carries everywhere
      case 2: b = 0; break;     // most negative after the flip
      case 3: b = i % 2 ? 0x00 : 0x80; break;  // words 0x8000: flip to zero
      case 4: b = i % 2 ? 0xff : 0x7f; break;  // words 0x7fff: flip to -1
      default: b = rng() % 16 == 0 ? static_cast<uint8_t>(rng()) : 0xff; break;
    }
    buf[i] = b;
  }
}

TEST(ChecksumImplTest, EveryImplementationMatchesByteByByteDefinition) {
  std::mt19937 rng(2024);
  const uint32_t sums[] = {0, 1, 0xfffe, 0xffff, 0x10000, 0x1fffe, 0xfffffffe, 0xffffffff};
  std::vector<uint8_t> buf(2000 + 64);
  auto all = impls();
  for (int iter = 0; iter < 6000; ++iter) {
    fill(buf, iter % 6, rng);
    size_t len = rng() % 2001;
    if (iter % 4 == 0) len = (len & ~size_t{127}) + rng() % 3;  // around the vector block size
    size_t off = rng() % 64;
    if (off + len > buf.size()) off = buf.size() - len;
    uint32_t sum = iter % 3 ? sums[rng() % std::size(sums)] : static_cast<uint32_t>(rng());
    std::span<const uint8_t> d(buf.data() + off, len);
    uint32_t want = reference_sum(d, sum);
    for (const Impl& impl : all)
      ASSERT_EQ(impl.fn(d, sum), want) << impl.name << " fill " << iter % 6 << " offset " << off << " length "
                                       << len << " sum " << sum;
  }
}

TEST(ChecksumImplTest, EveryLengthAndOffsetUpTo600) {
  std::mt19937 rng(5);
  std::vector<uint8_t> buf(600 + 8);
  auto all = impls();
  for (int mode : {0, 1, 2}) {
    fill(buf, mode, rng);
    for (size_t off = 0; off < 8; ++off)
      for (size_t len = 0; len + off <= buf.size(); ++len) {
        std::span<const uint8_t> d(buf.data() + off, len);
        uint32_t want = reference_sum(d, 0x1234);
        for (const Impl& impl : all) ASSERT_EQ(impl.fn(d, 0x1234), want) << impl.name << " " << off << " " << len;
      }
  }
}

// Longer than the AVX2 path's chunk (its 32-bit lanes are reduced every
// 64 KiB): all-zero data drives every lane to its most negative value.
TEST(ChecksumImplTest, BuffersLongerThanOneChunk) {
  std::mt19937 rng(9);
  std::vector<uint8_t> buf(3 * 65536 + 1000);
  auto all = impls();
  for (int mode : {0, 1, 2, 3, 4}) {
    fill(buf, mode, rng);
    for (size_t len : {size_t{65536}, size_t{65536 + 128}, size_t{131072 + 77}, buf.size() - 3}) {
      std::span<const uint8_t> d(buf.data() + 3, len);
      uint32_t want = reference_sum(d, 7);
      for (const Impl& impl : all) ASSERT_EQ(impl.fn(d, 7), want) << impl.name << " fill " << mode << " " << len;
    }
  }
}

}  // namespace
}  // namespace nfemu::packet
