// -j ECN: clear or set the ECN bits of the IP header and the TCP flags
// (ipt_ECN.c, libipt_ECN.c); mangle table only. `--ecn-tcp-remove` is the
// classic workaround for hosts behind middleboxes that drop ECN SYNs.
#include <fmt/format.h>

#include "packet/checksum.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"
#include "xtables/targets/xtopt_b.h"

namespace nfemu::xt {
namespace {

enum : unsigned { kTcpRemove, kTcpCwr, kTcpEce, kIpEct };
// ECN_opts, with its exclusions.
constexpr xtopt::Entry kEntries[] = {
    {"ecn-tcp-remove", kTcpRemove, 1u << kTcpCwr | 1u << kTcpEce},
    {"ecn-tcp-cwr", kTcpCwr, 1u << kTcpRemove},
    {"ecn-tcp-ece", kTcpEce, 1u << kTcpRemove},
    {"ecn-ip-ect", kIpEct},
};
// IPT_ECN_OP_*: what the kernel is asked to set.
constexpr uint8_t kOpSetIp = 0x01, kOpSetEce = 0x10, kOpSetCwr = 0x20;
constexpr uint8_t kIpEcnMask = 0x03;
constexpr uint8_t kTcpFlagEce = 0x40, kTcpFlagCwr = 0x80;

class EcnTarget : public TargetBase<EcnTarget> {
 public:
  std::string_view name() const override { return "ECN"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"ecn-tcp-remove", ArgKind::None}, {"ecn-tcp-cwr"}, {"ecn-tcp-ece"}, {"ecn-ip-ect"}};
    return kOptions;
  }

  // ECN_parse: --ecn-tcp-remove assigns the operation (an --ecn-ip-ect
  // before it is forgotten); the others add theirs.
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    const xtopt::Entry* e = xtopt::find(kEntries, opt.name);
    if (!e) return make_error(fmt::format("ECN: unknown option \"--{}\"", opt.name));
    xflags_ |= 1u << e->id;
    if (e->id == kTcpRemove) {
      op_ = kOpSetEce | kOpSetCwr;
      ece_ = cwr_ = 0;
      return {};
    }
    auto v = xtopt::parse_uint(opt.arg, "ECN", opt.name, 0, e->id == kIpEct ? 3 : 1);
    if (!v) return v.error();
    if (e->id == kTcpCwr) {
      op_ |= kOpSetCwr;
      cwr_ = static_cast<uint8_t>(*v);
    } else if (e->id == kTcpEce) {
      op_ |= kOpSetEce;
      ece_ = static_cast<uint8_t>(*v);
    } else {
      op_ |= kOpSetIp;
      ect_ = static_cast<uint8_t>(*v);
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (xflags_ == 0) return make_error("ECN target: An operation is required");
    return xtopt::fcheck("ECN", xflags_, kEntries);
  }

  KernelSpec kernel_spec() const override { return {.tables = table_mask_bit(TableId::Mangle)}; }

  // ecn_tg_check: the TCP operations need a rule for TCP, not inverted.
  Result<void> check(const CheckContext& ctx) const override {
    if ((op_ & (kOpSetEce | kOpSetCwr)) && (ctx.ip.proto != 6 || (ctx.ip.inv & IpCriteria::kInvProto)))
      return make_error("ECN: cannot use operation on non-tcp rule (EINVAL)");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (op_ == (kOpSetEce | kOpSetCwr) && ece_ == 0 && cwr_ == 0) {
      out += " --ecn-tcp-remove";
      return;
    }
    if (op_ & kOpSetEce) out += fmt::format(" --ecn-tcp-ece {}", ece_);
    if (op_ & kOpSetCwr) out += fmt::format(" --ecn-tcp-cwr {}", cwr_);
    if (op_ & kOpSetIp) out += fmt::format(" --ecn-ip-ect {}", ect_);
  }

  bool can_evaluate() const override { return true; }

  // ecn_tg: set_ect_ip, then set_ect_tcp for TCP (read at the IP header's
  // end, fragment or not). Each rewrites only what differs and updates its
  // checksum; a TCP header cut short drops the packet.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    auto ip = ctx.pkt.ip();
    if ((op_ & kOpSetIp) && (ip.tos() & kIpEcnMask) != ect_) {
      uint16_t check = ip.checksum();
      uint8_t tos = static_cast<uint8_t>((ip.tos() & ~kIpEcnMask) | ect_);
      packet::csum_replace2(check, ip.tos(), tos);
      ip.set_tos(tos);
      ip.set_checksum(check);
    }
    if ((op_ & (kOpSetEce | kOpSetCwr)) && ip.protocol() == 6) {
      auto l4 = ctx.pkt.data().subspan(ip.header_len());
      if (l4.size() < 20) return TargetVerdict::Drop;
      uint8_t flags = l4[13];
      if ((op_ & kOpSetEce)) flags = static_cast<uint8_t>((flags & ~kTcpFlagEce) | (ece_ ? kTcpFlagEce : 0));
      if ((op_ & kOpSetCwr)) flags = static_cast<uint8_t>((flags & ~kTcpFlagCwr) | (cwr_ ? kTcpFlagCwr : 0));
      if (flags != l4[13]) {
        uint16_t old = static_cast<uint16_t>(l4[12] << 8 | l4[13]);
        l4[13] = flags;
        uint16_t check = static_cast<uint16_t>(l4[16] << 8 | l4[17]);
        packet::csum_replace2(check, old, static_cast<uint16_t>(l4[12] << 8 | flags));
        l4[16] = static_cast<uint8_t>(check >> 8);
        l4[17] = static_cast<uint8_t>(check);
      }
    }
    return TargetVerdict::Continue;
  }

 private:
  uint8_t op_ = 0, ece_ = 0, cwr_ = 0, ect_ = 0;
  uint32_t xflags_ = 0;
};

}  // namespace

void register_target_ECN(Registry& r) { r.add_target<EcnTarget>("ECN"); }

}  // namespace nfemu::xt
