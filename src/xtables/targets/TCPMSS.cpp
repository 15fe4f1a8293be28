// -j TCPMSS: rewrite the MSS option of TCP SYN packets (xt_TCPMSS.c,
// libxt_TCPMSS.c). Any table; -p tcp; clamping to the path MTU needs a
// route, so only FORWARD, OUTPUT and POSTROUTING may reach it.
// The kernel also refuses a rule without a tcp match that requires SYN
// ("Only works on TCP SYN packets", find_syn_match in xt_TCPMSS.c).
#include <fmt/format.h>

#include "xtables/registry.h"
#include "xtables/matches/tcp.h"
#include "xtables/targets/xtopt_b.h"
#include "packet/checksum.h"
#include "xtables/eval.h"
#include <algorithm>
#include <cstring>

namespace nfemu::xt {
namespace {

// XT_TCPMSS_CLAMP_PMTU: a value --set-mss cannot reach (its maximum is
// 65535 - sizeof(struct iphdr)).
constexpr uint16_t kClampPmtu = 0xffff;
constexpr uint32_t kMaxMss = 65535 - 20;

using packet::kTcpOptLenMss;
using packet::kTcpOptMss;
// sizeof(struct iphdr) + sizeof(struct tcphdr): what the path MTU leaves
// for the segment (IP options are not counted, as in the kernel).
constexpr unsigned kMinLen = 20 + 20;

// optlen(): a zero-length or one-byte option still advances by one.
unsigned optlen(const uint8_t* opt, unsigned i) { return (opt[i] <= 1 || opt[i + 1] == 0) ? 1 : opt[i + 1]; }

class TcpmssTarget : public TargetBase<TcpmssTarget> {
 public:
  std::string_view name() const override { return "TCPMSS"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"set-mss"}, {"clamp-mss-to-pmtu", ArgKind::None}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    // The two options do not exclude each other: the last one given wins.
    if (opt.name == "set-mss") {
      auto v = xtopt::parse_uint(opt.arg, "TCPMSS", opt.name, 0, kMaxMss);
      if (!v) return v.error();
      mss_ = static_cast<uint16_t>(*v);
    } else {
      mss_ = kClampPmtu;
    }
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return make_error("TCPMSS target: At least one parameter is required");
    return {};
  }

  KernelSpec kernel_spec() const override { return {.proto = 6}; }

  Result<void> check(const CheckContext& ctx) const override {
    constexpr HookMask kRouted = hook_bit(Hook::Forward) | hook_bit(Hook::LocalOut) | hook_bit(Hook::PostRouting);
    if (mss_ == kClampPmtu && (ctx.hooks & ~kRouted) != 0)
      return make_error("xt_TCPMSS: path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks");
    for (const auto& m : ctx.matches)
      if (tcp_match_requires_syn(*m)) return {};
    return make_error("xt_TCPMSS: Only works on TCP SYN packets");
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (mss_ == kClampPmtu)
      out += " --clamp-mss-to-pmtu";
    else
      out += fmt::format(" --set-mss {}", mss_);
  }

  bool can_evaluate() const override { return true; }

  // tcpmss_tg4: NF_DROP when tcpmss_mangle_packet fails, else XT_CONTINUE
  // (with the IP total length and header checksum grown when an option
  // was inserted).
  TargetVerdict evaluate(EvalContext& ctx) const override {
    int grown = mangle(ctx);
    if (grown < 0) return TargetVerdict::Drop;
    if (grown > 0) {
      auto ip = ctx.pkt.ip();
      uint16_t check = ip.checksum();
      uint16_t newlen = static_cast<uint16_t>(ip.total_length() + grown);
      packet::csum_replace2(check, ip.total_length(), newlen);
      ip.set_checksum(check);
      ip.set_total_length(newlen);
    }
    return TargetVerdict::Continue;
  }

 private:
  // tcpmss_mangle_packet: -1 drop, 0 nothing or the option rewritten in
  // place, 4 an MSS option inserted after the fixed header.
  int mangle(EvalContext& ctx) const {
    if (ctx.fragoff != 0) return 0;  // no TCP header here
    packet::Packet& pkt = ctx.pkt;
    const unsigned tcphoff = ctx.thoff;
    int len = static_cast<int>(pkt.size()) - static_cast<int>(tcphoff);
    if (len < 20) return -1;
    uint8_t* tcph = pkt.data().data() + tcphoff;
    const int tcp_hdrlen = (tcph[12] >> 4) * 4;
    if (len < tcp_hdrlen || tcp_hdrlen < 20) return -1;

    uint16_t newmss;
    if (mss_ == kClampPmtu) {
      uint32_t min_mtu = ctx.effects ? ctx.effects->path_mtu(pkt) : 0;
      // The kernel also logs "unknown or invalid path-MTU (%u)", rate
      // limited; nfemu has no channel for that line yet.
      if (min_mtu <= kMinLen) return -1;
      newmss = static_cast<uint16_t>(std::min<uint32_t>(min_mtu - kMinLen, 0xffff));
    } else {
      newmss = mss_;
    }

    auto load16 = [](const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); };
    auto replace2 = [&](uint16_t from, uint16_t to) {
      uint16_t check = load16(tcph + 16);
      packet::csum_replace2(check, from, to);
      tcph[16] = static_cast<uint8_t>(check >> 8);
      tcph[17] = static_cast<uint8_t>(check);
    };

    for (unsigned i = 20; static_cast<int>(i) <= tcp_hdrlen - kTcpOptLenMss; i += optlen(tcph, i)) {
      if (tcph[i] == kTcpOptMss && tcph[i + 1] == kTcpOptLenMss) {
        uint16_t oldmss = load16(tcph + i + 2);
        // Never increase the MSS, even with --set-mss.
        if (oldmss <= newmss) return 0;
        tcph[i + 2] = static_cast<uint8_t>(newmss >> 8);
        tcph[i + 3] = static_cast<uint8_t>(newmss);
        replace2(oldmss, newmss);
        return 0;
      }
    }

    // Data after the header: inserting would move it (and could make the
    // SYN too large), so the packet goes on unmodified.
    if (len > tcp_hdrlen) return 0;
    // doff has 4 bits: a 60-byte header cannot grow.
    if (tcp_hdrlen >= 15 * 4) return 0;

    pkt.resize(pkt.size() + kTcpOptLenMss);
    tcph = pkt.data().data() + tcphoff;
    // RFC 1122: without an MSS option the peer assumed 536; never more.
    newmss = std::min<uint16_t>(newmss, 536);
    uint8_t* opt = tcph + 20;
    std::memmove(opt + kTcpOptLenMss, opt, static_cast<size_t>(len - 20));
    // The pseudo-header length, the new option word, then doff.
    replace2(static_cast<uint16_t>(len), static_cast<uint16_t>(len + kTcpOptLenMss));
    opt[0] = kTcpOptMss;
    opt[1] = kTcpOptLenMss;
    opt[2] = static_cast<uint8_t>(newmss >> 8);
    opt[3] = static_cast<uint8_t>(newmss);
    {
      uint16_t check = load16(tcph + 16);
      packet::csum_replace4(check, 0, static_cast<uint32_t>(load16(opt)) << 16 | load16(opt + 2));
      tcph[16] = static_cast<uint8_t>(check >> 8);
      tcph[17] = static_cast<uint8_t>(check);
    }
    uint16_t oldval = load16(tcph + 12);
    tcph[12] = static_cast<uint8_t>(tcph[12] + (kTcpOptLenMss / 4 << 4));
    replace2(oldval, load16(tcph + 12));
    return kTcpOptLenMss;
  }

  uint16_t mss_ = 0;
  bool given_ = false;
};

}  // namespace

void register_target_TCPMSS(Registry& r) { r.add_target<TcpmssTarget>("TCPMSS"); }

}  // namespace nfemu::xt
