#include "packet/ethernet.h"

#include <algorithm>

#include <fmt/format.h>

#include "packet/bytes.h"

namespace nfemu::packet {

void write_ethernet(std::span<uint8_t> out, const EthernetHeader& h) {
  std::copy(h.dst.begin(), h.dst.end(), out.data());
  std::copy(h.src.begin(), h.src.end(), out.data() + 6);
  store16(out.data() + 12, h.ethertype);
}

EthernetHeader read_ethernet(std::span<const uint8_t> in) {
  EthernetHeader h;
  std::copy(in.data(), in.data() + 6, h.dst.begin());
  std::copy(in.data() + 6, in.data() + 12, h.src.begin());
  h.ethertype = load16(in.data() + 12);
  return h;
}

Result<EthernetFrame> parse_ethernet(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeader)
    return make_error(fmt::format("truncated Ethernet header: {} bytes (minimum 14)", frame.size()));
  return EthernetFrame{read_ethernet(frame), frame.subspan(kEthernetHeader)};
}

}  // namespace nfemu::packet
