// -j SET: add or delete the packet's addresses/ports in an ipset, or map
// set data to the packet (xt_set.c, libxt_SET.c revision 3).
//
// iptables looks the set name up in the kernel while it parses the option
// ("Set NAME doesn't exist."). nfemu has no ipset model yet, so every set is
// missing, exactly as in a fresh network namespace: the option checks that
// come before the lookup and the final checks are reproduced, and any
// --add-set/--del-set/--map-set then fails the lookup. So no SET rule loads
// yet, and the directions list and save wait for a set registry in
// ParseContext (iptables 1.8.9 saves " --add-set NAME src,dst --exist
// --timeout N --del-set NAME dir --map-set NAME dir --map-mark --map-prio
// --map-queue", each part only when given; checked by hand with ipset).
#include <fmt/format.h>

#include "xtables/registry.h"
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

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    if (opt.name == "add-set" || opt.name == "del-set" || opt.name == "map-set") {
      if (opt.arg2.empty() || opt.arg2[0] == '-' || opt.arg2[0] == '!')
        return make_error(fmt::format("--{} requires two args.", opt.name));
      if (opt.arg.size() > kMaxNameLen - 1)
        return make_error(
            fmt::format("setname `{}' too long, max {} characters.", opt.arg, kMaxNameLen - 1));
      // get_set_byname: no set exists in nfemu (see the file comment).
      return make_error(fmt::format("Set {} doesn't exist.", opt.arg));
    }
    if (opt.name == "timeout") {
      auto v = xtopt::strtoul_whole(opt.arg, 0, UINT32_MAX - 1);
      if (!v)
        return make_error(
            fmt::format("Invalid value for option --timeout or out of range 0-{}", UINT32_MAX - 1));
      flags_ |= kTimeout;
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

  // Unreachable until sets exist: final_check needs a set option, and each
  // one fails its lookup in parse().
  void save(std::string&, const IpCriteria&) const override {}

 private:
  uint32_t flags_ = 0;
};

}  // namespace

void register_target_SET(Registry& r) { r.add_target<SetTarget>("SET"); }

}  // namespace nfemu::xt
