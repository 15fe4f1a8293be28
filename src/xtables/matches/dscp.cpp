// -m dscp: the DSCP field, by number or class name (xt_dscp.c, libxt_dscp.c).
#include <fmt/format.h>

#include <array>
#include <string>
#include <strings.h>

#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kDscpMax = 0x3f;

struct DsClass {
  const char* name;
  uint8_t dscp;
};
// Order matters: libxt_dscp compares only the length of each name, so the
// first name that is a prefix of the argument wins ("CS10" is CS1, "EFx" EF).
constexpr std::array<DsClass, 22> kClasses = {{
    {"CS0", 0x00},  {"CS1", 0x08},  {"CS2", 0x10},  {"CS3", 0x18},  {"CS4", 0x20},  {"CS5", 0x28},
    {"CS6", 0x30},  {"CS7", 0x38},  {"BE", 0x00},   {"AF11", 0x0a}, {"AF12", 0x0c}, {"AF13", 0x0e},
    {"AF21", 0x12}, {"AF22", 0x14}, {"AF23", 0x16}, {"AF31", 0x1a}, {"AF32", 0x1c}, {"AF33", 0x1e},
    {"AF41", 0x22}, {"AF42", 0x24}, {"AF43", 0x26}, {"EF", 0x2e},
}};

class DscpMatch : public MatchBase<DscpMatch> {
 public:
  std::string_view name() const override { return "dscp"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"dscp", ArgKind::Required, true},
                                              {"dscp-class", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "dscp") {
      auto v = xtopt::parse_int("dscp", "dscp", opt.arg, 0, kDscpMax);
      if (!v) return v.error();
      dscp_ = static_cast<uint8_t>(*v);
      have_dscp_ = true;
    } else {
      std::string s(opt.arg);
      bool found = false;
      for (const auto& c : kClasses) {
        if (strncasecmp(s.c_str(), c.name, std::char_traits<char>::length(c.name)) == 0) {
          dscp_ = c.dscp;
          found = true;
          break;
        }
      }
      if (!found) return make_error(fmt::format("Invalid DSCP value `{}'", opt.arg));
      have_class_ = true;
    }
    if (opt.invert) invert_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_dscp_ && !have_class_) return make_error("DSCP match: Parameter --dscp is required");
    if (have_dscp_ && have_class_) return xtopt::cannot_combine("dscp", "dscp", "dscp-class");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format("{} --dscp 0x{:02x}", invert_ ? " !" : "", dscp_);
  }

  bool can_evaluate() const override { return true; }

  MatchOutcome evaluate(const EvalContext& ctx) const override {
    bool hit = (ctx.pkt.ip().tos() >> 2) == dscp_;
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint8_t dscp_ = 0;
  bool invert_ = false, have_dscp_ = false, have_class_ = false;
};

}  // namespace

void register_match_dscp(Registry& r) { r.add_match<DscpMatch>("dscp"); }

}  // namespace nfemu::xt
