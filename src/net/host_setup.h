// Building one stack::Host from its scenario description, and the
// conntrack text of its events and table: what net::Network does for every
// host, for callers that drive a single host themselves (nfemu replay).
//
//   auto h = net::build_host(sc, sc.host_index("fw"));
//   if (!h) return h.error();
//   (*h)->receive(pkt, "eth0", now_ns);
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "conntrack/conntrack.h"
#include "scenario/scenario.h"
#include "stack/host.h"
#include "util/result.h"

namespace nfemu::net {

// The host of sc.hosts[host_index] with its interfaces, addresses, user
// routes, sysctls (conntrack ones included), listeners and ruleset; its
// neighbours are the MACs at the other end of the scenario's links
// (02:00:00:00:00:00 for an interface without a link). No observer, no
// on_wire: the caller sets them.
Result<std::unique_ptr<stack::Host>> build_host(const scenario::Scenario& sc, size_t host_index);

// `conntrack -E` and `conntrack -L` lines (conntrack-tools 1.4 text).
std::string conntrack_event_text(const conntrack::Event& ev);
void conntrack_event_text(std::string& line, const conntrack::Event& ev);  // into line, reusing it
std::string conntrack_list_text(const conntrack::View& v);

}  // namespace nfemu::net
