// -j CT: the conntrack template of a connection (xt_CT.c, libxt_CT.c):
// no tracking, zone, helper, events, timeout policy. iptables 1.8.9 uses
// revision 2; -j NOTRACK is its alias (CT revision 2 with the notrack and
// alias flags), which saves back as -j NOTRACK. Both live in the raw table.
#include <fmt/format.h>

#include <array>
#include <cctype>

#include "conntrack/conntrack.h"
#include "util/strings.h"
#include "xtables/registry.h"
#include "xtables/rule.h"
#include "xtables/targets/xtopt_b.h"
#include "xtables/eval.h"

namespace nfemu::xt {
namespace {

// Sizes of struct xt_ct_target_info_v1's strings.
constexpr size_t kHelperSize = 16, kTimeoutSize = 32;
// The kernel declares usersize = offsetof(struct xt_ct_target_info, ct)
// (the revision 0 layout) for every revision, so it hands back only the
// bytes before offset 32 of the revision 1 layout: the first 4 bytes of the
// timeout name. iptables-save prints what it gets back.
constexpr size_t kTimeoutSaved = 4;

constexpr std::array<std::string_view, 10> kCtEvents = {
    "new", "related", "destroy", "reply", "assured", "protoinfo", "helper", "mark", "natseqinfo", "secmark"};
constexpr std::array<std::string_view, 1> kExpEvents = {"new"};

// Helpers the kernel registers by name, with the layer 4 protocol each is
// registered for (nf_conntrack_helper_try_module_get matches name, family
// and protocol; H.245 is only attached by Q.931, never by name).
struct HelperName {
  std::string_view name;
  uint16_t proto;
};
constexpr HelperName kHelpers[] = {
    {"ftp", 6},    {"tftp", 17}, {"sip", 17},        {"sip", 6},        {"irc", 6},   {"amanda", 17},
    {"pptp", 6},   {"sane", 6},  {"netbios-ns", 17}, {"snmp", 17},      {"RAS", 17},  {"Q.931", 6},
    {"snmp_trap", 17},
};

enum : uint16_t { kNotrack = 1 << 0, kNotrackAlias = 1 << 1, kZoneDirOrig = 1 << 2, kZoneDirRepl = 1 << 3,
                  kZoneMark = 1 << 4 };

Result<uint32_t> parse_events(std::span<const std::string_view> table, std::string_view list) {
  uint32_t mask = 0;
  // strsep on ",": empty fields are names too, and unknown.
  for (std::string_view word : split(list, ',')) {
    size_t i = 0;
    while (i < table.size() && table[i] != word) ++i;
    if (i == table.size()) return make_error(fmt::format("Unknown event type \"{}\"", word));
    mask |= 1u << i;
  }
  return mask;
}

void save_events(std::string& out, std::string_view opt, std::span<const std::string_view> table, uint32_t mask) {
  out += fmt::format(" --{} ", opt);
  const char* sep = "";
  for (size_t i = 0; i < table.size(); ++i) {
    if (mask & (1u << i)) {
      out += sep;
      out += table[i];
      sep = ",";
    }
  }
}

// The layer 4 protocol xt_ct_find_proto reports: 0 when none or inverted.
uint16_t rule_proto(const IpCriteria& ip) { return (ip.inv & IpCriteria::kInvProto) ? 0 : ip.proto; }

// xt_CT registers CT and NOTRACK with .table = "raw"; iptables sends
// NOTRACK as CT, so the kernel names CT in its messages.
KernelSpec raw_spec() { return {.tables = table_mask_bit(TableId::Raw), .module = "CT"}; }

// xt_ct_target with the notrack template (ct == NULL): a packet that
// already has a conntrack reference (_nfct != 0, which includes untracked)
// is left alone; otherwise it becomes untracked, so nf_conntrack_in skips
// it and the state match sees UNTRACKED. Always XT_CONTINUE.
TargetVerdict notrack(packet::Packet& pkt) {
  if (pkt.meta.ct || pkt.meta.ctinfo == packet::CtInfo::Untracked) return TargetVerdict::Continue;
  pkt.meta.ctinfo = packet::CtInfo::Untracked;
  return TargetVerdict::Continue;
}

class CtTarget : public TargetBase<CtTarget> {
 public:
  std::string_view name() const override { return "CT"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {
        {"notrack", ArgKind::None}, {"helper"},     {"timeout"}, {"ctevents"},
        {"expevents"},              {"zone-orig"},  {"zone-reply"}, {"zone"},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    tmpl_.reset();  // rebuilt from the options by the first evaluate()
    if (opt.name == "notrack") {
      flags_ |= kNotrack;
    } else if (opt.name == "helper") {
      // XTOPT_PUT into char[16]: silently cut to 15 bytes.
      helper_ = std::string(opt.arg.substr(0, kHelperSize - 1));
    } else if (opt.name == "timeout") {
      timeout_ = std::string(opt.arg.substr(0, kTimeoutSize - 1));
    } else if (opt.name == "ctevents") {
      auto m = parse_events(kCtEvents, opt.arg);
      if (!m) return m.error();
      ct_events_ = *m;
    } else if (opt.name == "expevents") {
      auto m = parse_events(kExpEvents, opt.arg);
      if (!m) return m.error();
      exp_events_ = *m;
    } else {
      // --zone, --zone-orig, --zone-reply: direction and mark flags add up,
      // the zone number is replaced (ct_parse_zone_id).
      if (opt.name == "zone-orig") flags_ |= kZoneDirOrig;
      if (opt.name == "zone-reply") flags_ |= kZoneDirRepl;
      zone_ = 0;
      if (opt.arg.size() == 4 && std::tolower(static_cast<unsigned char>(opt.arg[0])) == 'm' &&
          std::tolower(static_cast<unsigned char>(opt.arg[1])) == 'a' &&
          std::tolower(static_cast<unsigned char>(opt.arg[2])) == 'r' &&
          std::tolower(static_cast<unsigned char>(opt.arg[3])) == 'k') {
        flags_ |= kZoneMark;
      } else {
        auto v = xtopt::strtoul_whole(opt.arg, 0, UINT16_MAX);
        if (!v) return make_error(fmt::format("Cannot parse {} as a zone ID", opt.arg));
        zone_ = static_cast<uint16_t>(*v);
      }
    }
    return {};
  }

  KernelSpec kernel_spec() const override { return raw_spec(); }

  Result<void> check(const CheckContext& ctx) const override {
    // xt_ct_tg_check: a notrack template is complete; nothing else is looked at.
    if (flags_ & kNotrack) return {};
    if (!helper_.empty()) {
      uint16_t proto = rule_proto(ctx.ip);
      if (proto == 0)
        return make_error("xt_CT: You must specify a L4 protocol and not use inversions on it");
      bool found = false;
      for (const auto& h : kHelpers) found = found || (h.name == helper_ && h.proto == proto);
      if (!found) return make_error(fmt::format("xt_CT: No such helper \"{}\"", helper_));
    }
    if (!timeout_.empty()) {
      if (rule_proto(ctx.ip) == 0)
        return make_error("xt_CT: You must specify a L4 protocol and not use inversions on it");
      // Timeout policies are made with nfnetlink_cttimeout, which nothing
      // here can do: a fresh namespace has none.
      return make_error(fmt::format("xt_CT: No such timeout policy \"{}\"", timeout_));
    }
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (flags_ & kNotrack) out += " --notrack";
    if (!helper_.empty()) out += " --helper " + helper_;
    if (!timeout_.empty()) out += " --timeout " + timeout_.substr(0, kTimeoutSaved);
    if (ct_events_) save_events(out, "ctevents", kCtEvents, ct_events_);
    if (exp_events_) save_events(out, "expevents", kExpEvents, exp_events_);
    if ((flags_ & kZoneMark) || zone_) {
      out += " --zone";
      uint16_t dir = flags_ & (kZoneDirOrig | kZoneDirRepl);
      if (dir == kZoneDirOrig) out += "-orig";
      if (dir == kZoneDirRepl) out += "-reply";
      if (flags_ & kZoneMark)
        out += " mark";
      else
        out += fmt::format(" {}", zone_);
    }
  }

  // --notrack, and templates with a zone, event masks and a helper nfemu
  // models (conntrack/helper.cpp: ftp, tftp, irc, sane, amanda); a rule naming another helper stays
  // unevaluated. --timeout never passes check().
  bool can_evaluate() const override {
    return (flags_ & kNotrack) != 0 || helper_.empty() || helper() != conntrack::Helper::None;
  }

  // xt_ct_target: a packet that already has a conntrack reference (a
  // tracked packet looping back, untracked, or an earlier CT's template)
  // is left alone: the first CT rule a packet meets wins. Otherwise the
  // template goes on the packet as IP_CT_NEW; nf_conntrack_in reads its
  // zone and event mask. Always XT_CONTINUE.
  TargetVerdict evaluate(EvalContext& ctx) const override {
    if (flags_ & kNotrack) return notrack(ctx.pkt);
    packet::Packet& pkt = ctx.pkt;
    if (pkt.meta.ct || pkt.meta.ctinfo == packet::CtInfo::Untracked) return TargetVerdict::Continue;
    if (!tmpl_) tmpl_ = conntrack::make_template(zone(), ctmask(), helper());
    pkt.meta.ct = tmpl_.get();
    pkt.meta.ctinfo = packet::CtInfo::New;
    return TargetVerdict::Continue;
  }

 private:
  // xt_ct_tg_check: --zone-orig/--zone-reply give the direction (both
  // flags, or none, is the default direction); "mark" makes the id come
  // from each packet's mark.
  conntrack::Zone zone() const {
    uint8_t dir = 0;
    if (flags_ & kZoneDirOrig) dir |= conntrack::Zone::kDirOrig;
    if (flags_ & kZoneDirRepl) dir |= conntrack::Zone::kDirReply;
    if (dir == 0) dir = conntrack::Zone::kDirBoth;
    uint8_t zflags = (flags_ & kZoneMark) ? conntrack::Zone::kFromMark : 0;
    return conntrack::Zone(zone_, zflags, dir);
  }
  // The event mask the template carries. xt_ct_tg_check asks
  // nf_ct_ecache_ext_add for the --ctevents/--expevents extension, which
  // with nf_conntrack_events at its default 2 allocates nothing unless a
  // ctnetlink listener exists somewhere on the machine at that moment; the
  // template then has no mask and the connection gets every event. nfemu
  // models the scenario order `nfemu verify` uses on the kernel (rules,
  // then net.netfilter sysctls, which only exist once conntrack is loaded,
  // then conntrack -E): never a listener, so --ctevents has no effect.
  // Checked on 6.18: ct-zone-directions gets every event through verify;
  // by hand, with another conntrack -E running on the machine when the
  // rule went in, "--ctevents reply" sent only the UPDATE.
  uint16_t ctmask() const { return conntrack::kAllEvents; }
  // check() made sure the rule's protocol is the one the helper is
  // registered for (FTP: TCP, TFTP: UDP); a name registered for both
  // protocols (sip) is one nfemu does not model.
  conntrack::Helper helper() const {
    conntrack::Helper h = conntrack::helper_by_name(helper_, 6);
    return h != conntrack::Helper::None ? h : conntrack::helper_by_name(helper_, 17);
  }

  // Shared by clones: the template the packets point to while they walk
  // raw, built once the options are final (evaluation is const).
  mutable std::shared_ptr<conntrack::Entry> tmpl_;
  uint16_t flags_ = 0, zone_ = 0;
  uint32_t ct_events_ = 0, exp_events_ = 0;
  std::string helper_, timeout_;
};

// -j NOTRACK: no options of its own; the kernel sees CT --notrack.
class NotrackTarget : public TargetBase<NotrackTarget> {
 public:
  std::string_view name() const override { return "NOTRACK"; }
  std::span<const OptionSpec> options() const override { return {}; }
  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    return make_error(fmt::format("unknown option \"--{}\"", opt.name));
  }
  KernelSpec kernel_spec() const override { return raw_spec(); }
  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext& ctx) const override { return notrack(ctx.pkt); }
  void save(std::string&, const IpCriteria&) const override {}
};

}  // namespace

void register_target_CT(Registry& r) {
  r.add_target<CtTarget>("CT");
  r.add_target<NotrackTarget>("NOTRACK");
}

}  // namespace nfemu::xt
