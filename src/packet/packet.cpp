#include "packet/packet.h"

#include <algorithm>

namespace nfemu::packet {

std::string_view to_string(Hook h) {
  switch (h) {
    case Hook::PreRouting: return "PREROUTING";
    case Hook::LocalIn: return "INPUT";
    case Hook::Forward: return "FORWARD";
    case Hook::LocalOut: return "OUTPUT";
    case Hook::PostRouting: return "POSTROUTING";
    case Hook::None: return "NONE";
  }
  return "?";
}

void Packet::grow_headroom() { buf_.resize(kHeadroom); }

void Packet::assign_growing(std::span<const uint8_t> l3) {
  buf_.resize(kHeadroom + l3.size());
  if (!l3.empty()) std::memcpy(buf_.data() + kHeadroom, l3.data(), l3.size());
  len_ = l3.size();
  has_mac_ = false;
}

void Packet::resize(size_t n) {
  ensure_buffer();
  buf_.resize(kHeadroom + n);
  if (n > len_) std::fill(buf_.begin() + static_cast<ptrdiff_t>(kHeadroom + len_), buf_.end(), 0);
  len_ = n;
}

std::span<const uint8_t> Packet::frame() const {
  if (buf_.empty()) return {};
  size_t start = has_mac_ ? kHeadroom - kEthernetHeader : kHeadroom;
  return {buf_.data() + start, kHeadroom - start + len_};
}

Result<Packet> Packet::from_frame(std::span<const uint8_t> frame) {
  auto eth = parse_ethernet(frame);
  if (!eth) return eth.error();
  Packet p(eth->payload);
  p.set_mac_header(eth->header);
  return p;
}

}  // namespace nfemu::packet
