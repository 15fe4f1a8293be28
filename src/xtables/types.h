// Tables, hooks and the small vocabulary shared by everything in xtables/.
//
// Numbering follows the kernel (NF_INET_PRE_ROUTING = 0 ...) so that hook
// masks read the same as in net/netfilter/x_tables.c.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nfemu::xt {

enum class Hook : uint8_t { PreRouting = 0, LocalIn = 1, Forward = 2, LocalOut = 3, PostRouting = 4 };
inline constexpr int kNumHooks = 5;
using HookMask = uint8_t;
constexpr HookMask hook_bit(Hook h) { return static_cast<HookMask>(1u << static_cast<unsigned>(h)); }
inline constexpr HookMask kAllHooks = 0x1f;

// The builtin chain name of a hook: PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING.
std::string_view hook_chain_name(Hook h);
std::optional<Hook> hook_from_chain_name(std::string_view name);
// "PREROUTING/INPUT" style list, as the kernel's x_tables messages print it.
std::string hook_mask_names(HookMask mask);

// In the order the kernel registers them in a fresh namespace's
// /proc/net/ip_tables_names is not fixed; this is just an identity.
enum class TableId : uint8_t { Raw = 0, Mangle = 1, Nat = 2, Filter = 3, Security = 4 };
inline constexpr int kNumTables = 5;
inline constexpr std::array<TableId, kNumTables> kAllTables = {TableId::Raw, TableId::Mangle, TableId::Nat,
                                                                TableId::Filter, TableId::Security};

std::string_view table_name(TableId t);
std::optional<TableId> table_from_name(std::string_view name);
// The hooks a table attaches to, i.e. its builtin chains.
HookMask table_hooks(TableId t);
inline HookMask table_mask_bit(TableId t) { return static_cast<HookMask>(1u << static_cast<unsigned>(t)); }

struct Counters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  bool operator==(const Counters&) const = default;
};

// Standard verdicts of a chain policy or a standard target.
enum class Policy : uint8_t { Accept, Drop };

}  // namespace nfemu::xt
