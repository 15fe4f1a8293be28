// What libxtables' option layer (xtoptions.c) does for the targets in this
// folder that use it: numbers read as strtoumax reads them (leading blanks,
// '+', 0x and octal, but never '-'), the mark/mask and value types with
// their exact messages, and the exclusion/"also"/mandatory checks that run
// once the rule is complete. Header-only and private to targets/: the shared
// ext_util helpers are stricter than libxtables (no blanks, no '+'), which
// matters for values the kernel tools accept.
#pragma once

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "util/result.h"
#include "xtables/xt_number.h"

namespace nfemu::xt::xtopt {

// strtoumax(s, &end, base) followed by xtables_strtoul_base's range check
// (xt_number.h): the value and how many bytes were consumed.
using Partial = number::Prefix;
inline std::optional<Partial> strtoul_partial(std::string_view s, uint64_t min, uint64_t max, int base = 0) {
  return number::strtoul_prefix(s, min, max, base);
}

using number::strtoul_whole;

inline Result<uint32_t> parse_uint(std::string_view arg, std::string_view ext, std::string_view opt, uint64_t min,
                                   uint64_t max) {
  auto v = strtoul_whole(arg, min, max);
  if (!v)
    return make_error(
        fmt::format("{}: bad value for option \"--{}\", or out of range ({}-{}).", ext, opt, min, max));
  return static_cast<uint32_t>(*v);
}

// XTTYPE_MARKMASK32: "value[/mask]", mask defaulting to 0xffffffff
// (xtables_parse_val_mask without a name map).
inline Result<std::pair<uint32_t, uint32_t>> parse_markmask(std::string_view arg, std::string_view ext,
                                                            std::string_view opt) {
  auto bad = [&] {
    return make_error(fmt::format("{}: bad integer value for option \"--{}\", or out of range.", ext, opt));
  };
  auto garbage = [&] {
    return make_error(fmt::format("{}: trailing garbage after value for option \"--{}\".", ext, opt));
  };
  auto v = strtoul_partial(arg, 0, UINT32_MAX);
  if (!v) return bad();
  if (v->end == arg.size()) return std::pair<uint32_t, uint32_t>{static_cast<uint32_t>(v->value), 0xffffffffu};
  if (arg[v->end] != '/') return garbage();
  std::string_view rest = arg.substr(v->end + 1);
  auto m = strtoul_partial(rest, 0, UINT32_MAX);
  if (!m) return bad();
  if (m->end != rest.size()) return garbage();
  return std::pair<uint32_t, uint32_t>{static_cast<uint32_t>(v->value), static_cast<uint32_t>(m->value)};
}

// One row of an extension's xt_option_entry table, as far as the final
// checks care: its id bit, the ids it excludes or needs, mandatory or not.
struct Entry {
  std::string_view name;
  unsigned id;
  uint32_t excl = 0;
  uint32_t also = 0;
  bool mandatory = false;
};

// xtables_options_fcheck: mandatory options, then for each given option (in
// table order) its "also requires" and "cannot be used together" partners
// (in id order), with libxtables' messages.
inline Result<void> fcheck(std::string_view ext, uint32_t xflags, std::span<const Entry> table) {
  auto lookup = [&](unsigned id) -> const Entry* {
    for (const auto& e : table)
      if (e.id == id) return &e;
    return nullptr;
  };
  for (const auto& e : table) {
    uint32_t ef = 1u << e.id;
    if (e.mandatory && !(xflags & ef))
      return make_error(fmt::format("{}: option \"--{}\" must be specified", ext, e.name));
    if (!(xflags & ef)) continue;
    for (unsigned i = 0; i < 32; ++i) {
      if (i == e.id) continue;
      const Entry* o = lookup(i);
      if (!o) continue;
      uint32_t of = 1u << i;
      if ((e.also & of) && !(xflags & of))
        return make_error(fmt::format("{}: option \"--{}\" also requires \"--{}\".", ext, e.name, o->name));
      if ((e.excl & of) && (xflags & (ef | of)) == (ef | of))
        return make_error(fmt::format("{}: option \"--{}\" cannot be used together with \"--{}\".", ext, e.name,
                                      o->name));
    }
  }
  return {};
}

// The id of an option name in a table (the parser hands canonical names).
inline const Entry* find(std::span<const Entry> table, std::string_view name) {
  for (const auto& e : table)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace nfemu::xt::xtopt
