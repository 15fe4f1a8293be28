// Rebuilds every line of the goldens captured from a real kernel
// (capture-golden.sh) from the recorded bytes and metadata, byte for byte.
// NFEMU_LOG_GOLDEN_DIR in the environment points the test at a fresh capture.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "log/conntrack_text.h"
#include "log/log.h"
#include "packet/addr.h"

namespace nfemu::log {
namespace {

using Record = std::map<std::string, std::string>;

std::string golden_dir() {
  const char* env = std::getenv("NFEMU_LOG_GOLDEN_DIR");
  return env && *env ? env : NFEMU_LOG_GOLDEN_DIR;
}

// `key: value` lines, records separated by blank lines, `#` comments; a value
// written as |...| is taken verbatim between the bars.
std::vector<Record> read_records(const std::string& name) {
  std::ifstream in(golden_dir() + "/" + name);
  EXPECT_TRUE(in) << "cannot open " << golden_dir() << "/" << name;
  std::vector<Record> out;
  Record cur;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (line[0] == '#') continue;
    auto colon = line.find(": ");
    std::string key = line.substr(0, colon == std::string::npos ? line.size() - 1 : colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 2);
    if (value.size() >= 2 && value.front() == '|' && value.back() == '|') value = value.substr(1, value.size() - 2);
    cur[key] = value;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> b;
  for (size_t i = 0; i + 1 < s.size(); i += 2) b.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  return b;
}

packet::Hook hook_of(const std::string& s) {
  static const std::map<std::string, packet::Hook> m = {
      {"PREROUTING", packet::Hook::PreRouting}, {"INPUT", packet::Hook::LocalIn},
      {"FORWARD", packet::Hook::Forward},       {"OUTPUT", packet::Hook::LocalOut},
      {"POSTROUTING", packet::Hook::PostRouting}};
  auto it = m.find(s);
  return it == m.end() ? packet::Hook::None : it->second;
}

TEST(LogGoldenTest, KernelLinesRebuiltFromPackets) {
  auto recs = read_records("kern-log.txt");
  ASSERT_GT(recs.size(), 20u);
  size_t traces = 0;
  for (size_t i = 0; i < recs.size(); ++i) {
    auto& r = recs[i];
    SCOPED_TRACE("kern-log.txt record " + std::to_string(i + 1) + ": " + r["line"]);
    packet::Packet pkt(unhex(r["packet"]));
    pkt.meta.mark = static_cast<uint32_t>(std::stoul(r["mark"], nullptr, 16));
    MacInfo mac;
    const MacInfo* macp = nullptr;
    auto m = words(r["mac"]);
    if (m.size() == 4 && m[0] == "ether") {
      mac.header.dst = *packet::parse_mac(m[1]);
      mac.header.src = *packet::parse_mac(m[2]);
      mac.header.ethertype = static_cast<uint16_t>(std::stoul(m[3], nullptr, 16));
      macp = &mac;
    } else if (m.size() == 1 && m[0] == "loopback") {
      mac = MacInfo::loopback();
      macp = &mac;
    }
    SocketOwner owner;
    const SocketOwner* ownerp = nullptr;
    if (auto o = words(r["owner"]); o.size() == 2) {
      owner = {static_cast<uint32_t>(std::stoul(o[0])), static_cast<uint32_t>(std::stoul(o[1]))};
      ownerp = &owner;
    }
    std::string got;
    if (r["kind"] == "trace") {
      auto t = words(r["trace"]);
      ASSERT_EQ(t.size(), 4u);
      TraceType type = t[2] == "rule" ? TraceType::Rule : t[2] == "return" ? TraceType::Return : TraceType::Policy;
      got = format_trace_line(t[0], t[1], type, static_cast<unsigned>(std::stoul(t[3])), pkt, hook_of(r["hook"]),
                              r["in"], r["out"], macp, ownerp);
      ++traces;
    } else {
      LogOptions o;
      for (auto& f : words(r["opts"])) {
        if (f == "tcp-sequence") o.tcp_sequence = true;
        else if (f == "tcp-options") o.tcp_options = true;
        else if (f == "ip-options") o.ip_options = true;
        else if (f == "uid") o.uid = true;
        else if (f == "macdecode") o.macdecode = true;
        else ADD_FAILURE() << "unknown flag " << f;
      }
      got = format_log_line(r["prefix"], o, pkt, hook_of(r["hook"]), r["in"], r["out"], macp, ownerp);
    }
    EXPECT_EQ(got, r["line"]);
  }
  EXPECT_GT(traces, 0u);
}

CtTuple tuple_of(uint8_t proto, const std::string& s) {
  auto w = words(s);
  CtTuple t;
  t.src = *packet::parse_ipv4_addr(w.at(0));
  t.dst = *packet::parse_ipv4_addr(w.at(1));
  auto num = [&](size_t i) { return std::stoul(w.at(i), nullptr, 0); };
  if (proto == 1) {
    t.icmp_type = static_cast<uint8_t>(num(2));
    t.icmp_code = static_cast<uint8_t>(num(3));
    t.icmp_id = static_cast<uint16_t>(num(4));
  } else if (w.size() >= 4) {
    t.sport = static_cast<uint16_t>(num(2));
    t.dport = static_cast<uint16_t>(num(3));
  }
  return t;
}

ConntrackView view_of(Record& r) {
  ConntrackView v;
  auto p = words(r["proto"]);
  v.l4proto = static_cast<uint8_t>(std::stoul(p.at(1)));
  v.timeout = static_cast<uint32_t>(std::stoul(r["timeout"]));
  if (r["state"] != "-") v.tcp_state = r["state"];
  v.orig = tuple_of(v.l4proto, r["orig"]);
  v.reply = tuple_of(v.l4proto, r["reply"]);
  v.seen_reply = r["seen_reply"] == "1";
  v.assured = r["assured"] == "1";
  v.mark = static_cast<uint32_t>(std::stoul(r["mark"]));
  v.mark_event = r["mark_event"] == "1";
  v.state_event = r["state_event"] != "0";
  v.zone = static_cast<uint16_t>(std::stoul(r["zone"]));
  v.use = static_cast<uint32_t>(std::stoul(r["use"]));
  return v;
}

TEST(LogGoldenTest, ConntrackEventsRebuilt) {
  auto recs = read_records("conntrack-events.txt");
  ASSERT_GT(recs.size(), 10u);
  for (size_t i = 0; i < recs.size(); ++i) {
    auto& r = recs[i];
    SCOPED_TRACE("conntrack-events.txt record " + std::to_string(i + 1));
    ConntrackView v = view_of(r);
    CtEventType t = r["event"] == "NEW" ? CtEventType::New
                    : r["event"] == "UPDATE" ? CtEventType::Update
                                             : CtEventType::Destroy;
    EXPECT_EQ(format_ct_event(t, v), r["line"]);
  }
}

TEST(LogGoldenTest, ConntrackListRebuilt) {
  auto recs = read_records("conntrack-list.txt");
  ASSERT_GT(recs.size(), 3u);
  for (size_t i = 0; i < recs.size(); ++i) {
    auto& r = recs[i];
    SCOPED_TRACE("conntrack-list.txt record " + std::to_string(i + 1));
    EXPECT_EQ(format_ct_list_line(view_of(r)), r["line"]);
  }
}

}  // namespace
}  // namespace nfemu::log
