// -m connbytes: what the packet's connection has carried so far, in
// packets, bytes or bytes per packet, one direction or both (xt_connbytes.c
// as of Linux 6.18, libxt_connbytes.c of iptables 1.8.9).
//
// The counters are conntrack's accounting extension, which an entry has
// only if nf_conntrack_acct was on when it was made; loading this match
// turns the sysctl on (stack/ct_demand.h), so entries made before the rule
// have none and never match. A packet is counted at nf_conntrack_in, before
// any rule sees it: the first packet of a connection already sees 1.
//
// `!` is no flag in the kernel's struct: iptables swaps from and to, and
// the kernel reads from > to as "outside [to, from]". So `! --connbytes
// 5:5` is the same rule as `--connbytes 5:5`, and iptables-save prints it
// without the `!`.
#include <fmt/format.h>

#include "conntrack/conntrack.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

enum class What : uint8_t { Packets, Bytes, AvgPkt };      // XT_CONNBYTES_PKTS, _BYTES, _AVGPKT
enum class Direction : uint8_t { Original, Reply, Both };  // XT_CONNBYTES_DIR_*

class ConnbytesMatch : public MatchBase<ConnbytesMatch> {
 public:
  std::string_view name() const override { return "connbytes"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"connbytes", ArgKind::Required, true, false},
        {"connbytes-dir", ArgKind::Required, false, false},
        {"connbytes-mode", ArgKind::Required, false, false},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    if (o == "connbytes") {
      auto v = xtopt::parse_mint("connbytes", "connbytes", opt.arg, UINT64_MAX);
      if (!v) return v.error();
      from_ = (*v)[0];
      to_ = v->size() >= 2 ? (*v)[1] : UINT64_MAX;
      if (to_ < from_) return make_error(fmt::format("{} should be less than {}", from_, to_));
      if (opt.invert) std::swap(from_, to_);
      count_given_ = true;
    } else if (o == "connbytes-dir") {
      if (opt.arg == "original") {
        dir_ = Direction::Original;
      } else if (opt.arg == "reply") {
        dir_ = Direction::Reply;
      } else if (opt.arg == "both") {
        dir_ = Direction::Both;
      } else {
        return make_error(fmt::format("Unknown --connbytes-dir `{}'", opt.arg));
      }
      dir_given_ = true;
    } else {
      if (opt.arg == "packets") {
        what_ = What::Packets;
      } else if (opt.arg == "bytes") {
        what_ = What::Bytes;
      } else if (opt.arg == "avgpkt") {
        what_ = What::AvgPkt;
      } else {
        return make_error(fmt::format("Unknown --connbytes-mode `{}'", opt.arg));
      }
      mode_given_ = true;
    }
    return {};
  }

  // XTOPT_MAND, checked in the order the options are declared.
  Result<void> final_check(const ParseContext&) override {
    if (!count_given_) return xtopt::must_be_specified("connbytes", "connbytes");
    if (!dir_given_) return xtopt::must_be_specified("connbytes", "connbytes-dir");
    if (!mode_given_) return xtopt::must_be_specified("connbytes", "connbytes-mode");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    uint64_t from = from_, to = to_;
    if (from > to) {
      out += " !";
      std::swap(from, to);
    }
    out += fmt::format(" --connbytes {}", from);
    // print_from_to: no upper bound printed for UINT64_MAX, nor for 0 (so
    // `--connbytes 0:0` comes back as `--connbytes 0`, which means 0:max).
    if (to != 0 && to < UINT64_MAX) out += fmt::format(":{}", to);
    static constexpr std::string_view kWhat[] = {"packets", "bytes", "avgpkt"};
    static constexpr std::string_view kDir[] = {"original", "reply", "both"};
    out += fmt::format(" --connbytes-mode {} --connbytes-dir {}", kWhat[static_cast<size_t>(what_)],
                       kDir[static_cast<size_t>(dir_)]);
  }

  bool can_evaluate() const override { return true; }

  // connbytes_mt
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const auto* ct = static_cast<const conntrack::Entry*>(ctx.pkt.meta.ct);
    if (!ct || conntrack::is_template(ct)) return MatchOutcome::NoMatch;
    const conntrack::Table* table = ctx.effects ? ctx.effects->conntrack_table() : nullptr;
    const conntrack::Counter* k = table ? table->counters(*ct) : nullptr;
    if (!k) return MatchOutcome::NoMatch;  // nf_conn_acct_find: no extension
    conntrack::Counter c;
    switch (dir_) {
      case Direction::Original: c = k[conntrack::kOriginal]; break;
      case Direction::Reply: c = k[conntrack::kReply]; break;
      case Direction::Both:
        c.packets = k[conntrack::kOriginal].packets + k[conntrack::kReply].packets;
        c.bytes = k[conntrack::kOriginal].bytes + k[conntrack::kReply].bytes;
        break;
    }
    uint64_t what = 0;
    switch (what_) {
      case What::Packets: what = c.packets; break;
      case What::Bytes: what = c.bytes; break;
      // div64_u64, rounding down; no packet yet: 0.
      case What::AvgPkt: what = c.packets ? c.bytes / c.packets : 0; break;
    }
    bool hit = to_ >= from_ ? what >= from_ && what <= to_ : what < to_ || what > from_;
    return hit ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  // struct xt_connbytes_info's count, as iptables leaves it (swapped by `!`).
  uint64_t from_ = 0, to_ = 0;
  What what_ = What::Packets;
  Direction dir_ = Direction::Original;
  bool count_given_ = false, dir_given_ = false, mode_given_ = false;
};

}  // namespace

void register_match_connbytes(Registry& r) { r.add_match<ConnbytesMatch>("connbytes"); }

}  // namespace nfemu::xt
