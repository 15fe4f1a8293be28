// IPv4 reassembly as Linux 6.18 does it (ip_defrag, net/ipv4/ip_fragment.c;
// inet_frag_queue_insert, net/ipv4/inet_fragment.c). One Reassembler is one
// defrag user (IP_DEFRAG_LOCAL_DELIVER, IP_DEFRAG_CONNTRACK_IN, ...): the
// kernel keys its queues by (saddr, daddr, id, protocol, user).
//
// ip_frag_queue, for each fragment (offset and end in payload bytes; a
// non-last fragment's end is cut down to a multiple of 8):
//   - a last fragment (MF clear) ending before data already seen, or a
//     second last fragment ending elsewhere, a fragment with MF reaching
//     past a known last one, or one with no byte left: the whole queue is
//     discarded with the fragment (discard_qp);
//   - a fragment that lies entirely inside one run of contiguous data
//     already queued is a duplicate: only it is dropped (IPFRAG_DUP);
//   - any other overlap discards the whole queue (IPFRAG_OVERLAP, RFC 5722
//     as the kernel applies it to IPv4 since 4.19).
// A run is what inet_frag_queue_insert keeps as one rb-tree node: fragments
// appended exactly at the end of the highest one. A fragment that fills a
// hole below it starts a node of its own, so a duplicate spanning two such
// nodes counts as an overlap, as in the kernel.
// When the first and last fragments are in and no byte is missing, the
// datagram is rebuilt from the offset-0 fragment's header: new total
// length, TOS ORed with the ECN of the fragments (RFC 3168 5.3: a mix of
// Not-ECT and ECT/CE drops it), DF only if the largest fragment had it,
// fresh checksum. Over 65535 bytes it is dropped with its queue.
// A queue lives net.ipv4.ipfrag_time seconds from its first fragment
// (never extended); expire() hands out what ip_expire needs to answer.
//
// The completing fragment becomes the datagram by skb_morph from the
// offset-0 one (inet_frag_reasm_prepare): mark, priority and the trace
// flag are the first fragment's; device and route stay its own.
//
// net.ipv4.ipfrag_max_dist (64): every fragment from a source counts on
// that source's inet_peer (rid, shared by all queues and users of the
// namespace: FragPeers); when the count moved by more than max_dist since
// a queue's last fragment (max_dist others came between),
// ip_frag_reinit empties the queue and restarts its timer before the new
// fragment goes in. A queue made while max_dist
// was 0 has no peer and never restarts.
//
// Not modelled: the ipfrag_high_thresh memory limit (counted in skb
// truesize).
//
//   Reassembler r;
//   if (auto whole = r.add(pkt.data(), now_ns, 30'000'000'000, "eth0")) deliver(*whole);
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "packet/packet.h"
#include "util/peer_table.h"

namespace nfemu::packet {

// inet_peer rid counters by source address. A queue compares the counter
// only between its own fragments, and holds its peer while it lives
// (ipfrag_time, 30 s by default): a source with no fragment for an hour
// has no queue left (with any ipfrag_time up to that) and is as good as
// new.
class FragPeers {
 public:
  uint32_t bump(uint32_t saddr, uint64_t now_ns);

 private:
  PeerTable<uint32_t> rid_{3'600'000'000'000};
};

class Reassembler {
 public:
  // What add() did with the fragment it was given.
  enum class Outcome : uint8_t {
    Queued,     // kept, the datagram is not complete yet
    Complete,   // add() returned the whole datagram
    Duplicate,  // dropped, inside data already queued; the queue stays
    Overlap,    // overlapped queued data: dropped with its whole queue
    Invalid,    // length conflict, empty fragment, ECN mix, over 65535: dropped with its queue
    Malformed,  // shorter than its own header: dropped, no queue touched
  };
  static const char* describe(Outcome o);

  // Takes a copy of the fragment (as ip_rcv left it: total length within
  // the bytes); returns the whole datagram once complete. A new queue
  // expires timeout_ns after now_ns. iif is the interface the fragment
  // came in on ("" when sent locally): ip_expire answers through the last
  // one a queued fragment came in on. meta, when given, is the fragment's:
  // kept from an offset-0 fragment, and given its fields back on completion.
  std::optional<std::vector<uint8_t>> add(std::span<const uint8_t> fragment, uint64_t now_ns, uint64_t timeout_ns,
                                          std::string_view iif = {}, PacketMeta* meta = nullptr,
                                          uint32_t max_dist = 0);
  // The namespace's peers, for ipfrag_max_dist; without them none counts.
  void set_peers(FragPeers* peers) { peers_ = peers; }
  std::optional<std::vector<uint8_t>> add(std::span<const uint8_t> fragment, uint64_t now_ns) {
    return add(fragment, now_ns, kDefaultTimeoutNs);
  }
  Outcome last_outcome() const { return last_outcome_; }
  size_t queues() const { return queues_.size(); }
  // The largest fragment (total length) of the datagram add() last returned.
  size_t last_max_size() const { return last_max_size_; }

  // A queue whose timer ran out (ip_expire). head is the offset-0
  // fragment as queued (header, then its payload cut to the bytes it
  // contributed), empty when that fragment never came: then the kernel
  // sends nothing.
  struct Expired {
    uint64_t at_ns;
    std::span<const uint8_t> head;
    const std::string& iif;
  };
  // When the earliest queue expires; a timer fires after that instant.
  std::optional<uint64_t> next_expiry() const;
  // Discards, oldest first, every queue that expired before or at until,
  // calling on_expire for each.
  void expire(uint64_t until, const std::function<void(const Expired&)>& on_expire);

  static constexpr uint64_t kDefaultTimeoutNs = 30'000'000'000ull;  // IP_FRAG_TIME

 private:
  struct Piece {
    size_t offset;
    std::vector<uint8_t> payload;
  };
  // A run of contiguous fragments, one rb-tree node in the kernel.
  struct Run {
    size_t offset, end;
  };
  struct Queue {
    uint32_t saddr, daddr;
    uint16_t id;
    uint8_t proto;
    uint64_t expires_ns;
    std::vector<uint8_t> head;  // the offset-0 fragment (header + payload)
    PacketMeta head_meta;
    bool first_in = false, last_in = false;
    size_t len = 0;   // the datagram's payload length as known so far
    size_t meat = 0;  // payload bytes queued
    uint8_t ecn = 0;  // 1 << (tos & 3) of every fragment, ORed
    size_t max_size = 0, max_df_size = 0;
    std::string iif;
    bool has_peer = false;
    uint32_t rid = 0;
    std::vector<Piece> pieces;  // sorted by offset, disjoint
    std::vector<Run> runs;      // sorted by offset, the highest last
  };
  enum class Insert : uint8_t { Ok, Dup, Overlap };
  static Insert insert(Queue& q, size_t offset, size_t end);
  std::optional<std::vector<uint8_t>> reassemble(Queue& q);

  std::vector<Queue> queues_;
  FragPeers* peers_ = nullptr;
  size_t last_max_size_ = 0;
  Outcome last_outcome_ = Outcome::Queued;
};

}  // namespace nfemu::packet
