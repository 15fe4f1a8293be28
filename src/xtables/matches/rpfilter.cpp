// -m rpfilter: whether the route back to a packet's source leaves through
// the interface the packet came in on (ipt_rpfilter.c, libxt_rpfilter.c).
// The usual anti-spoofing rule drops what fails it:
//
//   -t raw -I PREROUTING -m rpfilter --invert -j DROP
//
// (firewalld's iptables backend installs that shape for IPv6 only, in
// ip6tables; IPv4 rulesets get it from hand-written and tool-made rules.)
// The lookup is the host's (Effects::reverse_route), so that xtables needs
// no FIB of its own.
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

// XT_RPFILTER_*: the one byte the rule carries.
constexpr uint8_t kLoose = 1 << 0, kValidMark = 1 << 1, kAcceptLocal = 1 << 2, kInvert = 1 << 3;
constexpr unsigned kRtnUnicast = 1, kRtnLocal = 2;

constexpr bool is_multicast(uint32_t a) { return (a >> 28) == 0xe; }
constexpr bool is_local_multicast(uint32_t a) { return (a >> 8) == 0xe00000; }  // 224.0.0.0/24
constexpr uint32_t kLimitedBroadcast = 0xffffffffu;

class RpfilterMatch : public MatchBase<RpfilterMatch> {
 public:
  std::string_view name() const override { return "rpfilter"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"loose", ArgKind::None},
        {"validmark", ArgKind::None},
        {"accept-local", ArgKind::None},
        {"invert", ArgKind::None},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "loose") flags_ |= kLoose;
    else if (opt.name == "validmark") flags_ |= kValidMark;
    else if (opt.name == "accept-local") flags_ |= kAcceptLocal;
    else if (opt.name == "invert") flags_ |= kInvert;
    return {};
  }

  // The xt_match allows only PREROUTING, the one hook with an input device
  // and no route yet. xt_check_match tests that before rpfilter_check sees
  // the table, so filter INPUT fails on its hook (checked on 6.18).
  KernelSpec kernel_spec() const override { return {.hooks = hook_bit(Hook::PreRouting), .module = "rpfilter"}; }

  // rpfilter_check.
  Result<void> check(const CheckContext& ctx) const override {
    if (ctx.table != TableId::Raw && ctx.table != TableId::Mangle)
      return make_error(
          fmt::format("ipt_rpfilter: only valid in 'raw' or 'mangle' table, not '{}'", table_name(ctx.table)));
    return {};
  }

  // rpfilter_print_prefix: a fixed order, whatever order they were given in.
  void save(std::string& out, const IpCriteria&) const override {
    if (flags_ & kLoose) out += " --loose";
    if (flags_ & kValidMark) out += " --validmark";
    if (flags_ & kAcceptLocal) out += " --accept-local";
    if (flags_ & kInvert) out += " --invert";
  }

  bool can_evaluate() const override { return true; }
  void describe(MatchFacts& facts) const override { facts.pure = true; }

  // rpfilter_mt.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const bool invert = flags_ & kInvert;
    auto outcome = [invert](bool ok) { return ok != invert ? MatchOutcome::Match : MatchOutcome::NoMatch; };
    // rpfilter_is_loopback: the host's own packets come back through lo
    // (nfemu loops no multicast back, so none is PACKET_LOOPBACK elsewhere).
    const std::string_view in = ctx.pkt.meta.in.view();
    if (in == "lo") return outcome(true);
    const auto ip = ctx.pkt.ip();
    const uint32_t saddr = ip.saddr(), daddr = ip.daddr();
    // A host without an address yet (a DHCP DISCOVER to 255.255.255.255,
    // an IGMP report to 224.0.0.22) has no path back to check: it passes.
    // ipv4_is_zeronet is `addr == 0` since 5.3.
    if (saddr == 0 && (daddr == kLimitedBroadcast || is_local_multicast(daddr))) return outcome(true);
    ReverseFlow flow;
    flow.daddr = saddr;
    // rpfilter_get_saddr: no route is looked up from such a source.
    flow.saddr = is_multicast(daddr) || daddr == kLimitedBroadcast || daddr == 0 ? 0 : daddr;
    flow.mark = flags_ & kValidMark ? ctx.pkt.meta.mark : 0;
    flow.dscp = ip.tos() & 0xfc;
    ReverseRoute back = ctx.effects ? ctx.effects->reverse_route(flow, in) : ReverseRoute{};
    // rpfilter_lookup_reverse.
    if (back.type != kRtnUnicast && (back.type != kRtnLocal || !(flags_ & kAcceptLocal))) return outcome(false);
    return outcome(back.uses_in_dev || (flags_ & kLoose));
  }

 private:
  uint8_t flags_ = 0;
};

}  // namespace

void register_match_rpfilter(Registry& r) { r.add_match<RpfilterMatch>("rpfilter"); }

}  // namespace nfemu::xt
