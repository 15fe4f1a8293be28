// ct_replay: runs packets through one conntrack Table as a router's
// PREROUTING..POSTROUTING would, for kernel-check.sh's differential mode.
//
//   input, one packet a line:   MILLISECONDS PACKET-IN-SCENARIO-GRAMMAR
//                           or: MILLISECONDS hex:IPV4-DATAGRAM-IN-HEX
//   output: one classification per packet (INVALID, NEW, ESTABLISHED,
//   ESTABLISHED_REPLY, RELATED, RELATED_REPLY, DROP), then "--- events"
//   and the events in `conntrack -E` words, single-spaced, then
//   "--- reasons" and per packet why it was INVALID or dropped (the text
//   nf_conntrack_log_invalid logs), or "-".
//
// The event text is a test-only rendering for comparison; nfemu's real
// formatter lives in src/log/.
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "conntrack/conntrack.h"
#include "packet/addr.h"
#include "packet/grammar.h"

using namespace nfemu;
using namespace nfemu::conntrack;

namespace {

std::string ip(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
         "." + std::to_string(a & 255);
}

std::string tuple(const Tuple& t) {
  std::string s = "src=" + ip(t.src) + " dst=" + ip(t.dst);
  char key[32];
  switch (t.proto) {
    case 1:
      s += " type=" + std::to_string(t.icmp_type) + " code=" + std::to_string(t.icmp_code) +
           " id=" + std::to_string(t.sport);
      break;
    case 6: case 17: case 33: case 132: case 136:
      s += " sport=" + std::to_string(t.sport) + " dport=" + std::to_string(t.dport);
      break;
    case 47:
      std::snprintf(key, sizeof key, " srckey=0x%x dstkey=0x%x", t.sport, t.dport);
      s += key;
      break;
    default:
      break;
  }
  return s;
}

std::string proto_name(uint8_t p) {
  switch (p) {
    case 1: return "icmp 1";
    case 6: return "tcp 6";
    case 17: return "udp 17";
    case 33: return "dccp 33";
    case 47: return "gre 47";
    case 132: return "sctp 132";
    case 136: return "udplite 136";
    default: return "unknown " + std::to_string(p);
  }
}

// Appends " WORD". (Not `s += " " + word`: GCC 12 gives a false -Wrestrict
// on "literal" + std::string&&, GCC bugs 105329 and 105651.)
void add(std::string& s, std::string_view word) {
  s += ' ';
  s += word;
}

std::string render(const Event& e) {
  const View& v = e.view;
  std::string s = e.type == EventType::New ? "[NEW]" : e.type == EventType::Update ? "[UPDATE]" : "[DESTROY]";
  add(s, proto_name(v.orig.proto));
  if (v.has_timeout) add(s, std::to_string(v.timeout_s));
  if (v.has_tcp_state) add(s, to_string(v.tcp_state));
  add(s, tuple(v.orig));
  if (!(v.status & status::kSeenReply)) s += " [UNREPLIED]";
  add(s, tuple(v.reply));
  if (v.status & status::kAssured) s += " [ASSURED]";
  if (v.has_mark) {
    s += " mark=";
    s += std::to_string(v.mark);
  }
  return s;
}

const char* name(CtInfo c) {
  switch (c) {
    case CtInfo::New: return "NEW";
    case CtInfo::Established: return "ESTABLISHED";
    case CtInfo::EstablishedReply: return "ESTABLISHED_REPLY";
    case CtInfo::Related: return "RELATED";
    case CtInfo::RelatedReply: return "RELATED_REPLY";
    default: return "UNTRACKED";
  }
}

}  // namespace

int main() {
  Table table;
  std::string line;
  uint64_t start = 1'000'000'000'000;  // arbitrary origin of the virtual clock
  uint64_t now = start;
  std::vector<std::string> list_lines;
  std::vector<std::string> reasons;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    now = start + std::stoull(line.substr(0, sp)) * 1'000'000;
    std::string text = line.substr(sp + 1);
    if (text == "list") {
      // conntrack -L at this time, in its words (sorted by the caller).
      table.expire_until(now);
      std::cout << "--- list\n";
      for (const View& v : table.dump(now)) {
        std::string l = proto_name(v.orig.proto);
        add(l, std::to_string(v.timeout_s));
        if (v.has_tcp_state) add(l, to_string(v.tcp_state));
        add(l, tuple(v.orig));
        if (!(v.status & status::kSeenReply)) l += " [UNREPLIED]";
        add(l, tuple(v.reply));
        if (v.status & status::kAssured) l += " [ASSURED]";
        l += " mark=";
        l += std::to_string(v.mark);
        l += " use=";
        l += std::to_string(v.use);
        list_lines.push_back(l);
      }
      for (const auto& l : list_lines) std::cout << l << "\n";
      list_lines.clear();
      continue;
    }
    Result<Packet> pkt = Error{"empty"};
    if (text.starts_with("hex:")) {
      // The exact bytes the kernel saw.
      std::vector<uint8_t> bytes;
      for (size_t i = 4; i + 1 < text.size(); i += 2) bytes.push_back(static_cast<uint8_t>(std::stoul(text.substr(i, 2), nullptr, 16)));
      auto ip = packet::parse_ipv4(std::span<const uint8_t>(bytes));
      if (!ip) pkt = ip.error();
      else pkt = Packet(std::span<const uint8_t>(bytes.data(), ip->total_length()));
    } else {
      pkt = packet::parse_packet(text);
    }
    if (!pkt) {
      std::cerr << "bad packet: " << line << ": " << pkt.error().message << "\n";
      return 2;
    }
    table.expire_until(now);
    LookupResult r = table.in(*pkt, packet::Hook::PreRouting, 0, now);
    const bool refused = r.verdict == Verdict::Drop || !pkt->meta.ct;
    reasons.push_back(refused && !r.reason.empty() ? std::string(r.reason) : "-");
    if (r.verdict == Verdict::Drop) {
      std::cout << "DROP\n";
    } else {
      std::cout << (pkt->meta.ct ? name(pkt->meta.ctinfo) : "INVALID") << "\n";
      table.confirm(*pkt, now);
    }
    table.put(*pkt);
  }
  std::cout << "--- events\n";
  for (const Event& e : table.take_events()) std::cout << render(e) << "\n";
  std::cout << "--- reasons\n";
  for (const auto& r : reasons) std::cout << r << "\n";
  return 0;
}
