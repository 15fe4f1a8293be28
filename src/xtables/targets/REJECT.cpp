// -j REJECT: drop and answer with an ICMP error or a TCP reset
// (ipt_REJECT.c, libipt_REJECT.c).
#include <fmt/format.h>

#include <array>
#include <strings.h>

#include "icmp/icmp.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

// The names and codes live with the answers themselves (icmp/icmp.h),
// indexed as enum ipt_reject_with.
const auto& kTypes = icmp::reject_types();
constexpr uint8_t kPortUnreachable = 3, kTcpReset = 7;

// strncasecmp(full, arg, strlen(arg)) == 0: the argument is a
// case-insensitive prefix of the name, so "icmp" means the first icmp type.
bool is_prefix_nocase(std::string_view full, std::string_view arg) {
  if (arg.size() > full.size()) return false;
  return strncasecmp(full.data(), arg.data(), arg.size()) == 0;
}

class RejectTarget : public TargetBase<RejectTarget> {
 public:
  std::string_view name() const override { return "REJECT"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"reject-with", ArgKind::Required}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    for (size_t i = 0; i < kTypes.size(); ++i) {
      if (kTypes[i].name.empty()) continue;
      if (is_prefix_nocase(kTypes[i].name, opt.arg) || is_prefix_nocase(kTypes[i].alias, opt.arg)) {
        with_ = static_cast<uint8_t>(i);
        return {};
      }
    }
    if (is_prefix_nocase("echo-reply", opt.arg) || is_prefix_nocase("echoreply", opt.arg))
      return make_error("--reject-with echo-reply no longer supported");
    return make_error(fmt::format("unknown reject type \"{}\"", opt.arg));
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::LocalIn) | hook_bit(Hook::Forward) | hook_bit(Hook::LocalOut)),
            .tables = table_mask_bit(TableId::Filter),
            .module = "REJECT"};
  }

  Result<void> check(const CheckContext& ctx) const override {
    // reject_tg_check: a reset only makes sense for a rule that sees TCP only.
    if (with_ == kTcpReset && (ctx.ip.proto != 6 || (ctx.ip.inv & IpCriteria::kInvProto)))
      return make_error("ipt_REJECT: TCP_RESET invalid for non-tcp");
    return {};
  }

  // reject_tg: answer, then drop. The host sends the answer through its
  // own OUTPUT path before this packet's walk ends, as the kernel does.
  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext& ctx) const override {
    if (auto* r = dynamic_cast<icmp::Responder*>(ctx.effects))
      r->reject(ctx.pkt, static_cast<icmp::RejectWith>(with_), ctx.now_ns);
    return TargetVerdict::Drop;
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format(" --reject-with {}", kTypes[with_].name);
  }

 private:
  uint8_t with_ = kPortUnreachable;
};

}  // namespace

void register_target_REJECT(Registry& r) { r.add_target<RejectTarget>("REJECT"); }

}  // namespace nfemu::xt
