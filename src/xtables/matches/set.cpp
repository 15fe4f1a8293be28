// -m set: membership in an ipset (xt_set.c, libxt_set.c revision 4).
//
// iptables resolves the set name while it parses `--match-set NAME DIRS`:
// it asks the kernel (getsockopt SO_IP_SET, IP_SET_OP_GET_FNAME) for the
// set's index in the current network namespace and stops with
// "Set NAME doesn't exist." when there is none, before even reading DIRS.
// nfemu asks the namespace's ipset::Registry (the scenario's `ipset`
// lines) the same way. The test is ip_set_test's (ipset/ipset.h): in a
// set created with `counters` it counts the packet in the element it
// finds (unless ! --update-counters) and then compares that element's
// counts with --packets-* and --bytes-*; in a set without them those
// options compare nothing.
#include <fmt/format.h>

#include <optional>
#include <string>

#include "ipset/ipset.h"
#include "xtables/eval.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/set_dirs.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

constexpr size_t kMaxNameLen = 32;  // IPSET_MAXNAMELEN, with the NUL

using ipset::CounterOp;
using Counter = ipset::CounterMatch;

class SetMatch : public MatchBase<SetMatch> {
 public:
  std::string_view name() const override { return "set"; }
  std::span<const OptionSpec> options() const override {
    // libxt_set uses the old getopt parser: no generic once-only or `!`
    // checks; it does its own, with its own messages.
    static constexpr OptionSpec kOptions[] = {
        {"match-set", ArgKind::Two, true, true},      {"set", ArgKind::Two, true, true},
        {"return-nomatch", ArgKind::None, true, true}, {"update-counters", ArgKind::None, true, true},
        {"packets-eq", ArgKind::Required, true, true}, {"packets-lt", ArgKind::Required, true, true},
        {"packets-gt", ArgKind::Required, true, true}, {"bytes-eq", ArgKind::Required, true, true},
        {"bytes-lt", ArgKind::Required, true, true},   {"bytes-gt", ArgKind::Required, true, true},
        {"update-subcounters", ArgKind::None, true, true},
    };
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext& ctx) override {
    std::string_view o = opt.name;
    if (o == "update-subcounters") {
      if (opt.invert) skip_subcounter_update_ = true;
    } else if (o == "update-counters") {
      if (opt.invert) skip_counter_update_ = true;
    } else if (o == "return-nomatch") {
      if (opt.invert) return make_error("--return-nomatch flag cannot be inverted");
      return_nomatch_ = true;
    } else if (o.starts_with("packets-") || o.starts_with("bytes-")) {
      bool packets = o.starts_with("packets-");
      Counter& c = packets ? packets_ : bytes_;
      if (c.op != CounterOp::None)
        return make_error(packets ? "only one of the --packets-[eq|lt|gt] is allowed"
                                  : "only one of the --bytes-[eq|lt|gt] is allowed");
      std::string_view kind = o.substr(o.size() - 2);
      if (kind != "eq" && opt.invert) return make_error(fmt::format("--{} option cannot be inverted", o));
      uint64_t v = 0;
      if (!xtopt::strtoul_x(opt.arg, &v, 0, UINT64_MAX))
        return make_error(fmt::format("Cannot parse {} as a counter value", opt.arg));
      c.op = kind == "eq" ? (opt.invert ? CounterOp::Ne : CounterOp::Eq) : kind == "lt" ? CounterOp::Lt : CounterOp::Gt;
      c.value = v;
    } else {  // match-set, or its deprecated spelling set
      if (dirs_.dim != 0) return make_error("--match-set can be specified only once");
      if (opt.invert) invert_ = true;
      if (opt.arg.size() > kMaxNameLen - 1)
        return make_error(fmt::format("setname `{}' too long, max {} characters.", opt.arg, kMaxNameLen - 1));
      auto index = ctx.sets ? ctx.sets->find(opt.arg) : std::nullopt;
      if (!index) return make_error(fmt::format("Set {} doesn't exist.", opt.arg));
      set_name_ = std::string(opt.arg);
      index_ = *index;
      if (auto r = parse_set_dirs(opt.arg2, dirs_); !r) return r;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (dirs_.dim == 0) return make_error("You must specify `--match-set' with proper arguments");
    return {};
  }

  bool can_evaluate() const override { return true; }

  // set_match_v4 / match_set: ip_set_test in the host's namespace, the
  // result inverted by `!`. --return-nomatch makes a nomatch element a
  // match and a matching element none (ip_set_test, for the net types); a
  // set the host does not have (a ruleset loaded elsewhere) matches
  // nothing.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const ipset::Registry* sets = ctx.effects ? ctx.effects->ipsets() : nullptr;
    bool member = false;
    if (sets && index_ < sets->size() && sets->set(index_).name == set_name_) {
      auto r = sets->test(index_, ctx.pkt, {.src_bits = dirs_.src_bits(), .dim = dirs_.dim}, ctx.now_ns,
                          {.packets = packets_,
                           .bytes = bytes_,
                           .update_counters = !skip_counter_update_,
                           .update_subcounters = !skip_subcounter_update_,
                           .return_nomatch = return_nomatch_});
      // Only a type with nomatch elements (IPSET_TYPE_NOMATCH) inverts.
      bool inverts = return_nomatch_ && ipset::has_prefixes(sets->set(index_).type);
      member = inverts ? r == ipset::TestResult::NoMatchEntry : r == ipset::TestResult::Match;
    }
    return member != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += fmt::format("{} --match-set {}", invert_ ? " !" : "", set_name_);
    append_set_dirs(out, dirs_);
    if (return_nomatch_) out += " --return-nomatch";
    if (skip_counter_update_) out += " ! --update-counters";
    if (skip_subcounter_update_) out += " ! --update-subcounters";
    save_counter(out, packets_, "packets");
    save_counter(out, bytes_, "bytes");
  }

 private:
  static void save_counter(std::string& out, const Counter& c, std::string_view name) {
    switch (c.op) {
      case CounterOp::Eq: out += fmt::format(" --{}-eq {}", name, c.value); break;
      case CounterOp::Ne: out += fmt::format(" ! --{}-eq {}", name, c.value); break;
      case CounterOp::Lt: out += fmt::format(" --{}-lt {}", name, c.value); break;
      case CounterOp::Gt: out += fmt::format(" --{}-gt {}", name, c.value); break;
      case CounterOp::None: break;
    }
  }

  std::string set_name_;
  uint16_t index_ = 0;
  SetDirs dirs_;
  Counter packets_, bytes_;
  bool invert_ = false, return_nomatch_ = false, skip_counter_update_ = false, skip_subcounter_update_ = false;
};

}  // namespace

void register_match_set(Registry& r) { r.add_match<SetMatch>("set"); }

}  // namespace nfemu::xt
