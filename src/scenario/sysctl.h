// The sysctls a scenario may set: those whose effect nfemu models. Any
// other name is refused, so that a typo never silently keeps a default.
//
//   auto v = check_sysctl("net.ipv4.conf.eth0.rp_filter", "2", {"lo", "eth0"});
//   // -> SysctlValue int64_t 2, or an Error naming the problem (col 0)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "scenario/scenario.h"
#include "util/result.h"

namespace nfemu::scenario {

// What the file wrote: a TOML integer or a TOML string.
using SysctlInput = std::variant<int64_t, std::string>;

// Validates the name (per-interface names against ifnames, which include
// lo) and the value (the kernel's range, or the documented values), and
// returns the value as the kernel stores it.
Result<SysctlValue> check_sysctl(std::string_view name, const SysctlInput& value,
                                 const std::vector<std::string>& ifnames);

// Every name check_sysctl accepts, with IFNAME for the per-interface ones.
std::vector<std::string> known_sysctls();

// The integer sysctls with the range check_sysctl accepts (never wider
// than what the kernel accepts; sometimes narrower, see sysctl.cpp).
struct SysctlRange {
  std::string name;
  int64_t min, max;
};
std::vector<SysctlRange> known_sysctl_ranges();

}  // namespace nfemu::scenario
