// -j CONNMARK: set the connection mark, or copy it to and from the packet
// mark (xt_connmark.c, libxt_CONNMARK.c). iptables 1.8.9 picks revision 2
// (struct xt_connmark_tginfo2: ctmark, ctmask, nfmask, shift), so the mark
// operations all save as --set-xmark and save/restore always print both masks.
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "conntrack/conntrack.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

enum : unsigned {
  kSetMark, kSaveMark, kRestoreMark, kAndMark, kOrMark, kXorMark,
  kLeftShift, kRightShift, kSetXmark, kCtmask, kNfmask, kMask,
};
constexpr uint32_t bit(unsigned id) { return 1u << id; }
constexpr uint32_t kOpAny = bit(kSetMark) | bit(kSaveMark) | bit(kRestoreMark) | bit(kAndMark) | bit(kOrMark) |
                            bit(kXorMark) | bit(kSetXmark);

// Table order of connmark_tg_opts_v2.
constexpr xtopt::Entry kEntries[] = {
    {"set-xmark", kSetXmark, kOpAny},
    {"set-mark", kSetMark, kOpAny},
    {"and-mark", kAndMark, kOpAny},
    {"or-mark", kOrMark, kOpAny},
    {"xor-mark", kXorMark, kOpAny},
    {"save-mark", kSaveMark, kOpAny},
    {"restore-mark", kRestoreMark, kOpAny},
    {"left-shift-mark", kLeftShift},
    {"right-shift-mark", kRightShift},
    {"ctmask", kCtmask, bit(kMask)},
    {"nfmask", kNfmask, bit(kMask)},
    {"mask", kMask, bit(kCtmask) | bit(kNfmask)},
};

enum class Mode : uint8_t { Set, Save, Restore };

class ConnmarkTarget : public TargetBase<ConnmarkTarget> {
 public:
  std::string_view name() const override { return "CONNMARK"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"set-xmark"},       {"set-mark"},         {"and-mark"}, {"or-mark"},
        {"xor-mark"},        {"save-mark", ArgKind::None}, {"restore-mark", ArgKind::None},
        {"left-shift-mark"}, {"right-shift-mark"}, {"ctmask"},   {"nfmask"},
        {"mask"},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    const xtopt::Entry* e = xtopt::find(kEntries, opt.name);
    if (!e) return make_error(fmt::format("CONNMARK: unknown option \"--{}\"", opt.name));
    switch (e->id) {
      case kSetXmark:
      case kSetMark: {
        auto mm = xtopt::parse_markmask(opt.arg, "CONNMARK", opt.name);
        if (!mm) return mm.error();
        mode_ = Mode::Set;
        ctmark_ = mm->first;
        ctmask_ = e->id == kSetXmark ? mm->second : (mm->first | mm->second);
        break;
      }
      case kSaveMark: mode_ = Mode::Save; break;
      case kRestoreMark: mode_ = Mode::Restore; break;
      case kLeftShift:
      case kRightShift: {
        auto v = xtopt::parse_uint(opt.arg, "CONNMARK", opt.name, 0, 32);
        if (!v) return v.error();
        shift_right_ = e->id == kRightShift;
        shift_bits_ = static_cast<uint8_t>(*v);
        break;
      }
      default: {
        auto v = xtopt::parse_uint(opt.arg, "CONNMARK", opt.name, 0, UINT32_MAX);
        if (!v) return v.error();
        // Each option overwrites what earlier ones set, in command-line
        // order: "--set-mark 1 --mask 0xf" ends with ctmask 0xf.
        if (e->id == kAndMark) {
          mode_ = Mode::Set;
          ctmark_ = 0;
          ctmask_ = ~*v;
        } else if (e->id == kOrMark) {
          mode_ = Mode::Set;
          ctmark_ = ctmask_ = *v;
        } else if (e->id == kXorMark) {
          mode_ = Mode::Set;
          ctmark_ = *v;
          ctmask_ = 0;
        } else if (e->id == kCtmask) {
          ctmask_ = *v;
        } else if (e->id == kNfmask) {
          nfmask_ = *v;
        } else {
          ctmask_ = nfmask_ = *v;
        }
      }
    }
    xflags_ |= bit(e->id);
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!(xflags_ & kOpAny)) return make_error("CONNMARK target: No operation specified");
    return xtopt::fcheck("CONNMARK", xflags_, kEntries);
  }

  Result<void> check(const CheckContext&) const override {
    // connmark_tg_check_v2 refuses a shift of the whole width (ERANGE) and
    // logs nothing; userspace allows 0..32.
    if (shift_bits_ > 31)
      return make_error(fmt::format("ip_tables: CONNMARK target: shift of {} bits refused by the kernel (ERANGE)",
                                    shift_bits_));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    switch (mode_) {
      case Mode::Set: out += fmt::format(" --set-xmark 0x{:x}/0x{:x}", ctmark_, ctmask_); break;
      case Mode::Save: out += fmt::format(" --save-mark --nfmask 0x{:x} --ctmask 0x{:x}", nfmask_, ctmask_); break;
      case Mode::Restore:
        out += fmt::format(" --restore-mark --nfmask 0x{:x} --ctmask 0x{:x}", nfmask_, ctmask_);
        break;
    }
    if (shift_bits_ != 0)
      out += fmt::format(" --{} {}", shift_right_ ? "right-shift-mark" : "left-shift-mark", shift_bits_);
  }

  bool can_evaluate() const override { return true; }
  // connmark_tg_shift (revision 2): without a connection, XT_CONTINUE and
  // nothing else. The shift applies to the whole new ct mark in --set-xmark
  // mode and to the copied bits in save and restore modes. A changed ct
  // mark goes through the host's conntrack table (IPCT_MARK event).
  TargetVerdict evaluate(EvalContext& ctx) const override {
    auto* ct = static_cast<const conntrack::Entry*>(ctx.pkt.meta.ct);
    if (!ct) return TargetVerdict::Continue;
    auto shift = [this](uint32_t v) { return shift_right_ ? v >> shift_bits_ : v << shift_bits_; };
    uint32_t newmark;
    switch (mode_) {
      case Mode::Set:
        newmark = shift((ct->mark & ~ctmask_) ^ ctmark_);
        if (newmark != ct->mark && ctx.effects) ctx.effects->set_ct_mark(ctx.pkt, newmark);
        break;
      case Mode::Save:
        newmark = (ct->mark & ~ctmask_) ^ shift(ctx.pkt.meta.mark & nfmask_);
        if (newmark != ct->mark && ctx.effects) ctx.effects->set_ct_mark(ctx.pkt, newmark);
        break;
      case Mode::Restore:
        ctx.pkt.meta.mark = (ctx.pkt.meta.mark & ~nfmask_) ^ shift(ct->mark & ctmask_);
        break;
    }
    return TargetVerdict::Continue;
  }

 private:
  Mode mode_ = Mode::Set;
  // connmark_tg_init: save/restore without masks copy every bit.
  uint32_t ctmark_ = 0, ctmask_ = UINT32_MAX, nfmask_ = UINT32_MAX, xflags_ = 0;
  bool shift_right_ = false;
  uint8_t shift_bits_ = 0;
};

}  // namespace

void register_target_CONNMARK(Registry& r) { r.add_target<ConnmarkTarget>("CONNMARK"); }

}  // namespace nfemu::xt
