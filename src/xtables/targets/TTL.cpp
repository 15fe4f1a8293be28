// -j TTL: set, decrement or increment the IPv4 TTL (xt_HL.c, libipt_TTL.c).
// The kernel registers it for the mangle table only.
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "packet/mangle.h"
#include "xtables/eval.h"
#include <algorithm>

namespace nfemu::xt {
namespace {

enum : unsigned { kSet, kInc, kDec };
constexpr uint32_t kAny = 0x7;
// Table order of TTL_opts.
constexpr xtopt::Entry kEntries[] = {{"ttl-set", kSet, kAny}, {"ttl-dec", kDec, kAny}, {"ttl-inc", kInc, kAny}};

class TtlTarget : public TargetBase<TtlTarget> {
 public:
  std::string_view name() const override { return "TTL"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"ttl-set"}, {"ttl-dec"}, {"ttl-inc"}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    const xtopt::Entry* e = xtopt::find(kEntries, opt.name);
    if (!e) return make_error(fmt::format("TTL: unknown option \"--{}\"", opt.name));
    // Decrement and increment by 0 would be no-ops; libxtables asks for 1..255.
    auto v = xtopt::parse_uint(opt.arg, "TTL", opt.name, e->id == kSet ? 0 : 1, 255);
    if (!v) return v.error();
    mode_ = e->id;
    ttl_ = static_cast<uint8_t>(*v);
    xflags_ |= 1u << e->id;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!(xflags_ & kAny)) return make_error("TTL: You must specify an action");
    return xtopt::fcheck("TTL", xflags_, kEntries);
  }

  KernelSpec kernel_spec() const override { return {.tables = table_mask_bit(TableId::Mangle)}; }

  void save(std::string& out, const IpCriteria&) const override {
    const char* opt = mode_ == kSet ? "ttl-set" : mode_ == kDec ? "ttl-dec" : "ttl-inc";
    out += fmt::format(" --{} {}", opt, ttl_);
  }

  bool can_evaluate() const override { return true; }
  // ttl_tg: saturates at 0 and 255 (no wrap), and touches the header only
  // when the TTL changes, with csum_replace2 on the header checksum.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    auto ip = ctx.pkt.ip();
    int ttl = ip.ttl();
    if (mode_ == kSet) ttl = ttl_;
    else if (mode_ == kInc) ttl = std::min(ttl + ttl_, 255);
    else ttl = std::max(ttl - ttl_, 0);
    if (ttl != ip.ttl()) packet::rewrite_ttl(ip, static_cast<uint8_t>(ttl));
    return TargetVerdict::Continue;
  }

 private:
  unsigned mode_ = kSet;
  uint8_t ttl_ = 0;
  uint32_t xflags_ = 0;
};

}  // namespace

void register_target_TTL(Registry& r) { r.add_target<TtlTarget>("TTL"); }

}  // namespace nfemu::xt
