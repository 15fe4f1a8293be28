// -m udp: source and destination port ranges (xt_tcpudp.c, libxt_udp.c).
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/ext_util.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kInvSrcPt = 0x01, kInvDstPt = 0x02;

class UdpMatch : public MatchBase<UdpMatch> {
 public:
  std::string_view name() const override { return "udp"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"source-port", ArgKind::Required, true},
        {"sport", ArgKind::Required, true},
        {"destination-port", ArgKind::Required, true},
        {"dport", ArgKind::Required, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    bool source = opt.name == "source-port" || opt.name == "sport";
    bool& have = source ? have_sport_ : have_dport_;
    if (have) return make_error(source ? "Only one `--source-port' allowed" : "Only one `--destination-port' allowed");
    auto r = parse_port_range_getaddrinfo(opt.arg, "udp", source ? "source-port" : "destination-port");
    if (!r) return r.error();
    (source ? sport_ : dport_) = *r;
    have = true;
    if (opt.invert) inv_ |= source ? kInvSrcPt : kInvDstPt;
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = 17}; }

  bool can_evaluate() const override { return true; }

  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (ctx.fragoff != 0) return MatchOutcome::NoMatch;
    auto l4 = ctx.pkt.data().subspan(ctx.thoff);
    if (l4.size() < 8) return MatchOutcome::HotDrop;
    uint16_t sport = static_cast<uint16_t>(l4[0] << 8 | l4[1]);
    uint16_t dport = static_cast<uint16_t>(l4[2] << 8 | l4[3]);
    auto in_range = [](PortRange r, uint16_t p, bool inv) { return (p >= r.lo && p <= r.hi) != inv; };
    if (!in_range(sport_, sport, inv_ & kInvSrcPt)) return MatchOutcome::NoMatch;
    if (!in_range(dport_, dport, inv_ & kInvDstPt)) return MatchOutcome::NoMatch;
    return MatchOutcome::Match;
  }

  void describe(MatchFacts& f) const override {
    f.l4_bytes = 8;
    f.exact = true;
    f.sport = ValueSet::range(sport_.lo, sport_.hi, inv_ & kInvSrcPt, 0xffff);
    f.dport = ValueSet::range(dport_.lo, dport_.hi, inv_ & kInvDstPt, 0xffff);
  }

  void save(std::string& out, const IpCriteria&) const override {
    auto one = [&](const char* opt, PortRange r, bool invert) {
      if (r.lo == 0 && r.hi == 0xffff) return;
      if (invert) out += " !";
      if (r.lo != r.hi)
        out += fmt::format(" --{} {}:{}", opt, r.lo, r.hi);
      else
        out += fmt::format(" --{} {}", opt, r.lo);
    };
    one("sport", sport_, inv_ & kInvSrcPt);
    one("dport", dport_, inv_ & kInvDstPt);
  }

 private:
  PortRange sport_, dport_;
  uint8_t inv_ = 0;
  bool have_sport_ = false, have_dport_ = false;
};

}  // namespace

void register_match_udp(Registry& r) { r.add_match<UdpMatch>("udp"); }

}  // namespace nfemu::xt
