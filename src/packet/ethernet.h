// The 14-byte Ethernet II header that frames every IPv4 packet on a link
// and in a pcap file. No VLAN tags, no padding to 60 bytes: veth pairs,
// which nfemu verify compares against, carry short frames as they are.
//
//   uint8_t frame[14 + 40];
//   write_ethernet(frame, {dst, src, kEtherTypeIpv4});
//   auto eth = parse_ethernet(frame);    // Result<EthernetFrame>
//   auto ip = parse_ipv4(eth->payload);
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "packet/addr.h"
#include "packet/bytes.h"
#include "util/result.h"

namespace nfemu::packet {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr size_t kEthernetHeader = 14;

struct EthernetHeader {
  Mac dst{};
  Mac src{};
  uint16_t ethertype = kEtherTypeIpv4;
  bool operator==(const EthernetHeader&) const = default;
};

// Writes the header into the first 14 bytes of out (size >= 14). Inline,
// fixed-size copies: the replay reads one header and writes one per frame,
// and the calls cost as much as the moves (std::copy of the arrays was a
// memmove call each).
inline void write_ethernet(std::span<uint8_t> out, const EthernetHeader& h) {
  std::memcpy(out.data(), h.dst.data(), 6);
  std::memcpy(out.data() + 6, h.src.data(), 6);
  store16(out.data() + 12, h.ethertype);
}
inline EthernetHeader read_ethernet(std::span<const uint8_t> in) {  // size >= 14
  EthernetHeader h;
  std::memcpy(h.dst.data(), in.data(), 6);
  std::memcpy(h.src.data(), in.data() + 6, 6);
  h.ethertype = load16(in.data() + 12);
  return h;
}

struct EthernetFrame {
  EthernetHeader header;
  std::span<const uint8_t> payload;
};
// Fails only on a frame shorter than 14 bytes; the EtherType is the
// caller's to check.
Result<EthernetFrame> parse_ethernet(std::span<const uint8_t> frame);

}  // namespace nfemu::packet
