// A rule as the kernel stores it (struct ipt_entry): the IP header
// criteria, a list of match units and one target, with counters.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "xtables/extension.h"
#include "xtables/types.h"

namespace nfemu::xt {

inline constexpr int kIfNameSize = 16;  // IFNAMSIZ

// Interface criteria as struct ipt_ip keeps them: the name and a byte mask;
// "eth+" has a mask over "eth" only.
struct IfaceMatch {
  std::array<char, kIfNameSize> name{};
  std::array<uint8_t, kIfNameSize> mask{};
  bool empty() const { return mask[0] == 0; }
  bool operator==(const IfaceMatch&) const = default;
};

// Fails when the name is too long (IFNAMSIZ), as xtables_parse_interface.
Result<IfaceMatch> parse_iface(std::string_view text);
// "eth0", "eth+"; empty for a mask that matches everything.
std::string format_iface(const IfaceMatch& m);

struct IpCriteria {
  // Inversion flags, numbered as IPT_INV_* in the kernel.
  enum Inv : uint8_t { kInvIn = 0x01, kInvOut = 0x02, kInvSrc = 0x08, kInvDst = 0x10, kInvFrag = 0x20, kInvProto = 0x40 };
  uint32_t src = 0, smsk = 0, dst = 0, dmsk = 0;
  IfaceMatch in, out;
  uint16_t proto = 0;
  bool frag = false;
  uint8_t inv = 0;
  bool operator==(const IpCriteria&) const = default;

  // Appends " -s ... -d ... -i ... -o ... -p ... -f" as iptables-save.
  void save(std::string& out) const;
};

enum class TargetKind : uint8_t {
  None,       // no -j: the rule only counts
  Accept,
  Drop,
  Queue,
  Return,
  Jump,       // -j USERCHAIN
  Goto,       // -g USERCHAIN
  Extension,  // -j LOG, -j DNAT, ...
};

// Laid out for the walkers: a rule the compiled walker evaluates is
// usually a cache miss (10k rules of 184 bytes), and it read the counters,
// the match list and the target from three different lines. Those come
// first now, on one 64-byte aligned line, with the head of the IP criteria
// (addresses and masks, where ip_criteria_match stops for most rules).
struct alignas(64) Rule {
  Counters counters;
  std::vector<std::unique_ptr<Match>> matches;
  std::unique_ptr<Target> target;    // for Extension
  IpCriteria ip;
  TargetKind kind = TargetKind::None;
  int line = 0;                      // where it was read, for messages
  int target_col = 0;                // the column of -j/-g's name, likewise
  std::string chain_target;          // for Jump and Goto

  Rule() = default;
  Rule(Rule&&) = default;
  Rule& operator=(Rule&&) = default;
  Rule clone() const;

  // "-A CHAIN" excluded: everything after it, as iptables-save prints.
  std::string spec_text() const;
  // The target word as iptables-save prints it ("" for None).
  std::string_view target_name() const;
};
static_assert(sizeof(Counters) + sizeof(std::vector<std::unique_ptr<Match>>) + sizeof(std::unique_ptr<Target>) + 16 <= 64,
              "the counters, matches, target and the IP addresses share the rule's first line");

}  // namespace nfemu::xt
