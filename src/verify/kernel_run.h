// The kernel side of `nfemu verify`, executing half: builds a KernelPlan
// out of real network namespaces, runs its traffic in real time and
// collects the artifacts of spec/outputs.md into a directory (HOST/...).
// Needs root; touches nothing outside its own namespaces except
// net.netfilter.nf_log_all_netns (set to 1, restored) and the lock file
// /run/lock/nfemu-verify.lock (runs are serialised so that their kernel
// log lines never mix).
//
//   if (auto why = verify::kernel_unavailable()) { ...skip or exit 2... }
//   auto r = verify::run_kernel(*sc, *plan, {.out_dir = "out/kernel"});
//
// Every exit path removes the namespaces and ends the collectors: an RAII
// guard, and SIGINT/SIGTERM/SIGHUP handlers that make the run stop at its
// next step (install_signal_handlers) so that the guard runs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "scenario/scenario.h"
#include "util/result.h"
#include "verify/kernel_plan.h"

namespace nfemu::verify {

// Why the kernel side cannot run here (not root, a tool missing: named with
// its Debian package, no network namespaces), or nothing.
std::optional<std::string> kernel_unavailable();

struct KernelRunOptions {
  std::string out_dir;  // HOST/kern.log ... are written here
  std::string raw_dir;  // when not empty: raw tool outputs (stderr, the kmsg slice)
};

struct KernelRunResult {
  std::vector<std::string> notes;  // warnings for the report (unattributed log lines, send errors...)
};

// A rule the kernel's tools refused carries this in Error::message, after
// the tool's own words (the scenario loader of nfemu accepted it).
inline constexpr const char* kKernelRefusedRule = "the kernel's iptables refuses this rule";

Result<KernelRunResult> run_kernel(const scenario::Scenario& sc, const std::vector<RawRules>& raw,
                                   const KernelPlan& plan, const KernelRunOptions& opts);

// SIGINT, SIGTERM and SIGHUP stop a run at its next step (without
// SA_RESTART, so waits are interrupted); run_kernel then cleans up and
// returns an error. interrupted() tells whether one arrived.
void install_signal_handlers();
bool interrupted();

// Kernel log attribution (pure; exposed for tests). A kmsg record's text
// is a LOG or TRACE line of some host: the one whose interfaces match
// IN=/OUT=, whose IN interface has the MAC= destination, and whose rules
// hold that --log-prefix (LOG) or a TRACE target. Returns the host index,
// or -1 when the line is no netfilter log line; *ambiguous is set when
// several hosts fit equally (the first is returned).
int attribute_log_line(const scenario::Scenario& sc, const std::vector<RawRules>& raw, const std::string& line,
                       bool* ambiguous);

// dmesg's reading of one /dev/kmsg record ("PRI,SEQ,TS,FLAGS;TEXT\n
// continuation lines"): TEXT with \xNN escapes decoded; nothing for a
// malformed record.
std::optional<std::string> kmsg_text(std::string_view record);

}  // namespace nfemu::verify
