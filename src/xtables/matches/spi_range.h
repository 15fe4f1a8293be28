// The IPsec SPI matches: -m esp --espspi (xt_esp.c, libxt_esp.c) and -m ah
// --ahspi (ipt_ah.c, libipt_ah.c). Both compare one 32-bit field of their
// header with a range, and differ only in names, protocol and where the
// SPI lies. Each has its own file (esp.cpp, ah.cpp) that names its traits.
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
};

template <const SpiHeader& H>
class SpiRangeMatch : public MatchBase<SpiRangeMatch<H>> {
 public:
  std::string_view name() const override { return H.name; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{H.option, ArgKind::Required, true}};
    return kOptions;
  }

  // XTTYPE_UINT32RC: "A" is A:A, ":B" 0:B, "A:" A:4294967295; a reversed
  // range is accepted and never matches. Without the option: every SPI.
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
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
    if (min_ == 0 && max_ == UINT32_MAX) return;
    out += invert_ ? " ! --" : " --";
    out += H.option;
    out += min_ == max_ ? fmt::format(" {}", min_) : fmt::format(" {}:{}", min_, max_);
  }

  bool can_evaluate() const override { return true; }

  // esp_mt / ah_mt: a later fragment never matches; a header cut short is
  // "evil tinygram" and hot-drops.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (ctx.fragoff != 0) return MatchOutcome::NoMatch;
    auto d = ctx.pkt.data();
    if (d.size() < size_t{ctx.thoff} + H.header_len) return MatchOutcome::HotDrop;
    const uint32_t spi = packet::load32(d.data() + ctx.thoff + H.spi_offset);
    const bool hit = (spi >= min_ && spi <= max_) != invert_;
    return hit ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint32_t min_ = 0, max_ = UINT32_MAX;
  bool invert_ = false;
};

}  // namespace nfemu::xt
