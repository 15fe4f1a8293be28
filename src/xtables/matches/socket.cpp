// -m socket: whether a local socket would take the packet (xt_socket.c,
// libxt_socket.c; iptables 1.8.9 uses revision 3: --transparent,
// --nowildcard, --restore-skmark). Transparent proxies pair it with
// TPROXY. The lookup is nf_sk_lookup_slow_v4's over the host's sockets
// (Effects::find_socket: a handshake's request sock or established child,
// then the `listen` sockets, which are bound to INADDR_ANY); then
// socket_match of xt_socket.c:
//   * a full socket bound to INADDR_ANY (a listener) is ignored unless
//     --nowildcard: a TCP packet matches only once its handshake has begun;
//   * --transparent wants an IP_TRANSPARENT socket, which hosts have none of;
//   * --restore-skmark copies the full socket's mark (0) into the packet.
// The lookup's address is the packet's, or for an ICMP error the quoted
// datagram's reversed; for a reply of a source-NATed connection, the
// connection's original source.
#include <fmt/format.h>

#include "conntrack/conntrack.h"
#include "packet/headers.h"
#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class SocketMatch : public MatchBase<SocketMatch> {
 public:
  std::string_view name() const override { return "socket"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"transparent", ArgKind::None}, {"nowildcard", ArgKind::None}, {"restore-skmark", ArgKind::None}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "transparent") transparent_ = true;
    else if (opt.name == "nowildcard") nowildcard_ = true;
    else restore_skmark_ = true;
    return {};
  }

  // socket_mt_v3: PREROUTING and INPUT, any table.
  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalIn))};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (transparent_) out += " --transparent";
    if (nowildcard_) out += " --nowildcard";
    if (restore_skmark_) out += " --restore-skmark";
  }

  bool can_evaluate() const override { return true; }
  void describe(MatchFacts& facts) const override { facts.changes_packet = restore_skmark_; }

  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (!ctx.effects) return MatchOutcome::NoMatch;
    auto bytes = ctx.pkt.data();
    const size_t th = ctx.thoff;
    auto be16 = [&](size_t at) { return static_cast<uint16_t>(bytes[at] << 8 | bytes[at + 1]); };
    auto be32 = [&](size_t at) {
      return static_cast<uint32_t>(bytes[at]) << 24 | static_cast<uint32_t>(bytes[at + 1]) << 16 |
             static_cast<uint32_t>(bytes[at + 2]) << 8 | bytes[at + 3];
    };
    const uint8_t outer = bytes[9];
    uint8_t proto;
    uint32_t saddr, daddr;
    uint16_t sport, dport;
    if (outer == packet::kIpProtoTcp || outer == packet::kIpProtoUdp) {
      // skb_header_pointer of a whole tcphdr or udphdr.
      if (bytes.size() < th + (outer == packet::kIpProtoTcp ? 20u : 8u)) return MatchOutcome::NoMatch;
      proto = outer;
      saddr = be32(12);
      daddr = be32(16);
      sport = be16(th);
      dport = be16(th + 2);
    } else if (outer == packet::kIpProtoIcmp) {
      // extract_icmp4_fields: an error quoting a TCP or UDP datagram this
      // host sent; its source is the local end.
      if (bytes.size() < th + 8) return MatchOutcome::NoMatch;
      const uint8_t type = bytes[th];
      if (type != 3 && type != 4 && type != 5 && type != 11 && type != 12) return MatchOutcome::NoMatch;
      const size_t in = th + 8;
      if (bytes.size() < in + 20) return MatchOutcome::NoMatch;
      const uint8_t inner = bytes[in + 9];
      if (inner != packet::kIpProtoTcp && inner != packet::kIpProtoUdp) return MatchOutcome::NoMatch;
      const size_t ports = in + static_cast<size_t>(bytes[in] & 0x0f) * 4;
      if (bytes.size() < ports + 4) return MatchOutcome::NoMatch;
      proto = inner;
      saddr = be32(in + 16);
      daddr = be32(in + 12);
      sport = be16(ports + 2);
      dport = be16(ports);
    } else {
      return MatchOutcome::NoMatch;
    }
    // A reply of a source-NATed connection: the socket is at the
    // connection's original source.
    const auto* ct = static_cast<const conntrack::Entry*>(ctx.pkt.meta.ct);
    const auto ci = ctx.pkt.meta.ctinfo;
    if (ct && !conntrack::is_template(ct) &&
        ((outer != packet::kIpProtoIcmp && ci == packet::CtInfo::EstablishedReply) ||
         (outer == packet::kIpProtoIcmp && ci == packet::CtInfo::RelatedReply)) &&
        (ct->status & conntrack::status::kSrcNatDone)) {
      daddr = ct->tuple[conntrack::kOriginal].src;
      dport = ct->tuple[conntrack::kOriginal].sport;
    }
    const LocalSocket sk = ctx.effects->find_socket(proto, saddr, sport, daddr, dport);
    if (!sk.found) return MatchOutcome::NoMatch;
    const bool wildcard = !nowildcard_ && sk.full && sk.any_address;
    const bool transparent = !transparent_ || sk.transparent;
    if (restore_skmark_ && !wildcard && transparent && sk.full) ctx.pkt.meta.mark = sk.mark;
    return wildcard || !transparent ? MatchOutcome::NoMatch : MatchOutcome::Match;
  }

 private:
  bool transparent_ = false, nowildcard_ = false, restore_skmark_ = false;
};

}  // namespace

void register_match_socket(Registry& r) { r.add_match<SocketMatch>("socket"); }

}  // namespace nfemu::xt
