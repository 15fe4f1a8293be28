#include "xtables/types.h"

namespace nfemu::xt {

namespace {
constexpr std::array<std::string_view, kNumHooks> kHookChains = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                                                 "POSTROUTING"};
constexpr std::array<std::string_view, kNumTables> kTableNames = {"raw", "mangle", "nat", "filter", "security"};
}  // namespace

std::string_view hook_chain_name(Hook h) { return kHookChains[static_cast<size_t>(h)]; }

std::optional<Hook> hook_from_chain_name(std::string_view name) {
  for (size_t i = 0; i < kHookChains.size(); ++i)
    if (kHookChains[i] == name) return static_cast<Hook>(i);
  return std::nullopt;
}

std::string hook_mask_names(HookMask mask) {
  std::string out;
  for (int i = 0; i < kNumHooks; ++i) {
    if (!(mask & (1u << i))) continue;
    if (!out.empty()) out += '/';
    out += kHookChains[i];
  }
  return out;
}

std::string_view table_name(TableId t) { return kTableNames[static_cast<size_t>(t)]; }

std::optional<TableId> table_from_name(std::string_view name) {
  for (size_t i = 0; i < kTableNames.size(); ++i)
    if (kTableNames[i] == name) return static_cast<TableId>(i);
  return std::nullopt;
}

HookMask table_hooks(TableId t) {
  using enum Hook;
  switch (t) {
    case TableId::Raw:
      return hook_bit(PreRouting) | hook_bit(LocalOut);
    case TableId::Mangle:
      return kAllHooks;
    case TableId::Nat:
      return hook_bit(PreRouting) | hook_bit(LocalIn) | hook_bit(LocalOut) | hook_bit(PostRouting);
    case TableId::Filter:
    case TableId::Security:
      return hook_bit(LocalIn) | hook_bit(Forward) | hook_bit(LocalOut);
  }
  return 0;
}

}  // namespace nfemu::xt
