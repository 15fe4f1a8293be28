// The IPsec SPI matches: -m esp --espspi (xt_esp.c, libxt_esp.c), -m ah
// --ahspi (ipt_ah.c, libipt_ah.c) and -m ipcomp --ipcompspi (xt_ipcomp.c,
// libxt_ipcomp.c). Each compares one field of its header with a range, and
// they differ only in names, protocol, where the field lies and how wide it
// is. Each has its own file (esp.cpp, ah.cpp, ipcomp.cpp) that names its
// traits.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "packet/bytes.h"
#include "xtables/eval.h"
#include "xtables/extension.h"
#include "xtables/matches/xtopt_mb.h"

namespace nfemu::xt {

struct SpiHeader {
  std::string_view name;    // "esp"
  std::string_view option;  // "espspi"
  uint8_t proto;            // the protocol the kernel requires (-p, not inverted)
  size_t header_len;        // what skb_header_pointer must find: sizeof(struct ip_esp_hdr)
  size_t spi_offset;        // of the SPI in that header
  size_t spi_bytes = 4;     // 2: IPComp's CPI
  // ipcomp has no init: a rule without --ipcompspi keeps the range 0:0
  // (and saves it as `--ipcompspi 0`); esp and ah start from 0:4294967295.
  bool zero_without_option = false;
  // ipcomp's `--compres` (hdrres): saved, never read by the kernel.
  bool has_compres = false;
};

template <const SpiHeader& H>
class SpiRangeMatch : public MatchBase<SpiRangeMatch<H>> {
 public:
  std::string_view name() const override { return H.name; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{H.option, ArgKind::Required, true}, {"compres", ArgKind::None}};
    return std::span<const OptionSpec>(kOptions, H.has_compres ? 2 : 1);
  }

  // XTTYPE_UINT32RC: "A" is A:A, ":B" 0:B, "A:" A:4294967295; a reversed
  // range is accepted and never matches. Without the option: every SPI.
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "compres") {
      compres_ = true;
      return {};
    }
    auto v = xtopt::parse_mint(H.name, H.option, opt.arg, UINT32_MAX);
    if (!v) return v.error();
    min_ = static_cast<uint32_t>((*v)[0]);
    max_ = v->size() >= 2 ? static_cast<uint32_t>((*v)[1]) : min_;
    invert_ = opt.invert;
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = H.proto}; }

  // iptables 1.8.9 leaves out a full range even when inverted: `! --espspi
  // 0:4294967295` (a rule that never matches) saves as no option at all.
  void save(std::string& out, const IpCriteria&) const override {
    if (!(min_ == 0 && max_ == UINT32_MAX)) {
      out += invert_ ? " ! --" : " --";
      out += H.option;
      out += min_ == max_ ? fmt::format(" {}", min_) : fmt::format(" {}:{}", min_, max_);
    }
    if (compres_) out += " --compres";
  }

  bool can_evaluate() const override { return true; }

  // esp_mt / ah_mt: a later fragment never matches; a header cut short is
  // "evil tinygram" and hot-drops.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (ctx.fragoff != 0) return MatchOutcome::NoMatch;
    auto d = ctx.pkt.data();
    if (d.size() < size_t{ctx.thoff} + H.header_len) return MatchOutcome::HotDrop;
    const uint8_t* field = d.data() + ctx.thoff + H.spi_offset;
    const uint32_t spi = H.spi_bytes == 2 ? packet::load16(field) : packet::load32(field);
    const bool hit = (spi >= min_ && spi <= max_) != invert_;
    return hit ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint32_t min_ = 0, max_ = H.zero_without_option ? 0 : UINT32_MAX;
  bool invert_ = false, compres_ = false;
};

}  // namespace nfemu::xt
