// -m cgroup: the control group of the packet's socket (xt_cgroup.c,
// libxt_cgroup.c revision 2): a cgroup v2 path it must lie under, or a
// net_cls class id.
//
// nfemu puts its sockets in the root cgroup of a unified hierarchy without
// net_cls: path "/", class id 0 (PacketMeta::sk says they also all belong
// to root). That is where `nfemu verify`'s processes run on the machines
// it is checked on (/proc/self/cgroup "0::/", no net_cls mounted); a
// kernel whose test processes sit deeper would also match their own
// paths. A packet without a full socket never matches, inverted or not.
// In INPUT that socket is the one early demux found (a segment of an
// established connection; Host::early_demux).
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/ext_util.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class CgroupMatch : public MatchBase<CgroupMatch> {
 public:
  std::string_view name() const override { return "cgroup"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"path", ArgKind::Required, true}, {"cgroup", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "path") {
      path_ = std::string(opt.arg.substr(0, kPathMax - 1));  // xtopt_parse_string cuts, silently
      has_path_ = true;
      invert_path_ = opt.invert;
      return {};
    }
    auto v = xtopt::parse_int("cgroup", "cgroup", opt.arg, 0, UINT32_MAX);
    if (!v) return v.error();
    classid_ = static_cast<uint32_t>(*v);
    has_classid_ = true;
    invert_classid_ = opt.invert;
    return {};
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::LocalOut) | hook_bit(Hook::PostRouting) |
                                           hook_bit(Hook::LocalIn))};
  }

  // cgroup_mt_check_v2. The kernel also refuses a path that does not exist
  // on its machine (cgroup_get_from_path); nfemu cannot know that machine's
  // cgroups and takes every path.
  Result<void> check(const CheckContext& ctx) const override {
    if (!has_path_ && !has_classid_) return make_error("xt_cgroup: no path or classid specified");
    if (has_path_ && has_classid_) return make_error("xt_cgroup: path and classid specified");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (has_path_) {
      out += invert_path_ ? " ! --path" : " --path";
      save_string(out, path_);
    }
    if (has_classid_) out += fmt::format("{} --cgroup {}", invert_classid_ ? " !" : "", classid_);
  }

  bool can_evaluate() const override { return true; }

  MatchOutcome evaluate(const EvalContext& ctx) const override {
    // sk_fullsock: not a request sock, not a time-wait one.
    packet::SockKind sk = ctx.pkt.meta.sk;
    if (sk != packet::SockKind::Full && sk != packet::SockKind::Unaccepted) return MatchOutcome::NoMatch;
    bool hit = has_path_ ? in_root_cgroup_subtree(path_) != invert_path_ : (classid_ == 0) != invert_classid_;
    return hit ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  static constexpr size_t kPathMax = 4096;  // XT_CGROUP_PATH_MAX
  // cgroup_is_descendant(root, cgroup of PATH): only the root itself.
  static bool in_root_cgroup_subtree(std::string_view path) { return path.find_first_not_of('/') == std::string_view::npos; }

  std::string path_;
  uint32_t classid_ = 0;
  bool has_path_ = false, has_classid_ = false, invert_path_ = false, invert_classid_ = false;
};

}  // namespace

void register_match_cgroup(Registry& r) { r.add_match<CgroupMatch>("cgroup"); }

}  // namespace nfemu::xt
