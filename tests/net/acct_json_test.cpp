// The counters of nf_conntrack_acct in nfemu run --json (docs/json.md) and
// in the conntrack -L text, on tests/scenarios/connbytes, whose router has
// accounting turned on by its connbytes rules. The numbers are the kernel's
// (the scenario's recorded conntrack.txt).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "net/json.h"
#include "net/network.h"

namespace nfemu::net {
namespace {

using nlohmann::json;

TEST(AcctJsonTest, EntriesOfARouterWithConnbytesCarryCounters) {
  const char* path = NFEMU_SCENARIOS "/connbytes/connbytes.toml";
  auto sc = scenario::load_scenario(path);
  ASSERT_TRUE(sc) << sc.error().format(path);
  auto n = Network::build(*sc);
  ASSERT_TRUE(n) << n.error().format(path);
  (*n)->run();
  json doc = json::parse(run_json(**n, path));
  const json* tcp = nullptr;
  for (const json& e : doc.at("hosts").at("router").at("conntrack"))
    if (e.at("proto") == "tcp") tcp = &e;
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->at("counters"), json::parse(R"({"orig": {"packets": 4, "bytes": 270},
                                                  "reply": {"packets": 3, "bytes": 420}})"));
  EXPECT_NE(tcp->at("text").get<std::string>().find("dport=2001 packets=3 bytes=420 [ASSURED]"), std::string::npos);
  // The endpoints track nothing; a host without accounting has no counters.
  EXPECT_EQ(doc.at("hosts").at("client").at("conntrack"), json::array());
}

}  // namespace
}  // namespace nfemu::net
