// -m recent: lists of recently seen addresses (xt_recent.c, libxt_recent.c
// revision 1, which adds --mask).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "xtables/addr.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

// XT_RECENT_* bits of check_set.
constexpr uint8_t kCheck = 1, kSet = 2, kUpdate = 4, kRemove = 8, kTtl = 16, kReap = 32;
constexpr size_t kNameLen = 200;      // XT_RECENT_NAME_LEN
// XT_RECENT_MAX_NSTAMPS of this kernel (dmesg: "allowed maximum (65535)");
// kernels before 6.x had 256.
constexpr uint32_t kMaxNstamps = 65536;
constexpr uint32_t kListTot = 100;     // module parameter ip_list_tot
constexpr uint32_t kPktListTot = 20;   // module parameter ip_pkt_list_tot
constexpr uint64_t kHz = 250;
constexpr uint64_t kNsPerJiffy = 1'000'000'000 / kHz;

// struct recent_entry: one address and its last packets' times (jiffies).
struct RecentEntry {
  uint32_t addr = 0;
  uint8_t ttl = 0;
  uint32_t index = 0;    // next slot, masked on update
  uint32_t nstamps = 0;  // slots used
  std::vector<uint64_t> stamps;
};

// struct recent_table. Entries are kept in LRU order (front: oldest),
// which is the kernel's lru_list; lookups scan it, which for at most
// ip_list_tot (100) entries costs less than hashing.
struct RecentTable {
  uint32_t mask = 0xffffffffu;
  uint32_t nstamps_max_mask = 31;
  std::vector<RecentEntry> entries;
};

// time_after(a, b) on jiffies that may wrap.
bool time_after(uint64_t a, uint64_t b) { return static_cast<int64_t>(b - a) < 0; }

uint32_t nstamp_mask_for(uint32_t hit_count) {
  auto pow2m1 = [](uint32_t v) {
    uint32_t p = 1;
    while (p < v) p <<= 1;
    return p - 1;
  };
  if (hit_count < kPktListTot) return pow2m1(kPktListTot);
  if (hit_count) return pow2m1(hit_count);
  return 31;
}

// The kernel keeps one set of lists per network namespace, shared by name
// by every rule that uses it and freed with the last such rule. nfemu has
// no namespace object that matches can reach; the host's Effects is one
// per host, so it stands for the namespace. Rules hold the tables; this
// index only finds them (a table whose rules are all gone starts empty,
// as in the kernel).
std::shared_ptr<RecentTable> recent_table(const void* netns, const std::string& name, uint32_t mask,
                                          uint32_t nstamp_mask) {
  static std::map<std::pair<const void*, std::string>, std::weak_ptr<RecentTable>> index;
  auto& slot = index[{netns, name}];
  auto t = slot.lock();
  if (!t) {
    // Forget the names of tables whose rules are all gone.
    std::erase_if(index, [&](const auto& kv) { return kv.second.expired() && &kv.second != &slot; });
    t = std::make_shared<RecentTable>();
    t->mask = mask;
    t->nstamps_max_mask = nstamp_mask;
    slot = t;
  } else if (nstamp_mask > t->nstamps_max_mask) {
    // recent_mt_check: a rule that needs more stamps flushes the table.
    t->entries.clear();
    t->nstamps_max_mask = nstamp_mask;
  }
  return t;
}

class RecentMatch : public MatchBase<RecentMatch> {
 public:
  std::string_view name() const override { return "recent"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"set", ArgKind::None, true},     {"rcheck", ArgKind::None, true}, {"update", ArgKind::None, true},
        {"remove", ArgKind::None, true},  {"seconds", ArgKind::Required},  {"reap", ArgKind::None},
        {"hitcount", ArgKind::Required},  {"rttl", ArgKind::None},         {"name", ArgKind::Required},
        {"rsource", ArgKind::None},       {"rdest", ArgKind::None},        {"mask", ArgKind::Required},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    auto op = [&](uint8_t bit) {
      check_set_ |= bit;
      ops_.push_back(std::string(o));
      if (opt.invert) invert_ = true;
    };
    if (o == "set") op(kSet);
    else if (o == "rcheck") op(kCheck);
    else if (o == "update") op(kUpdate);
    else if (o == "remove") op(kRemove);
    else if (o == "seconds") {
      auto v = xtopt::parse_int("recent", o, opt.arg, 1, UINT32_MAX);
      if (!v) return v.error();
      seconds_ = static_cast<uint32_t>(*v);
    } else if (o == "reap") {
      check_set_ |= kReap;
    } else if (o == "hitcount") {
      auto v = xtopt::parse_int("recent", o, opt.arg, 0, UINT32_MAX);
      if (!v) return v.error();
      hit_count_ = static_cast<uint32_t>(*v);
    } else if (o == "rttl") {
      check_set_ |= kTtl;
    } else if (o == "name") {
      // XTOPT_PUT into char[200]: cut, not refused.
      name_ = std::string(opt.arg.substr(0, kNameLen - 1));
    } else if (o == "rsource") {
      dest_ = false;
    } else if (o == "rdest") {
      dest_ = true;
    } else if (o == "mask") {
      // XTTYPE_HOST: getaddrinfo. nfemu resolves no host names, so only the
      // numeric (inet_aton) forms are accepted.
      auto a = xtopt::inet_aton(opt.arg);
      if (!a) return make_error("getaddrinfo: Name or service not known");
      mask_ = *a;
    }
    return {};
  }

  // recent_check, then xtables_options_fcheck in option-table order.
  Result<void> final_check(const ParseContext&) override {
    if (ops_.empty())
      return make_error("recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'");
    if (ops_.size() > 1) {
      // libxtables names the first two given, in option-table order.
      static constexpr const char* kOrder[] = {"set", "rcheck", "update", "remove"};
      std::vector<std::string_view> given;
      for (const char* n : kOrder)
        if (std::find(ops_.begin(), ops_.end(), n) != ops_.end()) given.push_back(n);
      return xtopt::cannot_combine("recent", given[0], given[1]);
    }
    if ((check_set_ & kReap) && seconds_ == 0) return make_error("recent: option \"--reap\" also requires \"--seconds\".");
    if ((check_set_ & kTtl) && (check_set_ & (kSet | kRemove)))
      return xtopt::cannot_combine("recent", "rttl", (check_set_ & kSet) ? "set" : "remove");
    return {};
  }

  // recent_mt_check: --set and --remove take no modifiers; hitcount bound; proc name.
  Result<void> check(const CheckContext&) const override {
    if ((check_set_ & (kSet | kRemove)) && (seconds_ || hit_count_ || (check_set_ & (kTtl | kReap))))
      return make_error("xt_recent: --set and --remove take no --seconds, --hitcount, --rttl or --reap (EINVAL)");
    if ((check_set_ & kReap) && !seconds_) return make_error("xt_recent: --reap needs --seconds (EINVAL)");
    if (hit_count_ >= kMaxNstamps)
      return make_error(
          fmt::format("xt_recent: hitcount ({}) is larger than allowed maximum ({})", hit_count_, kMaxNstamps - 1));
    if (name_.empty() || name_ == "." || name_ == ".." || name_.find('/') != std::string::npos)
      return make_error(fmt::format("xt_recent: invalid list name \"{}\" (xt_check_proc_name: EINVAL)", name_));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    if (check_set_ & kSet) out += " --set";
    if (check_set_ & kCheck) out += " --rcheck";
    if (check_set_ & kUpdate) out += " --update";
    if (check_set_ & kRemove) out += " --remove";
    if (seconds_) out += fmt::format(" --seconds {}", static_cast<int32_t>(seconds_));
    if (check_set_ & kReap) out += " --reap";
    if (hit_count_) out += fmt::format(" --hitcount {}", static_cast<int32_t>(hit_count_));
    if (check_set_ & kTtl) out += " --rttl";
    out += fmt::format(" --name {} --mask {}", name_, format_ipv4(mask_));
    out += dest_ ? " --rdest" : " --rsource";
  }

  bool can_evaluate() const override { return true; }

  // recent_mt. ret starts as the inversion and flips when the operation
  // succeeds: --set always, --remove and --rcheck/--update when the address
  // is listed (with enough recent stamps).
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    Binding& b = *binding_;
    if (!b.table || b.netns != ctx.effects) {
      b.netns = ctx.effects;
      b.table = recent_table(ctx.effects, name_, mask_, nstamp_mask_for(hit_count_));
    }
    RecentTable& t = *b.table;
    auto ip = ctx.pkt.ip();
    uint32_t addr = (dest_ ? ip.daddr() : ip.saddr()) & t.mask;
    uint8_t ttl = ip.ttl();
    // The TTL as it was before forwarding: a packet with an output device
    // and no local socket (nfemu has none) counts one more.
    if (!ctx.pkt.meta.out.empty()) ++ttl;
    const uint64_t now = ctx.now_ns / kNsPerJiffy;
    bool ret = invert_;
    const uint8_t want_ttl = (check_set_ & kTtl) ? ttl : 0;
    auto it = std::find_if(t.entries.begin(), t.entries.end(), [&](const RecentEntry& e) {
      return e.addr == addr && (want_ttl == e.ttl || want_ttl == 0 || e.ttl == 0);
    });
    if (it == t.entries.end()) {
      if (!(check_set_ & kSet)) return ret ? MatchOutcome::Match : MatchOutcome::NoMatch;
      if (t.entries.size() >= kListTot) t.entries.erase(t.entries.begin());
      RecentEntry e;
      e.addr = addr;
      e.ttl = ttl;
      e.stamps.assign(t.nstamps_max_mask + 1, 0);
      e.stamps[0] = now;
      e.nstamps = 1;
      e.index = 1;
      t.entries.push_back(std::move(e));
      return !ret ? MatchOutcome::Match : MatchOutcome::NoMatch;
    }
    if (check_set_ & kSet) {
      ret = !ret;
    } else if (check_set_ & kRemove) {
      t.entries.erase(it);
      return !ret ? MatchOutcome::Match : MatchOutcome::NoMatch;
    } else if (check_set_ & (kCheck | kUpdate)) {
      const uint64_t time = now - uint64_t{seconds_} * kHz;
      uint32_t hits = 0;
      for (uint32_t i = 0; i < it->nstamps; ++i) {
        if (seconds_ && time_after(time, it->stamps[i])) continue;
        if (!hit_count_ || ++hits >= hit_count_) {
          ret = !ret;
          break;
        }
      }
      if (check_set_ & kReap) {
        // recent_entry_reap: only the oldest entry, unless it is the one
        // about to be updated; its newest stamp decides.
        auto oldest = t.entries.begin();
        bool keep = oldest == it && (check_set_ & kUpdate) && ret;
        if (!keep) {
          const RecentEntry& o = *oldest;
          if (time_after(time, o.stamps[o.index - 1])) {
            bool was_it = oldest == it;
            size_t pos = static_cast<size_t>(it - t.entries.begin());
            t.entries.erase(oldest);
            if (was_it) return ret ? MatchOutcome::Match : MatchOutcome::NoMatch;
            it = t.entries.begin() + static_cast<std::ptrdiff_t>(pos - 1);
          }
        }
      }
    }
    if ((check_set_ & kSet) || ((check_set_ & kUpdate) && ret)) {
      // recent_entry_update, then the entry becomes the newest.
      RecentEntry& e = *it;
      e.index &= t.nstamps_max_mask;
      e.stamps[e.index++] = now;
      if (e.index > e.nstamps) e.nstamps = e.index;
      e.ttl = ttl;
      std::rotate(it, it + 1, t.entries.end());
    }
    return ret ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint8_t check_set_ = 0;
  uint32_t seconds_ = 0, hit_count_ = 0, mask_ = 0xffffffffu;
  std::string name_ = "DEFAULT";
  std::vector<std::string> ops_;
  bool invert_ = false, dest_ = false;
  // The list this rule uses, found at its first packet (shared by clones).
  struct Binding {
    const void* netns = nullptr;
    std::shared_ptr<RecentTable> table;
  };
  std::shared_ptr<Binding> binding_ = std::make_shared<Binding>();
};

}  // namespace

void register_match_recent(Registry& r) { r.add_match<RecentMatch>("recent"); }

}  // namespace nfemu::xt
