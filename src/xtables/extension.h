// Matches and targets: the extension units of xtables.
//
// Each extension is a small class in its own file under matches/ or
// targets/, registered by name. Like an iptables extension plus its kernel
// module, it has four jobs:
//   parse    one option at a time, as `iptables` hands them over, then a
//            final_check once the rule is complete (userspace checks);
//   check    the kernel's checkentry at table load: protocol, table and
//            hook restrictions (declared in kernel_spec()) and its own rules;
//   evaluate on the packet path (the engine supplies EvalContext);
//   save     print itself back exactly as iptables-save does.
//
//   class TtlMatch : public MatchBase<TtlMatch> { ... };
//   void register_match_ttl(Registry& r) { r.add_match<TtlMatch>("ttl"); }
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "util/result.h"
#include "xtables/nfacct_objects.h"
#include "xtables/rate_estimators.h"
#include "xtables/types.h"

namespace nfemu::ipset {
class Registry;
}

namespace nfemu::xt {

struct IpCriteria;
struct MatchFacts;
// Defined by the packet engine; opaque to the ruleset code.
struct EvalContext;

// Two: the option takes two words (`--tcp-flags MASK COMP`). Trailing:
// getopt sees no argument, but the extension takes the next word as its
// value unless there is none or it starts with `-' or `!' (libxt_rateest's
// `--rateest-bps1 [RATE]`).
enum class ArgKind : uint8_t { None, Required, Optional, Two, Trailing };

// One long option of an extension. Short options do not exist for
// extensions in iptables; abbreviations are resolved by the parser.
struct OptionSpec {
  std::string_view name;
  ArgKind arg = ArgKind::Required;
  bool invertible = false;  // `! --name` allowed; otherwise the parser refuses it
  bool repeatable = false;  // may be given more than once; otherwise refused
};

struct OptionCall {
  std::string_view name;  // canonical long name, without the dashes
  std::string_view arg;   // empty when the option takes none
  std::string_view arg2;  // second word of an ArgKind::Two option
  bool has_arg = false;
  bool invert = false;    // a `!` came before the option
};

// What an extension may look at while its options are parsed: the rule's
// IP part as given so far (iptables parses in command-line order), and the
// namespace's IP sets (the set match resolves its set's name at parse).
struct ParseContext {
  const IpCriteria& ip;
  TableId table;
  const ipset::Registry* sets = nullptr;
  const NfacctObjects* nfacct = nullptr;  // the namespace's accounting objects (-m nfacct)
};

// What the kernel's xt_check_match / xt_check_target see at table load.
struct CheckContext {
  const IpCriteria& ip;
  TableId table;
  std::string_view chain;
  HookMask hooks;  // hooks the rule is reachable from (0: unreachable user chain)
  // The rule's matches, for targets whose checkentry looks at them (TCPMSS
  // insists on a SYN-only tcp match).
  std::span<const std::unique_ptr<class Match>> matches = {};
  // The namespace's rate estimators as the kernel's checks see them (RATEEST
  // makes them, -m rateest needs them); see Table::verify.
  RateEstimatorScope* estimators = nullptr;
  // The rule is loaded already (Ruleset::declare_estimators): declare the
  // estimators it holds into `estimators` instead of checking anything.
  bool declaring = false;
};

// Restrictions the kernel module declares in its xt_match / xt_target.
struct KernelSpec {
  HookMask hooks = kAllHooks;  // allowed hooks
  uint8_t tables = 0;          // bit per TableId; 0 = any table
  uint16_t proto = 0;          // required protocol (-p, not inverted); 0 = any
  std::string_view module;     // name used in kernel messages, e.g. "REJECT"
};

enum class MatchOutcome : uint8_t { NoMatch, Match, HotDrop };

class Match {
 public:
  virtual ~Match() = default;
  virtual std::string_view name() const = 0;
  // What follows `-m` in iptables-save (an alias may differ from name()).
  virtual std::string_view saved_name() const { return name(); }
  virtual std::span<const OptionSpec> options() const = 0;
  virtual Result<void> parse(const OptionCall& opt, const ParseContext& ctx) = 0;
  virtual Result<void> final_check(const ParseContext& ctx) { return {}; }
  virtual KernelSpec kernel_spec() const { return {}; }
  virtual Result<void> check(const CheckContext& ctx) const { return {}; }
  // Appends " --opt value ..." (each with its leading space) as iptables-save.
  virtual void save(std::string& out, const IpCriteria& ip) const = 0;
  // The engine calls this only when can_evaluate(); the default is "not yet".
  virtual bool can_evaluate() const { return false; }
  virtual MatchOutcome evaluate(const EvalContext& ctx) const { return MatchOutcome::NoMatch; }
  // For the compiled ruleset (match_facts.h): fills in what it knows of
  // this match. The default says nothing, which is always correct.
  virtual void describe(MatchFacts& facts) const {}
  virtual std::unique_ptr<Match> clone() const = 0;

  // The column of the rule's `-m` word (or of `-p` for a protocol's implicit
  // match): the kernel's load-time checks happen after parsing, and their
  // messages point here. 0 when unknown.
  int source_col = 0;
};

// What a target tells the chain walker.
// Unsupported: the target cannot model what the kernel does with this
// packet (SYNPROXY's valid cookie); the walker reports it "not evaluated
// yet" and goes on as after Continue.
enum class TargetVerdict : uint8_t { Continue, Accept, Drop, Stolen, Queue, Return, Unsupported };

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string_view name() const = 0;
  // What follows `-j` in iptables-save.
  virtual std::string_view saved_name() const { return name(); }
  virtual std::span<const OptionSpec> options() const = 0;
  virtual Result<void> parse(const OptionCall& opt, const ParseContext& ctx) = 0;
  virtual Result<void> final_check(const ParseContext& ctx) { return {}; }
  virtual KernelSpec kernel_spec() const { return {}; }
  virtual Result<void> check(const CheckContext& ctx) const { return {}; }
  virtual void save(std::string& out, const IpCriteria& ip) const = 0;
  virtual bool can_evaluate() const { return false; }
  virtual TargetVerdict evaluate(EvalContext& ctx) const { return TargetVerdict::Continue; }
  virtual std::unique_ptr<Target> clone() const = 0;
};

// CRTP helpers that provide clone() through the copy constructor.
template <class Derived>
class MatchBase : public Match {
 public:
  std::unique_ptr<Match> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
};
template <class Derived>
class TargetBase : public Target {
 public:
  std::unique_ptr<Target> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
};

// What the kernel allocates per rule in a match's checkentry (limit's
// bucket, statistic's nth counter, quota's budget): every copy of a rule starts with a
// fresh one, because a copy is a rule loaded anew, e.g. each rule that
// `-s A,B` expands to gets its own. Mutable: evaluate() is const.
template <class T>
class PerRuleState {
 public:
  PerRuleState() = default;
  PerRuleState(const PerRuleState&) {}
  PerRuleState& operator=(const PerRuleState&) {
    value_ = T{};
    return *this;
  }
  T& operator*() const { return value_; }
  T* operator->() const { return &value_; }

 private:
  mutable T value_{};
};

}  // namespace nfemu::xt
