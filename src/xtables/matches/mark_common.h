// What -m mark and -m connmark share: `--mark VALUE[/MASK]` with `!`,
// parsed as xtables_parse_val_mask and saved in hex (libxt_mark.c,
// libxt_connmark.c revision 1). Each match says only which mark it tests.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <span>
#include <string_view>
#include <tuple>
#include <utility>

#include "xtables/extension.h"
#include "xtables/match_facts.h"
#include "xtables/matches/strtoul_compat.h"
#include "xtables/rule.h"

namespace nfemu::xt::markmatch {

// strtoul(s, &end, 0) limited to 32 bits: the value and the bytes it used.
inline std::optional<std::pair<uint32_t, size_t>> leading_u32(std::string_view s) {
  auto p = compat::strtoul_prefix(s, 0xffffffffu);
  if (!p) return std::nullopt;
  return std::pair<uint32_t, size_t>{static_cast<uint32_t>(p->value), p->end};
}

// A name map of iproute2's (xtables_lmap): /etc/iproute2/group for
// devgroup, rt_realms for realm. nfemu reads no files of the machine it
// runs on; each extension passes the names Debian's iproute2 ships.
struct NameMap {
  uint32_t id;
  std::string_view name;
};

// xtables_parse_val_mask for "VALUE[/MASK]", with its messages. With a
// name map, an argument that is not a number (or not one followed by a
// mask) is looked up as a whole name.
inline Result<std::pair<uint32_t, uint32_t>> parse_val_mask(std::string_view arg, std::string_view ext,
                                                            std::string_view option = "mark",
                                                            std::span<const NameMap> names = {}) {
  auto bad = make_error(fmt::format("{}: bad integer value for option \"--{}\", or out of range.", ext, option));
  auto garbage = make_error(fmt::format("{}: trailing garbage after value for option \"--{}\".", ext, option));
  auto by_name = [&]() -> Result<std::pair<uint32_t, uint32_t>> {
    for (const NameMap& n : names)
      if (n.name == arg) return std::pair<uint32_t, uint32_t>{n.id, 0xffffffffu};
    return make_error(
        fmt::format("{}: could not map name {} to an integer value for option \"--{}\".", ext, arg, option));
  };
  auto v = leading_u32(arg);
  if (!v) return names.empty() ? bad : by_name();
  std::string_view rest = arg.substr(v->second);
  if (rest.empty()) return std::pair<uint32_t, uint32_t>{v->first, 0xffffffffu};
  if (rest[0] != '/') return names.empty() ? garbage : by_name();
  rest.remove_prefix(1);
  auto m = leading_u32(rest);
  if (!m) return bad;
  if (m->second != rest.size()) return garbage;
  return std::pair<uint32_t, uint32_t>{v->first, m->first};
}

// xtables_print_val_mask: " 0xV/0xM", or with a full mask the value's
// name when the map has one, else " 0xV".
inline void save_val_mask(std::string& out, uint32_t value, uint32_t mask, std::span<const NameMap> names = {}) {
  if (mask != 0xffffffffu) {
    out += fmt::format(" 0x{:x}/0x{:x}", value, mask);
    return;
  }
  for (const NameMap& n : names)
    if (n.id == value) {
      out += ' ';
      out += n.name;
      return;
    }
  out += fmt::format(" 0x{:x}", value);
}

// Derived provides `static constexpr std::string_view kName` and evaluate(),
// which calls test() on the mark it reads.
template <class Derived>
class MaskedMark : public MatchBase<Derived> {
 public:
  std::string_view name() const override { return Derived::kName; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"mark", ArgKind::Required, true}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    auto r = parse_val_mask(opt.arg, Derived::kName);
    if (!r) return r.error();
    std::tie(mark_, mask_) = *r;
    invert_ = opt.invert;
    have_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_) return make_error(fmt::format("{}: option \"--mark\" must be specified", Derived::kName));
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    if (invert_) out += " !";
    if (mask_ != 0xffffffffu) out += fmt::format(" --mark 0x{:x}/0x{:x}", mark_, mask_);
    else out += fmt::format(" --mark 0x{:x}", mark_);
  }

  bool can_evaluate() const override { return true; }

 protected:
  // The marks test() accepts, as ranges when the mask is full; otherwise
  // every value (a masked test is no range).
  ValueSet value_set() const {
    if (mask_ == 0xffffffffu) return ValueSet::range(mark_, mark_, invert_);
    return ValueSet::range(0, 0xffffffffu, false);
  }
  // Whether value_set() is the whole test.
  bool exact_set() const { return mask_ == 0xffffffffu; }

  MatchOutcome test(uint32_t value) const {
    return ((value & mask_) == mark_) != invert_ ? MatchOutcome::Match : MatchOutcome::NoMatch;
  }

 private:
  uint32_t mark_ = 0, mask_ = 0xffffffffu;
  bool invert_ = false, have_ = false;
};

}  // namespace nfemu::xt::markmatch
