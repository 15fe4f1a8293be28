// -m ecn: ECN bits of the IP header and the TCP ECE/CWR flags (xt_ecn.c,
// libxt_ecn.c).
#include <fmt/format.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

// XT_ECN_OP_MATCH_* bits of operation and invert.
constexpr uint8_t kIp = 0x01, kEce = 0x10, kCwr = 0x20;

class EcnMatch : public MatchBase<EcnMatch> {
 public:
  std::string_view name() const override { return "ecn"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"ecn-tcp-cwr", ArgKind::None, true},
                                              {"ecn-tcp-ece", ArgKind::None, true},
                                              {"ecn-ip-ect", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    uint8_t bit = kIp;
    if (opt.name == "ecn-tcp-cwr") bit = kCwr;
    else if (opt.name == "ecn-tcp-ece") bit = kEce;
    else {
      auto v = xtopt::parse_int("ecn", "ecn-ip-ect", opt.arg, 0, 3);
      if (!v) return v.error();
      ect_ = static_cast<uint8_t>(*v);
    }
    op_ |= bit;
    if (opt.invert) inv_ |= bit;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (op_ == 0) return make_error("ECN match: some option required");
    return {};
  }

  // ecn_mt_check4: the TCP bits need `-p tcp`, not inverted.
  Result<void> check(const CheckContext& ctx) const override {
    if ((op_ & (kEce | kCwr)) && (ctx.ip.proto != 6 || (ctx.ip.inv & IpCriteria::kInvProto)))
      return make_error("xt_ecn: cannot match TCP bits for non-tcp packets");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (op_ & kEce) out += (inv_ & kEce) ? " ! --ecn-tcp-ece" : " --ecn-tcp-ece";
    if (op_ & kCwr) out += (inv_ & kCwr) ? " ! --ecn-tcp-cwr" : " --ecn-tcp-cwr";
    if (op_ & kIp) out += fmt::format("{} --ecn-ip-ect {}", (inv_ & kIp) ? " !" : "", ect_);
  }

  bool can_evaluate() const override { return true; }

  // ecn_mt4: the IP test first, then the TCP flags. checkentry insisted on
  // -p tcp; a TCP header the packet does not hold is no match (no hotdrop,
  // and the kernel does not look at the fragment offset).
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (op_ & kIp) {
      bool hit = (ctx.pkt.ip().tos() & 0x03) == ect_;
      if (hit == static_cast<bool>(inv_ & kIp)) return MatchOutcome::NoMatch;
    }
    if (op_ & (kEce | kCwr)) {
      auto l4 = ctx.pkt.data().subspan(std::min<size_t>(ctx.thoff, ctx.pkt.size()));
      if (l4.size() < 20) return MatchOutcome::NoMatch;
      uint8_t flags = l4[13];
      if ((op_ & kEce) && static_cast<bool>(flags & 0x40) == static_cast<bool>(inv_ & kEce))
        return MatchOutcome::NoMatch;
      if ((op_ & kCwr) && static_cast<bool>(flags & 0x80) == static_cast<bool>(inv_ & kCwr))
        return MatchOutcome::NoMatch;
    }
    return MatchOutcome::Match;
  }

 private:
  uint8_t op_ = 0, inv_ = 0, ect_ = 0;
};

}  // namespace

void register_match_ecn(Registry& r) { r.add_match<EcnMatch>("ecn"); }

}  // namespace nfemu::xt
