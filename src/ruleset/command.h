// One iptables command line (`-t nat -A PREROUTING -d 1.2.3.4 -j DNAT
// --to 10.0.0.4`), parsed as iptables-legacy's do_command4 parses it:
// getopt_long semantics (abbreviated long options, `!` before an option,
// options of the most recently loaded extension first, the protocol's
// match loaded implicitly), then applied to a Ruleset as libiptc would.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "util/result.h"
#include "util/strings.h"
#include "xtables/registry.h"
#include "xtables/table.h"

namespace nfemu::ruleset {

enum class Op {
  Append, Check, Delete, DeleteNum, Insert, Replace, List, ListRules, Flush, Zero,
  NewChain, DeleteChain, RenameChain, Policy,
};

struct Command {
  Op op = Op::Append;
  xt::TableId table = xt::TableId::Filter;
  std::string chain;       // may be empty for -F, -X, -Z, -L, -S
  int rulenum = 0;         // -I (default 1), -R, -D NUM
  std::string new_name;    // -E
  std::string policy;      // -P
  std::vector<xt::Rule> rules;  // one per source x destination address
  bool skip = false;       // `-6` in a restore file: iptables ignores the rule
};

struct CommandOptions {
  int line = 0;               // for error positions
  bool in_restore = false;    // -t is refused: the table comes from `*table`
  std::optional<xt::TableId> restore_table;
  const xt::Registry* registry = nullptr;  // default: Registry::builtin()
  const xt::Table* table_state = nullptr;  // to tell chains from targets for -j
  // A restore line's [P:B] prefix under --counters: iptables-restore passes
  // it as --set-counters P B, so a -c on the line conflicts with it.
  std::optional<xt::Counters> preset_counters;
  const ipset::Registry* sets = nullptr;  // the namespace's IP sets (-m set); none by default
  const xt::NfacctObjects* nfacct = nullptr;  // its accounting objects (-m nfacct); none by default
};

// Parses the words of one command (without the leading `iptables`).
Result<Command> parse_command(std::span<const Word> words, const CommandOptions& opts);

// Applies a parsed command to the ruleset (instantiating its table), then
// runs the kernel's checks as a commit would. On failure nothing changes.
Result<void> apply_command(Command& cmd, xt::Ruleset& rs, bool verify = true);

}  // namespace nfemu::ruleset
