// iptables-restore and iptables-save for nfemu: reading a whole
// iptables-save file into a Ruleset exactly as iptables-legacy-restore
// loads it into a fresh network namespace, and printing a Ruleset exactly
// as iptables-legacy-save prints it.
//
//   xt::Ruleset rs;
//   if (auto r = ruleset::restore(text, rs, {.counters = true}); !r)
//     std::cerr << r.error().format("fw.rules");
//   std::cout << ruleset::save(rs, {.counters = true});
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "util/result.h"
#include "util/strings.h"
#include "xtables/table.h"

namespace nfemu::ruleset {

struct RestoreOptions {
  bool counters = false;  // --counters: honour [p:b] on rules and policies
  bool noflush = false;   // --noflush
  const ipset::Registry* sets = nullptr;  // the namespace's IP sets (-m set)
  const xt::NfacctObjects* nfacct = nullptr;  // its accounting objects (-m nfacct)
};

// Loads every table block; each COMMIT runs the kernel's table checks.
// On error the ruleset holds what was committed before the failing block.
Result<void> restore(std::string_view text, xt::Ruleset& rs, const RestoreOptions& opts = {});

// Splits a rule line as iptables-restore does (add_param_to_argv): double
// quotes group words and allow backslash escapes; nothing else is special.
// A quote left open runs to the end of the line and, as fgets keeps it,
// takes the newline too (had_newline).
Result<std::vector<Word>> restore_split(std::string_view line, bool had_newline = true);

struct SaveOptions {
  bool counters = false;  // -c
};
// What iptables-legacy-save prints, without the `#` comment lines.
std::string save(const xt::Ruleset& rs, const SaveOptions& opts = {});
void save_table(std::string& out, const xt::Table& t, const SaveOptions& opts);

// Applies `iptables` command lines (scenario files) in order.
Result<void> apply_iptables_line(std::string_view line, xt::Ruleset& rs, int line_number,
                                 const ipset::Registry* sets = nullptr, const xt::NfacctObjects* nfacct = nullptr);

}  // namespace nfemu::ruleset
