// -m bpf --bytecode: a classic BPF program run on the packet from its IP
// header on; it matches when the program returns non-zero (xt_bpf.c,
// libxt_bpf.c; iptables 1.8.9 uses revision 1). tcpdump -ddd or
// nfbpf_compile write the bytecode: "N,code jt jf k,code jt jf k,...".
// The kernel refuses programs bpf_check_classic refuses; nfemu refuses the
// same ones at load. --object-pinned (an eBPF object in bpffs) names
// something no scenario has: refused, as iptables refuses a missing one.
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <vector>

#include "packet/bytes.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr size_t kMaxInsns = 64;  // XT_BPF_MAX_NUM_INSTR
constexpr size_t kMemWords = 16;  // BPF_MEMWORDS

// struct sock_filter's code: class, size, mode, operation, source.
enum : uint16_t {
  kLd = 0x00, kLdx = 0x01, kSt = 0x02, kStx = 0x03, kAlu = 0x04, kJmp = 0x05, kRet = 0x06, kMisc = 0x07,
  kW = 0x00, kH = 0x08, kB = 0x10,
  kImm = 0x00, kAbs = 0x20, kInd = 0x40, kMem = 0x60, kLen = 0x80, kMsh = 0xa0,
  kAdd = 0x00, kSub = 0x10, kMul = 0x20, kDiv = 0x30, kOr = 0x40, kAnd = 0x50, kLsh = 0x60, kRsh = 0x70,
  kNeg = 0x80, kMod = 0x90, kXor = 0xa0,
  kJa = 0x00, kJeq = 0x10, kJgt = 0x20, kJge = 0x30, kJset = 0x40,
  kK = 0x00, kX = 0x08, kA = 0x10,
  kTax = 0x00, kTxa = 0x80,
};
constexpr uint16_t op_class(uint16_t c) { return c & 0x07; }

// Negative offsets of loads (linux/filter.h), as the u32 k holds them.
constexpr uint32_t kAdOff = 0xfffff000;   // SKF_AD_OFF: ancillary data
constexpr uint32_t kNetOff = 0xfff00000;  // SKF_NET_OFF: from the network header
constexpr uint32_t kLlOff = 0xffe00000;   // SKF_LL_OFF: from the link-layer header
constexpr uint32_t kAdProtocol = 0, kAdMark = 20, kAdAluXorX = 40, kAdMax = 64;

struct Insn {
  uint16_t code = 0;
  uint8_t jt = 0, jf = 0;
  uint32_t k = 0;
};

// chk_code_allowed: the classic instructions the kernel takes.
bool code_allowed(uint16_t code) {
  static constexpr uint16_t kAllowed[] = {
      kAlu | kAdd | kK, kAlu | kAdd | kX, kAlu | kSub | kK, kAlu | kSub | kX, kAlu | kMul | kK, kAlu | kMul | kX,
      kAlu | kDiv | kK, kAlu | kDiv | kX, kAlu | kMod | kK, kAlu | kMod | kX, kAlu | kAnd | kK, kAlu | kAnd | kX,
      kAlu | kOr | kK,  kAlu | kOr | kX,  kAlu | kXor | kK, kAlu | kXor | kX, kAlu | kLsh | kK, kAlu | kLsh | kX,
      kAlu | kRsh | kK, kAlu | kRsh | kX, kAlu | kNeg,
      kLd | kW | kAbs,  kLd | kH | kAbs,  kLd | kB | kAbs,  kLd | kW | kLen,  kLd | kW | kInd,  kLd | kH | kInd,
      kLd | kB | kInd,  kLd | kImm,       kLd | kMem,       kLdx | kW | kLen, kLdx | kB | kMsh, kLdx | kImm,
      kLdx | kMem,      kSt,              kStx,             kMisc | kTax,     kMisc | kTxa,     kRet | kK,
      kRet | kA,        kJmp | kJa,       kJmp | kJeq | kK, kJmp | kJeq | kX, kJmp | kJge | kK, kJmp | kJge | kX,
      kJmp | kJgt | kK, kJmp | kJgt | kX, kJmp | kJset | kK, kJmp | kJset | kX,
  };
  for (uint16_t c : kAllowed)
    if (c == code) return true;
  return false;
}

bool is_conditional_jump(uint16_t code) { return op_class(code) == kJmp && (code & 0xf0) != kJa; }
bool is_abs_load(uint16_t code) { return code == (kLd | kW | kAbs) || code == (kLd | kH | kAbs) || code == (kLd | kB | kAbs); }

// bpf_check_classic with check_load_and_stores: the reason a program is
// refused, or empty.
std::string check_program(const std::vector<Insn>& prog) {
  const size_t n = prog.size();
  for (size_t pc = 0; pc < n; ++pc) {
    const Insn& f = prog[pc];
    if (!code_allowed(f.code)) return fmt::format("instruction {}: code {} not allowed", pc, f.code);
    if ((f.code == (kAlu | kDiv | kK) || f.code == (kAlu | kMod | kK)) && f.k == 0)
      return fmt::format("instruction {}: division by zero", pc);
    if ((f.code == (kAlu | kLsh | kK) || f.code == (kAlu | kRsh | kK)) && f.k >= 32)
      return fmt::format("instruction {}: shift by {}", pc, f.k);
    if ((f.code == (kLd | kMem) || f.code == (kLdx | kMem) || f.code == kSt || f.code == kStx) && f.k >= kMemWords)
      return fmt::format("instruction {}: memory word {}", pc, f.k);
    if (f.code == (kJmp | kJa) && f.k >= n - pc - 1) return fmt::format("instruction {}: jump past the end", pc);
    if (is_conditional_jump(f.code) && (pc + f.jt + 1 >= n || pc + f.jf + 1 >= n))
      return fmt::format("instruction {}: jump past the end", pc);
    if (is_abs_load(f.code) && f.k >= kAdOff && ((f.k - kAdOff) % 4 != 0 || f.k - kAdOff >= kAdMax))
      return fmt::format("instruction {}: unknown ancillary load {}", pc, f.k);
  }
  const uint16_t last = prog[n - 1].code;
  if (last != (kRet | kK) && last != (kRet | kA)) return "the last instruction is not a return";
  std::vector<uint16_t> masks(n, 0xffff);
  uint16_t valid = 0;
  for (size_t pc = 0; pc < n; ++pc) {
    const Insn& f = prog[pc];
    valid &= masks[pc];
    if (f.code == kSt || f.code == kStx) {
      valid |= static_cast<uint16_t>(1u << f.k);
    } else if (f.code == (kLd | kMem) || f.code == (kLdx | kMem)) {
      if (!(valid & (1u << f.k))) return fmt::format("instruction {}: memory word {} read before written", pc, f.k);
    } else if (f.code == (kJmp | kJa)) {
      masks[pc + 1 + f.k] &= valid;
      valid = 0xffff;
    } else if (is_conditional_jump(f.code)) {
      masks[pc + 1 + f.jt] &= valid;
      masks[pc + 1 + f.jf] &= valid;
      valid = 0xffff;
    }
  }
  return {};
}

// One sscanf numeric conversion (%hu, %hhu, %u): blanks, a sign, decimal
// digits read as strtoul does (saturating at ULONG_MAX, negated modulo
// 2^64), then cut to the field's width by the store.
bool scan_number(std::string_view s, size_t& at, uint64_t& value) {
  while (at < s.size() && std::isspace(static_cast<unsigned char>(s[at]))) ++at;
  bool negative = false;
  if (at < s.size() && (s[at] == '+' || s[at] == '-')) negative = s[at++] == '-';
  if (at >= s.size() || !std::isdigit(static_cast<unsigned char>(s[at]))) return false;
  uint64_t v = 0;
  bool overflow = false;
  for (; at < s.size() && std::isdigit(static_cast<unsigned char>(s[at])); ++at) {
    const unsigned d = static_cast<unsigned>(s[at] - '0');
    if (v > (UINT64_MAX - d) / 10) overflow = true;
    v = v * 10 + d;
  }
  value = overflow ? UINT64_MAX : negative ? 0 - v : v;
  return true;
}

class BpfMatch : public MatchBase<BpfMatch> {
 public:
  std::string_view name() const override { return "bpf"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"bytecode"}, {"object-pinned"}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "object-pinned") return make_error("bpf: failed to get bpf object");
    return parse_bytecode(opt.arg);
  }

  Result<void> final_check(const ParseContext&) override {
    if (prog_.empty()) return make_error("bpf: one of --bytecode or --pinned is required");
    return {};
  }

  Result<void> check(const CheckContext&) const override {
    if (auto why = check_program(prog_); !why.empty()) return make_error("xt_bpf: " + why);
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format(" --bytecode \"{}", prog_.size());
    for (const Insn& f : prog_) out += fmt::format(",{} {} {} {}", f.code, f.jt, f.jf, f.k);
    out += '"';
  }

  // Loads of link-layer bytes and most ancillary data (the packet's
  // interface, queue, hash, CPU, VLAN...) are not modelled: a program with
  // one is reported "not evaluated yet".
  bool can_evaluate() const override { return evaluable_; }

  // The classic machine as bpf_convert_filter's program runs it: A and X
  // start at 0; a load past the packet, or a division or modulo by X = 0,
  // ends the program with 0; shifts by X take its low five bits.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    auto d = ctx.pkt.data();
    const uint32_t len = static_cast<uint32_t>(d.size());
    uint32_t a = 0, x = 0;
    std::array<uint32_t, kMemWords> mem{};
    // Bytes at offset k (int32, negative in the SKF_NET_OFF range = from
    // the IP header), size bytes big-endian; false when outside.
    auto load = [&](uint32_t k, uint32_t size, uint32_t& out) {
      if (k >= kNetOff && k < kAdOff) k -= kNetOff;
      else if (k >= 0x80000000u) return false;
      if (k > len || size > len - k) return false;
      out = size == 4 ? packet::load32(d.data() + k) : size == 2 ? packet::load16(d.data() + k) : d[k];
      return true;
    };
    for (size_t pc = 0; pc < prog_.size(); ++pc) {
      const Insn& f = prog_[pc];
      const uint16_t size_bits = f.code & 0x18;
      const uint32_t size = size_bits == kW ? 4 : size_bits == kH ? 2 : 1;
      switch (op_class(f.code)) {
        case kLd:
          switch (f.code & 0xe0) {
            case kImm: a = f.k; break;
            case kMem: a = mem[f.k]; break;
            case kLen: a = len; break;
            case kAbs:
              if (f.k >= kAdOff) {
                const uint32_t ad = f.k - kAdOff;
                if (ad == kAdProtocol) a = 0x0800;  // ntohs(skb->protocol): ETH_P_IP
                else if (ad == kAdMark) a = ctx.pkt.meta.mark;
                else a ^= x;                        // kAdAluXorX, the only other one evaluable() lets through
                break;
              }
              if (!load(f.k, size, a)) return MatchOutcome::NoMatch;
              break;
            default:  // kInd
              if (!load(x + f.k, size, a)) return MatchOutcome::NoMatch;
              break;
          }
          break;
        case kLdx:
          switch (f.code & 0xe0) {
            case kImm: x = f.k; break;
            case kMem: x = mem[f.k]; break;
            case kLen: x = len; break;
            default: {  // kMsh: 4 * (P[k] & 0xf), an IP header's length
              uint32_t b = 0;
              if (!load(f.k, 1, b)) return MatchOutcome::NoMatch;
              x = (b & 0xf) * 4;
            }
          }
          break;
        case kSt: mem[f.k] = a; break;
        case kStx: mem[f.k] = x; break;
        case kAlu: {
          const uint32_t src = (f.code & kX) ? x : f.k;
          switch (f.code & 0xf0) {
            case kAdd: a += src; break;
            case kSub: a -= src; break;
            case kMul: a *= src; break;
            case kDiv:
              if (src == 0) return MatchOutcome::NoMatch;
              a /= src;
              break;
            case kMod:
              if (src == 0) return MatchOutcome::NoMatch;
              a %= src;
              break;
            case kAnd: a &= src; break;
            case kOr: a |= src; break;
            case kXor: a ^= src; break;
            case kLsh: a <<= (src & 31); break;
            case kRsh: a >>= (src & 31); break;
            default: a = 0 - a; break;  // kNeg
          }
          break;
        }
        case kJmp: {
          if ((f.code & 0xf0) == kJa) {
            pc += f.k;
            break;
          }
          const uint32_t src = (f.code & kX) ? x : f.k;
          bool taken;
          switch (f.code & 0xf0) {
            case kJeq: taken = a == src; break;
            case kJgt: taken = a > src; break;
            case kJge: taken = a >= src; break;
            default: taken = (a & src) != 0; break;  // kJset
          }
          pc += taken ? f.jt : f.jf;
          break;
        }
        case kRet: {
          const uint32_t r = (f.code & kA) ? a : f.k;
          return r != 0 ? MatchOutcome::Match : MatchOutcome::NoMatch;
        }
        default:  // kMisc
          if ((f.code & 0xf8) == kTxa) a = x;
          else x = a;
          break;
      }
    }
    return MatchOutcome::NoMatch;  // unreachable: check_program ends every path with a return
  }

 private:
  // bpf_parse_string: "N," then N instructions, each the text after a
  // comma read as "%hu %hhu %hhu %u" (what follows the fourth number up to
  // the next comma is ignored).
  Result<void> parse_bytecode(std::string_view arg) {
    size_t at = 0;
    uint64_t n = 0;
    if (!scan_number(arg, at, n) || at >= arg.size() || arg[at] != ',')
      return make_error("bpf: error parsing program length");
    n &= 0xffff;
    if (n == 0) return make_error("bpf: illegal zero length program");
    if (n > kMaxInsns) return make_error("bpf: number of instructions exceeds maximum");
    std::vector<Insn> prog;
    size_t comma = at;
    while (comma != std::string_view::npos && comma + 1 < arg.size()) {
      if (prog.size() >= n) return make_error("bpf: real program length exceeds the encoded length parameter");
      size_t p = comma + 1;
      uint64_t code, jt, jf, k;
      if (!scan_number(arg, p, code) || !scan_number(arg, p, jt) || !scan_number(arg, p, jf) || !scan_number(arg, p, k))
        return make_error(fmt::format("bpf: error at instr {}", prog.size()));
      prog.push_back({static_cast<uint16_t>(code), static_cast<uint8_t>(jt), static_cast<uint8_t>(jf),
                      static_cast<uint32_t>(k)});
      comma = arg.find(',', comma + 1);
    }
    if (prog.size() != n) return make_error("bpf: parsed program length is less than the encoded length parameter");
    prog_ = std::move(prog);
    evaluable_ = true;
    for (const Insn& f : prog_) {
      if (!is_abs_load(f.code) && f.code != (kLdx | kB | kMsh)) continue;
      const bool ll = f.k >= kLlOff && f.k < kNetOff;
      const bool anc = f.k >= kAdOff;
      const uint32_t ad = f.k - kAdOff;
      if (ll || (anc && (f.code == (kLdx | kB | kMsh) || (ad != kAdProtocol && ad != kAdMark && ad != kAdAluXorX))))
        evaluable_ = false;
    }
    return {};
  }

  std::vector<Insn> prog_;
  bool evaluable_ = false;
};

}  // namespace

void register_match_bpf(Registry& r) { r.add_match<BpfMatch>("bpf"); }

}  // namespace nfemu::xt
