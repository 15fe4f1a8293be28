#include "packet/ethernet.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "packet/bytes.h"

namespace nfemu::packet {

// Fixed-size memcpy: inlined as plain moves (std::copy of the arrays was
// a memmove call each, twice per replayed frame).
void write_ethernet(std::span<uint8_t> out, const EthernetHeader& h) {
  std::memcpy(out.data(), h.dst.data(), 6);
  std::memcpy(out.data() + 6, h.src.data(), 6);
  store16(out.data() + 12, h.ethertype);
}

EthernetHeader read_ethernet(std::span<const uint8_t> in) {
  EthernetHeader h;
  std::memcpy(h.dst.data(), in.data(), 6);
  std::memcpy(h.src.data(), in.data() + 6, 6);
  h.ethertype = load16(in.data() + 12);
  return h;
}

Result<EthernetFrame> parse_ethernet(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeader)
    return make_error(fmt::format("truncated Ethernet header: {} bytes (minimum 14)", frame.size()));
  return EthernetFrame{read_ethernet(frame), frame.subspan(kEthernetHeader)};
}

}  // namespace nfemu::packet
