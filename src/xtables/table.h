// Chains and tables, and the operations libiptc offers on them (append,
// insert, delete, replace, new/delete/rename chain, flush, policy), plus
// verify(): what the kernel's translate_table does when a table is
// loaded (jump targets exist, no loops, each extension's checkentry with
// the hooks the rule is reachable from).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"
#include "xtables/rule.h"
#include "xtables/types.h"

namespace nfemu::xt {

struct Chain {
  std::string name;
  std::optional<Hook> hook;  // set for builtin chains
  Policy policy = Policy::Accept;
  Counters counters;         // policy counters (builtin chains only)
  std::vector<Rule> rules;
  bool builtin() const { return hook.has_value(); }
};

class Table {
 public:
  explicit Table(TableId id);
  Table(const Table& other);
  Table& operator=(const Table& other);
  Table(Table&&) = default;
  Table& operator=(Table&&) = default;

  TableId id() const { return id_; }
  std::string_view name() const { return table_name(id_); }
  // Builtin chains in hook order, then user chains in creation order.
  const std::vector<Chain>& chains() const { return chains_; }
  std::vector<Chain>& chains() { return chains_; }
  Chain* find(std::string_view chain);
  const Chain* find(std::string_view chain) const;
  bool is_chain(std::string_view chain) const { return find(chain) != nullptr; }

  // libiptc-style operations. Error messages are libiptc's (iptc_strerror).
  Result<void> new_chain(std::string_view chain);
  Result<void> delete_chain(std::string_view chain);
  Result<void> rename_chain(std::string_view from, std::string_view to);
  Result<void> flush(std::string_view chain);
  void flush_all();
  void delete_user_chains();  // only valid after flush_all, as restore does
  Result<void> set_policy(std::string_view chain, std::string_view policy, const Counters* counters);
  Result<void> append(std::string_view chain, Rule rule);
  Result<void> insert(std::string_view chain, Rule rule, int rulenum);   // 1-based
  Result<void> replace(std::string_view chain, Rule rule, int rulenum);  // 1-based
  Result<void> delete_num(std::string_view chain, int rulenum);          // 1-based
  Result<void> delete_matching(std::string_view chain, const Rule& rule);
  Result<void> zero(std::string_view chain);
  int references(std::string_view chain) const;

  // The kernel's checks when the table is committed. The error names the
  // rule's line (Error::line) and the kernel's own message. Rules are
  // checked in the order of the table's blob (libiptc: builtin chains in
  // hook order, then user chains sorted by name; a rule's matches before its
  // target), which decides whether a -m rateest rule finds the estimator a
  // RATEEST rule makes. loaded: the namespace's tables as they are before
  // this one is committed (the old version of this one included), whose
  // RATEEST rules' estimators exist already.
  Result<void> verify(const class Ruleset* loaded = nullptr) const;

  // Hooks each chain is reachable from (index as chains()); fails on a loop.
  Result<std::vector<HookMask>> reachability() const;

  // Changes with every rule or chain change made through the operations
  // above (never the same value for two tables), so that a compiled form
  // (compiled/classify.h) knows when it is stale. Code that edits rules
  // through chains() directly must call touch().
  uint64_t generation() const { return generation_; }
  void touch();

 private:
  TableId id_;
  std::vector<Chain> chains_;
  uint64_t generation_ = 0;
};

// All tables of one network namespace, in the order the kernel lists them
// in /proc/net/ip_tables_names: the most recently instantiated first.
class Ruleset {
 public:
  Table& instantiate(TableId id);
  Table* find(TableId id);
  const Table* find(TableId id) const;
  // In iptables-save order.
  const std::vector<Table>& tables() const { return tables_; }
  std::vector<Table>& tables() { return tables_; }
  // The estimators this namespace's RATEEST rules hold (RateEstimatorScope).
  void declare_estimators(RateEstimatorScope& scope) const;

 private:
  std::vector<Table> tables_;
};

}  // namespace nfemu::xt
