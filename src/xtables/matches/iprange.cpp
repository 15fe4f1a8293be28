// -m iprange: source and destination address ranges (xt_iprange.c
// revision 1, libxt_iprange.c). A reversed range is accepted (iptables only
// warns) and never matches.
#include <fmt/format.h>

#include "xtables/addr.h"
#include "xtables/ext_util.h"
#include "xtables/matches/strtoul_compat.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kSrc = 0x01, kDst = 0x02, kSrcInv = 0x10, kDstInv = 0x20;  // IPRANGE_*

struct Range {
  uint32_t min = 0, max = 0;
};

// xtables_numeric_to_ipaddr: up to four dotted parts, each a strtoul()
// number 0..255 (so " 1", "+1", "0x1" and "01" all work); missing trailing
// parts are zero. iptables copies the text into a 20-byte buffer first, so
// only the first 19 characters count.
std::optional<uint32_t> numeric_to_ipaddr(std::string_view s) {
  s = s.substr(0, 19);
  uint32_t addr = 0;
  for (int i = 0; i < 4; ++i) {
    size_t dot = i < 3 ? s.find('.') : std::string_view::npos;
    auto byte = compat::strtoul_full(s.substr(0, dot), 255);
    if (!byte) return std::nullopt;
    addr |= static_cast<uint32_t>(*byte) << (24 - 8 * i);
    if (dot == std::string_view::npos) return addr;
    s.remove_prefix(dot + 1);
  }
  return addr;
}

// "A" or "A-B".
Result<Range> parse_range(std::string_view arg, std::string_view option) {
  size_t dash = arg.find('-');
  std::string_view from = arg.substr(0, dash);
  std::string_view to = dash == std::string_view::npos ? from : arg.substr(dash + 1);
  auto a = numeric_to_ipaddr(from);
  if (!a) return bad_value("iprange", option, from);
  auto b = numeric_to_ipaddr(to);
  if (!b) return bad_value("iprange", option, to);
  return Range{*a, *b};
}

class IprangeMatch : public MatchBase<IprangeMatch> {
 public:
  std::string_view name() const override { return "iprange"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"src-range", ArgKind::Required, true},
                                              {"dst-range", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    bool src = opt.name == "src-range";
    auto r = parse_range(opt.arg, opt.name);
    if (!r) return r.error();
    (src ? src_ : dst_) = *r;
    flags_ |= src ? kSrc : kDst;
    if (opt.invert) flags_ |= src ? kSrcInv : kDstInv;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!(flags_ & (kSrc | kDst)))
      return make_error("iprange match: You must specify `--src-range' or `--dst-range'");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (flags_ & kSrc) {
      if (flags_ & kSrcInv) out += " !";
      out += fmt::format(" --src-range {}-{}", format_ipv4(src_.min), format_ipv4(src_.max));
    }
    if (flags_ & kDst) {
      if (flags_ & kDstInv) out += " !";
      out += fmt::format(" --dst-range {}-{}", format_ipv4(dst_.min), format_ipv4(dst_.max));
    }
  }

  bool can_evaluate() const override { return true; }

  // iprange_mt4: a range with min > max never matches (before inversion).
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    auto ip = ctx.pkt.ip();
    if (flags_ & kSrc) {
      uint32_t a = ip.saddr();
      bool in = a >= src_.min && a <= src_.max;
      if (in == static_cast<bool>(flags_ & kSrcInv)) return MatchOutcome::NoMatch;
    }
    if (flags_ & kDst) {
      uint32_t a = ip.daddr();
      bool in = a >= dst_.min && a <= dst_.max;
      if (in == static_cast<bool>(flags_ & kDstInv)) return MatchOutcome::NoMatch;
    }
    return MatchOutcome::Match;
  }

 private:
  Range src_, dst_;
  uint8_t flags_ = 0;
};

}  // namespace

void register_match_iprange(Registry& r) { r.add_match<IprangeMatch>("iprange"); }

}  // namespace nfemu::xt
