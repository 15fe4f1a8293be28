// -m iprange: source and destination address ranges (xt_iprange.c
// revision 1, libxt_iprange.c). A reversed range is accepted (iptables only
// warns) and never matches.
#include <fmt/format.h>

#include "xtables/addr.h"
#include "xtables/ext_util.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kSrc = 0x01, kDst = 0x02, kSrcInv = 0x10, kDstInv = 0x20;  // IPRANGE_*

struct Range {
  uint32_t min = 0, max = 0;
};

// "A" or "A-B", each as xtables_numeric_to_ipaddr (no names, no masks).
Result<Range> parse_range(std::string_view arg, std::string_view option) {
  size_t dash = arg.find('-');
  std::string_view from = arg.substr(0, dash);
  std::string_view to = dash == std::string_view::npos ? from : arg.substr(dash + 1);
  auto a = parse_ipv4(from);
  if (!a) return bad_value("iprange", option, from);
  auto b = parse_ipv4(to);
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

 private:
  Range src_, dst_;
  uint8_t flags_ = 0;
};

}  // namespace

void register_match_iprange(Registry& r) { r.add_match<IprangeMatch>("iprange"); }

}  // namespace nfemu::xt
