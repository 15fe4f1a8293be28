// -m tcp: ports, flags and option kind (xt_tcpudp.c, libxt_tcp.c).
#include <fmt/format.h>

#include <array>

#include "xtables/matches/tcp.h"
#include "util/strings.h"
#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/ext_util.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kInvSrcPt = 0x01, kInvDstPt = 0x02, kInvFlags = 0x04, kInvOption = 0x08;

struct FlagName {
  std::string_view name;
  uint8_t bit;
};
// Order matters: save prints flags in this order, as print_tcpf does.
constexpr std::array<FlagName, 8> kFlags = {{{"FIN", 0x01},
                                             {"SYN", 0x02},
                                             {"RST", 0x04},
                                             {"PSH", 0x08},
                                             {"ACK", 0x10},
                                             {"URG", 0x20},
                                             {"ALL", 0x3f},
                                             {"NONE", 0x00}}};

Result<uint8_t> parse_flag_list(std::string_view list) {
  uint8_t out = 0;
  for (auto word : split(list, ',')) {
    bool found = false;
    for (const auto& f : kFlags) {
      if (iequals(word, f.name)) {
        out |= f.bit;
        found = true;
        break;
      }
    }
    if (!found) return make_error(fmt::format("Unknown TCP flag `{}'", word));
  }
  return out;
}

void print_flags(std::string& out, uint8_t flags) {
  bool have = false;
  while (flags) {
    size_t i = 0;
    while ((flags & kFlags[i].bit) == 0) ++i;
    if (have) out += ',';
    out += kFlags[i].name;
    have = true;
    flags &= static_cast<uint8_t>(~kFlags[i].bit);
  }
  if (!have) out += "NONE";
}

void save_ports(std::string& out, const char* opt, PortRange r, bool invert) {
  if (r.lo == 0 && r.hi == 0xffff) return;
  if (invert) out += " !";
  if (r.lo != r.hi)
    out += fmt::format(" --{} {}:{}", opt, r.lo, r.hi);
  else
    out += fmt::format(" --{} {}", opt, r.lo);
}

class TcpMatch : public MatchBase<TcpMatch> {
 public:
  std::string_view name() const override { return "tcp"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"source-port", ArgKind::Required, true},      {"sport", ArgKind::Required, true},
        {"destination-port", ArgKind::Required, true}, {"dport", ArgKind::Required, true},
        {"syn", ArgKind::None, true},                  {"tcp-flags", ArgKind::Two, true},
        {"tcp-option", ArgKind::Required, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "source-port" || opt.name == "sport") {
      if (have_sport_) return make_error("Only one `--source-port' allowed");
      auto r = parse_port_range(opt.arg, "tcp");
      if (!r) return r.error();
      sport_ = *r;
      have_sport_ = true;
      if (opt.invert) inv_ |= kInvSrcPt;
    } else if (opt.name == "destination-port" || opt.name == "dport") {
      if (have_dport_) return make_error("Only one `--destination-port' allowed");
      auto r = parse_port_range(opt.arg, "tcp");
      if (!r) return r.error();
      dport_ = *r;
      have_dport_ = true;
      if (opt.invert) inv_ |= kInvDstPt;
    } else if (opt.name == "syn" || opt.name == "tcp-flags") {
      if (have_flags_) return make_error("Only one of `--syn' or `--tcp-flags'  allowed");
      if (opt.name == "syn") {
        flg_mask_ = 0x01 | 0x02 | 0x04 | 0x10;
        flg_cmp_ = 0x02;
      } else {
        auto m = parse_flag_list(opt.arg);
        if (!m) return m.error();
        auto c = parse_flag_list(opt.arg2);
        if (!c) return c.error();
        flg_mask_ = *m;
        flg_cmp_ = *c;
      }
      have_flags_ = true;
      if (opt.invert) inv_ |= kInvFlags;
    } else if (opt.name == "tcp-option") {
      if (have_option_) return make_error("Only one `--tcp-option' allowed");
      auto v = parse_uint_c(opt.arg, 255);
      if (!v || *v < 1) return make_error(fmt::format("Bad TCP option `{}'", opt.arg));
      option_ = static_cast<uint8_t>(*v);
      have_option_ = true;
      if (opt.invert) inv_ |= kInvOption;
    }
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = 6}; }

  bool can_evaluate() const override { return true; }

  MatchOutcome evaluate(const EvalContext& ctx) const override {
    // tcp_mt: non-first fragments never match; offset 1 is an attack
    // (a flag overwrite) and is dropped, as is a header we cannot read.
    if (ctx.fragoff != 0) return ctx.fragoff == 1 ? MatchOutcome::HotDrop : MatchOutcome::NoMatch;
    auto l4 = ctx.pkt.data().subspan(ctx.thoff);
    if (l4.size() < 20) return MatchOutcome::HotDrop;
    uint16_t sport = static_cast<uint16_t>(l4[0] << 8 | l4[1]);
    uint16_t dport = static_cast<uint16_t>(l4[2] << 8 | l4[3]);
    auto in_range = [](PortRange r, uint16_t p, bool inv) { return (p >= r.lo && p <= r.hi) != inv; };
    if (!in_range(sport_, sport, inv_ & kInvSrcPt)) return MatchOutcome::NoMatch;
    if (!in_range(dport_, dport, inv_ & kInvDstPt)) return MatchOutcome::NoMatch;
    if (((l4[13] & flg_mask_) == flg_cmp_) == static_cast<bool>(inv_ & kInvFlags)) return MatchOutcome::NoMatch;
    if (option_) {
      size_t doff = static_cast<size_t>(l4[12] >> 4) * 4;
      if (doff < 20) return MatchOutcome::HotDrop;
      if (doff > l4.size()) return MatchOutcome::HotDrop;  // options beyond the packet: skb_header_pointer fails
      auto opts = l4.subspan(20, doff - 20);
      bool found = false;
      for (size_t i = 0; i < opts.size();) {
        if (opts[i] == option_) {
          found = true;
          break;
        }
        if (opts[i] < 2) ++i;
        else i += (i + 1 < opts.size() && opts[i + 1]) ? opts[i + 1] : 1;
      }
      if (found == static_cast<bool>(inv_ & kInvOption)) return MatchOutcome::NoMatch;
    }
    return MatchOutcome::Match;
  }

  void describe(MatchFacts& f) const override {
    f.l4_bytes = 20;
    // Ports only: the flags and option tests are not facts.
    f.exact = flg_mask_ == 0 && flg_cmp_ == 0 && option_ == 0 && !(inv_ & (kInvFlags | kInvOption));
    f.sport = ValueSet::range(sport_.lo, sport_.hi, inv_ & kInvSrcPt, 0xffff);
    f.dport = ValueSet::range(dport_.lo, dport_.hi, inv_ & kInvDstPt, 0xffff);
  }

  bool requires_syn() const { return (flg_cmp_ & 0x02) && !(inv_ & kInvFlags); }

  void save(std::string& out, const IpCriteria&) const override {
    save_ports(out, "sport", sport_, inv_ & kInvSrcPt);
    save_ports(out, "dport", dport_, inv_ & kInvDstPt);
    if (option_ || (inv_ & kInvOption)) {
      if (inv_ & kInvOption) out += " !";
      out += fmt::format(" --tcp-option {}", option_);
    }
    if (flg_mask_ || (inv_ & kInvFlags)) {
      if (inv_ & kInvFlags) out += " !";
      out += " --tcp-flags ";
      print_flags(out, flg_mask_);
      out += ' ';
      print_flags(out, flg_cmp_);
    }
  }

 private:
  PortRange sport_, dport_;
  uint8_t option_ = 0, flg_mask_ = 0, flg_cmp_ = 0, inv_ = 0;
  bool have_sport_ = false, have_dport_ = false, have_flags_ = false, have_option_ = false;
};

}  // namespace

bool tcp_match_requires_syn(const Match& m) {
  const auto* tcp = dynamic_cast<const TcpMatch*>(&m);
  return tcp && tcp->requires_syn();
}

void register_match_tcp(Registry& r) { r.add_match<TcpMatch>("tcp"); }

}  // namespace nfemu::xt
