// ipv4_change_dsfield (include/net/dsfield.h), which the DSCP and TOS
// targets use: the header checksum is updated by adding the old TOS byte
// and subtracting the new one in host order, with the kernel's own carry
// handling. Its result can differ from csum_replace2 (mangle.h
// rewrite_tos) in the representation of zero (0x0000 vs 0xffff), so the
// targets use this one to stay byte-exact.
#pragma once

#include <cstdint>

#include "packet/headers.h"

namespace nfemu::xt {

inline void ipv4_change_dsfield(packet::Ipv4View ip, uint8_t mask, uint8_t value) {
  uint32_t check = ip.checksum();
  uint8_t dsfield = static_cast<uint8_t>((ip.tos() & mask) | value);
  check += ip.tos();
  if ((check + 1) >> 16) check = (check + 1) & 0xffff;
  check -= dsfield;
  check += check >> 16;  // the borrow, as the kernel adjusts it
  ip.set_checksum(static_cast<uint16_t>(check));
  ip.set_tos(dsfield);
}

}  // namespace nfemu::xt
