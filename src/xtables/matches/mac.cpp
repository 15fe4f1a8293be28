// -m mac: Ethernet source address (xt_mac.c, libxt_mac.c).
//
// The address is read as libxtables' xtopt_parse_ethermac does: six fields
// split by ':', each one strtoul(..., 16) at most two bytes long. So "0:1:2:3:4:5",
// empty fields and even "+f" pass, while letters outside hex fail; this is
// why the anonymised TUM rulesets (`--mac-source XX:XX:XX:XX:XX:XX`) are
// refused with "Invalid MAC address specified.": strtoul reads no digit from
// "XX", so the field does not end at ':'.
#include <fmt/format.h>

#include <array>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

Result<std::array<uint8_t, 6>> parse_ethermac(std::string_view arg) {
  std::array<uint8_t, 6> mac{};
  size_t pos = 0;
  for (size_t i = 0; i < mac.size(); ++i) {
    std::string_view field = arg.substr(pos);
    xtopt::CNumber n = xtopt::c_strtou(field, 16);
    // strtoul leaves end at the start when it reads nothing.
    size_t len = n.end;
    char next = len < field.size() ? field[len] : '\0';
    bool last = i + 1 == mac.size();
    if (next != (last ? '\0' : ':') || len > 2) return make_error("Invalid MAC address specified.");
    // strtoul returns unsigned long; the byte keeps the low 8 bits.
    mac[i] = static_cast<uint8_t>(n.overflow ? 0xff : n.value);
    pos += len + 1;
  }
  return mac;
}

class MacMatch : public MatchBase<MacMatch> {
 public:
  std::string_view name() const override { return "mac"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"mac-source", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto m = parse_ethermac(opt.arg);
    if (!m) return m.error();
    mac_ = *m;
    invert_ = opt.invert;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("mac", "mac-source");
    return {};
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalIn) |
                                           hook_bit(Hook::Forward))};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    out += fmt::format(" --mac-source {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac_[0], mac_[1], mac_[2], mac_[3],
                       mac_[4], mac_[5]);
  }

  bool can_evaluate() const override { return true; }

  // mac_mt: a packet without an Ethernet header (locally generated) never
  // matches, inverted or not.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (!ctx.pkt.has_mac_header()) return MatchOutcome::NoMatch;
    bool hit = ctx.pkt.mac_header().src == mac_;
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  std::array<uint8_t, 6> mac_{};
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_mac(Registry& r) { r.add_match<MacMatch>("mac"); }

}  // namespace nfemu::xt
