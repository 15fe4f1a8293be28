// -j SET: add or delete the packet's addresses/ports in an ipset, or map
// set data to the packet (xt_set.c, libxt_SET.c revision 3).
//
// iptables looks each set name up in the namespace while it parses the
// option ("Set NAME doesn't exist."); nfemu asks the host's
// ipset::Registry (ParseContext::sets). --add-set and --del-set change the
// host's sets as set_target_v3 does (ipset/ipset.h); --map-set writes an
// element's skbinfo into the packet. iptables 1.8.9 saves " --add-set NAME src,dst --exist
// --timeout N --del-set NAME dir --map-set NAME dir --map-mark --map-prio
// --map-queue", each part only when given.
#include <fmt/format.h>

#include "ipset/ipset.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/set_dirs.h"
#include "xtables/targets/xtopt_b.h"

namespace nfemu::xt {
namespace {

constexpr size_t kMaxNameLen = 32;  // IPSET_MAXNAMELEN, with the NUL
enum : uint32_t { kAdd = 0x1, kDel = 0x2, kExist = 0x4, kTimeout = 0x8, kMap = 0x10, kMapMark = 0x20,
                  kMapPrio = 0x40, kMapQueue = 0x80 };

class SetTarget : public TargetBase<SetTarget> {
 public:
  std::string_view name() const override { return "SET"; }
  std::span<const OptionSpec> options() const override {
    // A `!` before these is accepted and ignored (old-style parse).
    static constexpr OptionSpec kOptions[] = {
        {"add-set", ArgKind::Two, true, true}, {"del-set", ArgKind::Two, true, true},
        {"exist", ArgKind::None, true, true},   {"timeout", ArgKind::Required, true, true},
        {"map-set", ArgKind::Two, true, true},  {"map-mark", ArgKind::None, true, true},
        {"map-prio", ArgKind::None, true, true}, {"map-queue", ArgKind::None, true, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext& ctx) override {
    if (opt.name == "add-set" || opt.name == "del-set" || opt.name == "map-set") {
      SetRef& ref = opt.name == "add-set" ? add_ : opt.name == "del-set" ? del_ : map_;
      if (ref.dirs.dim) return make_error(fmt::format("--{} can be specified only once", opt.name));
      if (opt.arg2.empty() || opt.arg2[0] == '-' || opt.arg2[0] == '!')
        return make_error(fmt::format("--{} requires two args.", opt.name));
      if (opt.arg.size() > kMaxNameLen - 1)
        return make_error(
            fmt::format("setname `{}' too long, max {} characters.", opt.arg, kMaxNameLen - 1));
      auto index = ctx.sets ? ctx.sets->find(opt.arg) : std::nullopt;  // get_set_byname
      if (!index) return make_error(fmt::format("Set {} doesn't exist.", opt.arg));
      ref.name = std::string(opt.arg);
      ref.index = *index;
      flags_ |= opt.name == "add-set" ? kAdd : opt.name == "del-set" ? kDel : kMap;
      return parse_set_dirs(opt.arg2, ref.dirs);
    }
    if (opt.name == "timeout") {
      auto v = xtopt::strtoul_whole(opt.arg, 0, UINT32_MAX - 1);
      if (!v)
        return make_error(
            fmt::format("Invalid value for option --timeout or out of range 0-{}", UINT32_MAX - 1));
      flags_ |= kTimeout;
      timeout_ = static_cast<uint32_t>(*v);
    } else if (opt.name == "exist") {
      flags_ |= kExist;
    } else if (opt.name == "map-mark") {
      flags_ |= kMapMark;
    } else if (opt.name == "map-prio") {
      flags_ |= kMapPrio;
    } else if (opt.name == "map-queue") {
      flags_ |= kMapQueue;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!(flags_ & (kAdd | kDel | kMap)))
      return make_error("You must specify either `--add-set' or `--del-set' or `--map-set'");
    if (!(flags_ & kAdd)) {
      if (flags_ & kExist) return make_error("Flag `--exist' can be used with `--add-set' only");
      if (flags_ & kTimeout) return make_error("Option `--timeout' can be used with `--add-set' only");
    }
    if (!(flags_ & kMap)) {
      if (flags_ & kMapMark) return make_error("Flag `--map-mark' can be used with `--map-set' only");
      if (flags_ & kMapPrio) return make_error("Flag `--map-prio' can be used with `--map-set' only");
      if (flags_ & kMapQueue) return make_error("Flag `--map-queue' can be used with `--map-set' only");
    }
    if ((flags_ & kMap) && !(flags_ & (kMapMark | kMapPrio | kMapQueue)))
      return make_error("You must specify flags `--map-mark' or '--map-prio` or `--map-queue'");
    return {};
  }

  // set_target_v3_checkentry: mapping only in mangle; priority and queue
  // only where the packet is routed already.
  Result<void> check(const CheckContext& ctx) const override {
    if (!(flags_ & kMap)) return {};
    if (ctx.table != TableId::Mangle) return make_error("xt_set: --map-set only usable from mangle table");
    constexpr HookMask kRouted = hook_bit(Hook::Forward) | hook_bit(Hook::LocalOut) | hook_bit(Hook::PostRouting);
    if ((flags_ & (kMapPrio | kMapQueue)) && (ctx.hooks & ~kRouted) != 0)
      return make_error("xt_set: mapping of prio or/and queue is allowed only from OUTPUT/FORWARD/POSTROUTING chains");
    return {};
  }

  bool can_evaluate() const override { return true; }

  // set_target_v3: add, then delete, then map; the packet goes on
  // (XT_CONTINUE).
  TargetVerdict evaluate(EvalContext& ctx) const override {
    ipset::Registry* sets = ctx.effects ? ctx.effects->ipsets() : nullptr;
    if (!sets) return TargetVerdict::Continue;
    auto bound = [&](const SetRef& r) {
      return r.dirs.dim && r.index < sets->size() && sets->set(r.index).name == r.name;
    };
    auto dirs = [](const SetRef& r) { return ipset::Dirs{.src_bits = r.dirs.src_bits(), .dim = r.dirs.dim}; };
    if (bound(add_)) {
      // IPSET_MAX_TIMEOUT: longer timeouts are cut to fit in jiffies.
      std::optional<uint32_t> timeout;
      if (flags_ & kTimeout) timeout = std::min<uint32_t>(timeout_, (UINT32_MAX >> 1) / 1000);
      sets->add(add_.index, ctx.pkt, dirs(add_), ctx.now_ns, timeout, flags_ & kExist);
    }
    if (bound(del_)) sets->del(del_.index, ctx.pkt, dirs(del_), ctx.now_ns);
    if (bound(map_)) {
      // match_set: a member (a nomatch entry is none) gives its skbinfo;
      // the test counts the packet in a set with counters, as any test.
      ipset::SkbInfo info;
      auto r = sets->test(map_.index, ctx.pkt, dirs(map_), ctx.now_ns, {.skbinfo_out = &info});
      // A set without skbinfo maps zeros: the mark stays (mask 0), the
      // priority becomes 0.
      if (r == ipset::TestResult::Match) {
        if (flags_ & kMapMark) ctx.pkt.meta.mark = (ctx.pkt.meta.mark & ~info.mark_mask) ^ info.mark;
        if (flags_ & kMapPrio) ctx.pkt.meta.priority = info.prio;
        // --map-queue picks a transmit queue; nfemu's devices have one.
      }
    }
    return TargetVerdict::Continue;
  }

  void save(std::string& out, const IpCriteria&) const override {
    save_ref(out, "--add-set", add_);
    if (flags_ & kExist) out += " --exist";
    if (flags_ & kTimeout) out += fmt::format(" --timeout {}", timeout_);
    save_ref(out, "--del-set", del_);
    save_ref(out, "--map-set", map_);
    if (flags_ & kMapMark) out += " --map-mark";
    if (flags_ & kMapPrio) out += " --map-prio";
    if (flags_ & kMapQueue) out += " --map-queue";
  }

 private:
  struct SetRef {
    std::string name;
    uint16_t index = 0;
    SetDirs dirs;
  };

  static void save_ref(std::string& out, std::string_view prefix, const SetRef& r) {
    if (!r.dirs.dim) return;
    out += fmt::format(" {} {}", prefix, r.name);
    append_set_dirs(out, r.dirs);
  }

  uint32_t flags_ = 0;
  uint32_t timeout_ = 0;
  SetRef add_, del_, map_;
};

}  // namespace

void register_target_SET(Registry& r) { r.add_target<SetTarget>("SET"); }

}  // namespace nfemu::xt
