// -m cluster: which node of an active-active cluster handles a connection,
// by a hash of its original source address (xt_cluster.c,
// libxt_cluster.c). Every node sees every packet and keeps its share.
#include <fmt/format.h>

#include "conntrack/conntrack.h"
#include "util/jhash.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr uint32_t kNodesMax = 32;  // XT_CLUSTER_NODES_MAX

class ClusterMatch : public MatchBase<ClusterMatch> {
 public:
  std::string_view name() const override { return "cluster"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"cluster-total-nodes", ArgKind::Required},
                                              {"cluster-local-node", ArgKind::Required, true},
                                              {"cluster-local-nodemask", ArgKind::Required, true},
                                              {"cluster-hash-seed", ArgKind::Required}};
    return kOptions;
  }

  // XTTYPE_UINT32 options; node counts and numbers are 1..32.
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    const bool is_node = opt.name == "cluster-total-nodes" || opt.name == "cluster-local-node";
    auto v = xtopt::parse_int("cluster", opt.name, opt.arg, is_node ? 1 : 0, is_node ? kNodesMax : UINT32_MAX);
    if (!v) return v.error();
    const auto value = static_cast<uint32_t>(*v);
    if (opt.name == "cluster-total-nodes") {
      total_ = value;
      have_total_ = true;
    } else if (opt.name == "cluster-local-node") {
      mask_ = uint32_t{1} << (value - 1);  // cluster_parse: node N is bit N-1
      if (opt.invert) invert_ = true;
      have_node_ = true;
    } else if (opt.name == "cluster-local-nodemask") {
      mask_ = value;
      if (opt.invert) invert_ = true;
      have_mask_ = true;
    } else {
      seed_ = value;
      have_seed_ = true;
    }
    return {};
  }

  // xtables_options_fcheck in option-table order, then cluster_check.
  Result<void> final_check(const ParseContext&) override {
    if (!have_total_) return xtopt::must_be_specified("cluster", "cluster-total-nodes");
    if (have_node_ && have_mask_) return xtopt::cannot_combine("cluster", "cluster-local-node", "cluster-local-nodemask");
    if (!have_seed_) return xtopt::must_be_specified("cluster", "cluster-hash-seed");
    const bool too_big = mask_ >= (uint64_t{1} << total_);
    if (have_node_ && too_big)
      return make_error("cluster match: `--cluster-local-node' must be <= `--cluster-total-nodes'");
    if (have_mask_ && too_big)
      return make_error("cluster match: `--cluster-local-nodemask' too big for `--cluster-total-nodes'");
    if (!have_node_ && !have_mask_)
      return make_error("cluster match: `--cluster-local-node' or`--cluster-local-nodemask' is missing");
    return {};
  }

  // xt_cluster_mt_checkentry.
  Result<void> check(const CheckContext&) const override {
    if (total_ > kNodesMax)
      return make_error(fmt::format("xt_cluster: you have exceeded the maximum number of cluster nodes ({} > {})",
                                    total_, kNodesMax));
    if (mask_ >= (uint64_t{1} << total_)) return make_error("xt_cluster: node mask cannot exceed total number of nodes");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format("{} --cluster-local-nodemask 0x{:08x} --cluster-total-nodes {} --cluster-hash-seed 0x{:08x}",
                       invert_ ? " !" : "", mask_, total_, seed_);
  }

  bool can_evaluate() const override { return true; }

  // xt_cluster_mt: no connection, no match (inverted or not); an expected
  // connection goes with its master. The hash is jhash_1word of the
  // original source as the kernel holds it (network order), scaled to the
  // node count (reciprocal_scale). The kernel also turns a unicast
  // packet's PACKET_MULTICAST into PACKET_HOST (nodes answer ARP with a
  // multicast MAC); nfemu's frames carry their host's unicast MAC.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const auto* ct = static_cast<const conntrack::Entry*>(ctx.pkt.meta.ct);
    if (!ct || conntrack::is_template(ct)) return MatchOutcome::NoMatch;
    uint32_t src = __builtin_bswap32(ct->tuple[conntrack::kOriginal].src);
    uint32_t hash = util::jhash2(&src, 1, seed_);
    auto node = static_cast<uint32_t>((uint64_t{hash} * total_) >> 32);
    bool hit = ((uint64_t{1} << node) & mask_) != 0;
    return hit != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint32_t total_ = 0, mask_ = 0, seed_ = 0;
  bool invert_ = false, have_total_ = false, have_node_ = false, have_mask_ = false, have_seed_ = false;
};

}  // namespace

void register_match_cluster(Registry& r) { r.add_match<ClusterMatch>("cluster"); }

}  // namespace nfemu::xt
