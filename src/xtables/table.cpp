#include "xtables/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <functional>

namespace nfemu::xt {

void Table::touch() {
  static std::atomic<uint64_t> next{1};
  generation_ = next.fetch_add(1, std::memory_order_relaxed);
}

Table::Table(TableId id) : id_(id) {
  touch();
  HookMask hooks = table_hooks(id);
  for (int h = 0; h < kNumHooks; ++h) {
    if (!(hooks & (1u << h))) continue;
    Chain c;
    c.hook = static_cast<Hook>(h);
    c.name = std::string(hook_chain_name(*c.hook));
    chains_.push_back(std::move(c));
  }
}

Table::Table(const Table& other) : id_(other.id_) { *this = other; }

Table& Table::operator=(const Table& other) {
  if (this == &other) return *this;
  touch();
  id_ = other.id_;
  chains_.clear();
  for (const Chain& c : other.chains_) {
    Chain copy;
    copy.name = c.name;
    copy.hook = c.hook;
    copy.policy = c.policy;
    copy.counters = c.counters;
    for (const Rule& r : c.rules) copy.rules.push_back(r.clone());
    chains_.push_back(std::move(copy));
  }
  return *this;
}

Chain* Table::find(std::string_view chain) {
  for (auto& c : chains_)
    if (c.name == chain) return &c;
  return nullptr;
}

const Chain* Table::find(std::string_view chain) const {
  for (auto& c : chains_)
    if (c.name == chain) return &c;
  return nullptr;
}

static Error no_chain() { return make_error("No chain/target/match by that name."); }

int Table::references(std::string_view chain) const {
  int n = 0;
  for (auto& c : chains_)
    for (auto& r : c.rules)
      if ((r.kind == TargetKind::Jump || r.kind == TargetKind::Goto) && r.chain_target == chain) ++n;
  return n;
}

Result<void> Table::new_chain(std::string_view chain) {
  if (is_chain(chain)) return make_error("Chain already exists");
  Chain c;
  c.name = std::string(chain);
  chains_.push_back(std::move(c));
  touch();
  return {};
}

Result<void> Table::delete_chain(std::string_view chain) {
  Chain* c = find(chain);
  if (!c) return no_chain();
  if (c->builtin()) return make_error("Can't delete built-in chain");
  if (references(chain) > 0) return make_error("Can't delete chain with references left");
  if (!c->rules.empty()) return make_error("Directory not empty");
  chains_.erase(chains_.begin() + (c - chains_.data()));
  touch();
  return {};
}

Result<void> Table::rename_chain(std::string_view from, std::string_view to) {
  Chain* c = find(from);
  if (!c) return no_chain();
  if (c->builtin()) return make_error("Can't rename built-in chain");  // libiptc: EINVAL
  if (is_chain(to)) return make_error("File exists");
  for (auto& ch : chains_)
    for (auto& r : ch.rules)
      if ((r.kind == TargetKind::Jump || r.kind == TargetKind::Goto) && r.chain_target == from)
        r.chain_target = std::string(to);
  find(from)->name = std::string(to);
  touch();
  return {};
}

Result<void> Table::flush(std::string_view chain) {
  Chain* c = find(chain);
  if (!c) return no_chain();
  touch();
  c->rules.clear();
  return {};
}

void Table::flush_all() {
  touch();
  for (auto& c : chains_) c.rules.clear();
}

void Table::delete_user_chains() {
  touch();
  std::erase_if(chains_, [](const Chain& c) { return !c.builtin(); });
}

Result<void> Table::set_policy(std::string_view chain, std::string_view policy, const Counters* counters) {
  Chain* c = find(chain);
  if (!c) return no_chain();
  if (!c->builtin()) return make_error("Bad built-in chain name");
  if (policy == "ACCEPT") c->policy = Policy::Accept;
  else if (policy == "DROP") c->policy = Policy::Drop;
  else return make_error("Bad policy name");
  if (counters) c->counters = *counters;
  return {};
}

Result<void> Table::append(std::string_view chain, Rule rule) {
  Chain* c = find(chain);
  if (!c) return no_chain();
  touch();
  c->rules.push_back(std::move(rule));
  return {};
}

Result<void> Table::insert(std::string_view chain, Rule rule, int rulenum) {
  Chain* c = find(chain);
  if (!c) return no_chain();
  touch();
  if (rulenum < 1 || rulenum > static_cast<int>(c->rules.size()) + 1) return make_error("Index of insertion too big.");
  c->rules.insert(c->rules.begin() + (rulenum - 1), std::move(rule));
  return {};
}

Result<void> Table::replace(std::string_view chain, Rule rule, int rulenum) {
  Chain* c = find(chain);
  if (!c) return no_chain();
  touch();
  if (rulenum < 1 || rulenum > static_cast<int>(c->rules.size())) return make_error("Index of replacement too big.");
  c->rules[rulenum - 1] = std::move(rule);
  return {};
}

Result<void> Table::delete_num(std::string_view chain, int rulenum) {
  Chain* c = find(chain);
  if (!c) return no_chain();
  touch();
  if (rulenum < 1 || rulenum > static_cast<int>(c->rules.size())) return make_error("Index of deletion too big.");
  c->rules.erase(c->rules.begin() + (rulenum - 1));
  return {};
}

Result<void> Table::delete_matching(std::string_view chain, const Rule& rule) {
  Chain* c = find(chain);
  if (!c) return no_chain();
  touch();
  std::string want = rule.spec_text();
  for (auto it = c->rules.begin(); it != c->rules.end(); ++it) {
    if (it->spec_text() == want) {
      c->rules.erase(it);
      return {};
    }
  }
  return make_error("Bad rule (does a matching rule exist in that chain?).");
}

Result<void> Table::zero(std::string_view chain) {
  // A new generation: counts a compiled form kept aside for this one
  // (CompiledTable::fold_counters) are from before the zero.
  touch();
  auto zero_chain = [](Chain& c) {
    c.counters = {};
    for (auto& r : c.rules) r.counters = {};
  };
  if (chain.empty()) {
    for (auto& c : chains_) zero_chain(c);
    return {};
  }
  Chain* c = find(chain);
  if (!c) return no_chain();
  zero_chain(*c);
  return {};
}

Result<std::vector<HookMask>> Table::reachability() const {
  std::vector<HookMask> hooks(chains_.size(), 0);
  auto index_of = [&](std::string_view name) -> int {
    for (size_t i = 0; i < chains_.size(); ++i)
      if (chains_[i].name == name) return static_cast<int>(i);
    return -1;
  };
  // Depth-first from each builtin chain, as mark_source_chains: a chain
  // that is entered again while it is still on the path is a loop.
  std::vector<bool> on_path(chains_.size(), false);
  std::optional<Error> loop;
  std::function<void(int, HookMask)> walk = [&](int ci, HookMask mask) {
    if (loop) return;
    if (on_path[ci]) {
      const Chain& c = chains_[ci];
      int line = c.rules.empty() ? 0 : c.rules.front().line;
      loop = make_error(fmt::format("loop detected: chain `{}' jumps back to itself (the kernel refuses the table: "
                                    "Too many levels of symbolic links)",
                                    c.name),
                        line);
      return;
    }
    if ((hooks[ci] & mask) == mask && hooks[ci] != 0 && !chains_[ci].builtin()) return;
    hooks[ci] |= mask;
    on_path[ci] = true;
    for (const Rule& r : chains_[ci].rules) {
      if (r.kind != TargetKind::Jump && r.kind != TargetKind::Goto) continue;
      int ti = index_of(r.chain_target);
      if (ti < 0) continue;
      if (on_path[ti]) {
        loop = make_error(fmt::format("loop detected: `-{} {}' in chain `{}' leads back to `{}' (the kernel refuses "
                                      "the table with ELOOP)",
                                      r.kind == TargetKind::Goto ? 'g' : 'j', r.chain_target, chains_[ci].name,
                                      r.chain_target),
                          r.line);
        return;
      }
      walk(ti, mask);
      if (loop) return;
    }
    on_path[ci] = false;
  };
  for (size_t i = 0; i < chains_.size(); ++i) {
    if (!chains_[i].builtin()) continue;
    walk(static_cast<int>(i), hook_bit(*chains_[i].hook));
    if (loop) return *loop;
  }
  return hooks;
}

static Result<void> check_spec(const KernelSpec& spec, bool is_target, std::string_view name, const CheckContext& ctx) {
  const char* kind = is_target ? "target" : "match";
  if (spec.tables && !(spec.tables & table_mask_bit(ctx.table))) {
    std::string allowed;
    for (TableId t : kAllTables)
      if (spec.tables & table_mask_bit(t)) allowed = std::string(table_name(t));
    return make_error(fmt::format("ip_tables: {} {}: only valid in {} table, not {}", name, kind, allowed,
                                  table_name(ctx.table)));
  }
  if ((ctx.hooks & ~spec.hooks) != 0) {
    return make_error(fmt::format("ip_tables: {} {}: used from hooks {}, but only {} from {}", name, kind,
                                  hook_mask_names(ctx.hooks), is_target ? "usable" : "valid",
                                  hook_mask_names(spec.hooks)));
  }
  if (spec.proto && (spec.proto != ctx.ip.proto || (ctx.ip.inv & IpCriteria::kInvProto)))
    return make_error(fmt::format("ip_tables: {} {}: only valid for protocol {}", name, kind, spec.proto));
  return {};
}

Result<void> Table::verify(const Ruleset* loaded) const {
  auto reach = reachability();
  if (!reach) return reach.error();
  RateEstimatorScope estimators;
  if (loaded) loaded->declare_estimators(estimators);
  std::vector<size_t> order;
  for (size_t ci = 0; ci < chains_.size(); ++ci)
    if (chains_[ci].builtin()) order.push_back(ci);
  const size_t builtins = order.size();
  for (size_t ci = 0; ci < chains_.size(); ++ci)
    if (!chains_[ci].builtin()) order.push_back(ci);
  std::sort(order.begin() + static_cast<std::ptrdiff_t>(builtins), order.end(),
            [&](size_t a, size_t b) { return chains_[a].name < chains_[b].name; });
  for (size_t ci : order) {
    const Chain& c = chains_[ci];
    for (const Rule& r : c.rules) {
      CheckContext ctx{r.ip, id_, c.name, (*reach)[ci], r.matches, &estimators};
      // The kernel names no rule; nfemu points at the word that loaded
      // the extension the check refused.
      auto located = [&](Error e, int col) {
        e.line = r.line;
        e.col = col;
        return e;
      };
      if ((r.kind == TargetKind::Jump || r.kind == TargetKind::Goto) && !find(r.chain_target))
        return located(make_error(fmt::format("jump to chain `{}', which does not exist", r.chain_target)),
                       r.target_col);
      for (const auto& m : r.matches) {
        std::string_view name = m->kernel_spec().module.empty() ? m->name() : m->kernel_spec().module;
        if (auto ok = check_spec(m->kernel_spec(), false, name, ctx); !ok) return located(ok.error(), m->source_col);
        if (auto ok = m->check(ctx); !ok) return located(ok.error(), m->source_col);
      }
      if (r.kind == TargetKind::Extension) {
        std::string_view name = r.target->kernel_spec().module.empty() ? r.target->name() : r.target->kernel_spec().module;
        if (auto ok = check_spec(r.target->kernel_spec(), true, name, ctx); !ok) return located(ok.error(), r.target_col);
        if (auto ok = r.target->check(ctx); !ok) return located(ok.error(), r.target_col);
      }
    }
  }
  return {};
}

void Ruleset::declare_estimators(RateEstimatorScope& scope) const {
  // A loaded table passed its checks, so its rules agree with each other
  // on each estimator's parameters; declaring one again is harmless.
  for (const Table& t : tables_)
    for (const Chain& c : t.chains())
      for (const Rule& r : c.rules) {
        CheckContext ctx{r.ip, t.id(), c.name, 0, r.matches, &scope, true};
        for (const auto& m : r.matches)
          if (m->name() == "rateest") (void)m->check(ctx);
        if (r.kind == TargetKind::Extension && r.target->name() == "RATEEST") (void)r.target->check(ctx);
      }
}

Table& Ruleset::instantiate(TableId id) {
  if (Table* t = find(id)) return *t;
  tables_.insert(tables_.begin(), Table(id));
  return tables_.front();
}

Table* Ruleset::find(TableId id) {
  for (auto& t : tables_)
    if (t.id() == id) return &t;
  return nullptr;
}

const Table* Ruleset::find(TableId id) const {
  for (auto& t : tables_)
    if (t.id() == id) return &t;
  return nullptr;
}

}  // namespace nfemu::xt
