// What a match tells the compiled ruleset (compiled/classify.h) about
// itself, so that the classifier can skip rules that cannot match without
// evaluating them, and still be exact.
//
// A constrained field is a set of values (sorted, disjoint, inclusive
// ranges) outside which evaluate() returns NoMatch with no side effect,
// provided the packet is not a fragment (fragoff 0) and its transport
// header has at least l4_bytes bytes (fewer: many matches hot-drop). Mark
// and ctstate are read from the packet's meta and need neither. A match
// that says nothing constrains nothing, which is always correct.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace nfemu::xt {

struct ValueSet {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // allowed [lo, hi], sorted, disjoint

  // [lo, hi], or its complement within [0, max] when invert.
  static ValueSet range(uint32_t lo, uint32_t hi, bool invert, uint32_t max = 0xffffffffu) {
    ValueSet v;
    if (!invert) {
      if (lo <= hi) v.ranges.push_back({lo, hi});
      return v;
    }
    if (lo > hi) {
      v.ranges.push_back({0, max});
      return v;
    }
    if (lo > 0) v.ranges.push_back({0, lo - 1});
    if (hi < max) v.ranges.push_back({hi + 1, max});
    return v;
  }
};

struct MatchFacts {
  // evaluate() never hot-drops and has no side effect, for any packet: the
  // facts of the matches after it in the rule may be used too.
  bool pure = false;
  // The sets below are the whole of evaluate(): for a packet that is not a
  // fragment and has at least l4_bytes bytes of transport header,
  // evaluate() returns Match exactly when each of the packet's values is in
  // its set, else NoMatch, with no side effect. The compiled walker then
  // need not call it when the index decided those fields exactly.
  bool exact = false;
  uint8_t l4_bytes = 0;
  std::optional<ValueSet> sport, dport, icmp_type;  // transport header
  std::optional<ValueSet> mark;                     // meta.mark
  // The XT_CONNTRACK_STATE bit of the packet without the SNAT/DNAT bits:
  // INVALID 1, ESTABLISHED 2, RELATED 4, NEW 8, UNTRACKED 256.
  std::optional<ValueSet> ctstate;
  // evaluate() may change the packet's meta (socket --restore-skmark sets
  // the mark), whether the rule matches or not: the compiled walker looks
  // the packet's classes up again after the rule's matches ran.
  bool changes_packet = false;
};

}  // namespace nfemu::xt
