// -j MARK: set, and, or, xor the packet mark (xt_mark.c, libxt_MARK.c).
// iptables 1.8.9 uses revision 2 (struct xt_mark_tginfo2: mark, mask; the
// new mark is (old & ~mask) ^ mark), so every form saves as --set-xmark.
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

enum : unsigned { kSetMark, kAndMark, kOrMark, kXorMark, kSetXmark };
constexpr uint32_t kAny = 0x1f;

// Table order of mark_tg_opts: the final checks report conflicts in it.
constexpr xtopt::Entry kEntries[] = {
    {"set-xmark", kSetXmark, kAny}, {"set-mark", kSetMark, kAny}, {"and-mark", kAndMark, kAny},
    {"or-mark", kOrMark, kAny},     {"xor-mark", kXorMark, kAny},
};

class MarkTarget : public TargetBase<MarkTarget> {
 public:
  std::string_view name() const override { return "MARK"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"set-xmark"}, {"set-mark"}, {"and-mark"}, {"or-mark"}, {"xor-mark"},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    const xtopt::Entry* e = xtopt::find(kEntries, opt.name);
    if (!e) return make_error(fmt::format("MARK: unknown option \"--{}\"", opt.name));
    if (e->id == kSetXmark || e->id == kSetMark) {
      auto mm = xtopt::parse_markmask(opt.arg, "MARK", opt.name);
      if (!mm) return mm.error();
      mark_ = mm->first;
      // --set-mark v/m clears m and ORs v: as xor, the cleared bits must
      // include v's, hence mask = v | m.
      mask_ = e->id == kSetXmark ? mm->second : (mm->first | mm->second);
    } else {
      auto v = xtopt::parse_uint(opt.arg, "MARK", opt.name, 0, UINT32_MAX);
      if (!v) return v.error();
      if (e->id == kAndMark) {
        mark_ = 0;
        mask_ = ~*v;
      } else if (e->id == kOrMark) {
        mark_ = mask_ = *v;
      } else {
        mark_ = *v;
        mask_ = 0;
      }
    }
    xflags_ |= 1u << e->id;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (xflags_ == 0) return make_error("MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required");
    return xtopt::fcheck("MARK", xflags_, kEntries);
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format(" --set-xmark 0x{:x}/0x{:x}", mark_, mask_);
  }

  bool can_evaluate() const override { return true; }
  // mark_tg: XT_CONTINUE whatever the mark was.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    ctx.pkt.meta.mark = (ctx.pkt.meta.mark & ~mask_) ^ mark_;
    return TargetVerdict::Continue;
  }

 private:
  uint32_t mark_ = 0, mask_ = 0, xflags_ = 0;
};

}  // namespace

void register_target_MARK(Registry& r) { r.add_target<MarkTarget>("MARK"); }

}  // namespace nfemu::xt
