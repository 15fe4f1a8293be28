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

void Packet::ensure_buffer() {
  if (buf_.size() < kHeadroom) buf_.resize(kHeadroom);
}

void Packet::assign(std::span<const uint8_t> l3) {
  // Grown only: a reused Packet neither zero-fills what the copy overwrites
  // nor gives back what a later, larger datagram needs again. Bytes past
  // len_ are never read (resize() zero-fills what it exposes).
  if (buf_.size() < kHeadroom + l3.size()) buf_.resize(kHeadroom + l3.size());
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

void Packet::set_mac_header(const EthernetHeader& h) {
  ensure_buffer();
  write_ethernet(std::span<uint8_t>(buf_.data() + kHeadroom - kEthernetHeader, kEthernetHeader), h);
  has_mac_ = true;
}

EthernetHeader Packet::mac_header() const {
  return read_ethernet(std::span<const uint8_t>(buf_.data() + kHeadroom - kEthernetHeader, kEthernetHeader));
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
