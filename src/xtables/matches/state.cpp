// -m state: the conntrack state of the packet. iptables 1.8.9 sends it to
// the kernel as conntrack revision 3 with the state alias flag and saves
// it back as `-m state --state ...' (libxt_conntrack.c state_*).
#include <fmt/format.h>

#include <array>
#include <cctype>

#include "xtables/eval.h"
#include "xtables/match_facts.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

// XT_CONNTRACK_STATE_* bits: INVALID, then 1 << (IP_CT_* + 1), UNTRACKED.
constexpr uint32_t kInvalid = 1u << 0, kEstablished = 1u << 1, kRelated = 1u << 2, kNew = 1u << 3,
                   kUntracked = 1u << 8;

struct StateName {
  std::string_view name;
  uint32_t bit;
};
// Parse order: the first keyword the word is a prefix of wins ("N" is NEW).
constexpr std::array<StateName, 5> kParseOrder = {
    {{"INVALID", kInvalid}, {"NEW", kNew}, {"ESTABLISHED", kEstablished}, {"RELATED", kRelated}, {"UNTRACKED", kUntracked}}};
// Save order, as state_print_state.
constexpr std::array<StateName, 5> kSaveOrder = {
    {{"INVALID", kInvalid}, {"NEW", kNew}, {"RELATED", kRelated}, {"ESTABLISHED", kEstablished}, {"UNTRACKED", kUntracked}}};

// strncasecmp(word, keyword, word.size()) == 0
bool is_prefix_nocase(std::string_view word, std::string_view keyword) {
  if (word.size() > keyword.size()) return false;
  for (size_t i = 0; i < word.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(word[i])) != keyword[i]) return false;
  return true;
}

uint32_t state_bit(std::string_view word) {
  for (const auto& s : kParseOrder)
    if (is_prefix_nocase(word, s.name)) return s.bit;
  return 0;
}

class StateMatch : public MatchBase<StateMatch> {
 public:
  std::string_view name() const override { return "state"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"state", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    std::string_view arg = opt.arg;
    uint32_t mask = 0;
    auto bad = [](std::string_view rest) { return make_error(fmt::format("Bad state \"{}\"", rest)); };
    for (size_t comma; (comma = arg.find(',')) != std::string_view::npos; arg.remove_prefix(comma + 1)) {
      if (comma == 0) return bad(arg);
      uint32_t bit = state_bit(arg.substr(0, comma));
      if (!bit) return bad(arg);
      mask |= bit;
    }
    if (arg.empty())
      return make_error("\"--state\" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED");
    uint32_t bit = state_bit(arg);
    if (!bit) return bad(arg);
    mask_ = mask | bit;
    have_ = true;
    invert_ = opt.invert;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_) return make_error("state: option \"--state\" must be specified");
    return {};
  }

  // The kernel sees xt_conntrack: its checkentry only needs conntrack.
  KernelSpec kernel_spec() const override { return {.module = "conntrack"}; }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    out += " --state ";
    bool first = true;
    for (const auto& s : kSaveOrder) {
      if (!(mask_ & s.bit)) continue;
      if (!first) out += ',';
      out += s.name;
      first = false;
    }
  }

  bool can_evaluate() const override { return true; }

  // state_mt / conntrack_mt_v3's state test: the packet's ctinfo as a bit,
  // UNTRACKED for a packet CT --notrack left without entry, else INVALID.
  MatchOutcome evaluate(const EvalContext& ctx) const override {
    const auto& meta = ctx.pkt.meta;
    uint32_t bit;
    if (meta.ct) bit = 1u << ((static_cast<unsigned>(meta.ctinfo) % 3) + 1);
    else if (meta.ctinfo == packet::CtInfo::Untracked) bit = kUntracked;
    else bit = kInvalid;
    return ((mask_ & bit) != 0) != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

  void describe(MatchFacts& f) const override {
    f.pure = true;
    f.exact = true;
    ValueSet allowed;
    for (uint32_t bit : {kInvalid, kEstablished, kRelated, kNew, kUntracked})
      if (((mask_ & bit) != 0) != invert_) allowed.ranges.push_back({bit, bit});
    f.ctstate = allowed;
  }

 private:
  uint32_t mask_ = 0;
  bool have_ = false;
  bool invert_ = false;
};

}  // namespace

void register_match_state(Registry& r) { r.add_match<StateMatch>("state"); }

}  // namespace nfemu::xt
