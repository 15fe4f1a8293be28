// The "src,dst,..." directions of the set match and the SET target
// (libxt_set.h parse_dirs), shared by both units.
//
//   SetDirs d;
//   if (auto r = parse_set_dirs("src,dst", d); !r) return r;   // d.dim 2
//   append_set_dirs(out, d);                                    // " src,dst"
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace nfemu::xt {

inline constexpr int kSetDimMax = 6;  // IPSET_DIM_MAX

struct SetDirs {
  int dim = 0;
  uint32_t flags = 0;  // bit i: dimension i (1-based) is src
  // As ipset::Dirs counts them: bit i - 1 for dimension i.
  uint8_t src_bits() const { return static_cast<uint8_t>(flags >> 1); }
};

// Only the first three letters of each word count (strncmp), so "srcfoo"
// is src; at most IPSET_DIM_MAX words.
inline Result<void> parse_set_dirs(std::string_view arg, SetDirs& d) {
  size_t pos = 0;
  bool more = true;
  while (d.dim < kSetDimMax && more) {
    ++d.dim;
    size_t comma = arg.find(',', pos);
    std::string_view word = arg.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    more = comma != std::string_view::npos;
    pos = more ? comma + 1 : arg.size();
    if (word.starts_with("src")) d.flags |= 1u << d.dim;
    else if (!word.starts_with("dst"))
      return make_error("You must spefify (the comma separated list of) 'src' or 'dst'.");
  }
  if (more) return make_error(fmt::format("Can't be more src/dst options than {}.", kSetDimMax));
  return {};
}

inline void append_set_dirs(std::string& out, const SetDirs& d) {
  for (int i = 1; i <= d.dim; ++i) {
    out += i == 1 ? ' ' : ',';
    out += (d.flags & (1u << i)) ? "src" : "dst";
  }
}

}  // namespace nfemu::xt
