#include "packet/ethernet.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "packet/bytes.h"

namespace nfemu::packet {

Result<EthernetFrame> parse_ethernet(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeader)
    return make_error(fmt::format("truncated Ethernet header: {} bytes (minimum 14)", frame.size()));
  return EthernetFrame{read_ethernet(frame), frame.subspan(kEthernetHeader)};
}

}  // namespace nfemu::packet
