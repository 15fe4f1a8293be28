// -j TCPOPTSTRIP: overwrite chosen TCP options with NOPs (xt_TCPOPTSTRIP.c,
// libxt_TCPOPTSTRIP.c). The kernel registers it for the mangle table and
// -p tcp. The segment keeps its length: each byte of a stripped option
// becomes a NOP, so the peer never sees the option and the header's other
// options stay where they were.
#include <fmt/format.h>

#include <array>
#include <cstring>

#include "packet/checksum.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/xt_number.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kTcpOptNop = 1;

// libxt_TCPOPTSTRIP's names; iptables-save writes numbers only.
struct OptionName {
  std::string_view name;
  uint8_t kind;
};
constexpr OptionName kNames[] = {{"wscale", 3},    {"mss", 2},       {"sack-permitted", 4},
                                  {"sack", 5},      {"timestamp", 8}, {"md5", 19}};

// The kernel's optlen(): an EOL, a NOP or a zero length still advances by one.
unsigned optlen(const uint8_t* opt, unsigned i) { return (opt[i] <= kTcpOptNop || opt[i + 1] == 0) ? 1 : opt[i + 1]; }

class TcpoptstripTarget : public TargetBase<TcpoptstripTarget> {
 public:
  std::string_view name() const override { return "TCPOPTSTRIP"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"strip-options"}};
    return kOptions;
  }

  // parse_list: names or numbers (xtables_strtoui, any base), comma
  // separated, each once, none below 2 (EOL and NOP cannot be stripped).
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view rest = opt.arg;
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      unsigned kind = 0;
      for (const auto& n : kNames)
        if (n.name == item) kind = n.kind;
      if (kind == 0) {
        auto v = number::strtoul_whole(item, 0, 255);
        if (!v) return make_error(fmt::format("Bad TCP option value \"{}\"", item));
        kind = static_cast<unsigned>(*v);
      }
      if (kind < 2) return make_error("Option value may not be 0 or 1");
      if (test(kind)) return make_error(fmt::format("Option \"{}\" already specified", item));
      strip_[kind / 32] |= 1u << (kind % 32);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return {};
  }

  KernelSpec kernel_spec() const override { return {.tables = table_mask_bit(TableId::Mangle), .proto = 6}; }

  // Numbers, in ascending order; nothing at all for an empty set (iptables
  // 1.8.9 accepts the target without --strip-options).
  void save(std::string& out, const IpCriteria&) const override {
    bool first = true;
    for (unsigned kind = 0; kind < 256; ++kind) {
      if (!test(kind)) continue;
      out += first ? " --strip-options " : ",";
      out += fmt::format("{}", kind);
      first = false;
    }
  }

  bool can_evaluate() const override { return true; }

  // tcpoptstrip_mangle_packet: a segment too short for its header is
  // dropped; else every option whose kind is in the set becomes NOPs, the
  // checksum updated byte by byte (inet_proto_csum_replace2, which leaves
  // a CHECKSUM_PARTIAL field alone: the NIC sums the final bytes).
  TargetVerdict evaluate(EvalContext& ctx) const override {
    if (ctx.fragoff != 0) return TargetVerdict::Continue;  // no TCP header here
    packet::Packet& pkt = ctx.pkt;
    const unsigned tcphoff = ctx.thoff;
    if (pkt.size() < tcphoff + 20u) return TargetVerdict::Drop;
    uint8_t* tcph = pkt.data().data() + tcphoff;
    const unsigned tcp_hdrlen = (tcph[12] >> 4) * 4u;
    if (tcp_hdrlen < 20 || pkt.size() < tcphoff + tcp_hdrlen) return TargetVerdict::Drop;
    const bool update_checksum = !pkt.meta.csum_partial;
    for (unsigned i = 20, len; i < tcp_hdrlen - 1; i += len) {
      len = optlen(tcph, i);
      if (i + len > tcp_hdrlen) break;
      if (!test(tcph[i])) continue;
      if (update_checksum) {
        uint16_t check = static_cast<uint16_t>(tcph[16] << 8 | tcph[17]);
        for (unsigned j = 0; j < len; ++j) {
          // The byte's place in its 16-bit word of the sum.
          const unsigned shift = (i + j) % 2 == 0 ? 8 : 0;
          packet::csum_replace2(check, static_cast<uint16_t>(tcph[i + j] << shift),
                                static_cast<uint16_t>(kTcpOptNop << shift));
        }
        tcph[16] = static_cast<uint8_t>(check >> 8);
        tcph[17] = static_cast<uint8_t>(check);
      }
      std::memset(tcph + i, kTcpOptNop, len);
    }
    return TargetVerdict::Continue;
  }

 private:
  bool test(unsigned kind) const { return (strip_[kind / 32] >> (kind % 32)) & 1u; }

  std::array<uint32_t, 8> strip_{};  // xt_tcpoptstrip_target_info's strip_bmap
};

}  // namespace

void register_target_TCPOPTSTRIP(Registry& r) { r.add_target<TcpoptstripTarget>("TCPOPTSTRIP"); }

}  // namespace nfemu::xt
