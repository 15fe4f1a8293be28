#include "packet/reassembly.h"

#include <algorithm>

#include "packet/headers.h"

namespace nfemu::packet {

namespace {
constexpr uint64_t kFragTimeNs = 30'000'000'000ull;  // net.ipv4.ipfrag_time
}

std::optional<std::vector<uint8_t>> Reassembler::add(std::span<const uint8_t> fragment, uint64_t now_ns) {
  std::erase_if(queues_, [&](const Queue& q) { return now_ns - q.first_ns >= kFragTimeNs; });
  ConstIpv4View ip(fragment);
  const size_t hlen = ip.header_len();
  const size_t end_of_dgram = std::min<size_t>(ip.total_length(), fragment.size());
  if (hlen > end_of_dgram) return std::nullopt;
  auto it = std::find_if(queues_.begin(), queues_.end(), [&](const Queue& q) {
    return q.saddr == ip.saddr() && q.daddr == ip.daddr() && q.id == ip.id() && q.proto == ip.protocol();
  });
  if (it == queues_.end()) {
    queues_.push_back(Queue{ip.saddr(), ip.daddr(), ip.id(), ip.protocol(), now_ns, {}, false, false, 0, 0, {}});
    it = queues_.end() - 1;
  }
  Queue& q = *it;
  const size_t offset = ip.frag_offset_bytes();
  if (offset == 0 && q.header.empty()) q.header.assign(fragment.begin(), fragment.begin() + static_cast<std::ptrdiff_t>(hlen));
  if (ip.df()) q.df = true;
  q.max_size = std::max(q.max_size, end_of_dgram);
  if (!ip.mf()) {
    q.have_last = true;
    q.total = offset + (end_of_dgram - hlen);
  }
  q.pieces.push_back(Piece{offset, std::vector<uint8_t>(fragment.begin() + static_cast<std::ptrdiff_t>(hlen),
                                                        fragment.begin() + static_cast<std::ptrdiff_t>(end_of_dgram))});
  if (!q.have_last || q.header.empty()) return std::nullopt;
  std::stable_sort(q.pieces.begin(), q.pieces.end(), [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
  size_t covered = 0;
  for (const auto& p : q.pieces) {
    if (p.offset > covered) return std::nullopt;  // a hole
    covered = std::max(covered, p.offset + p.payload.size());
  }
  if (covered < q.total) return std::nullopt;
  std::vector<uint8_t> whole(q.header.size() + q.total);
  std::copy(q.header.begin(), q.header.end(), whole.begin());
  // Bytes already filled are kept: the lower offset, then the earlier arrival.
  std::vector<bool> filled(q.total, false);
  for (const auto& p : q.pieces)
    for (size_t i = 0; i < p.payload.size() && p.offset + i < q.total; ++i)
      if (!filled[p.offset + i]) {
        whole[q.header.size() + p.offset + i] = p.payload[i];
        filled[p.offset + i] = true;
      }
  Ipv4View out(whole);
  out.set_total_length(static_cast<uint16_t>(whole.size()));
  out.set_frag_field(q.df ? 0x4000 : 0);
  out.update_checksum();
  last_max_size_ = q.max_size;
  queues_.erase(it);
  return whole;
}

}  // namespace nfemu::packet
