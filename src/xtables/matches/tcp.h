// What other extensions may ask of a tcp match (TCPMSS's checkentry).
#pragma once

#include "xtables/extension.h"

namespace nfemu::xt {

// find_syn_match of xt_TCPMSS.c: m is a tcp match whose --tcp-flags
// comparison value has SYN set and that is not inverted.
bool tcp_match_requires_syn(const Match& m);

}  // namespace nfemu::xt
