// -m osf: passive OS fingerprinting of TCP SYNs (xt_osf.c,
// nfnetlink_osf.c, libxt_osf.c). The fingerprints are one list for the
// whole machine, loaded by nfnl_osf from userspace; a fresh machine has
// none, and neither does nfemu. So the match never matches, `! --genre`
// included (nf_osf_match ignores the inversion). With --log (any level:
// the levels choose among matching fingerprints) every SYN whose header
// and options can be read is logged as unknown (nf_osf_match's fcount 0).
#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "packet/addr.h"
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

  bool can_evaluate() const override { return true; }
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    if (log_ >= 0 && ctx.effects) log_unknown(ctx);
    return MatchOutcome::NoMatch;
  }

 private:
  static constexpr size_t kGenreMax = 32;  // MAXGENRELEN

  // nf_osf_hdr_ctx_init reads the TCP header and its options wherever the
  // IP header ends (a later fragment's bytes too) and gives up on a
  // segment without SYN or too short for them. The line goes through
  // nf_log_packet without a loginfo: the namespace's syslog logger with
  // its defaults (level notice, NF_LOG_DEFAULT_MASK: sequence numbers,
  // TCP and IP options, uid), and a prefix that ends in a newline, which
  // the kernel's log keeps inside the record. Checked on Linux 6.18.
  static void log_unknown(const EvalContext& ctx) {
    auto data = ctx.pkt.data();
    if (data.size() < size_t{ctx.thoff} + 20) return;
    const uint8_t* th = data.data() + ctx.thoff;
    if (!(th[13] & 0x02)) return;
    if (data.size() < size_t{ctx.thoff} + static_cast<size_t>(th[12] >> 4) * 4) return;
    auto ip = ctx.pkt.ip();
    char src[16], dst[16];
    std::string_view src_text(src, packet::format_ipv4_addr(ip.saddr(), src));
    std::string_view dst_text(dst, packet::format_ipv4_addr(ip.daddr(), dst));
    std::array<char, 128> prefix;  // NF_LOG_PREFIXLEN
    auto out = fmt::format_to_n(prefix.data(), prefix.size() - 1, "Remote OS is not known: {}:{} -> {}:{}\n", src_text,
                                th[0] << 8 | th[1], dst_text, th[2] << 8 | th[3]);
    constexpr uint8_t kNotice = 5, kDefaultMask = 0x0f;
    size_t len = std::min(out.size, prefix.size() - 1);  // 71 at most: never cut
    ctx.effects->log(std::string_view(prefix.data(), len), kNotice, kDefaultMask, ctx.pkt, ctx.hook);
  }

  std::string genre_;
  int ttl_ = -1, log_ = -1;
  bool invert_ = false, have_genre_ = false;
};

}  // namespace

void register_match_osf(Registry& r) { r.add_match<OsfMatch>("osf"); }

}  // namespace nfemu::xt
