#include "packet/reassembly.h"

#include <algorithm>
#include <cstdint>

#include "packet/headers.h"

namespace nfemu::packet {

namespace {
constexpr size_t kMaxDatagram = 65535;
// ip4_frag_ecn's bits (IPFRAG_ECN_*), indexed by tos & 3.
constexpr uint8_t kEcnNotEct = 0x01, kEcnCe = 0x08;
}  // namespace

const char* Reassembler::describe(Outcome o) {
  switch (o) {
    case Outcome::Queued: return "fragment queued";
    case Outcome::Complete: return "datagram reassembled";
    case Outcome::Duplicate: return "duplicate fragment";
    case Outcome::Overlap: return "overlapping fragment: reassembly queue discarded";
    case Outcome::Invalid: return "invalid fragment: reassembly queue discarded";
    case Outcome::Malformed: return "malformed fragment";
  }
  return "";
}

uint32_t FragPeers::bump(uint32_t saddr, uint64_t now_ns) {
  return ++rid_.get(saddr, static_cast<int64_t>(now_ns), [] { return uint32_t{0}; });
}

// inet_frag_queue_insert: the common case appends after the highest run;
// anything else must fall in a gap between runs, or inside one (a
// duplicate), or it overlaps.
Reassembler::Insert Reassembler::insert(Queue& q, size_t offset, size_t end) {
  if (!q.runs.empty() && end <= q.runs.back().end) {
    auto after = std::find_if(q.runs.begin(), q.runs.end(), [&](const Run& r) { return end <= r.offset; });
    for (const Run& r : q.runs) {
      if (end <= r.offset || offset >= r.end) continue;
      return offset >= r.offset && end <= r.end ? Insert::Dup : Insert::Overlap;
    }
    q.runs.insert(after, Run{offset, end});
    return Insert::Ok;
  }
  if (!q.runs.empty()) {
    Run& tail = q.runs.back();
    if (offset < tail.end) return Insert::Overlap;
    if (offset == tail.end) {
      tail.end = end;
      return Insert::Ok;
    }
  }
  q.runs.push_back(Run{offset, end});
  return Insert::Ok;
}

std::optional<std::vector<uint8_t>> Reassembler::add(std::span<const uint8_t> fragment, uint64_t now_ns,
                                                     uint64_t timeout_ns, std::string_view iif, PacketMeta* meta,
                                                     uint32_t max_dist) {
  // Queues a timer would already have killed (the host normally runs
  // expire() first, so that ip_expire can answer).
  std::erase_if(queues_, [&](const Queue& q) { return q.expires_ns < now_ns; });
  ConstIpv4View ip(fragment);
  const size_t hlen = fragment.size() >= 20 ? ip.header_len() : SIZE_MAX;
  const size_t dgram_end = fragment.size() >= 20 ? std::min<size_t>(ip.total_length(), fragment.size()) : 0;
  if (hlen > dgram_end) {
    last_outcome_ = Outcome::Malformed;
    return std::nullopt;
  }
  auto it = std::find_if(queues_.begin(), queues_.end(), [&](const Queue& q) {
    return q.saddr == ip.saddr() && q.daddr == ip.daddr() && q.id == ip.id() && q.proto == ip.protocol();
  });
  if (it == queues_.end()) {
    Queue q{};
    q.saddr = ip.saddr();
    q.daddr = ip.daddr();
    q.id = ip.id();
    q.proto = ip.protocol();
    q.expires_ns = now_ns + timeout_ns;
    q.has_peer = max_dist != 0 && peers_;  // ip4_frag_init
    queues_.push_back(std::move(q));
    it = queues_.end() - 1;
  }
  Queue& q = *it;
  // ip_frag_too_far, then ip_frag_reinit: too many fragments from this
  // source since this queue's last one.
  if (q.has_peer && max_dist != 0) {
    uint32_t start = q.rid;
    q.rid = peers_->bump(q.saddr, now_ns);
    if (!q.runs.empty() && q.rid - start > max_dist) {
      q.expires_ns = now_ns + timeout_ns;
      q.pieces.clear();
      q.runs.clear();
      q.head.clear();
      q.first_in = q.last_in = false;
      q.len = q.meat = 0;
      q.iif.clear();
      q.ecn = 0;
    }
  }
  auto discard = [&](Outcome why) {
    last_outcome_ = why;
    queues_.erase(it);
    return std::nullopt;
  };

  const size_t offset = ip.frag_offset_bytes();
  size_t end = offset + (dgram_end - hlen);
  if (!ip.mf()) {
    // The last fragment: nothing may lie beyond it, nor may two disagree.
    if (end < q.len || (q.last_in && end != q.len)) return discard(Outcome::Invalid);
    q.last_in = true;
    q.len = end;
  } else {
    end &= ~size_t{7};  // only whole 8-byte blocks count (pskb_trim_rcsum below)
    if (end > q.len) {
      if (q.last_in) return discard(Outcome::Invalid);
      q.len = end;
    }
  }
  if (end == offset) return discard(Outcome::Invalid);

  switch (insert(q, offset, end)) {
    case Insert::Dup: last_outcome_ = Outcome::Duplicate; return std::nullopt;
    case Insert::Overlap: return discard(Outcome::Overlap);
    case Insert::Ok: break;
  }
  auto payload = fragment.subspan(hlen, end - offset);
  auto pos = std::find_if(q.pieces.begin(), q.pieces.end(), [&](const Piece& p) { return p.offset > offset; });
  q.pieces.insert(pos, Piece{offset, std::vector<uint8_t>(payload.begin(), payload.end())});
  if (!iif.empty()) q.iif.assign(iif);  // qp->iif, when the skb has a device
  q.meat += end - offset;
  q.ecn |= static_cast<uint8_t>(1u << (ip.tos() & 3));
  if (offset == 0) {
    q.first_in = true;
    q.head.assign(fragment.begin(), fragment.begin() + static_cast<std::ptrdiff_t>(hlen + (end - offset)));
    if (meta) q.head_meta = *meta;
  }
  const size_t fragsize = hlen + (end - offset);
  q.max_size = std::max(q.max_size, fragsize);
  if (ip.df()) q.max_df_size = std::max(q.max_df_size, fragsize);

  if (!(q.first_in && q.last_in && q.meat == q.len)) {
    last_outcome_ = Outcome::Queued;
    return std::nullopt;
  }
  auto whole = reassemble(q);
  if (!whole) return discard(Outcome::Invalid);
  last_outcome_ = Outcome::Complete;
  if (meta) {
    meta->mark = q.head_meta.mark;
    meta->priority = q.head_meta.priority;
    meta->trace = q.head_meta.trace;
  }
  last_max_size_ = std::max(q.max_size, q.max_df_size);
  queues_.erase(it);
  return whole;
}

// ip_frag_reasm.
std::optional<std::vector<uint8_t>> Reassembler::reassemble(Queue& q) {
  // ip_frag_ecn_table: Not-ECT mixed with ECT or CE is dropped; CE with
  // ECT marks the whole datagram CE.
  uint8_t ecn_or = 0;
  if ((q.ecn & kEcnNotEct) && (q.ecn & ~kEcnNotEct)) return std::nullopt;
  if ((q.ecn & kEcnCe) && (q.ecn & ~kEcnCe)) ecn_or = 3;
  const size_t hlen = ConstIpv4View(q.head).header_len();
  if (hlen + q.len > kMaxDatagram) return std::nullopt;
  std::vector<uint8_t> whole(hlen + q.len);
  std::copy(q.head.begin(), q.head.begin() + static_cast<std::ptrdiff_t>(hlen), whole.begin());
  for (const auto& p : q.pieces) std::copy(p.payload.begin(), p.payload.end(), whole.begin() + static_cast<std::ptrdiff_t>(hlen + p.offset));
  Ipv4View out(whole);
  out.set_total_length(static_cast<uint16_t>(whole.size()));
  out.set_tos(static_cast<uint8_t>(out.tos() | ecn_or));
  // DF only when a DF fragment was the largest one (IPSKB_FRAG_PMTU).
  out.set_frag_field(q.max_df_size == q.max_size ? 0x4000 : 0);
  out.update_checksum();
  return whole;
}

std::optional<uint64_t> Reassembler::next_expiry() const {
  std::optional<uint64_t> t;
  for (const auto& q : queues_)
    if (!t || q.expires_ns < *t) t = q.expires_ns;
  return t;
}

void Reassembler::expire(uint64_t until, const std::function<void(const Expired&)>& on_expire) {
  for (;;) {
    auto it = std::min_element(queues_.begin(), queues_.end(),
                               [](const Queue& a, const Queue& b) { return a.expires_ns < b.expires_ns; });
    if (it == queues_.end() || it->expires_ns > until) return;
    Queue q = std::move(*it);
    queues_.erase(it);
    std::span<const uint8_t> head;
    if (q.first_in) head = q.head;
    on_expire(Expired{q.expires_ns, head, q.iif});
  }
}

}  // namespace nfemu::packet
