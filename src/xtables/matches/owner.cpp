// -m owner: the local socket's owner (xt_owner.c revision 1,
// libxt_owner.c). Only locally generated packets have one, so the kernel
// allows it in OUTPUT and POSTROUTING only.
//
// iptables asks getpwnam()/getgrnam() before trying a number. To stay
// deterministic nfemu knows only the static accounts of Debian's
// base-passwd (the same on every Debian system); any other name is refused
// as iptables refuses an unknown one. Saving always prints numbers.
#include <fmt/format.h>

#include <array>

#include "xtables/ext_util.h"
#include "xtables/matches/strtoul_compat.h"
#include "xtables/eval.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr uint8_t kUid = 0x01, kGid = 0x02, kSocket = 0x04, kSupplGroups = 0x08;  // XT_OWNER_*

using IdName = std::pair<std::string_view, uint32_t>;
// Debian 12 base-passwd: /usr/share/base-passwd/passwd.master.
constexpr std::array<IdName, 18> kUsers = {{{"root", 0},      {"daemon", 1},   {"bin", 2},      {"sys", 3},
                                            {"sync", 4},      {"games", 5},    {"man", 6},      {"lp", 7},
                                            {"mail", 8},      {"news", 9},     {"uucp", 10},    {"proxy", 13},
                                            {"www-data", 33}, {"backup", 34},  {"list", 38},    {"irc", 39},
                                            {"_apt", 42},     {"nobody", 65534}}};
// Debian 12 base-passwd: /usr/share/base-passwd/group.master.
constexpr std::array<IdName, 38> kGroups = {{
    {"root", 0},     {"daemon", 1},  {"bin", 2},      {"sys", 3},       {"adm", 4},       {"tty", 5},
    {"disk", 6},     {"lp", 7},      {"mail", 8},     {"news", 9},      {"uucp", 10},     {"man", 12},
    {"proxy", 13},   {"kmem", 15},   {"dialout", 20}, {"fax", 21},      {"voice", 22},    {"cdrom", 24},
    {"floppy", 25},  {"tape", 26},   {"sudo", 27},    {"audio", 29},    {"dip", 30},      {"www-data", 33},
    {"backup", 34},  {"operator", 37}, {"list", 38},  {"irc", 39},      {"src", 40},      {"shadow", 42},
    {"utmp", 43},    {"video", 44},  {"sasl", 45},    {"plugdev", 46},  {"staff", 50},    {"games", 60},
    {"users", 100},  {"nogroup", 65534},
}};

// strtoul(s, &end, 0) for an id (at most UINT32_MAX - 1: -1 is reserved).
std::optional<std::pair<uint32_t, size_t>> leading_id(std::string_view s) {
  auto p = compat::strtoul_prefix(s, 0xfffffffeu);
  if (!p) return std::nullopt;
  return std::pair<uint32_t, size_t>{static_cast<uint32_t>(p->value), p->end};
}

template <size_t N>
Result<std::pair<uint32_t, uint32_t>> parse_ids(std::string_view arg, const std::array<IdName, N>& names,
                                                std::string_view option) {
  for (const auto& [n, id] : names)
    if (n == arg) return std::pair<uint32_t, uint32_t>{id, id};
  // owner_parse_range: "A", "A-B" or "A:B".
  auto from = leading_id(arg);
  if (!from) return bad_value("owner", option, arg);
  std::string_view rest = arg.substr(from->second);
  uint32_t to = from->first;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == ':')) {
    auto t = leading_id(rest.substr(1));
    if (!t) return bad_value("owner", option, arg);
    to = t->first;
    rest = rest.substr(1 + t->second);
  }
  if (!rest.empty()) return bad_value("owner", option, arg);
  return std::pair<uint32_t, uint32_t>{from->first, to};
}

class OwnerMatch : public MatchBase<OwnerMatch> {
 public:
  std::string_view name() const override { return "owner"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"uid-owner", ArgKind::Required, true},
                                              {"gid-owner", ArgKind::Required, true},
                                              {"socket-exists", ArgKind::None, true},
                                              {"suppl-groups", ArgKind::None, false}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    uint8_t bit;
    if (opt.name == "uid-owner") {
      auto r = parse_ids(opt.arg, kUsers, opt.name);
      if (!r) return r.error();
      uid_ = *r;
      bit = kUid;
    } else if (opt.name == "gid-owner") {
      auto r = parse_ids(opt.arg, kGroups, opt.name);
      if (!r) return r.error();
      gid_ = *r;
      bit = kGid;
    } else if (opt.name == "socket-exists") {
      bit = kSocket;
    } else {
      if (!(match_ & kGid)) return bad_value("owner", "suppl-groups", "you need to use --gid-owner first");
      bit = kSupplGroups;
    }
    match_ |= bit;
    if (opt.invert) invert_ |= bit;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!match_)
      return make_error("owner: At least one of --uid-owner, --gid-owner or --socket-exists is required");
    return {};
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = static_cast<HookMask>(hook_bit(Hook::LocalOut) | hook_bit(Hook::PostRouting))};
  }

  Result<void> check(const CheckContext&) const override {
    // owner_check: a reversed range is refused (EINVAL, no log line).
    if ((match_ & kUid) && uid_.second < uid_.first)
      return make_error(fmt::format("owner: uid range {}-{} is reversed (the kernel refuses it)", uid_.first, uid_.second));
    if ((match_ & kGid) && gid_.second < gid_.first)
      return make_error(fmt::format("owner: gid range {}-{} is reversed (the kernel refuses it)", gid_.first, gid_.second));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    auto inv = [&](uint8_t b) {
      if (invert_ & b) out += " !";
    };
    auto ids = [&](std::pair<uint32_t, uint32_t> r) {
      if (r.first != r.second) out += fmt::format(" {}-{}", r.first, r.second);
      else out += fmt::format(" {}", r.first);
    };
    if (match_ & kSocket) {
      inv(kSocket);
      out += " --socket-exists";
    }
    if (match_ & kUid) {
      inv(kUid);
      out += " --uid-owner";
      ids(uid_);
    }
    if (match_ & kGid) {
      inv(kGid);
      out += " --gid-owner";
      ids(gid_);
    }
    if (match_ & kSupplGroups) out += " --suppl-groups";
  }

  bool can_evaluate() const override { return true; }

  // owner_mt. skb_to_full_sk maps a request sock (a SYN-ACK) to its
  // listener. Without a socket the rule matches exactly when every option
  // given is inverted; a socket without a file (a kernel control socket:
  // RST, ICMP) satisfies --socket-exists but no uid/gid test.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    using packet::SockKind;
    SockKind sk = ctx.pkt.meta.sk;
    if (sk == SockKind::None) return (match_ ^ invert_) == 0 ? MatchOutcome::Match : MatchOutcome::NoMatch;
    if (match_ & invert_ & kSocket) return MatchOutcome::NoMatch;
    if (sk == SockKind::Control)
      return ((match_ ^ invert_) & (kUid | kGid)) == 0 ? MatchOutcome::Match : MatchOutcome::NoMatch;
    uint32_t uid = 0, gid = 0;  // every socket nfemu models is root's (PacketMeta::sk)
    if (match_ & kUid) {
      bool in = uid >= uid_.first && uid <= uid_.second;
      if (in == static_cast<bool>(invert_ & kUid)) return MatchOutcome::NoMatch;
    }
    if (match_ & kGid) {
      // Supplementary groups (--suppl-groups): the harness's root process
      // has none beyond its gid, so only the fsgid counts.
      bool in = gid >= gid_.first && gid <= gid_.second;
      if (in == static_cast<bool>(invert_ & kGid)) return MatchOutcome::NoMatch;
    }
    return MatchOutcome::Match;
  }

 private:
  std::pair<uint32_t, uint32_t> uid_{0, 0}, gid_{0, 0};
  uint8_t match_ = 0, invert_ = 0;
};

}  // namespace

void register_match_owner(Registry& r) { r.add_match<OwnerMatch>("owner"); }

}  // namespace nfemu::xt
