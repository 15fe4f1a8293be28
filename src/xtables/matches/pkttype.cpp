// -m pkttype: link-layer packet class (xt_pkttype.c, libxt_pkttype.c).
#include <fmt/format.h>

#include <array>
#include <string>
#include <strings.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

// Values are the kernel's PACKET_* (linux/if_packet.h).
struct PktType {
  const char* name;
  uint8_t type;
};
// The first name of a value is the one save prints; the rest are aliases.
constexpr std::array<PktType, 7> kTypes = {{{"unicast", 0},
                                            {"broadcast", 1},
                                            {"multicast", 2},
                                            {"otherhost", 3},
                                            {"bcast", 1},
                                            {"mcast", 2},
                                            {"host", 0}}};

class PkttypeMatch : public MatchBase<PkttypeMatch> {
 public:
  std::string_view name() const override { return "pkttype"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"pkt-type", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string s(opt.arg);
    for (const auto& t : kTypes) {
      if (strcasecmp(s.c_str(), t.name) == 0) {
        type_ = t.type;
        invert_ = opt.invert;
        given_ = true;
        return {};
      }
    }
    return make_error(fmt::format("Bad packet type '{}'", opt.arg));
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("pkttype", "pkt-type");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += invert_ ? " ! --pkt-type " : " --pkt-type ";
    for (const auto& t : kTypes) {
      if (t.type == type_) {
        out += t.name;
        return;
      }
    }
    out += fmt::format("{}", type_);
  }

  bool can_evaluate() const override { return true; }

  // pkttype_mt on skb->pkt_type. A received frame's class is what
  // eth_type_trans derives from the destination MAC: group bit set ->
  // broadcast (ff:ff:ff:ff:ff:ff) or multicast, else host. OTHERHOST never
  // reaches netfilter (ip_rcv drops it before PREROUTING), and a locally
  // generated packet has no MAC header and keeps PACKET_HOST ("unicast"),
  // whatever its destination address.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    uint8_t type = 0;  // PACKET_HOST
    if (ctx.pkt.has_mac_header()) {
      const packet::Mac dst = ctx.pkt.mac_header().dst;
      if (dst[0] & 1) {
        bool bcast = true;
        for (uint8_t b : dst) bcast = bcast && b == 0xff;
        type = bcast ? 1 : 2;
      }
    }
    return (type == type_) != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint8_t type_ = 0;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_pkttype(Registry& r) { r.add_match<PkttypeMatch>("pkttype"); }

}  // namespace nfemu::xt
