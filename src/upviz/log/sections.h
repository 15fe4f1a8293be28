// Archive sections of source packages.
//
// The archive gives sections to binary packages; a source's section is taken
// from its binaries: the binary named like the source when there is one,
// else the section most of its binaries share (ties prefer a section that is
// not libdevel/doc/debug/oldlibs, then the alphabetically first, so the
// answer never depends on input order). A Sources index names the source
// section directly and wins. Looking a source up by binary name, as the
// original python-apt script did, leaves most library sources unknown.
//
//   SectionMap m;
//   m.add_binary("libfoo1", "foo", "libs");
//   m.add_binary("foo-utils", "foo", "contrib/utils");
//   m.lookup("foo");  // "libs" (count tie, libs before contrib/utils)
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "upviz/log/diagnostics.h"
#include "util/result.h"

namespace upviz::log {

enum class ComponentMode { kKeep, kStrip };

class SectionMap {
 public:
  // source may be empty (then the binary is its own source) or carry a
  // version, "foo (1.2-1)", as the Source field of Packages does.
  void add_binary(std::string_view binary, std::string_view source, std::string_view section);
  void add_source(std::string_view source, std::string_view section);

  // The section as the archive writes it ("contrib/net"), or nullopt.
  std::optional<std::string> lookup(std::string_view source) const;
  size_t sources() const { return by_source_.size(); }
  int64_t binaries() const { return binaries_; }

 private:
  struct Info {
    std::string own;                      // from Sources or a same-name binary
    bool own_from_sources = false;
    std::map<std::string, int64_t> counts;  // section -> distinct binaries
  };
  std::map<std::string, Info, std::less<>> by_source_;
  std::set<std::string> seen_;  // "binary\0section", to count a binary once
  int64_t binaries_ = 0;
};

// "contrib/net" -> "net" when stripping; empty stays empty.
std::string apply_component_mode(std::string_view section, ComponentMode mode);

// Reads a Debian Packages or Sources index (deb822 stanzas) into map. Each
// stanza with a Binary field is a source stanza. Returns the stanzas used.
int64_t read_index(std::string_view text, std::string_view file, SectionMap& map,
                   Diagnostics& diag);

}  // namespace upviz::log
