// nfemu run --json (docs/json.md) read back as a program would, on the
// story of tests/scenarios/icmp-nat-dmz: the echo request is DNATed, the
// REJECT's ICMP error is RELATED and is translated by its connection
// without walking nat POSTROUTING, so the SNAT rule meant for it keeps
// counters 0. The kernel facts behind the story are the nat and icmp
// tests' (tests/nat/kernel-check.sh checks the ICMP error translation on
// real namespaces); here the point is that the JSON says them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "net/json.h"
#include "net/network.h"

namespace nfemu::net {
namespace {

using nlohmann::json;

// Network keeps a reference to the scenario: a JsonRun stays where it was made.
struct JsonRun {
  JsonRun() = default;
  JsonRun(const JsonRun&) = delete;
  scenario::Scenario sc;
  std::unique_ptr<Network> net;
  json doc;
  void finish(std::string_view path) {
    auto n = Network::build(sc);
    ASSERT_TRUE(n) << n.error().format(std::string(path));
    net = std::move(*n);
    net->run();
    doc = json::parse(run_json(*net, path));
  }
};

void dmz(JsonRun& r) {
  const char* path = NFEMU_SCENARIOS "/icmp-nat-dmz/icmp-nat-dmz.toml";
  auto sc = scenario::load_scenario(path);
  ASSERT_TRUE(sc) << sc.error().format(path);
  r.sc = std::move(*sc);
  r.finish(path);
}

// The events matching every key/value of `want`, in order.
std::vector<json> find(const json& doc, const json& want) {
  std::vector<json> out;
  for (const json& e : doc.at("events")) {
    bool ok = true;
    for (const auto& [k, v] : want.items())
      if (!e.contains(k) || e.at(k) != v) ok = false;
    if (ok) out.push_back(e);
  }
  return out;
}

TEST(TimelineJsonTest, TopLevelShape) {
  JsonRun r;
  ASSERT_NO_FATAL_FAILURE(dmz(r));
  const json& d = r.doc;
  EXPECT_EQ(d.at("format"), "nfemu-run");
  EXPECT_EQ(d.at("version"), 1);
  EXPECT_NE(d.at("scenario").get<std::string>().find("icmp-nat-dmz.toml"), std::string::npos);
  EXPECT_DOUBLE_EQ(d.at("end").get<double>(), 3.0);
  ASSERT_EQ(d.at("traffic").size(), 2u);
  EXPECT_DOUBLE_EQ(d["traffic"][1].at("at").get<double>(), 2.0);
  EXPECT_EQ(d["traffic"][1].at("from"), "client");
  EXPECT_EQ(d.at("hosts").size(), 3u);
  // Every event has the common keys, times are numbers in seconds.
  for (const json& e : d.at("events")) {
    ASSERT_TRUE(e.at("time").is_number()) << e;
    ASSERT_TRUE(e.at("traffic").is_number_integer()) << e;
    ASSERT_TRUE(e.at("host").is_string()) << e;
    ASSERT_TRUE(e.at("kind").is_string()) << e;
  }
  EXPECT_EQ(d["events"][0].at("kind"), "send");
  EXPECT_DOUBLE_EQ(d["events"][0].at("time").get<double>(), 1.0);
  EXPECT_EQ(d.at("unsupported"), json::array());
}

TEST(TimelineJsonTest, DnatRuleAndRewrite) {
  JsonRun r;
  ASSERT_NO_FATAL_FAILURE(dmz(r));
  auto rules = find(r.doc, {{"host", "fw"}, {"kind", "rule"}, {"table", "nat"}, {"chain", "PREROUTING"},
                            {"position", "rule"}, {"traffic", 0}});
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].at("rulenum"), 1);
  EXPECT_EQ(rules[0].at("rule"), "-A PREROUTING -d 203.0.113.4/32 -j DNAT --to-destination 100.64.1.4");
  EXPECT_EQ(rules[0].at("verdict"), "DNAT");
  EXPECT_EQ(rules[0].at("hook"), "PREROUTING");
  auto nat = find(r.doc, {{"host", "fw"}, {"kind", "nat"}, {"hook", "PREROUTING"}, {"traffic", 0}});
  ASSERT_EQ(nat.size(), 1u);
  EXPECT_EQ(nat[0].at("nat_step"), "walked");
  EXPECT_EQ(nat[0].at("before"), "icmp 198.51.100.10 > 203.0.113.4 echo-request id 1");
  EXPECT_EQ(nat[0].at("after"), "icmp 198.51.100.10 > 100.64.1.4 echo-request id 1");
  EXPECT_EQ(nat[0].at("changed"), true);
  // The second echo request is not published: walked, unchanged.
  auto nat2 = find(r.doc, {{"host", "fw"}, {"kind", "nat"}, {"hook", "PREROUTING"}, {"traffic", 1}});
  ASSERT_EQ(nat2.size(), 1u);
  EXPECT_EQ(nat2[0].at("changed"), false);
}

TEST(TimelineJsonTest, IcmpErrorIsRelatedAndSkipsNat) {
  JsonRun r;
  ASSERT_NO_FATAL_FAILURE(dmz(r));
  auto states = find(r.doc, {{"host", "fw"}, {"kind", "conntrack"}, {"hook", "OUTPUT"}, {"traffic", 0}});
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(states[0].at("ct_state"), "RELATED");
  EXPECT_EQ(states[0].at("ct_dir"), "reply");
  auto post = find(r.doc, {{"host", "fw"}, {"kind", "nat"}, {"hook", "POSTROUTING"}, {"traffic", 0}});
  ASSERT_EQ(post.size(), 1u);
  EXPECT_EQ(post[0].at("nat_step"), "icmp-error");
  EXPECT_EQ(post[0].at("before"), "icmp 198.18.42.1 > 198.51.100.10 type 3 code 3 quoting "
                                  "[icmp 198.51.100.10 > 100.64.1.4 echo-request id 1]");
  EXPECT_EQ(post[0].at("after"), "icmp 203.0.113.4 > 198.51.100.10 type 3 code 3 quoting "
                                 "[icmp 198.51.100.10 > 203.0.113.4 echo-request id 1]");
  EXPECT_EQ(post[0].at("skipped_rules"),
            json::array({"-A POSTROUTING -s 198.18.42.1/32 -o eth0 -p icmp -j SNAT --to-source 203.0.113.1"}));
  // The walker never meets nat POSTROUTING on fw: not a rule, not a policy.
  EXPECT_TRUE(find(r.doc, {{"host", "fw"}, {"kind", "rule"}, {"table", "nat"}, {"chain", "POSTROUTING"}}).empty());
  // The error the client gets comes from the public address. The client
  // has no conntrack-using rule, so no conntrack hooks (Linux 6.18): no state.
  auto got = find(r.doc, {{"host", "client"}, {"kind", "deliver"}, {"traffic", 0}});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].contains("ct_state"));
  EXPECT_EQ(got[0].at("packet").get<std::string>().rfind("icmp 203.0.113.4 > 198.51.100.10 type 3 code 3", 0), 0u);
  // The other error leaves from the private address and the router drops it.
  auto dropped = find(r.doc, {{"host", "router"}, {"kind", "drop"}, {"traffic", 1}});
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].at("reason"), "filter FORWARD DROP");
  EXPECT_EQ(dropped[0].at("packet").get<std::string>().rfind("icmp 198.18.42.1 > 198.51.100.10", 0), 0u);
  // The mangle OUTPUT LOG saw the error, with its pre-NAT source.
  auto logs = find(r.doc, {{"host", "fw"}, {"kind", "log"}, {"traffic", 0}});
  ASSERT_FALSE(logs.empty());
  EXPECT_EQ(logs.back().at("text").get<std::string>().rfind("IN= OUT=eth0 SRC=198.18.42.1 DST=198.51.100.10", 0), 0u);
}

TEST(TimelineJsonTest, CountersAndConntrack) {
  JsonRun r;
  ASSERT_NO_FATAL_FAILURE(dmz(r));
  const json& fw = r.doc.at("hosts").at("fw");
  const json* snat = nullptr;
  const json* dnat = nullptr;
  for (const json& c : fw.at("counters")) {
    if (c.at("table") == "nat" && c.at("chain") == "POSTROUTING") snat = &c;
    if (c.at("table") == "nat" && c.at("chain") == "PREROUTING") dnat = &c;
  }
  ASSERT_TRUE(snat && dnat);
  EXPECT_EQ(snat->at("rulenum"), 1);
  EXPECT_EQ(snat->at("target"), "SNAT");
  EXPECT_EQ(snat->at("packets"), 0);
  EXPECT_EQ(snat->at("bytes"), 0);
  EXPECT_EQ(dnat->at("packets"), 1);
  EXPECT_EQ(dnat->at("bytes"), 84);
  bool saw_forward_policy = false;
  for (const json& p : fw.at("policies"))
    if (p.at("table") == "filter" && p.at("chain") == "FORWARD") {
      saw_forward_policy = true;
      EXPECT_EQ(p.at("policy"), "ACCEPT");
    }
  EXPECT_TRUE(saw_forward_policy);
  // REJECTed requests are never confirmed: fw keeps no connection.
  EXPECT_EQ(fw.at("conntrack"), json::array());
  // The client has no rule that takes a conntrack reference: like a fresh
  // namespace on Linux 6.18, it tracks nothing (conntrack -L empty).
  const json& client = r.doc["hosts"].at("client");
  EXPECT_EQ(client.at("conntrack"), json::array());
  EXPECT_NE(fw.at("iptables_save").get<std::string>().find("[0:0] -A POSTROUTING -s 198.18.42.1/32"),
            std::string::npos);
}

// A packet conntrack refuses (SYN with FIN: tcp_error) is INVALID, and a
// NOTRACK'ed one UNTRACKED; neither has a direction.
TEST(TimelineJsonTest, InvalidAndUntracked) {
  JsonRun r;
  auto sc = scenario::load_scenario_text(R"(
[hosts.gw]
iptables = ["-t raw -A PREROUTING -p udp -j NOTRACK", "-A INPUT -m conntrack --ctstate INVALID"]
listen = ["udp/53"]
[hosts.gw.interfaces.eth0]
addresses = ["198.51.100.1/24"]
[[traffic]]
at = 0
on = "gw:eth0"
packet = "tcp 198.51.100.10:40000 > 198.51.100.1:80 flags SF"
[[traffic]]
at = 0.5
on = "gw:eth0"
packet = "udp 198.51.100.10:5000 > 198.51.100.1:53"
)",
                                         "small.toml", ".");
  ASSERT_TRUE(sc) << sc.error().format("small.toml");
  r.sc = std::move(*sc);
  ASSERT_NO_FATAL_FAILURE(r.finish("small.toml"));
  auto st0 = find(r.doc, {{"kind", "conntrack"}, {"hook", "PREROUTING"}, {"traffic", 0}});
  ASSERT_EQ(st0.size(), 1u);
  EXPECT_EQ(st0[0].at("ct_state"), "INVALID");
  EXPECT_FALSE(st0[0].contains("ct_dir"));
  auto st1 = find(r.doc, {{"kind", "conntrack"}, {"hook", "PREROUTING"}, {"traffic", 1}});
  ASSERT_EQ(st1.size(), 1u);
  EXPECT_EQ(st1[0].at("ct_state"), "UNTRACKED");
  auto rule = find(r.doc, {{"kind", "rule"}, {"table", "raw"}, {"position", "rule"}});
  ASSERT_EQ(rule.size(), 1u);
  EXPECT_EQ(rule[0].at("verdict"), "NOTRACK");
}

TEST(TimelineTextTest, DescribeHeaders) {
  // 198.51.100.10:5000 > 203.0.113.4:53 UDP, header only.
  std::vector<uint8_t> udp = {0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 198, 51, 100, 10, 203, 0, 113, 4,
                              0x13, 0x88, 0, 53, 0, 8, 0, 0};
  EXPECT_EQ(describe_headers(udp), "udp 198.51.100.10:5000 > 203.0.113.4:53");
  // A later fragment has no ports to show.
  udp[6] = 0x00, udp[7] = 0x10;
  EXPECT_EQ(describe_headers(udp), "proto 17 198.51.100.10 > 203.0.113.4");
  EXPECT_EQ(describe_headers(std::span<const uint8_t>(udp.data(), 10)), "10 bytes");
  // A SYN-ACK (what format_packet cannot say when it has options or a
  // chosen ISN): flags in the grammar's letters.
  std::vector<uint8_t> tcp = {0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 100, 64, 0, 80, 203, 0, 113, 10,
                              0, 80, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x12, 0xfa, 0xf0, 0, 0, 0, 0};
  EXPECT_EQ(describe_headers(tcp), "tcp 100.64.0.80:80 > 203.0.113.10:40000 flags SA");
}

TEST(TimelineTextTest, GroupsUnderTrafficAndHidesTraceAndTableLines) {
  std::vector<Event> ev(5);
  ev[0].host = "client", ev[0].kind = EventKind::Send, ev[0].text = "udp 1.2.3.4:1 > 5.6.7.8:2", ev[0].traffic = 0;
  ev[0].time_ns = 1500000000;
  ev[1] = ev[0], ev[1].kind = EventKind::KernelLog, ev[1].text = "TRACE: raw:OUTPUT:policy:1 ...";
  ev[2] = ev[0], ev[2].kind = EventKind::KernelLog, ev[2].text = "x: IN= OUT=eth0";
  ev[3] = ev[0], ev[3].kind = EventKind::Table, ev[3].table = "filter", ev[3].hook = "OUTPUT", ev[3].verdict = "DROP";
  ev[4].host = "fw", ev[4].kind = EventKind::CtEvent, ev[4].text = "[DESTROY] udp", ev[4].time_ns = 31500000000;
  EXPECT_EQ(render_timeline(ev),
            "1.500000 client sends udp 1.2.3.4:1 > 5.6.7.8:2\n"
            "  client    kernel: x: IN= OUT=eth0\n"
            "31.500000 timers, until the end of the scenario\n"
            "  fw      conntrack -E: [DESTROY] udp\n");
}

}  // namespace
}  // namespace nfemu::net
