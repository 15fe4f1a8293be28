// -m dccp: ports, packet types and an option kind of a DCCP packet
// (xt_dccp.c, libxt_dccp.c).
#include <fmt/format.h>

#include <array>
#include <string>

#include "packet/headers.h"
#include "util/strings.h"
#include "xtables/eval.h"
#include "xtables/ext_util.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kSrcPorts = 0x01, kDstPorts = 0x02, kTypes = 0x04, kOption = 0x08;  // XT_DCCP_*
constexpr uint8_t kIpProtoDccp = 33;

// dccp_pkt_types of libxt_dccp: DCCP_PKT_* by value.
constexpr std::array<std::string_view, 11> kTypeNames = {"REQUEST",  "RESPONSE", "DATA",  "ACK",  "DATAACK", "CLOSEREQ",
                                                         "CLOSE",    "RESET",    "SYNC",  "SYNCACK", "INVALID"};
// __dccp_hdr_len: the generic header (12 bytes, 16 with extended sequence
// numbers), then what the type carries before options.
unsigned dccp_header_len(uint8_t type, bool x) {
  return 12 + (x ? 4 : 0) + static_cast<unsigned>(packet::dccp_type_subheader_len(type));
}

class DccpMatch : public MatchBase<DccpMatch> {
 public:
  std::string_view name() const override { return "dccp"; }
  std::span<const OptionSpec> options() const override {
    // Aliases share one "only once" between them, which parse() keeps.
    static constexpr OptionSpec kOptions[] = {
        {"source-port", ArgKind::Required, true, true},      {"sport", ArgKind::Required, true, true},
        {"destination-port", ArgKind::Required, true, true}, {"dport", ArgKind::Required, true, true},
        {"dccp-types", ArgKind::Required, true},              {"dccp-option", ArgKind::Required, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "dccp-types") {
      auto mask = parse_types(opt.arg);
      if (!mask) return mask.error();
      types_ = *mask;
      set(kTypes, opt.invert);
      return {};
    }
    if (opt.name == "dccp-option") {
      auto v = xtopt::parse_int("dccp", "dccp-option", opt.arg, 1, 255);
      if (!v) return v.error();
      option_ = static_cast<uint8_t>(*v);
      set(kOption, opt.invert);
      return {};
    }
    const bool src = opt.name == "source-port" || opt.name == "sport";
    const std::string_view canonical = src ? "source-port" : "destination-port";
    const uint8_t bit = src ? kSrcPorts : kDstPorts;
    if (flags_ & bit) return xtopt::used_once("dccp", canonical);
    auto r = parse_port_range_getaddrinfo(opt.arg, "dccp", canonical);
    if (!r) return r.error();
    (src ? sports_ : dports_) = *r;
    set(bit, opt.invert);
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = kIpProtoDccp}; }

  void save(std::string& out, const IpCriteria&) const override {
    auto ports = [&](uint8_t bit, std::string_view opt, PortRange r) {
      if (!(flags_ & bit)) return;
      if (invflags_ & bit) out += " !";
      out += r.lo != r.hi ? fmt::format(" --{} {}:{}", opt, r.lo, r.hi) : fmt::format(" --{} {}", opt, r.lo);
    };
    ports(kSrcPorts, "sport", sports_);
    ports(kDstPorts, "dport", dports_);
    if (flags_ & kTypes) {
      out += (invflags_ & kTypes) ? " ! --dccp-types " : " --dccp-types ";
      bool first = true;
      for (unsigned t = 0; t < 16; ++t) {
        if (!(types_ & (1u << t))) continue;
        if (!first) out += ',';
        first = false;
        out += t < kTypeNames.size() ? std::string(kTypeNames[t]) : fmt::format("{}", t);
      }
    }
    if (flags_ & kOption) out += fmt::format("{} --dccp-option {}", (invflags_ & kOption) ? " !" : "", option_);
  }

  bool can_evaluate() const override { return true; }

  // dccp_mt: each given test, inverted on its own; a later fragment never
  // matches, a header shorter than the generic 12 bytes hot-drops.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (ctx.fragoff != 0) return MatchOutcome::NoMatch;
    auto d = ctx.pkt.data();
    if (d.size() < size_t{ctx.thoff} + 12) return MatchOutcome::HotDrop;
    const uint8_t* h = d.data() + ctx.thoff;
    const uint16_t sport = packet::load16(h), dport = packet::load16(h + 2);
    const uint8_t type = (h[8] >> 1) & 0x0f;
    const bool x = h[8] & 1;
    auto check = [&](uint8_t bit, bool cond) { return !(flags_ & bit) || (((invflags_ & bit) != 0) != cond); };
    if (!check(kSrcPorts, sport >= sports_.lo && sport <= sports_.hi)) return MatchOutcome::NoMatch;
    if (!check(kDstPorts, dport >= dports_.lo && dport <= dports_.hi)) return MatchOutcome::NoMatch;
    if (!check(kTypes, (types_ >> type) & 1)) return MatchOutcome::NoMatch;
    if (flags_ & kOption) {
      bool hotdrop = false;
      const bool found = find_option(d, ctx.thoff, h[4], type, x, hotdrop);
      if (hotdrop) return MatchOutcome::HotDrop;
      if (!check(kOption, found)) return MatchOutcome::NoMatch;
    }
    return MatchOutcome::Match;
  }

 private:
  void set(uint8_t bit, bool invert) {
    flags_ |= bit;
    if (invert) invflags_ |= bit;
  }

  // parse_dccp_types: comma-separated names, any case; empty names (a
  // trailing comma, an empty argument) are skipped.
  static Result<uint16_t> parse_types(std::string_view arg) {
    uint16_t mask = 0;
    size_t pos = 0;
    while (pos <= arg.size()) {
      size_t comma = arg.find(',', pos);
      std::string name(arg.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
      if (!name.empty()) {
        size_t i = 0;
        while (i < kTypeNames.size() && !iequals(name, kTypeNames[i])) ++i;
        if (i == kTypeNames.size()) return make_error(fmt::format("Unknown DCCP type `{}'", name));
        mask |= static_cast<uint16_t>(1u << i);
      }
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
    return mask;
  }

  // dccp_find_option: walks the options after the type's header; a data
  // offset shorter than that header, or options cut short, hot-drop.
  bool find_option(std::span<const uint8_t> d, size_t thoff, uint8_t doff, uint8_t type, bool x, bool& hotdrop) const {
    const unsigned optoff = dccp_header_len(type, x);
    if (doff * 4u < optoff) {
      hotdrop = true;
      return false;
    }
    const unsigned optlen = doff * 4u - optoff;
    if (optlen == 0) return false;
    if (d.size() < thoff + optoff + optlen) {
      hotdrop = true;
      return false;
    }
    const uint8_t* op = d.data() + thoff + optoff;
    for (unsigned i = 0; i < optlen;) {
      if (op[i] == option_) return true;
      if (op[i] < 2 || i == optlen - 1) ++i;
      else i += op[i + 1] ? op[i + 1] : 1;
    }
    return false;
  }

  PortRange sports_, dports_;
  uint16_t types_ = 0;
  uint8_t option_ = 0, flags_ = 0, invflags_ = 0;
};

}  // namespace

void register_match_dccp(Registry& r) { r.add_match<DccpMatch>("dccp"); }

}  // namespace nfemu::xt
