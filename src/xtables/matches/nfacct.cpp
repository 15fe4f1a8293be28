// -m nfacct --nfacct-name NAME (xt_nfacct.c, libxt_nfacct.c): counts the
// packet and its length into the namespace's accounting object NAME
// (nfnl_acct_update), then matches unless the object has a quota it is
// still under. Objects are made outside iptables (`nfacct add`, the
// scenario's `nfacct` list) and nfacct 1.0.2 gives them no quota, so the
// match always matches. The kernel refuses a rule whose object does not
// exist (checkentry: ENOENT); iptables-restore then blames the COMMIT line,
// nfemu the rule's.
#include <fmt/format.h>

#include "xtables/eval.h"
#include "xtables/ext_util.h"
#include "xtables/matches/xtopt_mb.h"
#include "xtables/registry.h"

namespace nfemu::xt {
namespace {

class NfacctMatch : public MatchBase<NfacctMatch> {
 public:
  std::string_view name() const override { return "nfacct"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"nfacct-name", ArgKind::Required}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext& ctx) override {
    // xtopt's XTTYPE_STRING with a 32-byte field: a longer name is cut.
    object_ = std::string(opt.arg.substr(0, kNfacctNameMax));
    auto index = ctx.nfacct ? ctx.nfacct->find(object_) : std::nullopt;
    if (!index)
      return make_error(fmt::format(
          "nfacct: accounting object `{}' does not exist (the kernel's ENOENT: iptables-restore fails at COMMIT); "
          "make it first: the host's `nfacct' list in a scenario, `nfacct add {}' on a machine",
          object_, object_));
    index_ = *index;
    given_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!given_) return xtopt::must_be_specified("nfacct", "nfacct-name");
    return {};
  }

  bool can_evaluate() const override { return true; }
  // The object is found by the index it had when the rule was parsed; a
  // ruleset loaded for another host (its objects differ) counts nowhere.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    NfacctObjects* objects = ctx.effects ? ctx.effects->nfacct() : nullptr;
    if (objects && index_ < objects->size() && objects->at(index_).name == object_) {
      NfacctObject& o = objects->at(index_);
      ++o.pkts;
      o.bytes += ctx.pkt.size();
    }
    return MatchOutcome::Match;
  }

  // libxt_nfacct's save: " --nfacct-name " then xtables_save_string, which
  // adds a space of its own (hence two).
  void save(std::string& out, const IpCriteria&) const override {
    out += " --nfacct-name ";
    save_string(out, object_);
  }

 private:
  std::string object_;
  size_t index_ = 0;
  bool given_ = false;
};

}  // namespace

void register_match_nfacct(Registry& r) { r.add_match<NfacctMatch>("nfacct"); }

}  // namespace nfemu::xt
