// `nfemu run --json`: the run as one JSON document for programs
// (docs/json.md gives the schema). Built from Network's events and the
// end-of-run state of each host.
//
//   std::cout << net::run_json(*net, "fw.toml");
#pragma once

#include <string>
#include <string_view>

#include "net/network.h"

namespace nfemu::net {

// The document, indented by 2, ending in a newline. Call after run().
std::string run_json(const Network& net, std::string_view scenario_path);

}  // namespace nfemu::net
