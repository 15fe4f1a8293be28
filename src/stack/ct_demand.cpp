#include "stack/ct_demand.h"

#include <array>
#include <string>

#include "xtables/extension.h"
#include "xtables/rule.h"

namespace nfemu::stack {

bool match_needs_conntrack(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kNames = {"state",     "conntrack", "connmark", "helper",
                                                             "connlimit", "connbytes", "cluster",  "connlabel"};
  for (auto n : kNames)
    if (n == name) return true;
  return false;
}

bool target_needs_conntrack(const xt::Rule& rule) {
  if (!rule.target) return false;
  std::string_view name = rule.target->name();
  static constexpr std::array<std::string_view, 8> kNames = {"CONNMARK", "CONNSECMARK", "SNAT",    "DNAT",
                                                             "MASQUERADE", "REDIRECT", "NETMAP", "SYNPROXY"};
  for (auto n : kNames)
    if (n == name) return true;
  if (name != "CT") return false;
  // A notrack template takes no reference; its flag shows in the saved form.
  std::string saved;
  rule.target->save(saved, rule.ip);
  return saved.find("--notrack") == std::string::npos;
}

bool ruleset_needs_conntrack(const xt::Ruleset& rs) {
  for (const xt::Table& t : rs.tables())
    for (const xt::Chain& c : t.chains())
      for (const xt::Rule& r : c.rules) {
        for (const auto& m : r.matches)
          if (m && match_needs_conntrack(m->name())) return true;
        if (target_needs_conntrack(r)) return true;
      }
  return false;
}

bool ruleset_enables_defrag(const xt::Ruleset& rs) {
  for (const xt::Table& t : rs.tables())
    for (const xt::Chain& c : t.chains())
      for (const xt::Rule& r : c.rules) {
        for (const auto& m : r.matches)
          if (m && m->name() == "socket") return true;
        if (r.target && r.target->name() == "TPROXY") return true;
      }
  return false;
}

bool ruleset_forces_acct(const xt::Ruleset& rs) {
  for (const xt::Table& t : rs.tables())
    for (const xt::Chain& c : t.chains())
      for (const xt::Rule& r : c.rules)
        for (const auto& m : r.matches)
          if (m && m->name() == "connbytes") return true;
  return false;
}

}  // namespace nfemu::stack
