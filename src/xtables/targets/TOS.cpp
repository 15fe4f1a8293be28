// -j TOS: rewrite the IPv4 TOS byte (xt_DSCP.c tos_tg, libxt_TOS.c);
// mangle table only. iptables 1.8.9 uses revision 1 (value, mask: the new
// TOS is (old & ~mask) ^ value), so every form saves as --set-tos v/m.
#include <fmt/format.h>

#include <cctype>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "xtables/eval.h"
#include "xtables/targets/dsfield.h"

namespace nfemu::xt {
namespace {

enum : unsigned { kSetTos, kAndTos, kOrTos, kXorTos };
constexpr uint32_t kAny = 0xf;
constexpr xtopt::Entry kEntries[] = {
    {"set-tos", kSetTos, kAny}, {"and-tos", kAndTos, kAny}, {"or-tos", kOrTos, kAny}, {"xor-tos", kXorTos, kAny}};

struct TosName {
  std::string_view name;
  uint8_t value;
};
constexpr TosName kTosNames[] = {{"Minimize-Delay", 0x10},
                                 {"Maximize-Throughput", 0x08},
                                 {"Maximize-Reliability", 0x04},
                                 {"Minimize-Cost", 0x02},
                                 {"Normal-Service", 0x00}};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// XTTYPE_TOSMASK (xtopt_parse_tosmask): "value[/mask]" when it starts with
// a number in 0..255, otherwise a symbolic name, whose mask is the
// revision's default (0x3f: names leave the precedence bits alone).
Result<std::pair<uint8_t, uint8_t>> parse_tosmask(std::string_view arg) {
  auto illegal = [&] { return make_error(fmt::format("Illegal value: \"{}\"", arg)); };
  if (auto v = xtopt::strtoul_partial(arg, 0, 255)) {
    uint8_t value = static_cast<uint8_t>(v->value), mask = 0xff;
    size_t end = v->end;
    if (end < arg.size() && arg[end] == '/') {
      std::string_view rest = arg.substr(end + 1);
      auto m = xtopt::strtoul_partial(rest, 0, 255);
      if (!m) return illegal();
      mask = static_cast<uint8_t>(m->value);
      end += 1 + m->end;
    }
    if (end != arg.size()) return illegal();
    return std::pair<uint8_t, uint8_t>{value, mask};
  }
  for (const auto& n : kTosNames)
    if (iequals(arg, n.name)) return std::pair<uint8_t, uint8_t>{n.value, 0x3f};
  return make_error(fmt::format("Symbolic name \"{}\" is unknown", arg));
}

class TosTarget : public TargetBase<TosTarget> {
 public:
  std::string_view name() const override { return "TOS"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"set-tos"}, {"and-tos"}, {"or-tos"}, {"xor-tos"}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    const xtopt::Entry* e = xtopt::find(kEntries, opt.name);
    if (!e) return make_error(fmt::format("TOS: unknown option \"--{}\"", opt.name));
    if (e->id == kSetTos) {
      auto vm = parse_tosmask(opt.arg);
      if (!vm) return vm.error();
      value_ = vm->first;
      mask_ = vm->second;
    } else {
      auto v = xtopt::parse_uint(opt.arg, "TOS", opt.name, 0, 255);
      if (!v) return v.error();
      uint8_t bits = static_cast<uint8_t>(*v);
      if (e->id == kAndTos) {
        value_ = 0;
        mask_ = static_cast<uint8_t>(~bits);
      } else if (e->id == kOrTos) {
        value_ = mask_ = bits;
      } else {
        value_ = bits;
        mask_ = 0;
      }
    }
    xflags_ |= 1u << e->id;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!(xflags_ & kAny)) return make_error("TOS: An action is required");
    return xtopt::fcheck("TOS", xflags_, kEntries);
  }

  KernelSpec kernel_spec() const override { return {.tables = table_mask_bit(TableId::Mangle)}; }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format(" --set-tos 0x{:02x}/0x{:02x}", value_, mask_);
  }

  bool can_evaluate() const override { return true; }
  // tos_tg (revision 1): new = (old & ~mask) ^ value, written only when it
  // differs; the whole byte, ECN bits included, as the kernel does.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    auto ip = ctx.pkt.ip();
    uint8_t orig = ip.tos();
    uint8_t nv = static_cast<uint8_t>((orig & ~mask_) ^ value_);
    if (nv != orig) ipv4_change_dsfield(ip, 0, nv);
    return TargetVerdict::Continue;
  }

 private:
  uint8_t value_ = 0, mask_ = 0;
  uint32_t xflags_ = 0;
};

}  // namespace

void register_target_TOS(Registry& r) { r.add_target<TosTarget>("TOS"); }

}  // namespace nfemu::xt
