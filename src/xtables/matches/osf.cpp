// -m osf: passive OS fingerprinting of TCP SYNs (xt_osf.c,
// nfnetlink_osf.c, libxt_osf.c). The fingerprints are one list for the
// whole machine, loaded by nfnl_osf from userspace; a fresh machine has
// none, and neither does nfemu. So the match never matches, `! --genre`
// included (nf_osf_match ignores the inversion). With --log the kernel
// logs "Remote OS is not known" for every SYN; that line is not written
// yet, so such a rule is reported "not evaluated yet".
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class OsfMatch : public MatchBase<OsfMatch> {
 public:
  std::string_view name() const override { return "osf"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"genre", ArgKind::Required, true}, {"ttl", ArgKind::Required}, {"log", ArgKind::Required}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "genre") {
      // xtopt_parse_string cuts a longer name to fit, silently.
      genre_ = std::string(opt.arg.substr(0, kGenreMax - 1));
      invert_ = opt.invert;
      have_genre_ = true;
      return {};
    }
    auto v = xtopt::parse_int("osf", opt.name, opt.arg, 0, 2);
    if (!v) return v.error();
    (opt.name == "ttl" ? ttl_ : log_) = static_cast<int>(*v);
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_genre_) return xtopt::must_be_specified("osf", "genre");
    return {};
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::LocalIn) | hook_bit(Hook::PreRouting) |
                                           hook_bit(Hook::Forward)),
            .proto = 6};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    out += " --genre ";
    out += genre_;
    if (ttl_ >= 0) out += fmt::format(" --ttl {}", ttl_);
    if (log_ >= 0) out += fmt::format(" --log {}", log_);
  }

  bool can_evaluate() const override { return log_ < 0; }
  MatchOutcome evaluate(const EvalContext&) const override { return MatchOutcome::NoMatch; }

 private:
  static constexpr size_t kGenreMax = 32;  // MAXGENRELEN
  std::string genre_;
  int ttl_ = -1, log_ = -1;
  bool invert_ = false, have_genre_ = false;
};

}  // namespace

void register_match_osf(Registry& r) { r.add_match<OsfMatch>("osf"); }

}  // namespace nfemu::xt
