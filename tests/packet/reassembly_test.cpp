// ip_defrag before LOCAL_IN, as the fragments-f scenario showed on 6.18:
// three fragments (1500 + 1500 + 68 bytes) become one 3028-byte datagram
// with a clear frag field, in any arrival order.
#include "packet/reassembly.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "packet/fragment.h"
#include "packet/headers.h"

namespace nfemu::packet {
namespace {

std::vector<uint8_t> datagram(size_t total, uint16_t id) {
  std::vector<uint8_t> d(total);
  Ipv4View ip(d);
  ip.set_version_ihl(4, 5);
  ip.set_total_length(static_cast<uint16_t>(total));
  ip.set_id(id);
  ip.set_ttl(63);
  ip.set_protocol(17);
  ip.set_saddr(0xc633640a);
  ip.set_daddr(0xcb007114);
  for (size_t i = 20; i < total; ++i) d[i] = static_cast<uint8_t>(i * 7);
  ip.update_checksum();
  return d;
}

std::vector<std::vector<uint8_t>> split(const std::vector<uint8_t>& d, size_t mtu) {
  std::vector<std::vector<uint8_t>> out;
  EXPECT_TRUE(fragment_ipv4(d, mtu, [&](std::span<const uint8_t> f) { out.emplace_back(f.begin(), f.end()); }));
  return out;
}

TEST(Reassembly, InOrderAndReversed) {
  auto d = datagram(3028, 777);
  auto f = split(d, 1500);
  Reassembler r;
  EXPECT_FALSE(r.add(f[0], 0));
  EXPECT_FALSE(r.add(f[1], 1));
  auto whole = r.add(f[2], 2);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, d);
  EXPECT_EQ(r.queues(), 0u);
  EXPECT_FALSE(r.add(f[2], 3));
  EXPECT_FALSE(r.add(f[1], 4));
  whole = r.add(f[0], 5);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, d);
}

TEST(Reassembly, QueuesByIdAndExpireAfter30s) {
  auto a = split(datagram(2000, 1), 1100);
  auto b = split(datagram(2000, 2), 1100);
  ASSERT_EQ(a.size(), 2u);
  Reassembler r;
  EXPECT_FALSE(r.add(a[0], 0));
  EXPECT_FALSE(r.add(b[1], 0));
  EXPECT_EQ(r.queues(), 2u);
  // The timer fires after its nominal time: a fragment at that very
  // instant still joins; one later finds the queue gone.
  EXPECT_FALSE(r.add(a[1], 30'000'000'001ull));
  EXPECT_EQ(r.queues(), 1u);
  ASSERT_TRUE(r.add(a[0], 30'000'000'002ull));
}

// A fragment of d: `len` payload bytes from byte `off` of what follows
// d's 20-byte header, MF as given.
std::vector<uint8_t> piece(const std::vector<uint8_t>& d, size_t off, size_t len, bool mf, uint8_t tos = 0,
                           bool df = false) {
  // Sized once and copied into, not a 20-byte vector then insert() at its
  // end: on that, GCC 12 -O2 gives a false -Warray-bounds from the inlined
  // reallocation path (offset 20 out of bounds [0, 20]).
  std::vector<uint8_t> f(20 + len);
  std::copy_n(d.begin(), 20, f.begin());
  std::copy_n(d.begin() + 20 + static_cast<std::ptrdiff_t>(off), len, f.begin() + 20);
  Ipv4View ip(f);
  ip.set_total_length(static_cast<uint16_t>(f.size()));
  ip.set_frag_field(static_cast<uint16_t>((df ? 0x4000 : 0) | (mf ? 0x2000 : 0) | (off / 8)));
  ip.set_tos(tos);
  ip.update_checksum();
  return f;
}

using O = Reassembler::Outcome;

// inet_frag_queue_insert: an overlap with queued data discards the whole
// queue (IPFRAG_OVERLAP), so the datagram never completes, even when the
// missing bytes come later.
TEST(Reassembly, OverlapDiscardsTheQueue) {
  auto d = datagram(20 + 48, 9);
  Reassembler r;
  EXPECT_FALSE(r.add(piece(d, 0, 24, true), 0));
  EXPECT_EQ(r.last_outcome(), O::Queued);
  EXPECT_FALSE(r.add(piece(d, 16, 16, true), 1));  // 16..32 overlaps 0..24
  EXPECT_EQ(r.last_outcome(), O::Overlap);
  EXPECT_EQ(r.queues(), 0u);
  EXPECT_FALSE(r.add(piece(d, 32, 16, false), 2));  // a new queue, without its head
  EXPECT_EQ(r.last_outcome(), O::Queued);
  EXPECT_EQ(r.queues(), 1u);
}

// Below the highest run, a fragment overlapping a run's start or spanning
// two runs is an overlap too.
TEST(Reassembly, OverlapBelowTheTail) {
  auto d = datagram(20 + 64, 9);
  Reassembler r;
  EXPECT_FALSE(r.add(piece(d, 48, 16, false), 0));
  EXPECT_FALSE(r.add(piece(d, 8, 16, true), 0));
  EXPECT_FALSE(r.add(piece(d, 0, 16, true), 0));  // 0..16 overlaps 8..24
  EXPECT_EQ(r.last_outcome(), O::Overlap);
  EXPECT_EQ(r.queues(), 0u);
}

// A fragment entirely inside one run (an exact resend, or a part of one)
// is only dropped (IPFRAG_DUP): the queue completes later.
TEST(Reassembly, DuplicatesAreDroppedAlone) {
  auto d = datagram(20 + 48, 9);
  Reassembler r;
  EXPECT_FALSE(r.add(piece(d, 0, 16, true), 0));
  EXPECT_FALSE(r.add(piece(d, 16, 16, true), 0));  // appended: one run 0..32
  EXPECT_FALSE(r.add(piece(d, 0, 16, true), 0));
  EXPECT_EQ(r.last_outcome(), O::Duplicate);
  EXPECT_FALSE(r.add(piece(d, 8, 16, true), 0));  // inside the run, across two fragments
  EXPECT_EQ(r.last_outcome(), O::Duplicate);
  EXPECT_EQ(r.queues(), 1u);
  auto whole = r.add(piece(d, 32, 16, false), 0);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, d);
}

// Two fragments inserted below the tail are separate nodes: data spanning
// both is not a duplicate but an overlap, though every byte was seen.
TEST(Reassembly, SpanningTwoNodesIsAnOverlap) {
  auto d = datagram(20 + 48, 9);
  Reassembler r;
  EXPECT_FALSE(r.add(piece(d, 32, 16, false), 0));
  EXPECT_FALSE(r.add(piece(d, 0, 8, true), 0));
  EXPECT_FALSE(r.add(piece(d, 8, 8, true), 0));
  EXPECT_EQ(r.last_outcome(), O::Queued);
  EXPECT_FALSE(r.add(piece(d, 0, 16, true), 0));
  EXPECT_EQ(r.last_outcome(), O::Overlap);
  EXPECT_EQ(r.queues(), 0u);
}

// ip_frag_queue's length checks discard the queue (discard_qp).
TEST(Reassembly, LastFragmentConflictsDiscardTheQueue) {
  auto d = datagram(20 + 64, 9);
  {
    Reassembler r;  // a second last fragment ending elsewhere
    EXPECT_FALSE(r.add(piece(d, 32, 16, false), 0));
    EXPECT_FALSE(r.add(piece(d, 32, 24, false), 0));
    EXPECT_EQ(r.last_outcome(), O::Invalid);
    EXPECT_EQ(r.queues(), 0u);
  }
  {
    Reassembler r;  // a last fragment ending before data already queued
    EXPECT_FALSE(r.add(piece(d, 0, 32, true), 0));
    EXPECT_FALSE(r.add(piece(d, 8, 16, false), 0));
    EXPECT_EQ(r.last_outcome(), O::Invalid);
    EXPECT_EQ(r.queues(), 0u);
  }
  {
    Reassembler r;  // data past the last fragment's end
    EXPECT_FALSE(r.add(piece(d, 16, 16, false), 0));
    EXPECT_FALSE(r.add(piece(d, 32, 16, true), 0));
    EXPECT_EQ(r.last_outcome(), O::Invalid);
    EXPECT_EQ(r.queues(), 0u);
  }
  {
    Reassembler r;  // a non-last fragment under 8 bytes holds no whole block
    EXPECT_FALSE(r.add(piece(d, 0, 16, true), 0));
    EXPECT_FALSE(r.add(piece(d, 16, 7, true), 0));
    EXPECT_EQ(r.last_outcome(), O::Invalid);
    EXPECT_EQ(r.queues(), 0u);
  }
}

// Non-last fragments count only whole 8-byte blocks: the tail of an odd
// one is cut, and the next fragment may start there.
TEST(Reassembly, OddMiddleFragmentIsCut) {
  auto d = datagram(20 + 48, 9);
  Reassembler r;
  EXPECT_FALSE(r.add(piece(d, 0, 20, true), 0));  // counts as 0..16
  auto whole = r.add(piece(d, 16, 32, false), 0);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, d);
}

// ip_frag_reasm: over 65535 bytes the datagram is dropped with its queue.
TEST(Reassembly, OversizeIsDropped) {
  std::vector<uint8_t> big(20 + 65440 + 100);
  Ipv4View ip(big);
  ip.set_version_ihl(4, 5);
  ip.set_id(5);
  ip.set_protocol(17);
  Reassembler r;
  EXPECT_FALSE(r.add(piece(big, 65440, 100, false), 0));  // 20 + 65540 > 65535
  for (size_t off = 0; off < 65440; off += 1480) {
    EXPECT_FALSE(r.add(piece(big, off, std::min<size_t>(1480, 65440 - off), true), 0));
    EXPECT_EQ(r.last_outcome(), off + 1480 < 65440 ? O::Queued : O::Invalid);
  }
  EXPECT_EQ(r.queues(), 0u);
}

// DF survives only when the largest fragment had it; ECN bits combine
// (RFC 3168 5.3): CE with ECT gives CE, Not-ECT with ECT drops.
TEST(Reassembly, DfAndEcn) {
  auto d = datagram(20 + 48, 9);
  {
    Reassembler r;
    r.add(piece(d, 0, 32, true, 2, true), 0);
    auto whole = r.add(piece(d, 32, 16, false, 3, false), 0);
    ASSERT_TRUE(whole);
    EXPECT_EQ(ConstIpv4View(*whole).frag_field(), 0x4000);
    EXPECT_EQ(ConstIpv4View(*whole).tos(), 3);
  }
  {
    Reassembler r;
    r.add(piece(d, 0, 32, true, 0, false), 0);
    auto whole = r.add(piece(d, 32, 16, false, 0, true), 0);
    ASSERT_TRUE(whole);
    EXPECT_EQ(ConstIpv4View(*whole).frag_field(), 0);
  }
  {
    Reassembler r;
    r.add(piece(d, 0, 32, true, 0), 0);
    EXPECT_FALSE(r.add(piece(d, 32, 16, false, 2), 0));
    EXPECT_EQ(r.last_outcome(), O::Invalid);
    EXPECT_EQ(r.queues(), 0u);
  }
}

// ip_expire: the queue's timer, set when its first fragment came; the
// head (offset 0) is handed out for the ICMP error, with the interface of
// the last fragment queued.
TEST(Reassembly, ExpiryHandsOutTheHead) {
  auto d = datagram(20 + 48, 9);
  auto e = datagram(20 + 48, 10);
  Reassembler r;
  r.add(piece(d, 0, 20, true), 1'000, 5'000, "eth0");
  r.add(piece(e, 32, 16, false), 2'000, 30'000, "eth1");
  r.add(piece(d, 32, 16, false), 3'000, 30'000, "eth2");
  EXPECT_EQ(r.next_expiry(), 6'000u);
  std::vector<std::pair<uint64_t, size_t>> seen;
  std::vector<std::string> iifs;
  r.expire(6'000, [&](const Reassembler::Expired& x) {
    seen.emplace_back(x.at_ns, x.head.size());
    iifs.push_back(x.iif);
  });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], (std::pair<uint64_t, size_t>{6'000, 20 + 16}));  // cut to whole blocks
  EXPECT_EQ(iifs[0], "eth2");
  r.expire(40'000, [&](const Reassembler::Expired& x) { seen.emplace_back(x.at_ns, x.head.size()); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], (std::pair<uint64_t, size_t>{32'000, 0}));  // no head: no ICMP
  EXPECT_EQ(r.queues(), 0u);
}

// skb_morph: the datagram carries the offset-0 fragment's mark, whichever
// fragment completes it (frag-mark scenario, checked on 6.18).
TEST(Reassembly, TheFirstFragmentsMarkWins) {
  auto d = datagram(20 + 48, 9);
  Reassembler r;
  PacketMeta first, last;
  first.mark = 1;
  last.mark = 2;
  last.in.set("eth1");
  EXPECT_FALSE(r.add(piece(d, 0, 24, true), 0, Reassembler::kDefaultTimeoutNs, "eth0", &first));
  ASSERT_TRUE(r.add(piece(d, 24, 24, false), 0, Reassembler::kDefaultTimeoutNs, "eth1", &last));
  EXPECT_EQ(last.mark, 1u);
  EXPECT_EQ(last.in.view(), "eth1");
}

// ip_frag_too_far: when the source's count moved by more than max_dist
// since a queue's last fragment (max_dist others came between, from any
// queue or user sharing the peers), that queue is emptied (ip_frag_reinit)
// before the new fragment goes in; max_dist - 1 others do no harm.
TEST(Reassembly, MaxDistRestartsTheQueue) {
  auto d = datagram(20 + 48, 9);
  auto other = [](uint16_t id) {
    auto o = datagram(20 + 48, id);
    return piece(o, 24, 24, false);
  };
  for (uint32_t between : {3u, 4u}) {
    FragPeers peers;
    Reassembler r, other_user;
    r.set_peers(&peers);
    other_user.set_peers(&peers);
    EXPECT_FALSE(r.add(piece(d, 0, 24, true), 0, Reassembler::kDefaultTimeoutNs, "", nullptr, 4));
    for (uint32_t i = 0; i < between; ++i)
      (i % 2 ? r : other_user).add(other(static_cast<uint16_t>(100 + i)), 0, Reassembler::kDefaultTimeoutNs, "", nullptr, 4);
    auto whole = r.add(piece(d, 24, 24, false), 5, Reassembler::kDefaultTimeoutNs, "", nullptr, 4);
    EXPECT_EQ(whole.has_value(), between == 3) << between;
    if (between == 4) {  // only the last piece is left; the head completes it again
      EXPECT_EQ(r.last_outcome(), O::Queued);
      ASSERT_TRUE(r.add(piece(d, 0, 24, true), 6, Reassembler::kDefaultTimeoutNs, "", nullptr, 4));
    }
  }
}

}  // namespace
}  // namespace nfemu::packet
