// Follows libnetfilter_conntrack's __snprintf_conntrack_default: each field
// ends with a space and the last one is cut, so lines have no trailing space.
#include "log/conntrack_text.h"

#include <fmt/compile.h>
#include <fmt/format.h>

#include "packet/addr.h"

namespace nfemu::log {
namespace {

// As log.cpp's lines: built in fmt's inline buffer, formats compiled (a
// back_inserter into a std::string copies through a temporary buffer).
using Buffer = fmt::memory_buffer;

void add(Buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

void tuple(Buffer& out, uint8_t proto, const CtTuple& t) {
  auto it = fmt::appender(out);
  char buf[16];
  add(out, "src=");
  out.append(buf, buf + packet::format_ipv4_addr(t.src, buf));
  add(out, " dst=");
  out.append(buf, buf + packet::format_ipv4_addr(t.dst, buf));
  out.push_back(' ');
  switch (proto) {
    case 6: case 17: case 136: case 132: case 33:  // tcp udp udplite sctp dccp
      fmt::format_to(it, FMT_COMPILE("sport={} dport={} "), t.sport, t.dport);
      break;
    case 47:
      fmt::format_to(it, FMT_COMPILE("srckey=0x{:x} dstkey=0x{:x} "), t.sport, t.dport);
      break;
    case 1:
      fmt::format_to(it, FMT_COMPILE("type={} code={} id={} "), t.icmp_type, t.icmp_code, t.icmp_id);
      break;
    default:
      break;
  }
}

enum class Msg { Event, Destroy, List };

void format(std::string& line, std::string_view head, Msg msg, const ConntrackView& ct) {
  Buffer out;
  auto it = fmt::appender(out);
  add(out, head);
  std::string_view name = ct.l4name.empty() ? ct_proto_name(ct.l4proto) : ct.l4name;
  fmt::format_to(it, FMT_COMPILE("{:<8} {} "), name, ct.l4proto);
  if (msg != Msg::Destroy || ct.timeout != 0) fmt::format_to(it, FMT_COMPILE("{} "), ct.timeout);
  const bool state = msg != Msg::Event || ct.state_event;
  if (state && (ct.l4proto == 6 || ct.l4proto == 132) && !ct.tcp_state.empty()) {
    add(out, ct.tcp_state);
    out.push_back(' ');
  }
  tuple(out, ct.l4proto, ct.orig);
  if (ct.zone_orig) fmt::format_to(it, FMT_COMPILE("zone-orig={} "), ct.zone_orig);
  if (ct.counters) fmt::format_to(it, FMT_COMPILE("packets={} bytes={} "), ct.packets[0], ct.bytes[0]);
  if (!ct.seen_reply) add(out, "[UNREPLIED] ");
  tuple(out, ct.l4proto, ct.reply);
  if (ct.zone_reply) fmt::format_to(it, FMT_COMPILE("zone-reply={} "), ct.zone_reply);
  if (ct.counters) fmt::format_to(it, FMT_COMPILE("packets={} bytes={} "), ct.packets[1], ct.bytes[1]);
  if (ct.assured) add(out, "[ASSURED] ");
  if (msg == Msg::List || ct.mark || ct.mark_event) fmt::format_to(it, FMT_COMPILE("mark={} "), ct.mark);
  if (ct.zone) fmt::format_to(it, FMT_COMPILE("zone={} "), ct.zone);
  if (!ct.helper.empty()) {
    add(out, "helper=");
    add(out, ct.helper);
    out.push_back(' ');
  }
  if (msg == Msg::List) fmt::format_to(it, FMT_COMPILE("use={} "), ct.use);
  line.assign(out.data(), out.size() - 1);  // no trailing space
}

std::string_view event_head(CtEventType type) {
  switch (type) {
    case CtEventType::New: return "    [NEW] ";
    case CtEventType::Update: return " [UPDATE] ";
    case CtEventType::Destroy: return "[DESTROY] ";
  }
  return {};
}

}  // namespace

std::string_view ct_proto_name(uint8_t proto) {
  switch (proto) {
    case 6: return "tcp";
    case 17: return "udp";
    case 136: return "udplite";
    case 1: return "icmp";
    case 58: return "icmpv6";
    case 132: return "sctp";
    case 47: return "gre";
    case 33: return "dccp";
    default: return "unknown";
  }
}

void format_ct_event(std::string& line, CtEventType type, const ConntrackView& ct) {
  format(line, event_head(type), type == CtEventType::Destroy ? Msg::Destroy : Msg::Event, ct);
}

std::string format_ct_event(CtEventType type, const ConntrackView& ct) {
  std::string line;
  format_ct_event(line, type, ct);
  return line;
}

std::string format_ct_list_line(const ConntrackView& ct) {
  std::string line;
  format(line, {}, Msg::List, ct);
  return line;
}

}  // namespace nfemu::log
