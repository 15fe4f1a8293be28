// -j SYNPROXY: answer a SYN with a syncookie SYN-ACK and open the
// connection to the server only after the client's ACK proves its address
// (xt_SYNPROXY.c, nf_synproxy_core.c, libxt_SYNPROXY.c).
//
// Modelled, as synproxy_tg4 on Linux 6.18: a segment whose checksum is
// wrong or whose options cannot be read is dropped; a SYN is answered with
// a SYN-ACK (window 0, DF, IP ID 0, the options the rule and the SYN both
// have, timestamps carrying the cookie's option bits) and stolen; an ACK
// whose cookie does not check is dropped; anything else goes on.
//
// The cookie has the kernel's layout (secure_tcp_syn_cookie: a minute
// counter in the top 8 bits, the MSS table index under a second hash), but
// nfemu's hash has no secret: the kernel's is random per boot, so no one
// can reproduce its cookies. An ACK that carries a cookie nfemu made would
// make the kernel open the connection to the server (the second handshake,
// sequence adjustment); that is not modelled yet: the rule is reported
// "not evaluated yet" for it and the packet goes on.
#include <fmt/format.h>

#include "packet/checksum.h"
#include "packet/headers.h"
#include "packet/mangle.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

// XT_SYNPROXY_OPT_*: what the rule allows and what a segment carries.
constexpr uint8_t kOptMss = 0x01, kOptWscale = 0x02, kOptSackPerm = 0x04, kOptTimestamp = 0x08, kOptEcn = 0x10;

struct TcpOptions {
  uint8_t options = 0;
  uint16_t mss = 0;
  uint8_t wscale = 0;
  uint32_t tsval = 0, tsecr = 0;
};

// synproxy_parse_options: false only when the options are not all there;
// a malformed option ends the walk with what was read so far.
bool parse_options(std::span<const uint8_t> opts_bytes, TcpOptions& o) {
  size_t i = 0;
  while (i < opts_bytes.size()) {
    uint8_t kind = opts_bytes[i];
    if (kind == 0) return true;  // TCPOPT_EOL
    if (kind == 1) {             // TCPOPT_NOP
      ++i;
      continue;
    }
    if (i + 1 >= opts_bytes.size()) return true;
    uint8_t size = opts_bytes[i + 1];
    if (size < 2 || size > opts_bytes.size() - i) return true;
    const uint8_t* v = opts_bytes.data() + i + 2;
    if (kind == 2 && size == 4) {
      o.mss = static_cast<uint16_t>(v[0] << 8 | v[1]);
      o.options |= kOptMss;
    } else if (kind == 3 && size == 3) {
      o.wscale = std::min<uint8_t>(v[0], 14);
      o.options |= kOptWscale;
    } else if (kind == 8 && size == 10) {
      o.tsval = packet::load32(v);
      o.tsecr = packet::load32(v + 4);
      o.options |= kOptTimestamp;
    } else if (kind == 4 && size == 2) {
      o.options |= kOptSackPerm;
    }
    i += size;
  }
  return true;
}

// net/ipv4/syncookies.c, with a keyless hash of nfemu's own.
constexpr uint32_t kCookieBits = 24;
constexpr uint32_t kCookieMask = (1u << kCookieBits) - 1;
constexpr uint32_t kMaxCookieAge = 2;  // MAX_SYNCOOKIE_AGE, minutes
constexpr uint16_t kMssTable[] = {536, 1300, 1440, 1460};  // msstab

uint32_t cookie_hash(uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport, uint32_t count, int c) {
  uint64_t x = (uint64_t{saddr} << 32 | daddr) ^ (uint64_t{sport} << 48 | uint64_t{dport} << 32 | count) * 0x9e3779b97f4a7c15ull;
  x ^= static_cast<uint64_t>(c + 1) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>(x ^ (x >> 31));
}

// tcp_cookie_time: minutes of the clock (TCP_SYNCOOKIE_PERIOD, 60 s).
uint32_t cookie_time(uint64_t now_ns) { return static_cast<uint32_t>(now_ns / 60'000'000'000ull); }

uint32_t make_cookie(packet::ConstIpv4View ip, const packet::ConstTcpView& th, uint16_t mss, uint64_t now_ns) {
  uint32_t mssind = 3;
  while (mssind > 0 && mss < kMssTable[mssind]) --mssind;
  uint32_t count = cookie_time(now_ns);
  return cookie_hash(ip.saddr(), ip.daddr(), th.sport(), th.dport(), 0, 0) + th.seq() + (count << kCookieBits) +
         ((cookie_hash(ip.saddr(), ip.daddr(), th.sport(), th.dport(), count, 1) + mssind) & kCookieMask);
}

// __cookie_v4_check: the MSS the cookie encodes, 0 when it does not check.
uint16_t check_cookie(packet::ConstIpv4View ip, const packet::ConstTcpView& th, uint64_t now_ns) {
  uint32_t cookie = th.ack_seq() - 1, seq = th.seq() - 1, count = cookie_time(now_ns);
  cookie -= cookie_hash(ip.saddr(), ip.daddr(), th.sport(), th.dport(), 0, 0) + seq;
  uint32_t diff = (count - (cookie >> kCookieBits)) & (0xffffffffu >> kCookieBits);
  if (diff >= kMaxCookieAge) return 0;
  uint32_t mssind =
      (cookie - cookie_hash(ip.saddr(), ip.daddr(), th.sport(), th.dport(), count - diff, 1)) & kCookieMask;
  return mssind < std::size(kMssTable) ? kMssTable[mssind] : 0;
}

class SynproxyTarget : public TargetBase<SynproxyTarget> {
 public:
  std::string_view name() const override { return "SYNPROXY"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"mss"},
                                              {"wscale"},
                                              {"sack-perm", ArgKind::None},
                                              {"timestamp", ArgKind::None},
                                              {"ecn", ArgKind::None}};
    return kOptions;
  }

  // XTTYPE_UINT32 stored into struct xt_synproxy_info's u16 mss and u8
  // wscale: larger values are cut, not refused (--wscale 256 is 0).
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "mss" || opt.name == "wscale") {
      auto v = xtopt::parse_int("SYNPROXY", opt.name, opt.arg, 0, UINT32_MAX);
      if (!v) return v.error();
      if (opt.name == "mss") {
        mss_ = static_cast<uint16_t>(*v);
        has_mss_ = true;
      } else {
        wscale_ = static_cast<uint8_t>(*v);
        has_wscale_ = true;
      }
    } else if (opt.name == "sack-perm") {
      sack_perm_ = true;
    } else if (opt.name == "timestamp") {
      timestamp_ = true;
    } else {
      ecn_ = true;
    }
    return {};
  }

  // synproxy_tg4_check: INPUT and FORWARD, any table, TCP not inverted.
  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::LocalIn) | hook_bit(Hook::Forward))};
  }
  Result<void> check(const CheckContext& ctx) const override {
    if (ctx.ip.proto != 6 || (ctx.ip.inv & IpCriteria::kInvProto))
      return make_error("xt_SYNPROXY: needs -p tcp (not inverted)");
    return {};
  }

  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext& ctx) const override {
    packet::Packet& pkt = ctx.pkt;
    auto ip = pkt.ip();
    auto l4 = ip.payload();
    // nf_ip_checksum, then the header and its options.
    if (!pkt.meta.transport_checksum_verified() && packet::check_l4_checksum(ip) != packet::L4Checksum::Ok)
      return TargetVerdict::Drop;
    if (l4.size() < 20) return TargetVerdict::Drop;
    packet::ConstTcpView th(std::span<const uint8_t>(l4.data(), l4.size()));
    size_t doff = size_t{th.data_offset()} * 4;
    if (doff < 20 || doff > l4.size()) return TargetVerdict::Drop;
    TcpOptions opts;
    parse_options(std::span<const uint8_t>(l4.data() + 20, doff - 20), opts);
    using namespace packet::tcp_flag;
    const bool syn = th.has(kSyn), ack = th.has(kAck), fin = th.has(kFin), rst = th.has(kRst);
    if (syn && !ack && !fin && !rst) {
      if (ctx.effects) {
        synack(ip, th, opts, ctx.now_ns, reply_);
        ctx.effects->send_synproxy_reply(pkt, reply_, ctx.now_ns);
      }
      return TargetVerdict::Stolen;
    }
    if (ack && !fin && !rst && !syn)
      return check_cookie(ip, th, ctx.now_ns) ? TargetVerdict::Unsupported : TargetVerdict::Drop;
    return TargetVerdict::Continue;
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (sack_perm_) out += " --sack-perm";
    if (timestamp_) out += " --timestamp";
    if (has_wscale_) out += fmt::format(" --wscale {}", wscale_);
    if (has_mss_) out += fmt::format(" --mss {}", mss_);
    if (ecn_) out += " --ecn";
  }

 private:
  // synproxy_tg4's SYN branch and synproxy_send_client_synack.
  void synack(packet::ConstIpv4View ip, const packet::ConstTcpView& th, TcpOptions opts, uint64_t now_ns,
              packet::Packet& p) const {
    if (th.has(packet::tcp_flag::kEce) && th.has(packet::tcp_flag::kCwr)) opts.options |= kOptEcn;
    opts.options &= rule_options();
    const uint16_t client_mss = opts.mss;
    if (opts.options & kOptTimestamp) {
      // synproxy_init_timestamp_cookie: the low 6 bits of TSval keep what
      // the ACK's echo must bring back.
      opts.tsecr = opts.tsval;
      opts.tsval = static_cast<uint32_t>(now_ns / 1'000'000) & ~0x3fu;  // tcp_clock_ms
      if (opts.options & kOptWscale) {
        opts.tsval |= opts.wscale;
        opts.wscale = wscale_;
      } else {
        opts.tsval |= 0xf;
      }
      if (opts.options & kOptSackPerm) opts.tsval |= 1 << 4;
      if (opts.options & kOptEcn) opts.tsval |= 1 << 5;
    } else {
      opts.options &= static_cast<uint8_t>(~(kOptWscale | kOptSackPerm | kOptEcn));
    }
    size_t optlen = (opts.options & kOptMss ? 4 : 0) +
                    (opts.options & kOptTimestamp ? 12 : (opts.options & kOptSackPerm ? 4 : 0)) +
                    (opts.options & kOptWscale ? 4 : 0);
    const size_t total = 40 + optlen;
    p.meta = packet::PacketMeta{};
    p.clear_mac_header();
    p.resize(total);
    auto d = p.data();
    std::fill(d.begin(), d.end(), uint8_t{0});
    packet::Ipv4View out(d);
    // synproxy_build_ip: TOS 0, ID 0, DF; the host sets the TTL.
    out.set_version_ihl(4, 5);
    out.set_total_length(static_cast<uint16_t>(total));
    out.set_frag_field(0x4000);
    out.set_protocol(packet::kIpProtoTcp);
    out.set_saddr(ip.daddr());
    out.set_daddr(ip.saddr());
    packet::TcpView t(d.subspan(20));
    t.set_sport(th.dport());
    t.set_dport(th.sport());
    t.set_seq(make_cookie(ip, th, client_mss, now_ns));
    t.set_ack_seq(th.seq() + 1);
    d[32] = static_cast<uint8_t>((20 + optlen) / 4 << 4);
    d[33] = packet::tcp_flag::kSyn | packet::tcp_flag::kAck | (opts.options & kOptEcn ? packet::tcp_flag::kEce : 0);
    uint8_t* o = d.data() + 40;
    auto put32 = [&](uint32_t v) {
      packet::store32(o, v);
      o += 4;
    };
    if (opts.options & kOptMss) put32(0x02040000u | mss_);
    if (opts.options & kOptTimestamp) {
      put32(opts.options & kOptSackPerm ? 0x0402080au : 0x0101080au);
      put32(opts.tsval);
      put32(opts.tsecr);
    } else if (opts.options & kOptSackPerm) {
      put32(0x01010402u);
    }
    if (opts.options & kOptWscale) put32(0x01030300u | opts.wscale);
    // synproxy_send_tcp leaves the sum to the device (CHECKSUM_PARTIAL),
    // which completes it before any capture: the kernel's a0.pcap in
    // tests/scenarios/synproxy holds complete sums, as nfemu's hosts send
    // their own segments.
    auto seg = d.subspan(20);
    uint32_t s = packet::pseudo_header_sum(out.saddr(), out.daddr(), packet::kIpProtoTcp,
                                           static_cast<uint32_t>(seg.size()));
    packet::store16(seg.data() + 16, packet::csum_finish(packet::csum_bytes(seg, s)));
  }

  uint8_t rule_options() const {
    return static_cast<uint8_t>((has_mss_ ? kOptMss : 0) | (has_wscale_ ? kOptWscale : 0) |
                                (sack_perm_ ? kOptSackPerm : 0) | (timestamp_ ? kOptTimestamp : 0) |
                                (ecn_ ? kOptEcn : 0));
  }

  uint16_t mss_ = 0;
  uint8_t wscale_ = 0;
  bool has_mss_ = false, has_wscale_ = false, sack_perm_ = false, timestamp_ = false, ecn_ = false;
  // The SYN-ACK's buffer, kept from one SYN to the next so that answering
  // allocates nothing (the host sends it and leaves it here).
  mutable packet::Packet reply_;
};

}  // namespace

void register_target_SYNPROXY(Registry& r) { r.add_target<SynproxyTarget>("SYNPROXY"); }

}  // namespace nfemu::xt
