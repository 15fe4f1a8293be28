// -j CLASSIFY --set-class MAJOR:MINOR: set skb->priority for the qdisc
// (xt_CLASSIFY.c, libxt_CLASSIFY.c). Any table; only hooks where a packet
// is headed for an output device: OUTPUT, FORWARD, POSTROUTING.
#include <fmt/format.h>

#include <cctype>

#include "xtables/registry.h"
#include "xtables/targets/xtopt_b.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

constexpr xtopt::Entry kEntries[] = {{"set-class", 0, 0, 0, true}};

// One sscanf "%x" conversion into an unsigned int: blanks, a sign, an
// optional 0x, hex digits; a minus negates modulo 2^32 and an overflow of
// unsigned long saturates before the cut to 32 bits.
std::optional<uint32_t> scan_hex(std::string_view s, size_t& pos) {
  while (pos < s.size() && std::isspace(static_cast<unsigned char>(s[pos]))) ++pos;
  bool neg = false;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) neg = s[pos++] == '-';
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  // glibc takes "0x" as a prefix even when no hex digit follows, and then
  // the "0" alone is the number: "0x:1" is 0:1.
  bool digits = false;
  if (pos + 1 < s.size() && s[pos] == '0' && (s[pos + 1] == 'x' || s[pos + 1] == 'X')) {
    pos += 2;
    digits = true;
  }
  uint64_t v = 0;
  bool overflow = false;
  for (; pos < s.size() && hexval(s[pos]) >= 0; ++pos) {
    if (v > (UINT64_MAX >> 4)) overflow = true;
    v = (v << 4) | static_cast<uint64_t>(hexval(s[pos]));
    digits = true;
  }
  if (!digits) return std::nullopt;
  if (overflow) v = UINT64_MAX;
  if (neg) v = 0 - v;
  return static_cast<uint32_t>(v);
}

class ClassifyTarget : public TargetBase<ClassifyTarget> {
 public:
  std::string_view name() const override { return "CLASSIFY"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"set-class"}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    // sscanf(arg, "%x:%x"): the colon must follow the major at once, and
    // whatever follows the minor is ignored.
    size_t pos = 0;
    auto major = scan_hex(opt.arg, pos);
    std::optional<uint32_t> minor;
    if (major && pos < opt.arg.size() && opt.arg[pos] == ':') {
      ++pos;
      minor = scan_hex(opt.arg, pos);
    }
    if (!minor) return make_error(fmt::format("Bad class value \"{}\"", opt.arg));
    // TC_H_MAKE(major << 16, minor)
    priority_ = ((*major << 16) & 0xffff0000u) | (*minor & 0xffffu);
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    return xtopt::fcheck("CLASSIFY", given_ ? 1u : 0u, kEntries);
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::LocalOut) | hook_bit(Hook::Forward) |
                                           hook_bit(Hook::PostRouting))};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format(" --set-class {:04x}:{:04x}", priority_ >> 16, priority_ & 0xffff);
  }

  bool can_evaluate() const override { return true; }
  // classify_tg: skb->priority = the class. Only qdiscs read it.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    ctx.pkt.meta.priority = priority_;
    return TargetVerdict::Continue;
  }

 private:
  uint32_t priority_ = 0;
  bool given_ = false;
};

}  // namespace

void register_target_CLASSIFY(Registry& r) { r.add_target<ClassifyTarget>("CLASSIFY"); }

}  // namespace nfemu::xt
