// -m tos: TOS byte under a mask (xt_dscp.c tos_mt, libxt_tos.c revision 1).
#include <fmt/format.h>

#include <array>
#include <strings.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

struct TosName {
  const char* name;
  uint8_t value;
};
// RFC 1349 names; libxtables gives them the mask 0x3f (revision 1 default).
constexpr std::array<TosName, 5> kTosNames = {{{"Minimize-Delay", 0x10},
                                               {"Maximize-Throughput", 0x08},
                                               {"Maximize-Reliability", 0x04},
                                               {"Minimize-Cost", 0x02},
                                               {"Normal-Service", 0x00}}};

class TosMatch : public MatchBase<TosMatch> {
 public:
  std::string_view name() const override { return "tos"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"tos", ArgKind::Required, true}};
    return kOptions;
  }

  // XTTYPE_TOSMASK: "VALUE[/MASK]" numerically (mask defaults to 0xff), or
  // a symbolic name (mask 0x3f).
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view arg = opt.arg;
    auto illegal = [&] { return make_error(fmt::format("Illegal value: \"{}\"", arg)); };
    size_t end = 0;
    uint64_t v = 0;
    if (xtopt::strtoul_x(arg, &v, 0, UINT8_MAX, &end)) {
      value_ = static_cast<uint8_t>(v);
      mask_ = 0xff;
      if (end < arg.size() && arg[end] == '/') {
        std::string_view m = arg.substr(end + 1);
        size_t mend = 0;
        if (!xtopt::strtoul_x(m, &v, 0, UINT8_MAX, &mend)) return illegal();
        mask_ = static_cast<uint8_t>(v);
        end += 1 + mend;
      }
      if (end != arg.size()) return illegal();
    } else {
      bool found = false;
      std::string s(arg);
      for (const auto& n : kTosNames) {
        if (strcasecmp(s.c_str(), n.name) == 0) {
          value_ = n.value;
          mask_ = 0x3f;
          found = true;
          break;
        }
      }
      if (!found) return make_error(fmt::format("Symbolic name \"{}\" is unknown", arg));
    }
    invert_ = opt.invert;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("tos", "tos");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    out += fmt::format(" --tos 0x{:02x}/0x{:02x}", value_, mask_);
  }

  bool can_evaluate() const override { return true; }

  // tos_mt (IPv4): (tos & mask) == value, xor invert.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    bool hit = (ctx.pkt.ip().tos() & mask_) == value_;
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint8_t value_ = 0, mask_ = 0;
  bool invert_ = false, given_ = false;
};

}  // namespace

void register_match_tos(Registry& r) { r.add_match<TosMatch>("tos"); }

}  // namespace nfemu::xt
