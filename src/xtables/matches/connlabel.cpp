// -m connlabel: a label (one of 128 bits) of the packet's connection, and
// with --set, setting it (xt_connlabel.c, libxt_connlabel.c). Labels have
// names only through /etc/xtables/connlabel.conf, which a scenario does
// not have: numbers, as iptables reads and saves them without that file.
#include <fmt/format.h>

#include "conntrack/conntrack.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class ConnlabelMatch : public MatchBase<ConnlabelMatch> {
 public:
  std::string_view name() const override { return "connlabel"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"label", ArgKind::Required, true}, {"set", ArgKind::None}};
    return kOptions;
  }

  // connlabel_value_parse: strtoul(s, &end, 0) over the whole text, kept
  // as an int (negative: a name, looked up in a file nfemu has not) and
  // stored into a u16.
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "set") {
      set_ = true;
      return {};
    }
    if (opt.arg.empty()) return make_error("Argument must have a minimum length of 1 characters");
    auto v = number::strtoul_whole(opt.arg, 0, UINT64_MAX);
    if (!v || static_cast<int>(*v) < 0)
      return make_error(fmt::format("label '{}' not found or invalid value", opt.arg));
    bit_ = static_cast<uint16_t>(*v);
    invert_ = opt.invert;
    has_label_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!has_label_) return xtopt::must_be_specified("connlabel", "label");
    return {};
  }

  // connlabel_mt_check: a bit the 128-bit extension holds (ERANGE).
  Result<void> check(const CheckContext&) const override {
    if (bit_ >= conntrack::Table::kLabelBits)
      return make_error(fmt::format("xt_connlabel: label {} out of range (0-127)", bit_));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format("{} --label \"{}\"", invert_ ? " !" : "", bit_);
    if (set_) out += " --set";
  }

  bool can_evaluate() const override { return true; }

  // connlabel_mt: no connection, or the bit clear without --set: the
  // inversion; the bit set (or just set): its opposite.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const int has = ctx.effects ? ctx.effects->ct_label(ctx.pkt, bit_, set_) : -1;
    return (has == 1) != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint16_t bit_ = 0;
  bool invert_ = false, set_ = false, has_label_ = false;
};

}  // namespace

void register_match_connlabel(Registry& r) { r.add_match<ConnlabelMatch>("connlabel"); }

}  // namespace nfemu::xt
