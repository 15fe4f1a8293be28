#include "xtables/compiled/classify.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

#include "xtables/addr.h"
#include "xtables/match_facts.h"

namespace nfemu::xt {

namespace {

using Field = CompiledTable::Field;
using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;
constexpr uint32_t kStateUntracked = 1u << 8, kStateInvalid = 1u << 0;

Ranges intersect(const Ranges& a, const Ranges& b) {
  Ranges out;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    uint32_t lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (lo <= hi) out.push_back({lo, hi});
    if (a[i].second < b[j].second) ++i;
    else ++j;
  }
  return out;
}

void narrow(std::optional<ValueSet>& into, const std::optional<ValueSet>& more) {
  if (!more) return;
  if (!into) into = more;
  else into->ranges = intersect(into->ranges, more->ranges);
}

// -s/-d: a range for a contiguous mask; nothing known for another mask.
std::optional<ValueSet> addr_set(uint32_t addr, uint32_t mask, bool invert) {
  if (mask_prefix_len(mask) < 0) return std::nullopt;
  if (addr & ~mask) return invert ? std::nullopt : std::optional<ValueSet>(ValueSet{});  // never equal
  return ValueSet::range(addr, addr | ~mask, invert);
}

// The exact name an -i/-o asks for, or nullopt (empty, `eth+`, inverted).
std::optional<std::string> exact_iface(const IfaceMatch& m, bool invert) {
  if (invert || m.empty()) return std::nullopt;
  size_t len = 0;
  while (len < static_cast<size_t>(kIfNameSize) && m.name[len] != '\0') ++len;
  if (len >= static_cast<size_t>(kIfNameSize)) return std::nullopt;
  for (size_t i = 0; i <= len; ++i)
    if (m.mask[i] != 0xff) return std::nullopt;
  return std::string(m.name.data(), len);
}

// What the index may assume of one rule.
struct RuleFacts {
  std::array<std::optional<ValueSet>, CompiledTable::kNumRangeFields> f;
  std::optional<std::string> in, out;
  // Every match is MatchFacts::exact and its facts went into f: the rule's
  // matches hold when the fields of match_fields hold (and, with
  // needs_ports, the packet's ports were readable).
  bool matches_exact = false, needs_ports = false;
  uint32_t match_fields = 0;
  bool changes_packet = false;  // some match of it may (MatchFacts::changes_packet)
};

RuleFacts rule_facts(const Rule& r) {
  RuleFacts rf;
  const IpCriteria& ip = r.ip;
  // ip_packet_match is pure: all of it can be used.
  rf.f[CompiledTable::kSrc] = addr_set(ip.src, ip.smsk, ip.inv & IpCriteria::kInvSrc);
  rf.f[CompiledTable::kDst] = addr_set(ip.dst, ip.dmsk, ip.inv & IpCriteria::kInvDst);
  if (ip.proto) rf.f[CompiledTable::kProto] = ValueSet::range(ip.proto, ip.proto, ip.inv & IpCriteria::kInvProto, 0xff);
  rf.in = exact_iface(ip.in, ip.inv & IpCriteria::kInvIn);
  rf.out = exact_iface(ip.out, ip.inv & IpCriteria::kInvOut);
  const bool tcp_rule = ip.proto == 6 && !(ip.inv & IpCriteria::kInvProto);
  // No match at all: nothing to call, and the rule line need not be read.
  bool exact = true;
  for (size_t k = 0; k < r.matches.size(); ++k) {
    const auto& m = r.matches[k];
    // The walker reports a match it cannot evaluate: never look past it.
    if (!m->can_evaluate()) {
      exact = false;
      break;
    }
    MatchFacts mf;
    m->describe(mf);
    exact = exact && mf.exact;
    auto add = [&](Field f, const std::optional<ValueSet>& set) {
      narrow(rf.f[f], set);
      if (set) rf.match_fields |= 1u << f;
    };
    // The packet's port fields are known from 8 header bytes on (20 for
    // TCP): a match that hot-drops below more than that must be evaluated.
    // When they are known (Key::valid), such a match can read its header.
    if (mf.l4_bytes <= 8 || (mf.l4_bytes <= 20 && tcp_rule)) {
      add(CompiledTable::kSport, mf.sport);
      add(CompiledTable::kDport, mf.dport);
      add(CompiledTable::kIcmpType, mf.icmp_type);
      rf.needs_ports = rf.needs_ports || mf.l4_bytes > 0 || mf.sport || mf.dport || mf.icmp_type;
    } else {
      exact = false;
    }
    add(CompiledTable::kMark, mf.mark);
    add(CompiledTable::kCtState, mf.ctstate);
    // A match that may hot-drop or has side effects must run even when a
    // later match would fail. (An exact one cannot hot-drop once the ports
    // are readable, but the index does not know that of the packets whose
    // ports are not.)
    if (!mf.pure) {
      exact = exact && k + 1 == r.matches.size();
      break;
    }
  }
  rf.matches_exact = exact;
  for (const auto& m : r.matches) {
    MatchFacts mf;
    m->describe(mf);
    rf.changes_packet = rf.changes_packet || mf.changes_packet;
  }
  return rf;
}

// Whether the index may not treat rule rf as wild in field f (an absent
// -s/-d is the whole range).
bool constrains(const RuleFacts& rf, Field f) {
  const auto& set = rf.f[f];
  return set && !(set->ranges.size() == 1 && set->ranges[0].first == 0 && set->ranges[0].second == 0xffffffffu);
}

// The largest value of field f.
uint32_t field_max(Field f) {
  return f == CompiledTable::kSport || f == CompiledTable::kDport ? 0xffffu
         : f == CompiledTable::kProto || f == CompiledTable::kIcmpType ? 0xffu
                                                                         : 0xffffffffu;
}

// Whether set holds every value field f of a packet can take (`-s 0/0`,
// or the tcp match's source ports when it names only --dport): the rule
// says nothing of f then.
bool whole_domain(const std::optional<ValueSet>& set, Field f) {
  if (!set) return false;
  const uint32_t max = field_max(f);
  uint64_t next = 0;  // the lowest value not yet covered
  for (auto [lo, hi] : set->ranges) {
    if (lo > next) return false;
    next = std::max<uint64_t>(next, uint64_t{hi} + 1);
    if (next > max) return true;
  }
  return false;
}

bool unconditional_standard(const Rule& r) {
  return r.ip == IpCriteria{} && r.matches.empty() &&
         (r.kind == TargetKind::Accept || r.kind == TargetKind::Drop || r.kind == TargetKind::Queue ||
          r.kind == TargetKind::Return);
}

void set_bit(std::vector<uint64_t>& bits, size_t cls, size_t words, size_t rule) {
  bits[cls * words + rule / 64] |= uint64_t{1} << (rule % 64);
}

// Whether rule r's IP criteria hold for every packet whose bit survives
// the AND of the chain's bitsets. A criterion holds trivially when it is
// absent; otherwise its field must be indexed without merged classes (with
// g == 1 every class is one elementary interval, inside or outside the
// rule's range) or, for an interface, by its own name class.
bool ip_proven_by_index(const Rule& r, const RuleFacts& rf, const CompiledTable::ChainIndex& ci) {
  const IpCriteria& ip = r.ip;
  auto range_exact = [&](Field f) {
    if (!rf.f[f]) return false;
    // The primary address field lists every rule that constrains it; the
    // secondary only those wild in the primary (the others reach the scan
    // unchecked in the secondary field).
    for (size_t a = 0; a < ci.addrs.size(); ++a)
      if (ci.addrs[a].field == f) return a == 0 || !constrains(rf, ci.addrs[0].field);
    for (const auto& idx : ci.ranges)
      if (idx.field == f) return idx.exact;
    return false;
  };
  auto iface_exact = [&](bool out, const IfaceMatch& m, bool inv, const std::optional<std::string>& name) {
    bool any = false;
    for (uint8_t b : m.mask) any = any || b != 0;
    if (!any && !inv) return true;
    if (!name) return false;
    // iface_match also compares the bytes past the name's NUL under the mask.
    for (size_t i = name->size() + 1; i < m.mask.size(); ++i)
      if ((m.name[i] & m.mask[i]) != 0) return false;
    for (const auto& idx : ci.ifaces)
      if (idx.out == out) return std::binary_search(idx.names.begin(), idx.names.end(), *name);
    return false;
  };
  if (!(ip.smsk == 0 && ip.src == 0 && !(ip.inv & IpCriteria::kInvSrc)) && !range_exact(CompiledTable::kSrc)) return false;
  if (!(ip.dmsk == 0 && ip.dst == 0 && !(ip.inv & IpCriteria::kInvDst)) && !range_exact(CompiledTable::kDst)) return false;
  if (ip.proto != 0 && !range_exact(CompiledTable::kProto)) return false;
  if (!iface_exact(false, ip.in, ip.inv & IpCriteria::kInvIn, rf.in)) return false;
  if (!iface_exact(true, ip.out, ip.inv & IpCriteria::kInvOut, rf.out)) return false;
  return !ip.frag && !(ip.inv & IpCriteria::kInvFrag);
}

std::vector<uint32_t> class_ones(const std::vector<uint64_t>& bits, size_t words) {
  std::vector<uint32_t> ones(bits.size() / words, 0);
  for (size_t k = 0; k < bits.size(); ++k) ones[k / words] += static_cast<uint32_t>(std::popcount(bits[k]));
  return ones;
}

size_t class_cap(const ClassifyOptions& opts, size_t words) {
  return std::max<size_t>(16, opts.field_budget_bytes / (words * 8));
}

// 4096 buckets (16 KiB) over the field's domain, for fields whose classes
// take more than a few search steps: hint[v >> shift] is the class of the
// bucket's first value.
void make_hint(Field field, const std::vector<uint32_t>& starts, std::vector<uint32_t>& hint, uint8_t& shift) {
  const size_t classes = starts.size();
  const int domain_bits = field == CompiledTable::kSport || field == CompiledTable::kDport ? 16
                          : field == CompiledTable::kSrc || field == CompiledTable::kDst || field == CompiledTable::kMark
                              ? 32
                              : 0;
  constexpr int kHintBits = 12;
  if (domain_bits > kHintBits && classes > 32) {
    shift = static_cast<uint8_t>(domain_bits - kHintBits);
    hint.resize((size_t{1} << kHintBits) + 1);
    for (size_t b = 0; b < hint.size() - 1; ++b) {
      const uint32_t v = static_cast<uint32_t>(b << shift);
      hint[b] = static_cast<uint32_t>(std::upper_bound(starts.begin(), starts.end(), v) - starts.begin()) - 1;
    }
    hint.back() = static_cast<uint32_t>(classes - 1);
  }
}

// The sorted starts of the elementary intervals that the field's value
// sets of the rules `use` accepts cut its domain into (0 first); empty
// when no rule is used.
template <class Use>
std::vector<uint32_t> interval_starts(Field field, const std::vector<RuleFacts>& facts, const Use& use) {
  std::vector<uint32_t> starts{0};
  bool any = false;
  for (const auto& rf : facts) {
    if (!use(rf)) continue;
    any = true;
    for (auto [lo, hi] : rf.f[field]->ranges) {
      starts.push_back(lo);
      if (hi != 0xffffffffu) starts.push_back(hi + 1);
    }
  }
  if (!any) return {};
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  return starts;
}

std::optional<CompiledTable::RangeIndex> build_range(Field field, const std::vector<RuleFacts>& facts, size_t words,
                                                     const ClassifyOptions& opts) {
  // A field no rule narrows (each says nothing of it or allows all of its
  // domain) would have one class holding every rule: no index, and no key
  // word (KeyUse).
  if (std::all_of(facts.begin(), facts.end(), [&](const RuleFacts& rf) { return !rf.f[field] || whole_domain(rf.f[field], field); }))
    return std::nullopt;
  std::vector<uint32_t> starts = interval_starts(field, facts, [&](const RuleFacts& rf) { return rf.f[field].has_value(); });
  if (starts.empty()) return std::nullopt;
  // Merge runs of g adjacent intervals into one class to stay in budget.
  const size_t cap = class_cap(opts, words);
  const size_t g = (starts.size() + cap - 1) / cap;
  CompiledTable::RangeIndex idx;
  idx.field = field;
  idx.exact = g == 1;
  for (size_t k = 0; k < starts.size(); k += g) idx.starts.push_back(starts[k]);
  const size_t classes = idx.starts.size();
  idx.bits.assign(classes * words, 0);
  auto interval_of = [&](uint32_t v) {
    return static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), v) - starts.begin()) - 1;
  };
  for (size_t j = 0; j < facts.size(); ++j) {
    const auto& set = facts[j].f[field];
    if (!set) {
      for (size_t c = 0; c < classes; ++c) set_bit(idx.bits, c, words, j);
      continue;
    }
    for (auto [lo, hi] : set->ranges)
      for (size_t c = interval_of(lo) / g, last = interval_of(hi) / g; c <= last; ++c) set_bit(idx.bits, c, words, j);
  }
  idx.ones = class_ones(idx.bits, words);
  make_hint(field, idx.starts, idx.hint, idx.shift);
  return idx;
}

// The exact sparse index of an address field over the rules that constrain
// it and, when `unless` is set, not that field too; nullopt when no rule is
// left or it would take more than opts.addr_budget_bytes.
std::optional<CompiledTable::AddrIndex> build_addr(Field field, const std::vector<RuleFacts>& facts, size_t words,
                                                   const ClassifyOptions& opts, std::optional<Field> unless = {}) {
  auto listed = [&](const RuleFacts& rf) { return constrains(rf, field) && !(unless && constrains(rf, *unless)); };
  std::vector<uint32_t> starts = interval_starts(field, facts, listed);
  if (starts.empty()) return std::nullopt;
  auto interval_of = [&](uint32_t v) {
    return static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), v) - starts.begin()) - 1;
  };
  // (rule, interval) incidences, counted before anything is allocated: a
  // short prefix over many intervals makes them quadratic.
  const size_t classes = starts.size();
  std::vector<uint32_t> off(classes + 1, 0);
  size_t incidences = 0;
  for (const auto& rf : facts) {
    if (!listed(rf)) continue;
    for (auto [lo, hi] : rf.f[field]->ranges) {
      const size_t a = interval_of(lo), b = interval_of(hi);
      incidences += b - a + 1;
      if (incidences * 10 + classes * 8 + words * 8 > opts.addr_budget_bytes) return std::nullopt;
      for (size_t c = a; c <= b; ++c) ++off[c + 1];
    }
  }
  for (size_t c = 0; c < classes; ++c) off[c + 1] += off[c];
  std::vector<uint32_t> rules(incidences);
  std::vector<uint32_t> fill(off.begin(), off.end() - 1);
  CompiledTable::AddrIndex idx;
  idx.field = field;
  idx.incidences = incidences;
  for (size_t j = 0; j < facts.size(); ++j) {
    if (!listed(facts[j])) continue;
    for (auto [lo, hi] : facts[j].f[field]->ranges)
      for (size_t c = interval_of(lo), last = interval_of(hi); c <= last; ++c) rules[fill[c]++] = static_cast<uint32_t>(j);
  }
  // Rules went in in order: each interval's list is sorted.
  idx.first.reserve(classes + 1);
  for (size_t c = 0; c < classes; ++c) {
    idx.first.push_back(static_cast<uint32_t>(idx.word.size()));
    for (size_t k = off[c]; k < off[c + 1]; ++k) {
      const uint16_t w = static_cast<uint16_t>(rules[k] / 64);
      if (idx.word.size() == idx.first.back() || idx.word.back() != w) {
        idx.word.push_back(w);
        idx.bits.push_back(0);
      }
      idx.bits.back() |= uint64_t{1} << (rules[k] % 64);
    }
  }
  idx.first.push_back(static_cast<uint32_t>(idx.word.size()));
  idx.starts = std::move(starts);
  make_hint(field, idx.starts, idx.hint, idx.shift);
  return idx;
}

// The name NUL-padded to 16 bytes: two loads of the IfName object itself
// (16 bytes: the name's 15, then its length) and masks from the length.
// It used to copy the name into a local buffer first and load it back: the
// 8-byte load that straddled the copy's two stores could not be forwarded
// from them (perf: a third of lookup()'s cycles in the nat run, and most
// of cache_key's), while the IfName was written long before.
void put_name(uint64_t* w, const packet::IfName& name) {
  static_assert(packet::IfName::kMax == 15 && sizeof(packet::IfName) == 16 &&
                std::is_trivially_copyable_v<packet::IfName>);
  uint64_t lo, hi;
  std::memcpy(&lo, &name, 8);
  std::memcpy(&hi, reinterpret_cast<const char*>(&name) + 8, 8);
  const size_t len = name.view().size();
  // view() starts at the object's first byte (checked once, in tests:
  // compiled_test compares names this way against the index's strings).
  w[0] = len >= 8 ? lo : lo & ((uint64_t{1} << (8 * len)) - 1);
  w[1] = len <= 8 ? 0 : hi & ((uint64_t{1} << (8 * (len - 8))) - 1);
}

// The same encoding of an index name (at most 15 bytes: exact_iface).
std::array<uint64_t, 2> name_words(std::string_view name) {
  char buf[16] = {};
  std::memcpy(buf, name.data(), std::min<size_t>(name.size(), 15));
  std::array<uint64_t, 2> w;
  std::memcpy(w.data(), buf, 16);
  return w;
}

std::optional<CompiledTable::IfaceIndex> build_iface(bool out, const std::vector<RuleFacts>& facts, size_t words,
                                                     const ClassifyOptions& opts) {
  std::vector<std::string> names;
  for (const auto& rf : facts)
    if (const auto& n = out ? rf.out : rf.in) names.push_back(*n);
  if (names.empty()) return std::nullopt;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  // Beyond the budget the names left out act as wildcards (a superset).
  names.resize(std::min(names.size(), class_cap(opts, words) - 1));
  CompiledTable::IfaceIndex idx;
  idx.out = out;
  idx.names = names;
  for (const auto& n : names) idx.words.push_back(name_words(n));
  const size_t classes = names.size() + 1;
  idx.bits.assign(classes * words, 0);
  for (size_t j = 0; j < facts.size(); ++j) {
    const auto& n = out ? facts[j].out : facts[j].in;
    auto it = n ? std::lower_bound(names.begin(), names.end(), *n) : names.end();
    if (n && it != names.end() && *it == *n) set_bit(idx.bits, static_cast<size_t>(it - names.begin()), words, j);
    else
      for (size_t c = 0; c < classes; ++c) set_bit(idx.bits, c, words, j);
  }
  idx.ones = class_ones(idx.bits, words);
  return idx;
}

// The packet's value of each range field; valid has a bit per known field.
struct Key {
  std::array<uint32_t, CompiledTable::kNumRangeFields> v{};
  uint32_t valid = 0;
};

[[gnu::always_inline]] inline Key packet_key(const packet::Packet& pkt, size_t thoff_in, uint16_t fragoff) {
  Key k;
  auto h = pkt.ip();
  auto put = [&](Field f, uint32_t v) {
    k.v[f] = v;
    k.valid |= 1u << f;
  };
  put(CompiledTable::kSrc, h.saddr());
  put(CompiledTable::kDst, h.daddr());
  put(CompiledTable::kProto, h.protocol());
  put(CompiledTable::kMark, pkt.meta.mark);
  uint32_t state;
  if (pkt.meta.ct) state = 1u << ((static_cast<unsigned>(pkt.meta.ctinfo) % 3) + 1);
  else if (pkt.meta.ctinfo == packet::CtInfo::Untracked) state = kStateUntracked;
  else state = kStateInvalid;
  put(CompiledTable::kCtState, state);
  auto data = pkt.data();
  size_t thoff = std::min<size_t>(thoff_in, data.size());
  size_t need = h.protocol() == 6 ? 20 : 8;
  if (fragoff == 0 && data.size() - thoff >= need) {
    const uint8_t* l4 = data.data() + thoff;
    put(CompiledTable::kSport, static_cast<uint32_t>(l4[0] << 8 | l4[1]));
    put(CompiledTable::kDport, static_cast<uint32_t>(l4[2] << 8 | l4[3]));
    put(CompiledTable::kIcmpType, l4[0]);
  }
  return k;
}

constexpr size_t kMaxSets = CompiledTable::kNumRangeFields + 2;

// The class bitsets of the packet in one chain, sparsest first (next_match
// ANDs the first two in its inner loop); returns how many.
// v's class in an index with starts and an optional hint.
template <class Index>
[[gnu::always_inline]] inline size_t class_of(const Index& r, uint32_t v) {
  auto first = r.starts.begin(), last = r.starts.end();
  if (!r.hint.empty()) {
    const uint32_t b = v >> r.shift;
    last = first + r.hint[b + 1] + 1;
    first += r.hint[b] + 1;
  }
  return static_cast<size_t>(std::upper_bound(first, last, v) - r.starts.begin()) - 1;
}

// The words of the rules the packet's addresses leave (ci.addrs, see the
// file comment), in order, with their bits: the OR of the primary field's
// class, the secondary field's class and the rules wild in both.
size_t addr_words(const CompiledTable::ChainIndex& ci, const Key& k, uint16_t* ow, uint64_t* ox) {
  constexpr uint32_t kEnd = 0xffffffffu;
  const size_t na = ci.addrs.size();
  std::array<const uint16_t*, 3> pw, ew;
  std::array<const uint64_t*, 3> px;
  for (size_t a = 0; a < na; ++a) {
    const auto& idx = ci.addrs[a];
    const size_t c = class_of(idx, k.v[idx.field]);
    pw[a] = idx.word.data() + idx.first[c];
    ew[a] = idx.word.data() + idx.first[c + 1];
    px[a] = idx.bits.data() + idx.first[c];
  }
  pw[na] = ci.all_wild_word.data();
  ew[na] = pw[na] + ci.all_wild_word.size();
  px[na] = ci.all_wild_bits.data();
  size_t n = 0;
  while (true) {
    uint32_t w = kEnd;
    for (size_t a = 0; a <= na; ++a)
      if (pw[a] != ew[a]) w = std::min<uint32_t>(w, *pw[a]);
    if (w == kEnd) return n;
    uint64_t x = 0;
    for (size_t a = 0; a <= na; ++a)
      if (pw[a] != ew[a] && *pw[a] == w) {
        x |= *px[a]++;
        ++pw[a];
      }
    ow[n] = static_cast<uint16_t>(w);
    ox[n++] = x;
  }
}

// A packet's classes in the current chain: the dense sets, sparsest
// first (next_match ANDs the first two in its inner loop), and, when the
// chain indexes its addresses sparsely, the words they leave.
struct Scan {
  std::array<const uint64_t*, kMaxSets> sets;
  size_t nsets = 0;
  bool sparse = false;
  // The sparse words' rules are tested against their records (the range
  // fields' sets are not in `sets`; see "Rule records" in classify.h).
  bool records = false;
  Key key;
  // A chain of one word (at most 64 rules) with dense classes: the AND of
  // the packet's classes, taken as they are looked up. Most chains of real
  // rulesets are that small, and sorting their sets cost more than the
  // AND it prepares (~100 of a lookup's ~440 instructions). Its own scan
  // below: as the only set of the general one, 1 % more instructions on
  // the real rulesets, which have several such chains per hook.
  bool single = false;
  uint64_t one = 0;
  size_t nsp = 0;
  // Not initialised: only [0, nsp) is read.
  std::array<uint16_t, CompiledTable::kMaxSparseWords> sp_w;
  std::array<uint64_t, CompiledTable::kMaxSparseWords> sp_x;
};

// The packet's class in an interface index: its name's position among
// the names, or names.size() for any other name.
[[gnu::always_inline]] inline size_t iface_class(const CompiledTable::IfaceIndex& f, const packet::IfName& name) {
  size_t c = f.names.size();
  uint64_t w[2];
  put_name(w, name);
  if (c <= 8) {
    // A few names (the usual case): compare two words each.
    for (size_t j = 0; j < f.words.size(); ++j)
      if (f.words[j][0] == w[0] && f.words[j][1] == w[1]) c = j;
  } else {
    // Many names: a binary search on the words instead of the strings
    // (their compares were half of a real ruleset's class lookups). Read
    // big-endian, the words sort as the names do: byte by byte, a shorter
    // name's NUL padding first.
    auto big = [](uint64_t v) {
      if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(v);
      return v;
    };
    const uint64_t w0 = big(w[0]), w1 = big(w[1]);
    auto it = std::lower_bound(f.words.begin(), f.words.end(), 0, [&](const std::array<uint64_t, 2>& e, int) {
      const uint64_t e0 = big(e[0]);
      return e0 != w0 ? e0 < w0 : big(e[1]) < w1;
    });
    if (it != f.words.end() && (*it)[0] == w[0] && (*it)[1] == w[1]) c = static_cast<size_t>(it - f.words.begin());
  }
  return c;
}

// At most this many rules in a packet's address words: their records are
// tested instead of the range fields' classes looked up.
constexpr int kRecordBits = 16;

// Whether rule r's record holds the packet's values of the chain's range
// fields (a field whose value the packet does not give holds, as a class
// lookup skips it).
[[gnu::always_inline]] inline bool record_holds(const CompiledTable::ChainIndex& ci, size_t r, const Key& k) {
  const size_t nf = ci.ranges.size();
  const uint32_t* rec = ci.records.data() + r * 2 * nf;
  for (size_t f = 0; f < nf; ++f) {
    const Field field = ci.ranges[f].field;
    if (!(k.valid & (1u << field))) continue;
    const uint32_t v = k.v[field], lo = rec[2 * f], hi = rec[2 * f + 1];
    if (field == CompiledTable::kCtState ? (v & lo) == 0 : (v < lo || v > hi)) return false;
  }
  return true;
}

void lookup(const CompiledTable::ChainIndex& ci, const Key& k, const packet::Packet& pkt, Scan& scan) {
  scan.records = false;
  if (ci.words == 1 && ci.addrs.empty()) {
    uint64_t x = ~uint64_t{0};
    for (const auto& r : ci.ranges)
      if (k.valid & (1u << r.field)) x &= r.bits[class_of(r, k.v[r.field])];
    for (const auto& f : ci.ifaces) x &= f.bits[iface_class(f, f.out ? pkt.meta.out : pkt.meta.in)];
    scan.single = true;
    scan.one = x;
    scan.nsets = 0;
    scan.sparse = false;
    return;
  }
  scan.single = false;
  auto& sets = scan.sets;
  size_t n = 0;
  std::array<uint32_t, kMaxSets> ones;
  auto add = [&](const uint64_t* set, uint32_t o) {
    size_t j = n++;
    for (; j > 0 && ones[j - 1] > o; --j) {
      sets[j] = sets[j - 1];
      ones[j] = ones[j - 1];
    }
    sets[j] = set;
    ones[j] = o;
  };
  scan.sparse = !ci.addrs.empty();
  if (scan.sparse) {
    scan.nsp = addr_words(ci, k, scan.sp_w.data(), scan.sp_x.data());
    if (!ci.records.empty()) {
      int rules = 0;
      for (size_t q = 0; q < scan.nsp && rules <= kRecordBits; ++q) rules += std::popcount(scan.sp_x[q]);
      scan.records = rules <= kRecordBits;
      if (scan.records) {
        scan.key = k;
        ++ci.record_scans;
      }
    }
  }
  if (!scan.records)
    for (const auto& r : ci.ranges) {
      if (!(k.valid & (1u << r.field))) continue;
      const size_t c = class_of(r, k.v[r.field]);
      add(r.bits.data() + c * ci.words, r.ones[c]);
    }
  for (const auto& f : ci.ifaces) {
    const size_t c = iface_class(f, f.out ? pkt.meta.out : pkt.meta.in);
    add(f.bits.data() + c * ci.words, f.ones[c]);
  }
  scan.nsets = n;
}

// The first rule at or after i that is a candidate and passes `pass` (the
// IP criteria), or n. Most packets match late or fall through to the
// policy, and merged classes leave candidates that fail the IP criteria:
// the bits of a word's AND are tried in place (no new search per failed
// candidate), and the scan for the next non-empty word ANDs the two
// sparsest sets of this packet (lookup's order) and a third in a tight
// loop, the others only read for words where those leave a bit.
template <class Pass>
size_t next_match(const CompiledTable::ChainIndex& ci, const Scan& scan, size_t i, size_t n, const Pass& pass) {
  if (i >= n) return n;
  if (scan.single) {
    // n <= 64, so i < 64, unless the chain's gate left nothing (one == 0).
    if (i >= 64) return n;
    for (uint64_t x = scan.one & (~uint64_t{0} << i); x; x &= x - 1) {
      const size_t r = static_cast<size_t>(std::countr_zero(x));
      if (r >= n) return n;
      if (pass(r)) return r;
    }
    return n;
  }
  const auto& sets = scan.sets;
  const size_t nsets = scan.nsets;
  if (scan.sparse) {
    // Only the words the addresses leave.
    const uint16_t* ws = scan.sp_w.data();
    size_t p = static_cast<size_t>(std::lower_bound(ws, ws + scan.nsp, static_cast<uint16_t>(i / 64)) - ws);
    for (; p < scan.nsp; ++p) {
      const size_t w = ws[p];
      uint64_t x = scan.sp_x[p];
      if (w == i / 64) x &= ~uint64_t{0} << (i % 64);
      for (size_t s = 0; s < nsets && x; ++s) x &= sets[s][w];
      for (; x; x &= x - 1) {
        const size_t r = w * 64 + static_cast<size_t>(std::countr_zero(x));
        if (r >= n) return n;
        if (scan.records && !record_holds(ci, r, scan.key)) continue;
        if (pass(r)) return r;
      }
    }
    return n;
  }
  if (nsets == 0) {
    for (; i < n; ++i)
      if (pass(i)) return i;
    return n;
  }
  const size_t words = ci.words;
  size_t w = i / 64;
  uint64_t x = ~uint64_t{0} << (i % 64);
  for (size_t s = 0; s < nsets && x; ++s) x &= sets[s][w];
  const uint64_t* a = sets[0];
  const uint64_t* b = nsets > 1 ? sets[1] : sets[0];
  const uint64_t* c = nsets > 2 ? sets[2] : sets[0];
  while (true) {
    for (; x; x &= x - 1) {
      const size_t r = w * 64 + static_cast<size_t>(std::countr_zero(x));
      if (r >= n) return n;
      if (pass(r)) return r;
    }
    for (++w; w < words; ++w) {
      x = a[w] & b[w] & c[w];
      if (!x) continue;
      for (size_t s = 3; s < nsets && x; ++s) x &= sets[s][w];
      if (x) break;
    }
    if (w >= words) return n;
  }
}

using Entry = CompiledTable::ChainIndex::CacheEntry;
struct CacheKey {
  std::array<uint64_t, 3> w{};
  CompiledTable::ChainIndex::CacheNames names{};
};

// Everything lookup() and ip_criteria_match() read of the packet in chain
// ci (see the file comment in classify.h). Word 2 has its top bit set, so a
// zeroed (never filled) entry matches no key.
[[gnu::always_inline]] inline CacheKey cache_key(const CompiledTable::ChainIndex& ci, const Key& k, const packet::Packet& pkt,
                                                  bool is_fragment) {
  using CI = CompiledTable::ChainIndex;
  CacheKey key;
  auto& w = key.w;
  // Every field, then the chain's mask (KeyUse, ChainIndex::key_mask):
  // fewer branches than a test per field. Unreadable ports are 0 in k.
  w[0] = k.v[CompiledTable::kSrc] | uint64_t{k.v[CompiledTable::kDst]} << 32;
  // The ICMP type is the sport's high byte: the ports cover it.
  w[1] = k.v[CompiledTable::kSport] << 16 | k.v[CompiledTable::kDport] | uint64_t{k.v[CompiledTable::kMark]} << 32;
  const bool l4 = k.valid & (1u << CompiledTable::kSport);
  w[2] = uint64_t{1} << 63 | uint64_t{k.v[CompiledTable::kProto]} << 16 | uint64_t{l4} << 24 |
         uint64_t{is_fragment} << 25 | k.v[CompiledTable::kCtState];
  for (size_t j = 0; j < 3; ++j) w[j] &= ci.key_mask[j];
  if (ci.key_use & CI::kUseIn) put_name(&key.names[0], pkt.meta.in);
  if (ci.key_use & CI::kUseOut) put_name(&key.names[2], pkt.meta.out);
  return key;
}

// The set of a key: a hash of the words the packet's headers give
// (addresses, ports, protocol, the l4 and fragment flags), not of what
// conntrack, routing or a target add (ctstate, mark, interface names), so
// that a reader ahead could name it before those are known (cache_set_of).
// Keys that differ only there share a set: they are still told apart.
constexpr uint64_t kHeaderWord1 = 0xffffffffu;                           // the ports, not the mark
constexpr uint64_t kHeaderWord2 = uint64_t{1} << 63 | uint64_t{0x3ff} << 16;  // proto, l4, fragment
[[gnu::always_inline]] inline size_t cache_set(const CompiledTable::ChainIndex& ci, const std::array<uint64_t, 3>& w) {
  const uint64_t h = w[0] * 0x9e3779b97f4a7c15u ^ (w[1] & kHeaderWord1) * 0xc2b2ae3d27d4eb4fu ^
                     (w[2] & kHeaderWord2) * 0x165667b19e3779f9u;
  return (h >> 32) & ci.cache_mask;
}

template <size_t N>
bool same_words(const std::array<uint64_t, N>& a, const std::array<uint64_t, N>& b) {
  uint64_t d = 0;
  for (size_t k = 0; k < N; ++k) d |= a[k] ^ b[k];
  return d == 0;
}

// The entry of key k in ci's cache; on a miss, an empty one claimed for k.
// The victim is the set's least recently used way (way 0's mru field names
// the most recently used one), so entries never move.
[[gnu::always_inline]] inline Entry* probe(const CompiledTable::ChainIndex& ci, const CacheKey& k) {
  const auto& w = k.w;
  const auto& nm = k.names;
  const bool names = !ci.cache_names.empty();
  const size_t at = 2 * cache_set(ci, w);
  Entry* e = ci.cache.data() + at;
  for (uint16_t way = 0; way < 2; ++way)
    if (same_words(e[way].key, w) && (!names || same_words(ci.cache_names[at + way], nm))) {
      ++ci.cache_hits;
      ++ci.window_hits;
      e[0].mru = way;
      return e + way;
    }
  ++ci.cache_misses;
  const uint16_t victim = e[0].mru ^ 1;
  e[0].mru = victim;
  Entry* v = e + victim;
  v->key = w;
  if (names) ci.cache_names[at + victim] = nm;
  v->covered = 0;
  v->count = 0;
  return v;
}

// Whether this traversal of ci skips its cache (ClassifyOptions::cache_window).
bool bypassing(const CompiledTable::ChainIndex& ci) {
  if (ci.bypass_left > 0) {
    --ci.bypass_left;
    ++ci.cache_bypassed;
    return true;
  }
  if (ci.window == 0) return false;
  if (++ci.window_probes >= ci.window) {
    if (ci.window_hits * 8 < ci.window_probes) ci.bypass_left = ci.bypass;
    ci.window_probes = 0;
    ci.window_hits = 0;
  }
  return false;
}

struct Frame {
  size_t chain;
  size_t next;
};

// Each rule's set of each range field as one interval, the ctstate
// field's as the mask of the states it holds (a packet's state is one
// bit), laid out as ChainIndex::records; empty when some rule's set of a
// field other than ctstate is not one interval (see "Rule records" in
// classify.h).
std::vector<uint32_t> rule_records(const std::vector<CompiledTable::RangeIndex>& ranges, const std::vector<RuleFacts>& facts) {
  const size_t nf = ranges.size();
  std::vector<uint32_t> rec(facts.size() * 2 * nf);
  for (size_t j = 0; j < facts.size(); ++j)
    for (size_t f = 0; f < nf; ++f) {
      const Field field = ranges[f].field;
      const auto& set = facts[j].f[field];
      uint32_t lo = 0, hi = 0xffffffffu;  // says nothing of the field
      if (field == CompiledTable::kCtState) {
        lo = set ? 0 : 0xffffffffu;
        if (set)
          for (auto [a, b] : set->ranges)
            for (uint32_t bit = 0; bit < 32; ++bit)
              if ((1u << bit) >= a && (1u << bit) <= b) lo |= 1u << bit;
        hi = 0;
      } else if (set) {
        if (set->ranges.size() > 1) return {};
        if (set->ranges.empty()) {
          lo = 1;  // holds nothing
          hi = 0;
        } else {
          lo = set->ranges[0].first;
          hi = set->ranges[0].second;
        }
      }
      rec[(j * nf + f) * 2] = lo;
      rec[(j * nf + f) * 2 + 1] = hi;
    }
  return rec;
}

// The range whose empty classes (no candidate for a packet there) cover
// the largest share of its field's domain, if that share is at least half;
// else -1 (see "Empty classes" in classify.h). Only addresses and ports:
// their values spread over the domain, while a packet's protocol, mark or
// ctstate is one of a few values that a domain share says nothing about.
int8_t gate_field(const std::vector<CompiledTable::RangeIndex>& ranges) {
  int8_t best = -1;
  double best_share = 0.5;
  for (size_t k = 0; k < ranges.size() && k < 127; ++k) {
    const auto& r = ranges[k];
    if (r.field != CompiledTable::kSrc && r.field != CompiledTable::kDst && r.field != CompiledTable::kSport &&
        r.field != CompiledTable::kDport)
      continue;
    const double domain = static_cast<double>(field_max(r.field)) + 1;
    double empty = 0;
    for (size_t c = 0; c < r.ones.size(); ++c) {
      if (r.ones[c] != 0) continue;
      const double hi = c + 1 < r.starts.size() ? static_cast<double>(r.starts[c + 1]) : domain;
      empty += hi - static_cast<double>(r.starts[c]);
    }
    if (empty / domain >= best_share) {
      best_share = empty / domain;
      best = static_cast<int8_t>(k);
    }
  }
  return best;
}

}  // namespace

CompiledTable CompiledTable::compile(const Table& t, const ClassifyOptions& opts) {
  CompiledTable ct;
  ct.generation_ = t.generation();
  const auto& chains = t.chains();
  // The last chain of a hook, as the linear walker picks it.
  for (size_t c = 0; c < chains.size(); ++c)
    if (chains[c].hook && static_cast<size_t>(*chains[c].hook) < ct.base_.size())
      ct.base_[static_cast<size_t>(*chains[c].hook)] = static_cast<int32_t>(c);
  for (size_t h = 0; h < ct.base_.size(); ++h)
    if (ct.base_[h] >= 0 && chains[static_cast<size_t>(ct.base_[h])].rules.empty())
      ct.empty_base_ |= static_cast<uint8_t>(1u << h);
  for (const Chain& c : chains) {
    ChainIndex ci;
    const size_t n = c.rules.size();
    ci.words = (n + 63) / 64;
    std::vector<RuleFacts> facts;
    facts.reserve(n);
    for (const Rule& r : c.rules) {
      facts.push_back(rule_facts(r));
      int32_t to = -1;
      if (r.kind == TargetKind::Jump || r.kind == TargetKind::Goto)
        if (const Chain* target = t.find(r.chain_target)) to = static_cast<int32_t>(target - chains.data());
      ci.jump_to.push_back(to);
    }
    if (n > 0) {
      for (int f = 0; f < kNumRangeFields; ++f)
        if (auto idx = build_range(static_cast<Field>(f), facts, ci.words, opts)) ci.ranges.push_back(std::move(*idx));
      // Addresses whose classes had to be merged: exact and sparse instead
      // when that fits. The primary field (fewer rule-interval incidences)
      // lists all its rules, the secondary only those wild in the primary.
      const bool merged = std::any_of(ci.ranges.begin(), ci.ranges.end(), [](const RangeIndex& r) {
        return (r.field == kSrc || r.field == kDst) && !r.exact;
      });
      if ((merged || opts.sparse_addresses_always) && ci.words <= kMaxSparseWords && opts.addr_budget_bytes > 0) {
        auto src = build_addr(kSrc, facts, ci.words, opts), dst = build_addr(kDst, facts, ci.words, opts);
        // The primary: the field with fewer incidences of those in budget.
        std::vector<AddrIndex> addrs;
        if (src && (!dst || src->incidences < dst->incidences)) addrs.push_back(std::move(*src));
        else if (dst) addrs.push_back(std::move(*dst));
        if (!addrs.empty()) {
          const Field primary = addrs[0].field, secondary = primary == kSrc ? kDst : kSrc;
          if (std::any_of(facts.begin(), facts.end(),
                          [&](const RuleFacts& rf) { return constrains(rf, secondary) && !constrains(rf, primary); })) {
            if (auto sec = build_addr(secondary, facts, ci.words, opts, primary)) addrs.push_back(std::move(*sec));
            else addrs.clear();  // over budget
          }
        }
        if (!addrs.empty()) {
          ci.addrs = std::move(addrs);
          std::erase_if(ci.ranges, [](const RangeIndex& r) { return r.field == kSrc || r.field == kDst; });
          // Rules wild in every indexed address field.
          for (size_t w = 0; w < ci.words; ++w) {
            uint64_t x = 0;
            for (size_t j = w * 64; j < std::min(n, w * 64 + 64); ++j)
              if (std::none_of(ci.addrs.begin(), ci.addrs.end(), [&](const AddrIndex& a) { return constrains(facts[j], a.field); }))
                x |= uint64_t{1} << (j % 64);
            if (x) {
              ci.all_wild_word.push_back(static_cast<uint16_t>(w));
              ci.all_wild_bits.push_back(x);
            }
          }
        }
      }
      // Most selective field first: the AND of a word stops at the first
      // field that leaves no candidate, so that order saves loads.
      auto density = [](const RangeIndex& r) {
        size_t ones = 0;
        for (uint64_t w : r.bits) ones += static_cast<size_t>(std::popcount(w));
        return static_cast<double>(ones) / static_cast<double>(r.starts.size());
      };
      std::vector<std::pair<double, size_t>> order;
      for (size_t k = 0; k < ci.ranges.size(); ++k) order.push_back({density(ci.ranges[k]), k});
      std::stable_sort(order.begin(), order.end());
      std::vector<RangeIndex> sorted;
      for (auto [d, k] : order) sorted.push_back(std::move(ci.ranges[k]));
      ci.ranges = std::move(sorted);
      ci.gate = gate_field(ci.ranges);
      if (!ci.addrs.empty()) ci.records = rule_records(ci.ranges, facts);
      for (bool out : {false, true})
        if (auto idx = build_iface(out, facts, ci.words, opts)) ci.ifaces.push_back(std::move(*idx));
    }
    ci.proven.resize(n);
    ci.rekey.resize(n);
    ci.ip_tests.resize(n);
    ci.pending.resize(n);
    for (size_t j = 0; j < n; ++j) {
      const IpCriteria& ip = c.rules[j].ip;
      const bool named = std::any_of(ip.in.mask.begin(), ip.in.mask.end(), [](auto b) { return b != 0; }) ||
                         std::any_of(ip.out.mask.begin(), ip.out.mask.end(), [](auto b) { return b != 0; });
      constexpr uint8_t kRuleInv = IpCriteria::kInvIn | IpCriteria::kInvOut | IpCriteria::kInvFrag;
      ci.ip_tests[j] = {ip.src, ip.smsk, ip.dst, ip.dmsk, ip.proto, ip.inv, named || ip.frag || (ip.inv & kRuleInv) != 0};
      uint8_t p = ip_proven_by_index(c.rules[j], facts[j], ci) ? CompiledTable::ChainIndex::kIpProven : 0;
      // A candidate is in the class of its value of every field the index
      // reads (ports: only when readable); exact classes hold only rules
      // whose set holds that value.
      const auto& rf = facts[j];
      bool all = rf.matches_exact;
      for (int f = kSport; all && f < kNumRangeFields; ++f) {
        if (!(rf.match_fields & (1u << f))) continue;
        if (whole_domain(rf.f[f], static_cast<Field>(f))) continue;  // holds for any readable value
        all = std::any_of(ci.ranges.begin(), ci.ranges.end(),
                          [&](const RangeIndex& r) { return r.field == f && r.exact; });
      }
      if (all) p |= CompiledTable::ChainIndex::kMatchesProven | (rf.needs_ports ? CompiledTable::ChainIndex::kNeedsPorts : 0);
      if (unconditional_standard(c.rules[j])) p |= CompiledTable::ChainIndex::kPlain;
      static_assert(static_cast<int>(TargetKind::Extension) < 16);
      ci.proven[j] = static_cast<uint8_t>(p | static_cast<uint8_t>(c.rules[j].kind) << CompiledTable::ChainIndex::kKindShift);
      ci.rekey[j] = rf.changes_packet ? 1 : 0;
    }
    // Small chains keep the plain index: a scan of a few words is cheaper
    // than a probe. Candidates are stored as uint16_t.
    if (opts.cache_sets > 0 && n > opts.cache_min_rules && n <= 0xffff) {
      for (const auto& r : ci.ranges) {
        if (r.field == kSrc) ci.key_use |= ChainIndex::kUseSrc;
        if (r.field == kDst) ci.key_use |= ChainIndex::kUseDst;
        if (r.field == kSport || r.field == kIcmpType) ci.key_use |= ChainIndex::kUseSport;
        if (r.field == kDport) ci.key_use |= ChainIndex::kUseDport;
        if (r.field == kMark) ci.key_use |= ChainIndex::kUseMark;
        if (r.field == kCtState) ci.key_use |= ChainIndex::kUseState;
      }
      // ip_criteria_match reads a name only under a non-zero mask.
      auto named = [](const IfaceMatch& m) {
        return std::any_of(m.mask.begin(), m.mask.end(), [](auto b) { return b != 0; });
      };
      for (const auto& a : ci.addrs) ci.key_use |= a.field == kSrc ? ChainIndex::kUseSrc : ChainIndex::kUseDst;
      for (const Rule& r : c.rules) {
        // ip_candidate tests the address of a rule the index did not prove
        // (a constant when the mask is zero, but keep it simple: any -s/-d).
        if (r.ip.smsk != 0 || r.ip.src != 0 || (r.ip.inv & IpCriteria::kInvSrc)) ci.key_use |= ChainIndex::kUseSrc;
        if (r.ip.dmsk != 0 || r.ip.dst != 0 || (r.ip.inv & IpCriteria::kInvDst)) ci.key_use |= ChainIndex::kUseDst;
        if (named(r.ip.in)) ci.key_use |= ChainIndex::kUseIn;
        if (named(r.ip.out)) ci.key_use |= ChainIndex::kUseOut;
      }
      const size_t sets = std::bit_floor(opts.cache_sets);
      ci.cache_mask = static_cast<uint32_t>(sets - 1);
      ci.cache.assign(2 * sets, ChainIndex::CacheEntry{});
      ci.window = opts.cache_window;
      ci.bypass = opts.cache_bypass;
      if (ci.key_use & (ChainIndex::kUseIn | ChainIndex::kUseOut)) ci.cache_names.assign(2 * sets, {});
      auto use = [&](uint8_t u, uint64_t m) { return (ci.key_use & u) ? m : 0; };
      const bool ports = ci.key_use & (ChainIndex::kUseSport | ChainIndex::kUseDport);
      ci.key_mask = {use(ChainIndex::kUseSrc, 0xffffffffu) | use(ChainIndex::kUseDst, uint64_t{0xffffffffu} << 32),
                     use(ChainIndex::kUseSport, 0xffff0000u) | use(ChainIndex::kUseDport, 0xffffu) |
                         use(ChainIndex::kUseMark, uint64_t{0xffffffffu} << 32),
                     uint64_t{1} << 63 | uint64_t{0xff} << 16 | uint64_t{ports} << 24 | uint64_t{1} << 25 |
                         use(ChainIndex::kUseState, 0xffffu)};
    }
    ct.chains_.push_back(std::move(ci));
  }
  return ct;
}

size_t CompiledTable::memory_bytes() const {
  size_t total = 0;
  for (const auto& c : chains_) {
    for (const auto& r : c.ranges) total += r.bits.size() * 8 + r.starts.size() * 4 + r.hint.size() * 4;
    for (const auto& a : c.addrs)
      total += a.starts.size() * 4 + a.hint.size() * 4 + a.first.size() * 4 + a.word.size() * 2 + a.bits.size() * 8;
    total += c.all_wild_word.size() * 2 + c.all_wild_bits.size() * 8 + c.records.size() * 4;
    for (const auto& f : c.ifaces) {
      total += f.bits.size() * 8;
      for (const auto& n : f.names) total += n.size() + sizeof(std::string);
      total += f.words.size() * 16;
    }
    total += c.proven.size() + c.jump_to.size() * 4 + c.ip_tests.size() * sizeof(ChainIndex::IpTest) +
             c.pending.size() * sizeof(Counters);
    total += c.cache.size() * sizeof(ChainIndex::CacheEntry) + c.cache_names.size() * sizeof(ChainIndex::CacheNames);
  }
  return total;
}

bool CompiledTable::fold_counters(Table& t) const {
  if (!fresh_for(t)) return false;
  auto& chains = t.chains();
  for (size_t c = 0; c < chains_.size(); ++c) {
    const ChainIndex& ci = chains_[c];
    if (!ci.counted) continue;
    auto& rules = chains[c].rules;
    // The same generation has the same rules (Table::touch).
    const size_t n = std::min(rules.size(), ci.pending.size());
    for (size_t j = 0; j < n; ++j) {
      Counters& p = ci.pending[j];
      if (p.packets == 0) continue;
      rules[j].counters.packets += p.packets;
      rules[j].counters.bytes += p.bytes;
      p = {};
    }
    ci.counted = false;
  }
  return true;
}

bool CompiledTable::drop_counters() const {
  bool any = false;
  for (const ChainIndex& ci : chains_) {
    if (!ci.counted) continue;
    for (Counters& p : ci.pending) {
      any = any || p.packets != 0;
      p = {};
    }
    ci.counted = false;
  }
  return any;
}

bool CompiledTable::counters_pending() const {
  return std::any_of(chains_.begin(), chains_.end(), [](const ChainIndex& ci) { return ci.counted; });
}

CompiledTable::CacheStats CompiledTable::cache_stats() const {
  CacheStats s;
  for (const auto& c : chains_) {
    s.hits += c.cache_hits;
    s.misses += c.cache_misses;
    s.bypassed += c.cache_bypassed;
    s.matches_skipped += c.matches_skipped;
    s.gated += c.gated;
    s.record_scans += c.record_scans;
    s.chains += !c.cache.empty();
  }
  return s;
}

size_t CompiledTable::indexed_fields(size_t chain) const {
  return chain < chains_.size() ? chains_[chain].ranges.size() + chains_[chain].addrs.size() + chains_[chain].ifaces.size()
                                : 0;
}

size_t CompiledTable::cache_set_of(Hook hook, const packet::Packet& pkt) const {
  const size_t h = static_cast<size_t>(hook);
  if (h >= base_.size() || base_[h] < 0) return SIZE_MAX;
  const ChainIndex& ci = chains_[static_cast<size_t>(base_[h])];
  // A chain that bypasses its cache will not probe it.
  if (ci.cache.empty() || ci.bypass_left > 0) return SIZE_MAX;
  auto ip = pkt.ip();
  const uint16_t fragoff = ip.frag_offset();
  const Key k = packet_key(pkt, size_t{ip.ihl()} * 4, fragoff);
  return cache_set(ci, cache_key(ci, k, pkt, fragoff != 0).w);
}

// Whether candidate r of a chain passes ip_criteria_match: proven by the
// index, else from the packed copy of its criteria (ChainIndex::ip_tests),
// else (interfaces, -f) from the rule.
[[gnu::always_inline]] inline bool ip_candidate(const CompiledTable::ChainIndex& ci, const Chain& chain, size_t r,
                                                const packet::Packet& pkt, bool is_fragment) {
  if (ci.proven[r] & CompiledTable::ChainIndex::kIpProven) return true;
  const CompiledTable::ChainIndex::IpTest& q = ci.ip_tests[r];
  if (q.rule) return ip_criteria_match(chain.rules[r].ip, pkt, is_fragment);
  auto inv = [&](bool cond, uint8_t flag) { return cond ^ ((q.inv & flag) != 0); };
  auto h = pkt.ip();
  if (inv((h.saddr() & q.smsk) != q.src, IpCriteria::kInvSrc)) return false;
  if (inv((h.daddr() & q.dmsk) != q.dst, IpCriteria::kInvDst)) return false;
  return !q.proto || !inv(h.protocol() != q.proto, IpCriteria::kInvProto);
}

// Mirrors run_table (walk.cpp) statement for statement, except that the
// rule index advances to the next candidate instead of the next rule.
Verdict run_table(Table& t, const CompiledTable& compiled, EvalContext& ctx, TraceSink* sink) {
  if (!compiled.fresh_for(t)) return run_table(t, ctx, sink);
  auto& chains = t.chains();
  const size_t h = static_cast<size_t>(ctx.hook);
  if (h >= compiled.base_chains().size() || compiled.base_chains()[h] < 0) return Verdict::Accept;
  const size_t base = static_cast<size_t>(compiled.base_chains()[h]);
  // A base chain without rules is its policy. Such chains are common (the
  // nat PREROUTING of a masquerading router; raw and mangle as
  // iptables-save writes them, every chain empty) and each packet walks
  // them at every hook: building the key and looking up an empty index
  // cost ~250 instructions for nothing. The policy entry as below.
  if (compiled.base_empty(h)) {
    Chain& only = chains[base];
    only.counters.packets++;
    only.counters.bytes += ctx.pkt.size();
    if (sink && sink->events) sink->on_event({t.name(), only.name, TraceEvent::Kind::Policy, 1, nullptr}, ctx.pkt);
    ctx.verdict = {only.name, 1, nullptr};
    return only.policy == Policy::Accept ? Verdict::Accept : Verdict::Drop;
  }

  // No loops: a chain is at most once on the stack.
  std::array<Frame, 64> local;
  std::vector<Frame> heap;
  Frame* stack = local.data();
  if (chains.size() > local.size()) {
    heap.resize(chains.size());
    stack = heap.data();
  }
  size_t depth = 0;

  size_t cur = base;
  size_t i = 0;
  const bool is_fragment = ctx.fragoff != 0;
  Key key = packet_key(ctx.pkt, ctx.thoff, ctx.fragoff);
  // The current chain's classes (looked up lazily when it has a cache) and
  // its cache entry with a cursor on the first listed candidate >= i.
  Scan scan;
  bool have_sets = false;
  Entry* ent = nullptr;
  size_t pos = 0;
  // After cur, i or the packet changed.
  auto sync = [&] {
    const auto& ci = compiled.chains()[cur];
    if (ci.gate >= 0) {
      const auto& g = ci.ranges[static_cast<size_t>(ci.gate)];
      if ((key.valid & (1u << g.field)) && g.ones[class_of(g, key.v[g.field])] == 0) {
        // No rule of the chain can match: a scan that finds nothing.
        ++ci.gated;
        ent = nullptr;
        scan.single = true;
        scan.one = 0;
        scan.nsets = 0;
        scan.sparse = false;
        have_sets = true;
        return;
      }
    }
    if (ci.cache.empty() || bypassing(ci)) {
      ent = nullptr;
      lookup(ci, key, ctx.pkt, scan);
      have_sets = true;
      return;
    }
    have_sets = false;
    ent = probe(ci, cache_key(ci, key, ctx.pkt, is_fragment));
    for (pos = 0; pos < ent->count && ent->cand[pos] < i; ++pos) {
    }
  };
  // The first rule at or after i that is a candidate and passes the IP
  // criteria (so the loop below does not test them again). With a cache:
  // from the entry while it covers i, else from the bitsets (appended to
  // the entry when the scan starts where it stops).
  auto cached_next = [&](const CompiledTable::ChainIndex& ci, const Chain& chain) -> size_t {
    const size_t n = chain.rules.size();
    while (pos < ent->count && ent->cand[pos] < i) ++pos;
    if (pos < ent->count) return ent->cand[pos];
    if (ent->covered >= n) return n;
    if (!have_sets) {
      lookup(ci, key, ctx.pkt, scan);
      have_sets = true;
    }
    const size_t c = next_match(ci, scan, std::max<size_t>(i, ent->covered), n, [&](size_t r) {
      return ip_candidate(ci, chain, r, ctx.pkt, is_fragment);
    });
    if (i <= ent->covered) {
      if (c >= n) ent->covered = static_cast<uint32_t>(n);
      else if (ent->count < ent->cand.size()) {
        ent->cand[ent->count++] = static_cast<uint16_t>(c);
        ent->covered = static_cast<uint32_t>(c + 1);
      }
    }
    return c;
  };
  sync();
  auto enter = [&](size_t c, size_t at) {
    cur = c;
    i = at;
    sync();
  };
  auto pop = [&] {
    if (depth == 0) enter(base, chains[base].rules.size());
    else {
      --depth;
      enter(stack[depth].chain, stack[depth].next);
    }
  };
  auto emit = [&](TraceEvent::Kind kind, int rulenum, const Rule* r) {
    if (sink && sink->events) sink->on_event({t.name(), chains[cur].name, kind, rulenum, r}, ctx.pkt);
  };

  while (true) {
    Chain& chain = chains[cur];
    const auto& ci = compiled.chains()[cur];
    i = ent ? cached_next(ci, chain) : next_match(ci, scan, i, chain.rules.size(), [&](size_t r) {
      return ip_candidate(ci, chain, r, ctx.pkt, is_fragment);
    });
    if (i >= chain.rules.size()) {
      int rulenum = static_cast<int>(chain.rules.size()) + 1;
      if (chain.builtin()) {
        chain.counters.packets++;
        chain.counters.bytes += ctx.pkt.size();
        emit(TraceEvent::Kind::Policy, rulenum, nullptr);
        ctx.verdict = {chain.name, rulenum, nullptr};
        return chain.policy == Policy::Accept ? Verdict::Accept : Verdict::Drop;
      }
      emit(TraceEvent::Kind::Return, rulenum, nullptr);
      pop();
      continue;
    }
    const size_t at = i;
    Rule& r = chain.rules[at];
    int rulenum = static_cast<int>(at) + 1;
    ++i;
    bool matched = true;
    // The index proved every match (see ChainIndex::proven): no call.
    const uint8_t proof = ci.proven[at];
    const bool skip = (proof & CompiledTable::ChainIndex::kMatchesProven) &&
                      (!(proof & CompiledTable::ChainIndex::kNeedsPorts) || (key.valid & (1u << CompiledTable::kSport)));
    if (skip) {
      ++ci.matches_skipped;
    } else {
      for (const auto& m : r.matches) {
        if (!m->can_evaluate()) {
          if (sink) sink->on_unsupported(m->name());
          matched = false;
          break;
        }
        MatchOutcome o = m->evaluate(ctx);
        if (o == MatchOutcome::HotDrop) {
          ctx.hotdrop = true;
          ctx.verdict = {};
          return Verdict::Drop;
        }
        if (o == MatchOutcome::NoMatch) {
          matched = false;
          break;
        }
      }
      // A match changed the packet (socket --restore-skmark): the rules
      // after this one are found with its new classes, as after a target.
      if (ci.rekey[at]) [[unlikely]] {
        key = packet_key(ctx.pkt, ctx.thoff, ctx.fragoff);
        sync();
      }
    }
    if (!matched) continue;
    // A rule whose matches ran has its line in cache: count there. One
    // whose matches the index proved is counted aside, so that a standard
    // target does not load the line for its counter alone (see "Counters"
    // in classify.h).
    Counters& pc = skip ? ci.pending[at] : r.counters;
    pc.packets++;
    pc.bytes += ctx.pkt.size();  // the length now: TCPMSS may have grown it (ipt_do_table's skb->len)
    if (skip) ci.counted = true;
    TraceEvent::Kind kind = TraceEvent::Kind::Rule;
    if (proof & CompiledTable::ChainIndex::kPlain) kind = cur == base ? TraceEvent::Kind::Policy : TraceEvent::Kind::Return;
    emit(kind, rulenum, &r);
    // Overwritten by whatever gives the verdict if this rule does not.
    ctx.verdict = {chain.name, rulenum, &r};

    const auto rule_kind = static_cast<TargetKind>(proof >> CompiledTable::ChainIndex::kKindShift);
    switch (rule_kind) {
      case TargetKind::None:
        continue;
      case TargetKind::Accept:
        return Verdict::Accept;
      case TargetKind::Drop:
        return Verdict::Drop;
      case TargetKind::Queue:
        return Verdict::Queue;
      case TargetKind::Return:
        pop();
        continue;
      case TargetKind::Jump:
      case TargetKind::Goto: {
        int32_t to = ci.jump_to[at];
        if (to < 0) return Verdict::Drop;  // verify() makes this unreachable
        if (rule_kind == TargetKind::Jump) stack[depth++] = {cur, i};
        enter(static_cast<size_t>(to), 0);
        continue;
      }
      case TargetKind::Extension: {
        if (!r.target->can_evaluate()) {
          if (sink) sink->on_unsupported(r.target->name());
          continue;
        }
        TargetVerdict tv = r.target->evaluate(ctx);
        // A target that lets the packet go on may have changed it (MARK,
        // CT --notrack, TOS...): look its classes up again.
        if (tv == TargetVerdict::Continue || tv == TargetVerdict::Return || tv == TargetVerdict::Unsupported) {
          key = packet_key(ctx.pkt, ctx.thoff, ctx.fragoff);
          sync();
        }
        switch (tv) {
          case TargetVerdict::Continue:
            continue;
          case TargetVerdict::Accept:
            return Verdict::Accept;
          case TargetVerdict::Drop:
            return Verdict::Drop;
          case TargetVerdict::Stolen:
            return Verdict::Stolen;
          case TargetVerdict::Queue:
            return Verdict::Queue;
          case TargetVerdict::Return:
            pop();
            continue;
          case TargetVerdict::Unsupported:
            if (sink) sink->on_unsupported(r.target->name());
            continue;
        }
      }
    }
  }
}

}  // namespace nfemu::xt
