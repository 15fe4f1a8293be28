// Whether a namespace's conntrack hooks are registered (nf_ct_netns_get).
//
// Linux registers the conntrack hooks of a namespace (and nf_defrag_ipv4)
// only while something holds a reference: the checkentry of an extension
// that needs connection tracking. Loading the nat table alone takes none
// (nf_nat_register_fn hooks nat, not conntrack), so with no such rule a
// host tracks nothing and nf_nat_inet_fn, seeing no conntrack entry,
// never walks the nat chains.
#pragma once

#include <string_view>

#include "xtables/table.h"

namespace nfemu::stack {

// The matches and targets whose checkentry calls nf_ct_netns_get (Linux
// 6.x net/netfilter/xt_*.c, net/ipv4/netfilter/*): state, conntrack,
// connmark, helper, connlimit, connbytes, cluster, connlabel; CONNMARK,
// CONNSECMARK, SNAT, DNAT, MASQUERADE, REDIRECT, NETMAP, SYNPROXY, and CT
// unless --notrack (xt_ct_tg_check returns before taking the reference for
// a notrack template; -j NOTRACK is that template too).
bool match_needs_conntrack(std::string_view name);
bool target_needs_conntrack(const xt::Rule& rule);

// Whether any rule of the ruleset holds a conntrack reference.
bool ruleset_needs_conntrack(const xt::Ruleset& rs);

// Whether a rule turns nf_defrag_ipv4 on by itself, conntrack or not: the
// socket match and TPROXY (socket_mt_enable_defrag, tproxy_tg4_check).
// Conntrack turns it on too; the host reassembles when either does.
bool ruleset_enables_defrag(const xt::Ruleset& rs);

// Whether loading the ruleset turns nf_conntrack_acct on: connbytes_mt_check
// does (nf_ct_set_acct, "Forcing CT accounting to be enabled"), and it
// stays on after the rule is gone.
bool ruleset_forces_acct(const xt::Ruleset& rs);

}  // namespace nfemu::stack
