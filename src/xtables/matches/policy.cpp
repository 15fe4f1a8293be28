// -m policy: the IPsec policy a packet was received under or will be sent
// with (xt_policy.c, libxt_policy.c).
//
// nfemu models no IPsec: no packet is decrypted on input or has a
// transform on output, so the kernel's match_policy_in/out find no policy
// for any packet, and `--pol none` matches every packet while `--pol
// ipsec` matches none, whatever its elements say. Parsing, saving and the
// kernel's hook checks are kept, so that IPsec gateway rulesets (the
// classic `-t nat -A POSTROUTING -m policy --dir out --pol none -j
// MASQUERADE`) load and replay.
#include <fmt/format.h>

#include <array>

#include "xtables/addr.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr size_t kMaxElements = 4;  // XT_POLICY_MAX_ELEM
constexpr uint8_t kModeTransport = 0, kModeTunnel = 1;

struct Element {
  // Which fields the element constrains, and which of those are inverted.
  bool has_reqid = false, has_spi = false, has_proto = false, has_mode = false, has_src = false, has_dst = false;
  bool inv_reqid = false, inv_spi = false, inv_proto = false, inv_mode = false, inv_src = false, inv_dst = false;
  uint32_t reqid = 0, spi = 0;
  uint8_t proto = 0, mode = 0;
  AddrMask src, dst;
  bool empty() const { return !(has_reqid || has_spi || has_proto || has_mode || has_src || has_dst); }
};

class PolicyMatch : public MatchBase<PolicyMatch> {
 public:
  std::string_view name() const override { return "policy"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"dir", ArgKind::Required, false, false},       {"pol", ArgKind::Required, false, false},
        {"strict", ArgKind::None, false, false},        {"reqid", ArgKind::Required, true, true},
        {"spi", ArgKind::Required, true, true},         {"tunnel-src", ArgKind::Required, true, true},
        {"tunnel-dst", ArgKind::Required, true, true},  {"proto", ArgKind::Required, true, true},
        {"mode", ArgKind::Required, true, true},        {"next", ArgKind::None, false, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    Element& e = elements_[count_];
    auto twice = [&](bool given) -> Result<void> {
      if (given) return make_error(fmt::format("policy match: double --{} option", o));
      return {};
    };
    if (o == "dir") {
      if (opt.arg == "in") in_ = true;
      else if (opt.arg == "out") in_ = false;
      else return make_error(fmt::format("policy_match: invalid dir \"{}\"", opt.arg));
      dir_given_ = true;
    } else if (o == "pol") {
      if (opt.arg == "none") none_ = true;
      else if (opt.arg == "ipsec") none_ = false;
      else return make_error(fmt::format("policy match: invalid policy \"{}\"", opt.arg));
    } else if (o == "strict") {
      strict_ = true;
    } else if (o == "reqid" || o == "spi") {
      uint64_t v = 0;
      if (!xtopt::strtoul_x(opt.arg, &v, 0, UINT32_MAX))
        return make_error(fmt::format("policy: bad value for option \"--{}\", or out of range (0-4294967295).", o));
      if (o == "reqid") {
        if (auto r = twice(e.has_reqid); !r) return r;
        e.has_reqid = true, e.inv_reqid = opt.invert, e.reqid = static_cast<uint32_t>(v);
      } else {
        if (auto r = twice(e.has_spi); !r) return r;
        e.has_spi = true, e.inv_spi = opt.invert, e.spi = static_cast<uint32_t>(v);
      }
    } else if (o == "tunnel-src" || o == "tunnel-dst") {
      auto a = parse_addr_mask(opt.arg);
      if (!a) return a.error();
      if (o == "tunnel-src") {
        if (auto r = twice(e.has_src); !r) return r;
        e.has_src = true, e.inv_src = opt.invert, e.src = *a;
      } else {
        if (auto r = twice(e.has_dst); !r) return r;
        e.has_dst = true, e.inv_dst = opt.invert, e.dst = *a;
      }
    } else if (o == "proto") {
      if (auto r = twice(e.has_proto); !r) return r;
      std::optional<uint16_t> p;
      uint64_t v = 0;
      if (xtopt::strtoul_x(opt.arg, &v, 0, 255)) p = static_cast<uint16_t>(v);
      else p = protocol_from_name(opt.arg);
      if (!p || (*p != 50 && *p != 51 && *p != 108)) return make_error("policy match: protocol must be ah/esp/ipcomp");
      e.has_proto = true, e.inv_proto = opt.invert, e.proto = static_cast<uint8_t>(*p);
    } else if (o == "mode") {
      if (auto r = twice(e.has_mode); !r) return r;
      if (opt.arg == "transport") e.mode = kModeTransport;
      else if (opt.arg == "tunnel") e.mode = kModeTunnel;
      else return make_error(fmt::format("policy match: invalid mode \"{}\"", opt.arg));
      e.has_mode = true, e.inv_mode = opt.invert;
    } else if (o == "next") {
      if (e.empty()) return make_error("policy match: empty policy element");
      if (count_ + 1 == kMaxElements) return make_error("policy match: maximum policy depth reached");
      ++count_;
      next_given_ = true;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!dir_given_) return make_error("policy match: neither --dir in nor --dir out specified");
    if (none_) {
      if (strict_) return make_error("policy match: policy none but --strict given");
      // Elements given with --pol none are dropped.
      count_ = 0;
      elements_ = {};
      return {};
    }
    if (next_given_ && !strict_) return make_error("policy: option \"--next\" also requires \"--strict\".");
    for (size_t i = 0; i <= count_; ++i) {
      const Element& e = elements_[i];
      if ((e.has_src || e.has_dst) && (!e.has_mode || e.mode != kModeTunnel))
        return make_error("policy match: --tunnel-src/--tunnel-dst is only valid in tunnel mode");
    }
    return {};
  }

  // policy_mt_check: an input policy exists only where packets arrive, an
  // output one only where they leave.
  Result<void> check(const CheckContext& ctx) const override {
    const HookMask in_hooks = hook_bit(Hook::PreRouting) | hook_bit(Hook::LocalIn) | hook_bit(Hook::Forward);
    const HookMask out_hooks = hook_bit(Hook::PostRouting) | hook_bit(Hook::LocalOut) | hook_bit(Hook::Forward);
    if (in_ && (ctx.hooks & ~in_hooks)) return make_error("xt_policy: output policy not valid in POSTROUTING and OUTPUT");
    if (!in_ && (ctx.hooks & ~out_hooks)) return make_error("xt_policy: input policy not valid in PREROUTING and INPUT");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += in_ ? " --dir in" : " --dir out";
    out += none_ ? " --pol none" : " --pol ipsec";
    if (strict_) out += " --strict";
    if (none_) return;
    for (size_t i = 0; i <= count_; ++i) {
      const Element& e = elements_[i];
      auto bang = [&](bool inv) {
        if (inv) out += " !";
      };
      if (e.has_reqid) bang(e.inv_reqid), out += fmt::format(" --reqid {}", e.reqid);
      if (e.has_spi) bang(e.inv_spi), out += fmt::format(" --spi 0x{:x}", e.spi);
      if (e.has_proto) {
        bang(e.inv_proto);
        auto n = protocol_name(e.proto);
        out += fmt::format(" --proto {}", n ? *n : std::to_string(e.proto));
      }
      if (e.has_mode) bang(e.inv_mode), out += e.mode == kModeTunnel ? " --mode tunnel" : " --mode transport";
      auto addr = [](const AddrMask& a) {
        return a.mask == 0xffffffffu ? format_ipv4(a.addr) : format_addr_mask(a.addr, a.mask);
      };
      if (e.has_dst) bang(e.inv_dst), out += " --tunnel-dst " + addr(e.dst);
      if (e.has_src) bang(e.inv_src), out += " --tunnel-src " + addr(e.src);
      if (i + 1 <= count_) out += " --next";
    }
  }

  bool can_evaluate() const override { return true; }

  // policy_mt: no secpath on input, no xfrm on the route out: "no policy",
  // which only --pol none matches.
  MatchOutcome evaluate(const EvalContext&) const override {
    return none_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  bool in_ = true, dir_given_ = false, none_ = false, strict_ = false, next_given_ = false;
  size_t count_ = 0;  // index of the element being parsed
  std::array<Element, kMaxElements> elements_{};
};

}  // namespace

void register_match_policy(Registry& r) { r.add_match<PolicyMatch>("policy"); }

}  // namespace nfemu::xt
