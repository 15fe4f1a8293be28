#include "net/timeline.h"

#include <fmt/format.h>

#include "packet/addr.h"
#include "packet/bytes.h"
#include "packet/headers.h"

namespace nfemu::net {

std::string_view to_string(EventKind k) {
  switch (k) {
    case EventKind::Send: return "send";
    case EventKind::Inject: return "inject";
    case EventKind::Receive: return "receive";
    case EventKind::Conntrack: return "conntrack";
    case EventKind::Rule: return "rule";
    case EventKind::Table: return "table";
    case EventKind::Nat: return "nat";
    case EventKind::Drop: return "drop";
    case EventKind::Stolen: return "stolen";
    case EventKind::Deliver: return "deliver";
    case EventKind::Transmit: return "transmit";
    case EventKind::KernelLog: return "log";
    case EventKind::CtEvent: return "ct-event";
    case EventKind::Unsupported: return "unsupported";
    case EventKind::Expect: return "expect";
  }
  return "?";
}

std::string format_seconds(uint64_t ns) { return fmt::format("{}.{:06}", ns / 1000000000, (ns / 1000) % 1000000); }

namespace {

std::string describe_at(std::span<const uint8_t> b, int depth) {
  using packet::format_ipv4_addr;
  if (b.size() < packet::kIpv4MinHeader) return fmt::format("{} bytes", b.size());
  size_t ihl = static_cast<size_t>(b[0] & 0x0f) * 4;
  uint8_t proto = b[9];
  std::string src = format_ipv4_addr(packet::load32(b.data() + 12));
  std::string dst = format_ipv4_addr(packet::load32(b.data() + 16));
  // An ICMP error's quote is cut short, so the transport header is taken
  // as far as it is there, not as far as Total Length says.
  std::span<const uint8_t> l4 = ihl <= b.size() ? b.subspan(ihl) : std::span<const uint8_t>();
  bool first_fragment = (packet::load16(b.data() + 6) & 0x1fff) == 0;
  if ((proto == packet::kIpProtoTcp || proto == packet::kIpProtoUdp) && l4.size() >= 4 && first_fragment) {
    std::string text = fmt::format("{} {}:{} > {}:{}", proto == packet::kIpProtoTcp ? "tcp" : "udp", src,
                                   packet::load16(l4.data()), dst, packet::load16(l4.data() + 2));
    if (proto == packet::kIpProtoTcp && l4.size() >= 14 && l4[13] != 0) {
      // The scenario grammar's letters, in its (tcpdump's) order.
      namespace f = packet::tcp_flag;
      static constexpr std::pair<char, uint8_t> kLetters[] = {{'S', f::kSyn}, {'F', f::kFin}, {'R', f::kRst},
                                                              {'P', f::kPsh}, {'A', f::kAck}, {'U', f::kUrg},
                                                              {'E', f::kEce}, {'C', f::kCwr}};
      text += " flags ";
      for (auto [c, bit] : kLetters)
        if (l4[13] & bit) text += c;
    }
    return text;
  }
  if (proto == packet::kIpProtoIcmp && l4.size() >= 4 && first_fragment) {
    uint8_t type = l4[0], code = l4[1];
    bool echo = type == packet::icmp_type::kEcho || type == packet::icmp_type::kEchoReply;
    if (echo && l4.size() >= 8)
      return fmt::format("icmp {} > {} {} id {}", src, dst, type == packet::icmp_type::kEcho ? "echo-request" : "echo-reply",
                         packet::load16(l4.data() + 4));
    std::string text = fmt::format("icmp {} > {} type {} code {}", src, dst, type, code);
    if (packet::icmp_is_error(type) && depth == 0 && l4.size() > packet::kIcmpHeader)
      text += fmt::format(" quoting [{}]", describe_at(l4.subspan(packet::kIcmpHeader), depth + 1));
    return text;
  }
  return fmt::format("proto {} {} > {}", proto, src, dst);
}

}  // namespace

std::string describe_headers(std::span<const uint8_t> ip) { return describe_at(ip, 0); }

std::string event_text(const Event& e) {
  switch (e.kind) {
    case EventKind::Send: return fmt::format("sends {}", e.text);
    case EventKind::Inject: return fmt::format("receives on {} from the wire: {}", e.ifname, e.text);
    case EventKind::Receive: return fmt::format("receives on {}: {}", e.ifname, e.packet);
    case EventKind::Conntrack: {
      std::string dir = e.ct_dir.empty() ? "" : fmt::format(" ({})", e.ct_dir);
      return fmt::format("  conntrack {}: {}{}", e.hook, e.ct_state, dir);
    }
    case EventKind::Rule: {
      std::string text = fmt::format("  {}:{}:{}:{}", e.table, e.chain, e.position, e.rulenum);
      if (!e.rule.empty()) return text + "  " + e.rule;
      if (e.position == "policy") return text + "  policy " + e.verdict;
      return text + "  (end of chain: return)";
    }
    case EventKind::Table: return fmt::format("  {} {}: {}", e.table, e.hook, e.verdict);
    case EventKind::Nat: {
      std::string change = e.changed() ? fmt::format("{} → {}", e.before, e.after) : "no change";
      for (const auto& r : e.skipped_rules) change += fmt::format("; not seen: {}", r);
      if (e.nat_step == "walked") return fmt::format("  nat {}: chain walked (NEW): {}", e.hook, change);
      if (e.nat_step == "icmp-error")
        return fmt::format("  nat {}: chain skipped (RELATED ICMP error, nat rules see only NEW); "
                           "translated as its connection: {}",
                           e.hook, change);
      return fmt::format("  nat {}: chain skipped (not NEW), connection's binding: {}", e.hook, change);
    }
    case EventKind::Drop: return fmt::format("dropped ({}): {}", e.reason, e.packet);
    case EventKind::Stolen: return fmt::format("stolen ({}): {}", e.reason, e.packet);
    case EventKind::Deliver: {
      std::string dir = e.ct_dir == "reply" ? " reply" : "";
      if (e.ct_state.empty()) return fmt::format("delivered locally: {}", e.packet);
      return fmt::format("delivered locally [{}{}]: {}", e.ct_state, dir, e.packet);
    }
    case EventKind::Transmit: return fmt::format("transmits on {}: {}", e.ifname, e.packet);
    case EventKind::KernelLog: return fmt::format("  kernel: {}", e.text);
    case EventKind::CtEvent: return fmt::format("conntrack -E: {}", e.text);
    case EventKind::Unsupported: return fmt::format("  (not evaluated yet: {}; treated as no match)", e.text);
    case EventKind::Expect: return fmt::format("  helper {}", e.text);
  }
  return "?";
}

std::string render_timeline(const std::vector<Event>& events) {
  size_t width = 0;
  for (const auto& e : events) width = std::max(width, e.host.size());
  std::string out;
  size_t i = 0;
  while (i < events.size()) {
    // One group: the events of one traffic entry (or of the end).
    size_t j = i;
    while (j < events.size() && events[j].traffic == events[i].traffic) ++j;
    const Event* head = nullptr;
    for (size_t k = i; k < j; ++k)
      if (events[k].kind == EventKind::Send || events[k].kind == EventKind::Inject) head = &events[k];
    if (head) {
      out += fmt::format("{} {} {}\n", format_seconds(head->time_ns), head->host, event_text(*head));
    } else {
      out += fmt::format("{} {}\n", format_seconds(events[i].time_ns),
                         j == events.size() ? "timers, until the end of the scenario" : "timers");
    }
    for (size_t k = i; k < j; ++k) {
      const Event& e = events[k];
      if (&e == head) continue;
      if (e.kind == EventKind::Table) continue;  // the drop line says it
      if (e.kind == EventKind::KernelLog && e.text.rfind("TRACE: ", 0) == 0) continue;
      if (e.kind == EventKind::Nat && e.nat_step == "bound" && !e.changed()) continue;
      std::string when = e.time_ns != (head ? head->time_ns : events[i].time_ns)
                             ? fmt::format(" (at {})", format_seconds(e.time_ns))
                             : "";
      out += fmt::format("  {:<{}}  {}{}\n", e.host, width, event_text(e), when);
    }
    i = j;
  }
  return out;
}

}  // namespace nfemu::net
