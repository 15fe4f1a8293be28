// IP sets of one network namespace (net/netfilter/ipset/), as `ipset
// restore` loads them and as the set match (xt_set.c) tests a packet
// against them.
//
//   ipset::Registry sets;
//   if (auto r = sets.restore("create f2b hash:ip\nadd f2b 192.0.2.7\n"); !r)
//     std::cerr << r.error().format("sets.txt");
//   auto id = sets.find("f2b");              // the set's index, as iptables resolves it
//   sets.test(*id, pkt, {.src = {true}}, now_ns);
//
// Types: hash:ip and bitmap:ip (with netmask), hash:net, hash:net,port,
// hash:ip,port,net and hash:net,iface (with nomatch entries), hash:ip,port,
// hash:ip,port,ip, bitmap:port and list:set, family inet (the types this
// kernel has; hash:net,net, hash:net,port,net, hash:mac, hash:ip,mac,
// hash:ip,mark and bitmap:ip,mac are refused). Entries may have a timeout, counted on the
// virtual clock from the time the set was loaded (0). Sets created with
// `counters` count each element's packets and bytes as the set match
// tests them (and compare them, --packets-gt ...); sets created with
// `skbinfo` give SET --map-set each element's mark, priority and queue.
// Other types and inet6 are refused with a message that says so;
// hashsize, bucketsize, initval and comment only change what the kernel
// prints, never a match.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "packet/packet.h"
#include "util/result.h"

namespace nfemu::ipset {

enum class Type : uint8_t {
  HashIp, HashNet, HashIpPort, HashNetPort, BitmapPort,
  BitmapIp, HashIpPortIp, HashIpPortNet, HashNetIface, ListSet,
};

// Types whose elements are prefixes tested longest first, with nomatch
// entries (IPSET_TYPE_NOMATCH).
inline bool has_prefixes(Type t) {
  return t == Type::HashNet || t == Type::HashNetPort || t == Type::HashIpPortNet || t == Type::HashNetIface;
}
// hash:ip,port,net: the prefix is the third dimension's (addr2), not the first's.
inline bool prefix_on_addr2(Type t) { return t == Type::HashIpPortNet; }

// The skbinfo extension: what SET --map-set writes into the packet (the
// mark as (mark & ~mark_mask) ^ mark_value).
struct SkbInfo {
  uint32_t mark = 0, mark_mask = 0;
  uint32_t prio = 0;
  uint16_t queue = 0;
};

constexpr size_t kIfNameSize = 16;  // IFNAMSIZ, the terminating NUL included

struct Element {
  uint32_t addr = 0;  // host order, masked to the entry's prefix
  uint8_t cidr = 32;  // hash:net's prefix length
  uint8_t proto = 0;  // hash:ip,port
  uint16_t port = 0;  // hash:ip,port (ICMP: type << 8 | code)
  uint32_t addr2 = 0;  // hash:ip,port,ip and hash:ip,port,net: the third dimension
  uint8_t cidr2 = 32;  // hash:ip,port,net's prefix length
  // hash:net,iface: the interface (NUL-padded), matched as a prefix when
  // wildcard; a physdev: element names a bridge port, which the set match
  // never asks for, so it never matches.
  std::array<char, kIfNameSize> iface{};
  bool physdev = false, wildcard = false;
  uint16_t member = 0;  // list:set: the index of the member set
  bool nomatch = false;
  uint64_t expires_ns = 0;  // 0: never
  // The counters extension (Set::counters): statistics a test updates,
  // hence mutable, as rule counters are to a const walk.
  mutable uint64_t packets = 0, bytes = 0;
  SkbInfo skbinfo;
  std::string comment;      // printed back by save, never matched
};

// An element's identity: what makes two elements the same one.
struct ElementKey {
  uint64_t first = 0, second = 0;
  std::array<char, kIfNameSize> iface{};
  bool operator==(const ElementKey&) const = default;
};
inline ElementKey element_key(const Element& e) {
  ElementKey k;
  k.first = uint64_t{e.addr} << 32 | uint64_t{e.cidr} << 24 | uint64_t{e.proto} << 16 | e.port;
  k.second = uint64_t{e.addr2} << 32 | uint64_t{e.cidr2} << 24 | uint64_t{e.physdev} << 17 |
             uint64_t{e.wildcard} << 16 | e.member;
  k.iface = e.iface;
  return k;
}
struct ElementKeyHash {
  size_t operator()(const ElementKey& k) const {
    uint64_t h = k.first * 0x9e3779b97f4a7c15ull ^ (k.second + 0x632be59bd9b4e019ull);
    for (size_t i = 0; i < k.iface.size() && k.iface[i]; ++i) h = (h ^ static_cast<uint8_t>(k.iface[i])) * 0x100000001b3ull;
    return static_cast<size_t>(h ^ h >> 29);
  }
};

struct Set {
  std::string name;
  Type type = Type::HashIp;
  uint8_t netmask = 32;              // hash:ip, bitmap:ip: addresses are stored masked
  uint16_t first_port = 0, last_port = 0;  // bitmap:port's range
  uint32_t first_ip = 0, last_ip = 0;      // bitmap:ip's range (widened to whole netmask blocks)
  uint32_t list_size = 8;                  // list:set's size (at least 4)
  bool wildcards = false;                  // hash:net,iface: some element is a wildcard
  std::optional<uint32_t> timeout;   // the set's default timeout (seconds); set: timeouts allowed
  uint32_t hashsize = 1024, maxelem = 65536;
  bool comment = false;
  bool counters = false;             // the counters extension
  bool skbinfo = false;              // the skbinfo extension
  std::vector<Element> elements;     // in insertion order
  std::vector<uint8_t> cidrs;        // the prefix types: the prefix lengths in use, longest first
  // element_key -> index in elements (list:set: its members, in order)
  std::unordered_map<ElementKey, uint32_t, ElementKeyHash> by_key;
};

// Which address or port a dimension of the match takes (--match-set NAME
// src,dst): bit i for dimension i + 1, set: source.
struct Dirs {
  uint8_t src_bits = 0;
  int dim = 1;
};

enum class TestResult : uint8_t { NoMatch, Match, NoMatchEntry };

// The set match's counter options (IPSET_COUNTER_*, --packets-gt ...).
enum class CounterOp : uint8_t { None, Eq, Ne, Lt, Gt };
struct CounterMatch {
  CounterOp op = CounterOp::None;
  uint64_t value = 0;
};
struct TestOptions {
  CounterMatch packets, bytes;
  bool update_counters = true;  // ! --update-counters: false
  bool update_subcounters = true;  // ! --update-subcounters: false (a list:set's members)
  SkbInfo* skbinfo_out = nullptr;  // set: the found element's skbinfo (sets with skbinfo)
  // --return-nomatch: what a list:set asks of its members (a member of a
  // nomatch type answers yes for its nomatch entries).
  bool return_nomatch = false;
};

class Registry {
 public:
  // `ipset restore` input (or `ipset save` output): create, add, and the
  // comment and blank lines; errors are located (LINE:COL).
  Result<void> restore(std::string_view text);
  // The index a rule binds to (ip_set_nfnl_get_byname), in creation order.
  std::optional<uint16_t> find(std::string_view name) const;
  const Set& set(uint16_t index) const { return sets_[index]; }
  size_t size() const { return sets_.size(); }
  // ip_set_test's kadt for one packet: NoMatchEntry when the element found
  // is a nomatch entry (hash:net), which --return-nomatch turns into a
  // match. Expired entries are absent. In a set with counters, the element
  // found first counts the packet (unless opt says not to), then must
  // satisfy opt's comparisons, else the test goes on to the next prefix
  // (ip_set_match_extensions).
  TestResult test(uint16_t index, const packet::Packet& pkt, Dirs dirs, uint64_t now_ns,
                  const TestOptions& opt = {}) const;
  // The SET target (ip_set_add / ip_set_del with the packet's element).
  // timeout: --timeout, else the set's default; an existing live element
  // is refreshed only with exist (--exist). False when nothing changed
  // (type mismatch, no port, already there, full, absent). A list:set
  // adds to (deletes from) its first member that takes the packet.
  bool add(uint16_t index, const packet::Packet& pkt, Dirs dirs, uint64_t now_ns, std::optional<uint32_t> timeout,
           bool exist);
  bool del(uint16_t index, const packet::Packet& pkt, Dirs dirs, uint64_t now_ns);
 private:
  Result<void> create(const std::vector<std::string>& words);
  Result<void> add(const std::vector<std::string>& words, bool exist_ok);
  // The element a packet stands for in set s (kadt), with ADD's prefix for
  // hash:net; nothing when the packet has none (dimensions, ports).
  std::optional<Element> packet_element(const Set& s, const packet::Packet& pkt, Dirs dirs) const;
  TestResult test_list(const Set& s, const packet::Packet& pkt, Dirs dirs, uint64_t now_ns,
                       const TestOptions& opt) const;
  Result<void> add_member(Set& s, const std::vector<std::string>& words, size_t& next_word, Element& elem);
  std::vector<Set> sets_;
  size_t total_elements_ = 0;  // restored ones (the limit on input)
};

}  // namespace nfemu::ipset
