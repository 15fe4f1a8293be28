// Follows libnetfilter_conntrack's __snprintf_conntrack_default: each field
// ends with a space and the last one is cut, so lines have no trailing space.
#include "log/conntrack_text.h"

#include <fmt/format.h>

#include <iterator>

#include "packet/addr.h"

namespace nfemu::log {
namespace {

void tuple(std::string& out, uint8_t proto, const CtTuple& t) {
  auto it = std::back_inserter(out);
  char buf[16];
  out.append("src=").append(buf, packet::format_ipv4_addr(t.src, buf));
  out.append(" dst=").append(buf, packet::format_ipv4_addr(t.dst, buf)).push_back(' ');
  switch (proto) {
    case 6: case 17: case 136: case 132: case 33:  // tcp udp udplite sctp dccp
      fmt::format_to(it, "sport={} dport={} ", t.sport, t.dport);
      break;
    case 47:
      fmt::format_to(it, "srckey=0x{:x} dstkey=0x{:x} ", t.sport, t.dport);
      break;
    case 1:
      fmt::format_to(it, "type={} code={} id={} ", t.icmp_type, t.icmp_code, t.icmp_id);
      break;
    default:
      break;
  }
}

enum class Msg { Event, Destroy, List };

std::string format(std::string_view head, Msg msg, const ConntrackView& ct) {
  std::string out;
  out.reserve(224);
  auto it = std::back_inserter(out);
  out.append(head);
  std::string_view name = ct.l4name.empty() ? ct_proto_name(ct.l4proto) : ct.l4name;
  fmt::format_to(it, "{:<8} {} ", name, ct.l4proto);
  if (msg != Msg::Destroy || ct.timeout != 0) fmt::format_to(it, "{} ", ct.timeout);
  const bool state = msg != Msg::Event || ct.state_event;
  if (state && ct.l4proto == 6 && !ct.tcp_state.empty()) out.append(ct.tcp_state).push_back(' ');
  tuple(out, ct.l4proto, ct.orig);
  if (ct.zone_orig) fmt::format_to(it, "zone-orig={} ", ct.zone_orig);
  if (!ct.seen_reply) out.append("[UNREPLIED] ");
  tuple(out, ct.l4proto, ct.reply);
  if (ct.zone_reply) fmt::format_to(it, "zone-reply={} ", ct.zone_reply);
  if (ct.assured) out.append("[ASSURED] ");
  if (msg == Msg::List || ct.mark || ct.mark_event) fmt::format_to(it, "mark={} ", ct.mark);
  if (ct.zone) fmt::format_to(it, "zone={} ", ct.zone);
  if (msg == Msg::List) fmt::format_to(it, "use={} ", ct.use);
  out.pop_back();
  return out;
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

std::string format_ct_event(CtEventType type, const ConntrackView& ct) {
  switch (type) {
    case CtEventType::New: return format("    [NEW] ", Msg::Event, ct);
    case CtEventType::Update: return format(" [UPDATE] ", Msg::Event, ct);
    case CtEventType::Destroy: return format("[DESTROY] ", Msg::Destroy, ct);
  }
  return {};
}

std::string format_ct_list_line(const ConntrackView& ct) { return format({}, Msg::List, ct); }

}  // namespace nfemu::log
