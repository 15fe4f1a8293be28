// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Values are plain host-order numbers: the checksum field of a header is
// load16() of its two bytes, and functions here return what store16()
// should write. Partial sums are 32-bit accumulators that callers may add
// together with csum_add() before folding, as the kernel's csum_partial.
//
//   uint32_t s = pseudo_header_sum(saddr, daddr, kIpProtoTcp, seg.size());
//   uint16_t check = csum_finish(csum_bytes(seg, s));   // with check field 0
//   csum_replace4(check, old_saddr, new_saddr);          // NAT rewrite
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace nfemu::packet {

// Ones' complement sum of big-endian 16-bit words of `data`, added to
// `sum`. An odd trailing byte is padded with zero, so only the last span of
// a chain of calls may have an odd length. The result is folded to 16 bits.
uint32_t csum_bytes(std::span<const uint8_t> data, uint32_t sum = 0);

// Ones' complement addition of two partial sums, folded to 16 bits.
inline uint32_t csum_add(uint32_t a, uint32_t b) {
  uint64_t s = uint64_t{a} + b;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}
inline uint32_t csum_sub(uint32_t a, uint16_t b) { return csum_add(a, static_cast<uint16_t>(~b)); }
inline uint16_t csum_fold(uint32_t sum) { return static_cast<uint16_t>(csum_add(sum, 0)); }
// The value to store in a checksum field: complement of the folded sum.
inline uint16_t csum_finish(uint32_t sum) { return static_cast<uint16_t>(~csum_fold(sum)); }

// Internet checksum of a whole buffer (ICMP messages, IPv4 headers) whose
// checksum field is zero.
inline uint16_t inet_checksum(std::span<const uint8_t> data) { return csum_finish(csum_bytes(data)); }

// True when a buffer that contains its own checksum field sums to -0.
inline bool inet_checksum_ok(std::span<const uint8_t> data) { return csum_fold(csum_bytes(data)) == 0xffff; }

// Sum of the TCP/UDP pseudo-header: addresses, protocol and L4 length.
inline uint32_t pseudo_header_sum(uint32_t saddr, uint32_t daddr, uint8_t proto, uint32_t l4_len) {
  uint64_t s = uint64_t{saddr >> 16} + (saddr & 0xffff) + (daddr >> 16) + (daddr & 0xffff) + proto + l4_len;
  return csum_add(static_cast<uint32_t>(s >> 32), static_cast<uint32_t>(s));
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Update the checksum `check` of
// a header in which a 16-bit (replace2) or 32-bit (replace4) field changed
// from `from` to `to`, without touching the rest of the data. These are the
// kernel's csum_replace2/csum_replace4.
//
// The terms are added as plain integers (at most five 16-bit values) and
// folded once: the same value as adding them one by one with csum_add,
// since both are the representative of the same sum modulo 0xffff and are
// zero only when every term is, in a fraction of the instructions (NAT
// updates two checksums per rewritten address, the forward path one per TTL).
inline void csum_replace2(uint16_t& check, uint16_t from, uint16_t to) {
  uint32_t s = uint32_t{static_cast<uint16_t>(~check)} + static_cast<uint16_t>(~from) + to;
  check = static_cast<uint16_t>(~csum_fold(s));
}
inline void csum_replace4(uint16_t& check, uint32_t from, uint32_t to) {
  uint32_t s = uint32_t{static_cast<uint16_t>(~check)} + static_cast<uint16_t>(~(from >> 16)) +
               static_cast<uint16_t>(~from) + (to >> 16) + (to & 0xffff);
  check = static_cast<uint16_t>(~csum_fold(s));
}

}  // namespace nfemu::packet
