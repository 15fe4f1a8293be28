// -m connlimit: how many connections an address (or its network) has
// (xt_connlimit.c, nf_conncount.c as of Linux 6.18; libxt_connlimit.c
// revision 1).
//
// Each rule keeps its own lists, keyed by the packet's source (or
// destination) address under the mask and the connection's zone id; a
// list holds the original tuples of the connections counted in it. A
// packet of a new connection is counted (appended, after clearing the
// list of connections that are gone or TCP TIME_WAIT/CLOSE), even when
// the packet is then dropped: its entry goes at the next clean-up, its
// connection never having been confirmed. A packet of a confirmed,
// assured connection adds nothing; one confirmed but not assured is added
// unless its tuple is listed. The clean-up is skipped within the jiffy it
// last ran in unless 64 entries were added since, and stops after 64
// removals. A count of 0 (an assured connection's packet on an empty list)
// hot-drops the packet, as the kernel does. One CPU: an entry whose
// connection is not found is always removed (the kernel keeps another
// CPU's entries younger than two jiffies).
#include <fmt/format.h>

#include <bit>
#include <unordered_map>
#include <vector>

#include "conntrack/conntrack.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr uint32_t kGcMaxCollect = 64;  // CONNCOUNT_GC_MAX_COLLECT

struct Counted {
  conntrack::Tuple tuple;
  uint16_t zone = 0;
};

struct List {
  std::vector<Counted> conns;
  uint32_t last_gc = 0;        // jiffies
  uint32_t last_gc_count = 0;  // conns.size() after that clean-up
};

// already_closed: TCP in TIME_WAIT or CLOSE.
bool closed(const conntrack::Entry& ct) {
  return ct.proto() == packet::kIpProtoTcp &&
         (ct.tcp.state == conntrack::TcpState::TimeWait || ct.tcp.state == conntrack::TcpState::Close);
}

class ConnlimitMatch : public MatchBase<ConnlimitMatch> {
 public:
  std::string_view name() const override { return "connlimit"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"connlimit-upto", ArgKind::Required, true, false},  {"connlimit-above", ArgKind::Required, true, false},
        {"connlimit-mask", ArgKind::Required, false, false}, {"connlimit-saddr", ArgKind::None, false, false},
        {"connlimit-daddr", ArgKind::None, false, false},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    if (o == "connlimit-upto" || o == "connlimit-above") {
      if (limit_given_) return xtopt::cannot_combine("connlimit", "connlimit-upto", "connlimit-above");
      uint64_t v = 0;
      if (!xtopt::strtoul_x(opt.arg, &v, 0, UINT32_MAX))
        return make_error(
            fmt::format("connlimit: bad value for option \"--{}\", or out of range (0-4294967295).", o));
      limit_ = static_cast<uint32_t>(v);
      // --connlimit-upto N is ! --connlimit-above N.
      invert_ = (o == "connlimit-upto") != opt.invert;
      limit_given_ = true;
    } else if (o == "connlimit-mask") {
      auto m = parse_mask(opt.arg);
      if (!m)
        return make_error(
            "connlimit: bad value for option \"--connlimit-mask\", neither a valid network mask nor valid CIDR "
            "(0-32).");
      prefix_ = *m;
    } else {  // saddr, daddr
      if (addr_given_) return xtopt::cannot_combine("connlimit", "connlimit-saddr", "connlimit-daddr");
      daddr_ = o == "connlimit-daddr";
      addr_given_ = true;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!limit_given_) return make_error("You must specify \"--connlimit-above\" or \"--connlimit-upto\".");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format(" --connlimit-{} {} --connlimit-mask {} --connlimit-{}", invert_ ? "upto" : "above", limit_,
                       prefix_, daddr_ ? "daddr" : "saddr");
  }

  bool can_evaluate() const override { return true; }

  // connlimit_mt: count, then (count > limit) ^ invert; 0 hot-drops.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const packet::Packet& pkt = ctx.pkt;
    auto ip = pkt.ip();
    // get_ct_or_tuple_from_skb: the connection's original tuple, or, for a
    // packet without one (untracked, or only a template), its own.
    const auto* ct = static_cast<const conntrack::Entry*>(pkt.meta.ct);
    if (ct && conntrack::is_template(ct)) ct = nullptr;
    Counted me;
    if (ct) {
      me.tuple = ct->tuple[conntrack::kOriginal];
      me.zone = ct->zone.id;
    } else {
      if (pkt.meta.ct) me.zone = static_cast<const conntrack::Entry*>(pkt.meta.ct)->zone.id;
      if (!conntrack::packet_tuple(pkt, &me.tuple)) return hotdrop(ctx);
    }
    const uint32_t mask = prefix_ ? ~uint32_t{0} << (32 - prefix_) : 0;
    const uint64_t key = uint64_t{(daddr_ ? ip.daddr() : ip.saddr()) & mask} << 16 | me.zone;
    const auto now = static_cast<uint32_t>(conntrack::to_jiffies(ctx.now_ns));
    const conntrack::Table* table = ctx.effects ? ctx.effects->conntrack_table() : nullptr;
    // A packet seen before conntrack (raw table) counts as the connection
    // it belongs to, if there is one.
    if (!ct && table) ct = table->find(me.tuple, conntrack::Zone(me.zone));
    const bool confirmed = ct && ct->confirmed();
    const bool assured = confirmed && (ct->status & conntrack::status::kAssured);

    auto [it, fresh] = lists_.try_emplace(key);
    List& l = it->second;
    if (fresh) {
      // insert_tree: a new list holds this connection, whatever its state.
      l.conns.push_back(me);
      l.last_gc = now;
      return verdict(1);
    }
    if (assured) {
      // -EEXIST: nothing added; the list cleaned and counted.
      gc(l, table, now);
      return l.conns.empty() ? hotdrop(ctx) : verdict(l.conns.size());
    }
    const bool skip = !confirmed && now == l.last_gc && l.conns.size() - l.last_gc_count < kGcMaxCollect;
    if (!skip) {
      uint32_t collect = 0;
      for (size_t i = 0; i < l.conns.size();) {
        if (collect > kGcMaxCollect) break;
        const Counted& c = l.conns[i];
        const conntrack::Entry* found = table ? table->find(c.tuple, conntrack::Zone(c.zone)) : nullptr;
        if (!found) {
          l.conns.erase(l.conns.begin() + static_cast<std::ptrdiff_t>(i));
          ++collect;
          continue;
        }
        if (c.tuple == me.tuple && c.zone == me.zone) return verdict(l.conns.size());  // listed already
        if (closed(*found)) {
          l.conns.erase(l.conns.begin() + static_cast<std::ptrdiff_t>(i));
          ++collect;
          continue;
        }
        ++i;
      }
      l.last_gc = now;
      l.last_gc_count = static_cast<uint32_t>(l.conns.size());
    }
    l.conns.push_back(me);
    return verdict(l.conns.size());
  }

 private:
  // An integer 0..32, else a dotted mask (a non-contiguous one is /32, as
  // xtables_ipmask_to_cidr's -1 leaves the mask whole).
  static std::optional<uint8_t> parse_mask(std::string_view s) {
    uint64_t v = 0;
    if (xtopt::strtoul_x(s, &v, 0, 32)) return static_cast<uint8_t>(v);
    auto a = xtopt::inet_aton(s);
    if (!a) return std::nullopt;
    const uint32_t m = *a;
    const uint32_t ones = static_cast<uint32_t>(std::countl_one(m));
    if (ones == 32 || (m << ones) == 0) return static_cast<uint8_t>(ones);
    return 32;
  }

  // nf_conncount_gc_list: skipped within the jiffy of the last clean-up.
  static void gc(List& l, const conntrack::Table* table, uint32_t now) {
    if (now == l.last_gc) return;
    uint32_t collected = 0;
    for (size_t i = 0; i < l.conns.size();) {
      const Counted& c = l.conns[i];
      const conntrack::Entry* found = table ? table->find(c.tuple, conntrack::Zone(c.zone)) : nullptr;
      if (!found || closed(*found)) {
        l.conns.erase(l.conns.begin() + static_cast<std::ptrdiff_t>(i));
        ++collected;
        continue;
      }
      if (collected > kGcMaxCollect) break;
      ++i;
    }
    l.last_gc = now;
    l.last_gc_count = static_cast<uint32_t>(l.conns.size());
  }

  MatchOutcome verdict(size_t count) const {
    return (count > limit_) != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }
  static MatchOutcome hotdrop(const EvalContext&) { return MatchOutcome::HotDrop; }

  uint32_t limit_ = 0;
  uint8_t prefix_ = 32;
  bool invert_ = false, daddr_ = false, limit_given_ = false, addr_given_ = false;
  // The rule's lists (nf_conncount_data): state of a const match, as the
  // kernel keeps it beside the rule's data.
  mutable std::unordered_map<uint64_t, List> lists_;
};

}  // namespace

void register_match_connlimit(Registry& r) { r.add_match<ConnlimitMatch>("connlimit"); }

}  // namespace nfemu::xt
