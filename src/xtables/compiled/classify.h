// A compiled form of a table for the packet path: per chain, an index that
// names the next rule that can match a packet, so that the walker skips
// the rules that cannot instead of testing them one by one.
//
// Design: per-field interval partitions with rule bitsets (the "bit vector"
// scheme of Lakshman and Stiliadis), chosen over a decision tree or tuple
// space because it keeps iptables' first-match order by construction and is
// exact whatever the rules look like:
//   * each compiled field (source, destination, protocol, in/out interface,
//     sport, dport, ICMP type, nfmark, ctstate) splits its value domain into
//     classes; each class holds a bitset of the chain's rules that can
//     match a packet whose field value falls in it. A rule that says nothing
//     of the field, or says it in a way the compiler does not model (a
//     non-contiguous mask, `! -i eth0`, `-i eth+`, a masked mark, --ports),
//     has its bit in every class of that field;
//   * a packet picks one class per field (a binary search, narrowed by a
//     4096-bucket hint for fields with many classes); the rules that
//     can match are the AND of those bitsets, and the next rule to evaluate
//     from rule k on is the lowest set bit >= k. That serves jumps, gotos
//     and RETURN (the walker resumes "after rule k") without extra state;
//   * every candidate is then evaluated in full exactly as run_table does,
//     so the index only has to be a superset: a rule is skipped only when
//     it provably would not match, would not hot-drop and would have no side
//     effect (match_facts.h says which matches may be looked past). Hence
//     counters, TRACE events (named by rule position) and target effects are
//     identical to the linear walk. A target that continues (MARK, TRACE,
//     LOG...) may change the packet: the packet's classes are looked up again.
//     One exception: a rule whose every match is fully described by facts
//     of fields indexed exactly (MatchFacts::exact: `-p tcp --dport 993`,
//     `-m state --state NEW`, ...) is a candidate only if they hold, so its
//     matches are not called (ChainIndex::kMatchesProven; so is a rule
//     without matches): on a cache hit that call, with the cold loads of
//     the rule's matches, the match and its vtable, was most of the rule's
//     cost;
// A decision tree (HiCuts) gives faster lookups but its size and build time
// depend badly on rule overlap; tuple-space search fits prefixes but not
// port ranges nor "lowest matching index from k". Bitsets cost
// classes x rules / 8 bytes per field: the classes of a field are capped
// (adjacent intervals merged, which only widens the candidate set) so that
// a field never takes more than ClassifyOptions::field_budget_bytes.
//
// Addresses: merging address classes was what made the 10k-rule chain's
// index weak (a packet's source meets many nested prefixes; the AND of the
// merged classes left ~157 words to scan per miss and candidates failing
// the IP criteria). So when src/dst classes would be merged (and the chain
// has at most kMaxSparseWords words), the addresses are indexed exactly in
// sparse form: one class per elementary interval listing only the non-zero
// words of the rules it holds, a rule that says nothing of the field (or
// says it with a non-contiguous mask) being "wild" in it. The primary field
// (the one with fewer rule-interval incidences) lists every rule that
// constrains it; the secondary lists only the rules wild in the primary
// (listing all would be quadratic in nested prefixes: 40M incidences for
// the benchmark's sources). A packet's address candidates are the union of
// its two class lists and of the rules wild in both, a superset of the
// rules whose addresses match: a rule constraining both fields comes from
// the primary list unchecked in the secondary, which ip_criteria_match then
// tests (kIpProven is not set for it). Over ClassifyOptions::addr_budget_bytes
// the dense merged classes stay.
// Per packet: no allocation unless the table has more than 64 chains (the
// jump stack then lives on the heap).
//
// Result cache (big chains only): everything the index and
// ip_criteria_match compute for a packet in a chain is a pure function of
// the packet's values of the compiled fields (source, destination,
// protocol, ports/ICMP type, mark, ctstate), of whether its transport header
// is readable and it is a fragment, and of its interface names when a rule
// of the chain names one. So a chain with more than
// ClassifyOptions::cache_min_rules rules keeps a 2-way set-associative
// cache, allocated at compile time, keyed by exactly those values (a field
// the chain does not index is left out of the key); an entry holds the
// chain's candidates that pass ip_criteria_match, in order, from rule 0 up
// to a rule it has covered. A hit walks that list: no class lookups, no
// bitset scan, no IP criteria test. A miss claims an entry and fills it as
// the walk advances (the walk scans past the covered part with the bitsets,
// lazily looked up, and appends what it finds). A packet of one flow has
// one key, so the 2nd..nth packets of a flow hit. A partly filled entry is
// exact for its key, so an entry left behind when a continuing target
// (MARK, CONNMARK, CT...) changes the key is still right; the walker
// recomputes the key then. The set is a hash of the key's header words
// only (addresses, ports, protocol): a caller reading packets ahead could
// prefetch it before conntrack and routing run. Tried from replay
// (bench/nfemu/RESULTS.md): computing the key a second time cost as much
// as the miss it saved, the sets being mostly in L2; the hit rate is as
// good as with the whole key hashed (classify_bench: 0.904 vs 0.894).
// The cache is mutable state of a const
// CompiledTable: a CompiledTable must not be walked by two threads at once.
// A chain whose cache rarely hits (the nat POSTROUTING chain: walked only
// by packets of new connections, keyed by their ports) stops probing it for
// a while (ClassifyOptions::cache_window).
// Why not cache verdicts per flow instead: counters, TRACE events, LOG and
// stateful matches (statistic, limit) must still run for every packet, so
// the cache stops at what is pure: which rules to evaluate. A miss (the
// first packet of each flow, ~23 % of the 1M fw trace) scans the words
// the sparse address index below leaves.
//
// Rule records: in a big chain indexed by sparse addresses the address
// words alone leave few rules (the 10k-rule benchmark chain: 1.55 per
// packet on average, and one candidate tested per packet once the other
// fields had narrowed them), while a
// packet's classes of the other fields (protocol, ports...) cost a binary
// search each and a load from a 1.2 KB bitset row each, mostly cache
// misses on a first packet. So when every rule's set of every such field is
// one interval (or, for ctstate, any set: a packet's state is one bit), the
// chain keeps each rule's intervals side by side, and a packet whose
// address words hold at most kRecordBits rules tests those rules' records
// instead of looking its classes up. A record test is exact where a class
// may be merged, so what the index proves of a candidate (kMatchesProven,
// kIpProven) holds as well.
//
// Empty classes: the nat PREROUTING chain of a router that forwards a
// few ports (DNAT rules naming one address and port each) is walked by
// every packet of a new connection, and most reach its policy. A class
// with no rule in it (a value no rule's set holds, no rule wild in the
// field) proves that nothing in the chain can match, so before the cache
// is probed the walker looks up one field, chosen at compile time as the
// one whose empty classes cover the largest share of its domain (at least
// half), and goes straight to the policy or RETURN when the class is
// empty. That is the walk's own outcome (its scan would find no
// candidate) at the cost of one class lookup instead of a key, a probe,
// a claimed entry and every field's lookup; a chain without such a field
// pays nothing.
//
// Counters: when the index proved a matched rule's matches
// (kMatchesProven, a rule without matches included), the compiled walk
// adds its packet and bytes to a dense per-chain array of pending counts
// (ChainIndex::pending, 16 bytes a rule: 160 KB for 10k rules), not to
// Rule::counters. That update was the hottest instruction of the 10k-rule
// benchmarks: a miss on the matched rule's 192-byte line, which for such a
// rule with a standard target is read for nothing else (its target kind is
// in `proven`, a jump's chain in `jump_to`; TRACE events pass the rule's
// address without reading it). A rule whose matches ran counts in
// Rule::counters: its line was just read, while a pending entry would be
// one more line (counting every rule aside cost fw +0.4 D1 misses a frame
// in cachegrind). Rule::counters stays the one truth everything else reads
// (iptables-save -c, json, -Z, the linear walk): fold_counters adds the
// pending counts to it, and the owner of the compiled table calls it before
// anyone reads or changes the rules (stack::Host::ruleset(),
// set_classifier). A chain's policy counter is updated in place: the
// chain's own line is read by the walk anyway.
//
// The linear walker (eval.h run_table) stays the reference; tests compare
// both on random rulesets (tests/xtables/compiled_test.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "xtables/eval.h"
#include "xtables/table.h"

namespace nfemu::xt {

struct ClassifyOptions {
  size_t field_budget_bytes = size_t{1} << 20;  // per field and chain
  // The exact sparse address index: at most this many bytes per address
  // field and chain, else the dense merged classes (0: never sparse).
  size_t addr_budget_bytes = size_t{8} << 20;
  // Sparse addresses even where the dense classes are exact (tests: small
  // rulesets exercise it).
  bool sparse_addresses_always = false;
  // Result cache: chains with more rules than this get one, of cache_sets
  // sets of 2 entries (64 B each, 96 B with interface names; rounded down
  // to a power of two; 0: no cache). 2048 sets, simulated on the 1M fw
  // trace's 5-tuples (4.4 packets per flow): 77.1 % hits, 77.4 % for an
  // unbounded cache. Below 64 rules a scan of one word beats a probe.
  size_t cache_min_rules = 64;
  size_t cache_sets = 2048;
  // Adaptive bypass: a chain whose cache hit fewer than 1 in 8 of its last
  // cache_window probes walks without it for the next cache_bypass
  // traversals (then samples again). The cache is exact, so this changes
  // only the cost: the nat chains, walked only by a connection's first
  // packet, never hit (their keys hold the ports) and paid a probe, a claim
  // and a fill of a cold line for nothing. 0: never bypass.
  uint32_t cache_window = 1024;
  uint32_t cache_bypass = 16384;
};

class CompiledTable {
 public:
  enum Field : uint8_t { kSrc, kDst, kProto, kSport, kDport, kIcmpType, kMark, kCtState, kNumRangeFields };

  static CompiledTable compile(const Table& t, const ClassifyOptions& opts = {});

  // False once t changed (Table::generation) or for another table.
  bool fresh_for(const Table& t) const { return t.generation() == generation_ && t.chains().size() == chains_.size(); }
  size_t memory_bytes() const;

  // The counts the compiled walk kept aside (see "Counters" above): added
  // to t's rules and cleared. Counts are kept by rule position, so they
  // are folded only into the table this was compiled from, unchanged
  // (fresh_for(t)); for another table nothing happens and it returns
  // false. Logically const, as the walk: it moves statistics from this
  // table's mutable side arrays into t.
  bool fold_counters(Table& t) const;
  // Drops the pending counts: for the owner whose table changed (rule
  // positions now mean other rules) or is gone, which folds nowhere.
  // Returns whether any packet was dropped that way.
  bool drop_counters() const;
  bool counters_pending() const;
  // How many fields chain c indexes (for tests and the benchmark).
  size_t indexed_fields(size_t chain) const;
  // How many address fields chain c indexes exactly in sparse form (tests).
  size_t sparse_address_fields(size_t chain) const { return chain < chains_.size() ? chains_[chain].addrs.size() : 0; }
  // Result cache probes since compile, over all chains (tests, benchmark).
  struct CacheStats {
    uint64_t hits = 0, misses = 0;
    uint64_t bypassed = 0;  // traversals of a cached chain that skipped it (bypass)
    size_t chains = 0;      // chains that have a cache
    uint64_t matches_skipped = 0;  // candidates whose matches were proven, not called
    uint64_t gated = 0;  // traversals of a chain its gate proved empty for the packet
    uint64_t record_scans = 0;  // class lookups served by rule records instead
  };
  CacheStats cache_stats() const;

  // Internals the walker reads.
  struct RangeIndex {
    Field field;
    bool exact = false;            // no merged classes: a rule's bit is set only where its set holds
    std::vector<uint32_t> starts;  // class k is [starts[k], starts[k+1])
    std::vector<uint64_t> bits;    // class k at k * words
    std::vector<uint32_t> ones;    // per class: rules in its bitset (the packet's sets are ANDed sparsest first)
    // With many classes: hint[v >> shift] is the class of the first value
    // of v's bucket, so v's class is in [hint[b], hint[b + 1]] and the
    // binary search runs over a few starts instead of all (empty: none).
    std::vector<uint32_t> hint;
    uint8_t shift = 0;
  };
  struct IfaceIndex {
    bool out = false;
    std::vector<std::string> names;  // sorted; class names.size() is "any other name"
    std::vector<std::array<uint64_t, 2>> words;  // names NUL-padded to 16 bytes
    std::vector<uint64_t> bits;
    std::vector<uint32_t> ones;
  };
  // An address field indexed exactly, in sparse form (see "Addresses" in
  // the file comment): every elementary interval is its own class, and a
  // class stores only the non-zero words of the rules it lists.
  struct AddrIndex {
    Field field;
    std::vector<uint32_t> starts;  // interval k is [starts[k], starts[k+1])
    std::vector<uint32_t> hint;    // as RangeIndex::hint (empty: none)
    uint8_t shift = 0;
    std::vector<uint32_t> first;   // interval k's words are [first[k], first[k+1]) of word/bits
    std::vector<uint16_t> word;
    std::vector<uint64_t> bits;
    size_t incidences = 0;         // (rule, interval) pairs
  };
  // Chains with more words than this keep the dense merged address classes
  // (the walker's per-packet list of address words lives on its stack).
  static constexpr size_t kMaxSparseWords = 512;
  struct ChainIndex {
    size_t words = 0;
    std::vector<RangeIndex> ranges;
    // Empty, or the address fields (src, dst) that are then not in ranges:
    // the primary, lists every rule constraining it, then maybe the
    // secondary, lists only the rules wild in the primary.
    std::vector<AddrIndex> addrs;
    std::vector<uint16_t> all_wild_word;  // the rules constraining no field of addrs, sparse
    std::vector<uint64_t> all_wild_bits;
    // With a sparse address index, each rule's sets of the range fields as
    // one interval per field (the ctstate field as a mask of its states),
    // rule by rule: [lo, hi] for ranges[0], then ranges[1]... (empty: some
    // rule's set is not one interval, or the addresses are dense). See
    // "Rule records" in the file comment.
    std::vector<uint32_t> records;
    mutable uint64_t record_scans = 0;
    std::vector<IfaceIndex> ifaces;
    // ranges[gate] (-1: none) is a field for which most values have no
    // candidate at all (the -d /32 of a nat PREROUTING chain's DNAT rules:
    // most packets walk it to its policy): a packet whose class there is
    // empty skips the cache and the other fields (see "Empty classes").
    int8_t gate = -1;
    mutable uint64_t gated = 0;
    // Per rule, what the index proves for any candidate packet:
    // kIpProven: ip_criteria_match (each of -s/-d/-p/-i/-o is absent or
    // indexed exactly; no -f); kMatchesProven: every match (none at all,
    // or each is MatchFacts::exact and its fields are indexed exactly), so
    // the walker calls none; with kNeedsPorts, only when the packet's ports
    // were readable (not a fragment, header long enough: the index read
    // them). kPlain: traced as policy/return (an unconditional standard
    // rule). The high nibble is the rule's TargetKind: for a proven rule
    // with a standard target, this byte, jump_to and pending are all the
    // walker touches; the rule's own line is not read.
    enum Proof : uint8_t { kIpProven = 1, kMatchesProven = 2, kNeedsPorts = 4, kPlain = 8 };
    static constexpr int kKindShift = 4;
    std::vector<uint8_t> proven;
    // Per rule: 1 when a match of it may change the packet
    // (MatchFacts::changes_packet): its classes are looked up again after
    // its matches ran.
    std::vector<uint8_t> rekey;
    // Per rule, the counts not yet in Rule::counters (fold_counters), and
    // whether any is non-zero. Next to proven: the walk reads both.
    mutable std::vector<Counters> pending;
    mutable bool counted = false;
    std::vector<int32_t> jump_to;   // per rule: chain index of a jump/goto, else -1
    // Per rule, what ip_criteria_match tests of a candidate the index did
    // not prove, packed: a miss tests candidates lying far apart among
    // 192-byte rules, each a cache miss on the rule's line (most of the acl
    // run's ip_criteria_match time); packed, a 10k-rule chain's are 200 KB.
    // `rule`: it names an interface, says -f or inverts either; its own
    // criteria are tested then.
    struct IpTest {
      uint32_t src, smsk, dst, dmsk;
      uint16_t proto;
      uint8_t inv;
      bool rule;
    };
    std::vector<IpTest> ip_tests;

    // The result cache (empty: none), see the file comment.
    // One cache line per entry; the interface names, when the chain reads
    // them, live in a parallel array (most big chains name no interface).
    static constexpr size_t kCacheCands = 16;
    struct alignas(64) CacheEntry {
      std::array<uint64_t, 3> key;  // src|dst, ports|mark, state|proto|flags|valid
      uint32_t covered;             // cand lists every candidate in [0, covered) passing the IP criteria
      uint16_t count;
      uint16_t mru;                 // in way 0 of a set: the way used last
      std::array<uint16_t, kCacheCands> cand;
    };
    using CacheNames = std::array<uint64_t, 4>;  // in and out, NUL-padded
    // The fields a chain's key holds: those its index or a rule's IP
    // criteria read. Leaving out the others (the nat PREROUTING chain's
    // DNAT rules name no source nor source port) lets the packets of
    // different flows share an entry.
    enum KeyUse : uint8_t {
      kUseSport = 1,  // the source port and ICMP type (its high byte)
      kUseMark = 2,
      kUseState = 4,
      kUseIn = 8,
      kUseOut = 16,
      kUseSrc = 32,
      kUseDst = 64,
      kUseDport = 128,
    };
    uint8_t key_use = 0;
    std::array<uint64_t, 3> key_mask{};  // the bits of a key's words that key_use keeps
    uint32_t cache_mask = 0;  // sets - 1
    mutable std::vector<CacheEntry> cache;
    mutable std::vector<CacheNames> cache_names;  // by entry, when key_use has kUseIn or kUseOut
    mutable uint64_t cache_hits = 0, cache_misses = 0;
    // The adaptive bypass (ClassifyOptions::cache_window).
    uint32_t window = 0, bypass = 0;
    mutable uint32_t window_probes = 0, window_hits = 0, bypass_left = 0;
    mutable uint64_t cache_bypassed = 0;
    mutable uint64_t matches_skipped = 0;  // rules whose matches the walker did not call
  };
  // The result-cache set run_table probes first when it walks pkt
  // through hook's chain, or SIZE_MAX when the chain has no cache or
  // bypasses it now. It depends only on the packet's IPv4 and transport
  // headers (addresses, protocol, ports), not on what conntrack, routing
  // or targets add (ctstate, mark, interfaces), so it can be known before
  // those run (tests; see the file comment). pkt's IPv4 header and the
  // datagram it announces must lie within its bytes.
  size_t cache_set_of(Hook hook, const packet::Packet& pkt) const;

  const std::vector<ChainIndex>& chains() const { return chains_; }
  // The builtin chain of each hook (-1: none), as run_table looks it up.
  const std::array<int32_t, 5>& base_chains() const { return base_; }
  // Whether hook's builtin chain has no rules (run_table: its policy).
  bool base_empty(size_t hook) const { return (empty_base_ >> hook) & 1u; }

 private:
  uint64_t generation_ = 0;
  std::array<int32_t, 5> base_{-1, -1, -1, -1, -1};
  uint8_t empty_base_ = 0;  // a bit per hook
  std::vector<ChainIndex> chains_;
};

// run_table on a compiled table: the same verdict, trace events and
// effects, and the same counters once c.fold_counters(t) has run (rule
// counters are kept aside until then; policy counters are not). A stale
// compiled table (t changed since) falls back to the linear walk.
Verdict run_table(Table& t, const CompiledTable& c, EvalContext& ctx, TraceSink* sink = nullptr);

}  // namespace nfemu::xt
