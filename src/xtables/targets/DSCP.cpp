// -j DSCP: set the DiffServ code point (xt_DSCP.c, libxt_DSCP.c); mangle
// table only. Saved as a two-digit hex number whatever the input form.
#include <fmt/format.h>

#include <cctype>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "xtables/eval.h"
#include "xtables/targets/dsfield.h"

namespace nfemu::xt {
namespace {

enum : unsigned { kSetDscp, kSetDscpClass };
constexpr xtopt::Entry kEntries[] = {
    {"set-dscp", kSetDscp, 1u << kSetDscpClass},
    {"set-dscp-class", kSetDscpClass, 1u << kSetDscp},
};

struct DsClass {
  std::string_view name;
  uint8_t dscp;
};
// In dscp_helper.c's order: the first class the argument starts with wins.
constexpr DsClass kClasses[] = {
    {"CS0", 0x00},  {"CS1", 0x08},  {"CS2", 0x10},  {"CS3", 0x18},  {"CS4", 0x20},  {"CS5", 0x28},
    {"CS6", 0x30},  {"CS7", 0x38},  {"BE", 0x00},   {"AF11", 0x0a}, {"AF12", 0x0c}, {"AF13", 0x0e},
    {"AF21", 0x12}, {"AF22", 0x14}, {"AF23", 0x16}, {"AF31", 0x1a}, {"AF32", 0x1c}, {"AF33", 0x1e},
    {"AF41", 0x22}, {"AF42", 0x24}, {"AF43", 0x26}, {"EF", 0x2e},
};

// class_to_dscp compares only strlen(class) bytes, case-insensitively, so
// "ef-extra" is EF and "cs10" is CS1.
std::optional<uint8_t> class_to_dscp(std::string_view arg) {
  for (const auto& c : kClasses) {
    if (arg.size() < c.name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < c.name.size() && same; ++i)
      same = std::toupper(static_cast<unsigned char>(arg[i])) == c.name[i];
    if (same) return c.dscp;
  }
  return std::nullopt;
}

class DscpTarget : public TargetBase<DscpTarget> {
 public:
  std::string_view name() const override { return "DSCP"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"set-dscp"}, {"set-dscp-class"}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "set-dscp") {
      auto v = xtopt::parse_uint(opt.arg, "DSCP", opt.name, 0, 0x3f);
      if (!v) return v.error();
      dscp_ = static_cast<uint8_t>(*v);
      xflags_ |= 1u << kSetDscp;
    } else {
      auto d = class_to_dscp(opt.arg);
      if (!d) return make_error(fmt::format("Invalid DSCP value `{}'", opt.arg));
      dscp_ = *d;
      xflags_ |= 1u << kSetDscpClass;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (xflags_ == 0) return make_error("DSCP target: Parameter --set-dscp is required");
    return xtopt::fcheck("DSCP", xflags_, kEntries);
  }

  KernelSpec kernel_spec() const override { return {.tables = table_mask_bit(TableId::Mangle)}; }

  void save(std::string& out, const IpCriteria&) const override { out += fmt::format(" --set-dscp 0x{:02x}", dscp_); }

  bool can_evaluate() const override { return true; }
  // dscp_tg: the ECN bits stay; rewritten only when the code point differs.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    auto ip = ctx.pkt.ip();
    if ((ip.tos() >> 2) != dscp_) ipv4_change_dsfield(ip, 0x03, static_cast<uint8_t>(dscp_ << 2));
    return TargetVerdict::Continue;
  }

 private:
  uint8_t dscp_ = 0;
  uint32_t xflags_ = 0;
};

}  // namespace

void register_target_DSCP(Registry& r) { r.add_target<DscpTarget>("DSCP"); }

}  // namespace nfemu::xt
