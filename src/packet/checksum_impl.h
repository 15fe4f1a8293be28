// The implementations behind csum_bytes, named so that tests and fuzz
// targets can compare each one that this CPU runs against the others and
// against a word-by-word definition (csum_bytes picks one at run time).
// Not part of the packet library's interface.
#pragma once

#include <cstdint>
#include <span>

namespace nfemu::packet::detail {

enum class CsumImpl : uint8_t {
  Scalar,  // 64-bit words (an add-with-carry chain on x86-64): every machine
  Avx2,    // 16-bit words summed in 32-bit lanes: x86-64 CPUs with AVX2
};

bool csum_impl_available(CsumImpl impl);
// csum_bytes computed by `impl` (precondition: available), whatever the
// length; csum_bytes itself leaves short buffers to the scalar code.
uint32_t csum_bytes_using(CsumImpl impl, std::span<const uint8_t> data, uint32_t sum);

}  // namespace nfemu::packet::detail
