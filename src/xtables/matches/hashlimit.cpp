// -m hashlimit: per-flow token buckets (xt_hashlimit.c, libxt_hashlimit.c).
//
// iptables 1.8.9 on this kernel uses revision 3 (struct
// xt_hashlimit_mtinfo3): 64-bit rates in units of 1/1000000 s, bytes mode,
// rate-match. The old `--hashlimit` option is an alias of
// `--hashlimit-upto`. What the kernel sees is what userspace computed, so
// the fields below are those of hashlimit_cfg3 and save prints them back as
// hashlimit_mt_save does (defaults left out where it leaves them out).
#include <fmt/format.h>

#include <array>
#include <climits>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <string>
#include <strings.h>
#include <vector>

#include "xtables/addr.h"
#include "xtables/ext_util.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/eval.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr uint64_t kScale = 1000000;  // XT_HASHLIMIT_SCALE_v2
constexpr uint64_t kDefaultBurst = 5;
constexpr uint64_t kBurstMax = 1000000;
constexpr uint32_t kGcInterval = 1000;  // ms
constexpr uint32_t kByteExpire = 15, kByteExpireBurst = 60;  // s
constexpr unsigned kByteShift = 4;
constexpr uint32_t kMaxSize = 1048576;  // HASHLIMIT_MAX_SIZE: the kernel truncates size and max to it

enum Mode : uint32_t {
  kHashDip = 0x01,
  kHashDpt = 0x02,
  kHashSip = 0x04,
  kHashSpt = 0x08,
  kInvert = 0x10,
  kBytes = 0x20,
  kRateMatch = 0x40,
};

// glibc atoll: strtoll clamped, then used as uint64_t by libxt_hashlimit.
uint64_t c_atoll(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  uint64_t v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
    v = v > kLimit / 10 ? kLimit : std::min(kLimit, v * 10 + static_cast<uint64_t>(s[i] - '0'));
  if (neg) return 0 - v;  // LLONG_MIN at worst, which is 2^63 as unsigned either way
  return v >= kLimit ? static_cast<uint64_t>(LLONG_MAX) : v;
}

uint32_t unit_factor(char c) {
  if (c == 'm') return 1024 * 1024;
  if (c == 'k') return 1024;
  return 1;
}

uint64_t bytes_to_cost(uint64_t bytes) {
  uint32_t r = static_cast<uint32_t>(bytes >> kByteShift);
  uint32_t d = r + 1;  // u32: wraps to 0 only for 2^36 bytes, which no rate reaches
  return d ? UINT32_MAX / d : 0;
}

uint64_t cost_to_bytes(uint64_t cost) {
  uint64_t r = cost ? UINT32_MAX / cost : UINT32_MAX;
  return (r - 1) << kByteShift;
}

// The credit conversions of the kernel for revision 3 with HZ=250: one
// credit step per jiffy is 2^39 (POW2_BELOW64 of 2^64 / (HZ*86400)).
uint64_t user2credits(uint64_t user) {
  constexpr uint64_t kHzCpj = 250ull * (1ull << 39);
  return user * (kHzCpj / kScale);
}
uint32_t user2credits_byte(uint32_t user) {
  constexpr uint64_t kCpjBytes = 1u << 24;  // POW2_BELOW32(0xffffffff / HZ)
  return static_cast<uint32_t>((uint64_t{user} * 250 * kCpjBytes) >> 32);
}

constexpr uint64_t kHz = 250;
constexpr uint64_t kNsPerJiffy = 1'000'000'000 / kHz;
// CREDITS_PER_JIFFY of revisions 2 and 3: POW2_BELOW64(~0ULL / (HZ*86400)).
constexpr uint64_t kCreditsPerJiffy = uint64_t{1} << 39;

// One flow's bucket (struct dsthash_ent, packet mode).
struct FlowKey {
  uint32_t dst = 0, src = 0;
  uint16_t sport = 0, dport = 0;
  bool operator<(const FlowKey& o) const {
    return std::tie(dst, src, sport, dport) < std::tie(o.dst, o.src, o.sport, o.dport);
  }
};
struct Flow {
  uint64_t expires = 0;  // jiffies
  uint64_t prev = 0;
  // Token bucket; in byte mode credit_cap counts the refills left (burst).
  uint64_t credit = 0, credit_cap = 0, cost = 0;
  // --hashlimit-rate-match: what the window has seen and may see.
  uint64_t rate = 0, burst = 0, current_rate = 0;
  uint64_t interval = 0;  // seconds
  bool prev_window = false;
};
constexpr uint64_t kCpjBytes = uint64_t{1} << 24;  // CREDITS_PER_JIFFY_BYTES at HZ=250

// struct xt_hashlimit_htable: one per name and namespace, configured by
// the first rule that creates it.
struct HashTable {
  uint32_t mode = 0;
  uint64_t avg = 0, burst = 0;
  uint32_t interval = 0;
  uint8_t srcmask = 32, dstmask = 32;
  uint32_t max = 0;
  uint64_t expire_j = 0, gc_j = 1;
  uint64_t created = 0;  // jiffies of the first packet: the GC clock's origin
  uint64_t last_gc = 0;  // the GC run already applied
  std::map<FlowKey, Flow> flows;
};

// As recent's lists: found by (host Effects, name), held by the rules.
std::shared_ptr<HashTable> hash_table(const void* netns, const std::string& name) {
  static std::map<std::pair<const void*, std::string>, std::weak_ptr<HashTable>> index;
  auto& slot = index[{netns, name}];
  auto t = slot.lock();
  if (!t) {
    // Forget the names of tables whose rules are all gone.
    std::erase_if(index, [&](const auto& kv) { return kv.second.expired() && &kv.second != &slot; });
    t = std::make_shared<HashTable>();
    slot = t;
  }
  return t;
}

class HashlimitMatch : public MatchBase<HashlimitMatch> {
 public:
  std::string_view name() const override { return "hashlimit"; }
  std::span<const OptionSpec> options() const override {
    // --hashlimit shares its id with --hashlimit-upto: one use in all (checked below).
    static constexpr OptionSpec kOptions[] = {
        {"hashlimit-upto", ArgKind::Required, true, true},
        {"hashlimit-above", ArgKind::Required, true},
        {"hashlimit", ArgKind::Required, true, true},
        {"hashlimit-srcmask", ArgKind::Required},
        {"hashlimit-dstmask", ArgKind::Required},
        {"hashlimit-burst", ArgKind::Required},
        {"hashlimit-htable-size", ArgKind::Required},
        {"hashlimit-htable-max", ArgKind::Required},
        {"hashlimit-htable-gcinterval", ArgKind::Required},
        {"hashlimit-htable-expire", ArgKind::Required},
        {"hashlimit-mode", ArgKind::Required},
        {"hashlimit-name", ArgKind::Required},
        {"hashlimit-rate-match", ArgKind::None},
        {"hashlimit-rate-interval", ArgKind::Required},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view o = opt.name;
    if (o == "hashlimit-upto" || o == "hashlimit" || o == "hashlimit-above") {
      bool above = o == "hashlimit-above";
      const char* canon = above ? "hashlimit-above" : "hashlimit-upto";
      if (!above) {
        if (have_upto_) return xtopt::used_once("hashlimit", "hashlimit-upto");
        have_upto_ = true;
      } else {
        have_above_ = true;
      }
      if (opt.invert != above) mode_ |= kInvert;
      auto b = parse_bytes(opt.arg);
      if (!b) return b.error();
      if (*b) {
        mode_ |= kBytes;
      } else {
        auto r = parse_rate(opt.arg);
        if (!r) return r.error();
        if (!*r) return make_error(fmt::format("hashlimit: Bad value for \"--{}\" option: \"{}\"", canon, opt.arg));
      }
    } else if (o == "hashlimit-burst") {
      // parse_burst: a 'k' or 'm' right after the number scales it; any
      // other trailing bytes are ignored, as in libxt_hashlimit.
      uint64_t v = 0;
      size_t end = 0;
      bool ok = xtopt::strtoul_x(opt.arg, &v, 1, UINT64_MAX, &end);
      if (!ok || (end == opt.arg.size() && v > kBurstMax)) return burst_error();
      v *= unit_factor(end < opt.arg.size() ? opt.arg[end] : '\0');
      burst_ = v;
      have_burst_ = true;
    } else if (o == "hashlimit-srcmask" || o == "hashlimit-dstmask") {
      auto p = parse_plen(o, opt.arg);
      if (!p) return p.error();
      (o == "hashlimit-srcmask" ? srcmask_ : dstmask_) = *p;
    } else if (o == "hashlimit-htable-size" || o == "hashlimit-htable-max" || o == "hashlimit-htable-gcinterval" ||
               o == "hashlimit-htable-expire") {
      auto v = xtopt::parse_int("hashlimit", o, opt.arg, 0, UINT32_MAX);
      if (!v) return v.error();
      uint32_t x = static_cast<uint32_t>(*v);
      if (o == "hashlimit-htable-size") size_ = x;
      else if (o == "hashlimit-htable-max") max_ = x;
      else if (o == "hashlimit-htable-gcinterval") gc_interval_ = x;
      else {
        expire_ = x;
        have_expire_ = true;
      }
    } else if (o == "hashlimit-mode") {
      // strtok on ",|": empty words are skipped, the bits accumulate.
      std::string arg(opt.arg);
      size_t pos = 0;
      while (pos <= arg.size()) {
        size_t next = arg.find_first_of(",|", pos);
        if (next == std::string::npos) next = arg.size();
        std::string_view tok = std::string_view(arg).substr(pos, next - pos);
        if (tok == "dstip") mode_ |= kHashDip;
        else if (tok == "srcip") mode_ |= kHashSip;
        else if (tok == "srcport") mode_ |= kHashSpt;
        else if (tok == "dstport") mode_ |= kHashDpt;
        else if (!tok.empty()) return bad_value("hashlimit", "hashlimit-mode", opt.arg);
        pos = next + 1;
      }
    } else if (o == "hashlimit-name") {
      if (opt.arg.empty()) return make_error("Argument must have a minimum length of 1 characters");
      // XTOPT_PUT into char[NAME_MAX] (revision 2 and up): longer names are
      // cut, not refused, so the kernel's length check never fires.
      name_ = std::string(opt.arg.substr(0, 254));
      have_name_ = true;
    } else if (o == "hashlimit-rate-match") {
      mode_ |= kRateMatch;
      rate_match_ = true;
    } else if (o == "hashlimit-rate-interval") {
      int32_t r = 0;
      {
        uint64_t v = c_atoll(opt.arg);  // atoi: the low 32 bits of strtol
        r = static_cast<int32_t>(static_cast<uint32_t>(v));
      }
      if (r <= 0) return bad_value("hashlimit", "hashlimit-rate-interval", opt.arg);
      interval_ = static_cast<uint32_t>(r);
    }
    return {};
  }

  // hashlimit_mt_check (x6_fcheck), then the generic mandatory/exclusive checks.
  Result<void> final_check(const ParseContext&) override {
    if (!have_upto_ && !have_above_) return make_error("You have to specify --hashlimit");
    if (!have_expire_) expire_ = mult_ * 1000;
    if (mode_ & kBytes) {
      uint64_t burst = 0;
      if (have_burst_) {
        uint64_t unit = cost_to_bytes(avg_);
        // Below 16 bytes/s the unit rounds to 0 and libxt_hashlimit divides
        // by it: iptables-restore dies of SIGFPE, so the rule never loads.
        if (unit == 0)
          return make_error("--hashlimit-burst with a byte rate below 16b/s: iptables divides by zero (SIGFPE)");
        if (burst_ < unit) return make_error(fmt::format("burst cannot be smaller than {}b", unit));
        // A uint32_t in libxt_hashlimit.
        uint32_t b = static_cast<uint32_t>(burst_);
        b /= static_cast<uint32_t>(unit);
        if (burst_ % unit) ++b;
        burst = b;
        if (!have_expire_) expire_ = kByteExpireBurst * 1000;
      }
      burst_ = burst;
    } else if (burst_ > kBurstMax) {
      return burst_error();
    }
    if (rate_match_) {
      if (!(mode_ & kBytes)) avg_ /= mult_;
      if (interval_ == 0) interval_ = (mode_ & kBytes) ? 1 : mult_;
    }
    if (!have_name_) return xtopt::must_be_specified("hashlimit", "hashlimit-name");
    if (have_upto_ && have_above_) return xtopt::cannot_combine("hashlimit", "hashlimit-upto", "hashlimit-above");
    return {};
  }

  // hashlimit_mt_check / hashlimit_mt_check_common.
  Result<void> check(const CheckContext&) const override {
    if (name_ == "." || name_ == ".." || name_.find('/') != std::string::npos)
      return make_error(fmt::format("xt_hashlimit: invalid name \"{}\" (xt_check_proc_name: EINVAL)", name_));
    if (gc_interval_ == 0 || expire_ == 0)
      return make_error("xt_hashlimit: --hashlimit-htable-gcinterval and --hashlimit-htable-expire must not be 0 (EINVAL)");
    if (srcmask_ > 32 || dstmask_ > 32) return make_error("xt_hashlimit: address mask longer than 32 bits (EINVAL)");
    if (mode_ & kRateMatch) {
      if (avg_ == 0 || avg_ > UINT32_MAX) return make_error("xt_hashlimit: invalid rate");
      if (interval_ == 0) return make_error("xt_hashlimit: invalid interval");
    } else if (mode_ & kBytes) {
      if (user2credits_byte(static_cast<uint32_t>(avg_)) == 0)
        return make_error(fmt::format("xt_hashlimit: overflow, rate too high: {}", avg_));
    } else if (burst_ == 0 || user2credits(avg_ * burst_) < user2credits(avg_)) {
      return make_error(fmt::format("xt_hashlimit: overflow, try lower: {}/{}", avg_, burst_));
    }
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += (mode_ & kInvert) ? " --hashlimit-above" : " --hashlimit-upto";
    uint32_t quantum;
    if (mode_ & kBytes) {
      quantum = print_bytes(out);
    } else {
      quantum = print_rate(out, avg_);
      out += fmt::format(" --hashlimit-burst {}", burst_);
    }
    if (mode_ & (kHashSip | kHashSpt | kHashDip | kHashDpt)) {
      out += " --hashlimit-mode ";
      bool first = true;
      for (auto [bit, word] : {std::pair{kHashSip, "srcip"}, std::pair{kHashSpt, "srcport"},
                               std::pair{kHashDip, "dstip"}, std::pair{kHashDpt, "dstport"}}) {
        if (!(mode_ & bit)) continue;
        if (!first) out += ',';
        out += word;
        first = false;
      }
    }
    out += fmt::format(" --hashlimit-name {}", name_);
    // The kernel writes the truncated table sizes back into the rule.
    uint32_t size = std::min(size_, kMaxSize), max = std::min(max_, kMaxSize);
    if (size != 0) out += fmt::format(" --hashlimit-htable-size {}", size);
    if (max != 0) out += fmt::format(" --hashlimit-htable-max {}", max);
    if (gc_interval_ != kGcInterval) out += fmt::format(" --hashlimit-htable-gcinterval {}", gc_interval_);
    if (expire_ != quantum) out += fmt::format(" --hashlimit-htable-expire {}", expire_);
    if (srcmask_ != 32) out += fmt::format(" --hashlimit-srcmask {}", srcmask_);
    if (dstmask_ != 32) out += fmt::format(" --hashlimit-dstmask {}", dstmask_);
    if (mode_ & kRateMatch) {
      out += " --hashlimit-rate-match";
      if (interval_ != 1) out += fmt::format(" --hashlimit-rate-interval {}", interval_);
    }
  }

  bool can_evaluate() const override { return true; }

  // hashlimit_mt_common, revision 3: each flow (the masked addresses and
  // ports --hashlimit-mode names) has a token bucket as xt_limit's, with
  // 64-bit credits (2^39 per jiffy); byte rates cost per 16-byte chunk
  // against 2^24 credits per jiffy and refill from --hashlimit-burst;
  // --hashlimit-rate-match counts packets or bytes per interval instead. A flow idle past --htable-expire is
  // forgotten at the next garbage collection, which nfemu runs every
  // --htable-gcinterval from the table's first packet (the kernel's
  // delayed work drifts a little), and comes back with a full bucket.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    Binding& b = *binding_;
    if (!b.table || b.netns != ctx.effects) {
      b.netns = ctx.effects;
      b.table = hash_table(ctx.effects, name_);
      HashTable& t = *b.table;
      if (t.avg == 0) {
        t.mode = mode_;
        t.avg = avg_;
        t.burst = burst_;
        t.interval = interval_;
        t.srcmask = srcmask_;
        t.dstmask = dstmask_;
        // htable_create: max defaults to 8 * size; size defaults to 8192
        // on a host with more than 1 GiB of memory (assumed).
        uint32_t size = size_ ? size_ : 8192;
        t.max = max_ ? max_ : 8 * size;
        t.expire_j = (uint64_t{expire_} * kHz + 999) / 1000;  // msecs_to_jiffies rounds up
        t.gc_j = std::max<uint64_t>(1, (uint64_t{gc_interval_} * kHz + 999) / 1000);
        t.created = ctx.now_ns / kNsPerJiffy;
        t.last_gc = t.created;
      }
    }
    HashTable& t = *b.table;
    const uint64_t now = ctx.now_ns / kNsPerJiffy;
    // Garbage collection up to the last run before now.
    const uint64_t last_gc = t.created + (now - t.created) / t.gc_j * t.gc_j;
    if (last_gc > t.last_gc) {
      t.last_gc = last_gc;
      std::erase_if(t.flows, [&](const auto& kv) { return last_gc >= kv.second.expires; });
    }

    // hashlimit_init_dst.
    auto ip = ctx.pkt.ip();
    auto maskl = [](uint32_t a, unsigned l) { return l ? a & (~uint32_t{0} << (32 - l)) : 0u; };
    FlowKey key;
    if (t.mode & kHashDip) key.dst = maskl(ip.daddr(), t.dstmask);
    if (t.mode & kHashSip) key.src = maskl(ip.saddr(), t.srcmask);
    if (t.mode & (kHashSpt | kHashDpt)) {
      int poff;
      switch (ip.protocol()) {
        case 6: case 17: case 33: case 50: case 132: case 136: poff = 0; break;
        case 51: poff = 4; break;
        default: poff = -1;
      }
      uint16_t sport = 0, dport = 0;
      if (poff >= 0) {
        size_t at = size_t{ctx.thoff} + static_cast<size_t>(poff);
        auto d = ctx.pkt.data();
        if (at + 4 > d.size()) return MatchOutcome::HotDrop;
        sport = static_cast<uint16_t>(d[at] << 8 | d[at + 1]);
        dport = static_cast<uint16_t>(d[at + 2] << 8 | d[at + 3]);
      }
      if (t.mode & kHashSpt) key.sport = sport;
      if (t.mode & kHashDpt) key.dport = dport;
    }

    const bool bytes = t.mode & kBytes, rate_match = t.mode & kRateMatch;
    auto it = t.flows.find(key);
    if (it == t.flows.end()) {
      // dsthash_alloc_init: a full table drops the packet.
      if (t.max && t.flows.size() >= t.max) return MatchOutcome::HotDrop;
      // rateinfo_init.
      Flow f;
      f.prev = now;
      if (rate_match) {
        if (bytes) {
          uint32_t avg = static_cast<uint32_t>(t.avg);
          uint64_t r = avg ? UINT32_MAX / avg : UINT32_MAX;
          f.rate = (r - 1) << kByteShift;
          f.burst = t.burst ? t.burst * f.rate : f.rate;
        } else {
          f.rate = t.avg ? kScale / t.avg : 0;
          f.burst = t.burst + f.rate;
        }
        f.interval = t.interval;
      } else if (bytes) {
        f.credit = kCpjBytes * kHz;
        f.cost = user2credits_byte(static_cast<uint32_t>(t.avg));
        f.credit_cap = t.burst;
      } else {
        f.credit = user2credits(t.avg * t.burst);
        f.cost = user2credits(t.avg);
        f.credit_cap = f.credit;
      }
      it = t.flows.emplace(key, f).first;
    } else if (Flow& f = it->second; now != f.prev) {
      // rateinfo_recalc.
      const uint64_t delta = now - f.prev;
      if (rate_match) {
        const uint64_t interval = f.interval * kHz;
        if (delta >= interval) {
          f.prev = now;
          f.prev_window = f.current_rate * interval > delta * f.rate;
          f.current_rate = 0;
        }
      } else {
        f.prev = now;
        uint64_t cap = f.credit_cap;
        bool capped = true;
        if (bytes) {
          uint64_t before = f.credit;
          f.credit += kCpjBytes * delta;
          cap = kCpjBytes * kHz;
          if (before >= f.credit) {
            f.credit = cap;
            capped = false;
          }
        } else {
          f.credit += delta * kCreditsPerJiffy;
        }
        if (capped && f.credit > cap) f.credit = cap;
      }
    }
    Flow& f = it->second;
    f.expires = now + t.expire_j;
    const bool invert = mode_ & kInvert;
    const auto under = !invert ? MatchOutcome::Match : MatchOutcome::NoMatch;
    const auto over = invert ? MatchOutcome::Match : MatchOutcome::NoMatch;
    const uint64_t len = ctx.pkt.size();
    if (rate_match) {
      f.current_rate += bytes ? len : 1;
      return !f.prev_window && f.current_rate <= f.burst ? under : over;
    }
    uint64_t cost = f.cost;
    if (bytes) {
      // hashlimit_byte_cost: a packet that finds the bucket short spends one
      // of the burst refills, if any are left.
      cost = ((len >> kByteShift) + 1) * f.cost;
      if (cost > kCpjBytes * kHz) cost = kCpjBytes * kHz;
      if (f.credit < cost && f.credit_cap) {
        --f.credit_cap;
        f.credit = kCpjBytes * kHz;
      }
    }
    if (f.credit >= cost) {
      f.credit -= cost;
      return under;
    }
    return over;
  }

 private:
  static Error burst_error() {
    return make_error(fmt::format("bad value for option \"--hashlimit-burst\", or out of range (1-{}).", kBurstMax));
  }

  // parse_bytes: "N[k|m]b/s". Ok(false) when the text is not a byte rate.
  Result<bool> parse_bytes(std::string_view rate) {
    size_t at = rate.find("b/s");
    if (at == std::string_view::npos || at == 0) return false;
    uint64_t r = c_atoll(rate);
    if (r == 0) return false;
    uint64_t tmp = r * unit_factor(rate[at - 1]);
    uint64_t cost = bytes_to_cost(tmp);
    if (cost == 0) return make_error(fmt::format("Rate too high \"{}\"", rate));
    mult_ = kByteExpire;
    avg_ = cost;
    return true;
  }

  // parse_rate: "N[/second|minute|hour|day]" with any prefix of the unit.
  Result<bool> parse_rate(std::string_view rate) {
    mult_ = 1;
    if (size_t slash = rate.find('/'); slash != std::string_view::npos) {
      std::string unit(rate.substr(slash + 1));
      if (unit.empty()) return false;
      auto is = [&](const char* full) { return strncasecmp(unit.c_str(), full, unit.size()) == 0; };
      if (is("second")) mult_ = 1;
      else if (is("minute")) mult_ = 60;
      else if (is("hour")) mult_ = 60 * 60;
      else if (is("day")) mult_ = 24 * 60 * 60;
      else return false;
    }
    uint64_t r = c_atoll(rate);
    if (r == 0) return false;
    uint64_t tmp = kScale * mult_ / r;
    if (tmp == 0) return make_error(fmt::format("Rate too fast \"{}\"", rate));
    avg_ = tmp;
    return true;
  }

  // XTTYPE_PLEN for IPv4: a prefix length, or else anything getaddrinfo
  // takes as a numeric host (inet_aton forms: "255.255.255.0", "0xffffff00",
  // even "33"), turned into a prefix length.
  static Result<uint8_t> parse_plen(std::string_view opt, std::string_view arg) {
    uint64_t v = 0;
    if (xtopt::strtoul_x(arg, &v, 0, 32)) return static_cast<uint8_t>(v);
    if (auto m = xtopt::inet_aton(arg)) {
      // -1 for a non-contiguous mask lands in a uint8_t as 255, which the kernel refuses.
      return static_cast<uint8_t>(mask_prefix_len(*m));
    }
    return make_error(fmt::format(
        "hashlimit: bad value for option \"--{}\", neither a valid network mask nor valid CIDR (0-32).", opt));
  }

  static uint32_t print_rate(std::string& out, uint64_t period) {
    struct Unit {
      const char* name;
      uint64_t mult;
    };
    static constexpr std::array<Unit, 4> kUnits = {
        {{"day", kScale * 86400}, {"hour", kScale * 3600}, {"min", kScale * 60}, {"sec", kScale}}};
    if (period == 0) {
      out += " inf";
      return 0;
    }
    size_t i = 1;
    for (; i < kUnits.size(); ++i)
      if (period > kUnits[i].mult || kUnits[i].mult / period < kUnits[i].mult % period) break;
    out += fmt::format(" {}/{}", kUnits[i - 1].mult / period, kUnits[i - 1].name);
    return static_cast<uint32_t>(kUnits[i - 1].mult / kScale * 1000);
  }

  uint32_t print_bytes(std::string& out) const {
    struct Unit {
      const char* name;
      uint64_t thresh;
    };
    static constexpr std::array<Unit, 3> kUnits = {{{"m", 1024 * 1024}, {"k", 1024}, {"", 1}}};
    uint64_t r = cost_to_bytes(avg_);
    size_t i = 0;
    for (; i < kUnits.size() - 1; ++i)
      if (r >= kUnits[i].thresh && bytes_to_cost(r & ~(kUnits[i].thresh - 1)) == avg_) break;
    out += fmt::format(" {}{}b/s", r / kUnits[i].thresh, kUnits[i].name);
    if (burst_ == 0) return kByteExpire * 1000;
    r *= burst_;
    for (i = 0; i < kUnits.size() - 1; ++i)
      if (r >= kUnits[i].thresh) break;
    out += fmt::format(" --hashlimit-burst {}{}b", r / kUnits[i].thresh, kUnits[i].name);
    return kByteExpireBurst * 1000;
  }

  uint64_t avg_ = 0, burst_ = kDefaultBurst;
  uint32_t mode_ = 0, size_ = 0, max_ = 0, gc_interval_ = kGcInterval, expire_ = 0, interval_ = 0;
  uint32_t mult_ = 1;  // the rate's unit in seconds (15 for byte rates): default expiry
  uint8_t srcmask_ = 32, dstmask_ = 32;
  std::string name_;
  bool have_upto_ = false, have_above_ = false, have_burst_ = false, have_expire_ = false, have_name_ = false;
  bool rate_match_ = false;
  struct Binding {
    const void* netns = nullptr;
    std::shared_ptr<HashTable> table;
  };
  std::shared_ptr<Binding> binding_ = std::make_shared<Binding>();
};

}  // namespace

void register_match_hashlimit(Registry& r) { r.add_match<HashlimitMatch>("hashlimit"); }

}  // namespace nfemu::xt
