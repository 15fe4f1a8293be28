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
//   * a packet picks one class per field (a binary search); the rules that
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
// A decision tree (HiCuts) gives faster lookups but its size and build time
// depend badly on rule overlap; tuple-space search fits prefixes but not
// port ranges nor "lowest matching index from k". Bitsets cost
// classes x rules / 8 bytes per field: the classes of a field are capped
// (adjacent intervals merged, which only widens the candidate set) so that
// a field never takes more than ClassifyOptions::field_budget_bytes.
// Per packet: no allocation unless the table has more than 64 chains (the
// jump stack then lives on the heap).
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
};

class CompiledTable {
 public:
  enum Field : uint8_t { kSrc, kDst, kProto, kSport, kDport, kIcmpType, kMark, kCtState, kNumRangeFields };

  static CompiledTable compile(const Table& t, const ClassifyOptions& opts = {});

  // False once t changed (Table::generation) or for another table.
  bool fresh_for(const Table& t) const { return t.generation() == generation_ && t.chains().size() == chains_.size(); }
  size_t memory_bytes() const;
  // How many fields chain c indexes (for tests and the benchmark).
  size_t indexed_fields(size_t chain) const;

  // Internals the walker reads.
  struct RangeIndex {
    Field field;
    bool exact = false;            // no merged classes: a rule's bit is set only where its set holds
    std::vector<uint32_t> starts;  // class k is [starts[k], starts[k+1])
    std::vector<uint64_t> bits;    // class k at k * words
    std::vector<uint32_t> ones;    // per class: rules in its bitset (the packet's sets are ANDed sparsest first)
  };
  struct IfaceIndex {
    bool out = false;
    std::vector<std::string> names;  // sorted; class names.size() is "any other name"
    std::vector<uint64_t> bits;
    std::vector<uint32_t> ones;
  };
  struct ChainIndex {
    size_t words = 0;
    std::vector<RangeIndex> ranges;
    std::vector<IfaceIndex> ifaces;
    std::vector<uint8_t> plain;     // per rule: traced as policy/return (unconditional standard)
    // Per rule: the index proves ip_criteria_match for any candidate packet
    // (each of -s/-d/-p/-i/-o is absent or indexed exactly; no -f).
    std::vector<uint8_t> ip_proven;
    std::vector<int32_t> jump_to;   // per rule: chain index of a jump/goto, else -1
  };
  const std::vector<ChainIndex>& chains() const { return chains_; }

 private:
  uint64_t generation_ = 0;
  std::vector<ChainIndex> chains_;
};

// run_table on a compiled table: the same verdict, counters, trace events
// and effects. A stale compiled table (t changed since) falls back to the
// linear walk.
Verdict run_table(Table& t, const CompiledTable& c, EvalContext& ctx, TraceSink* sink = nullptr);

}  // namespace nfemu::xt
