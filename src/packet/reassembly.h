// IPv4 reassembly (ip_defrag, net/ipv4/ip_fragment.c) for local delivery:
// fragments queue by (saddr, daddr, id, protocol); when the last fragment
// and every byte before it arrived, the whole datagram is rebuilt from the
// first fragment's header (frag field cleared, DF kept if a fragment had
// it, new total length and checksum).
//
// Not modelled: overlapping bytes come from the lower offset (the kernel
// drops the whole queue on a bad overlap, RFC 5722), and an incomplete
// queue is silently forgotten after 30 s (ipfrag_time) instead of
// answering with ICMP time exceeded (fragment reassembly).
//
//   Reassembler r;
//   if (auto whole = r.add(pkt.data(), now_ns)) deliver(*whole);
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace nfemu::packet {

class Reassembler {
 public:
  // Takes a copy of the fragment; returns the whole datagram once complete.
  std::optional<std::vector<uint8_t>> add(std::span<const uint8_t> fragment, uint64_t now_ns);
  size_t queues() const { return queues_.size(); }
  // The largest fragment (total length) of the datagram add() last returned.
  size_t last_max_size() const { return last_max_size_; }

 private:
  struct Piece {
    size_t offset;
    std::vector<uint8_t> payload;
  };
  struct Queue {
    uint32_t saddr, daddr;
    uint16_t id;
    uint8_t proto;
    uint64_t first_ns;
    std::vector<uint8_t> header;  // of the offset-0 fragment, once seen
    bool have_last = false, df = false;
    size_t total = 0;  // payload length, known from the last fragment
    size_t max_size = 0;
    std::vector<Piece> pieces;
  };
  std::vector<Queue> queues_;
  size_t last_max_size_ = 0;
};

}  // namespace nfemu::packet
