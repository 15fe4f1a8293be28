// Sections from the local APT cache, through libapt-pkg (what python-apt
// wraps), so that each *source* package gets the section of its binaries.
//
// Every version in the cache is read: its binary name, its source package
// name (VerIterator::SourcePkgName) and its section. The cache is built from
// the apt lists (/var/lib/apt/lists, filled by `apt-get update`) and the
// dpkg status file; with empty lists only installed packages are known,
// which load_apt_sections says in a warning.
//
//   SectionMap m;
//   Diagnostics d;
//   auto r = load_apt_sections(m, {}, d);
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "upviz/log/diagnostics.h"
#include "upviz/log/sections.h"
#include "util/result.h"

namespace upviz::log {

struct AptStats {
  int64_t versions = 0;   // versions read from the cache
  int64_t list_files = 0; // Packages files in Dir::State::lists
  std::string lists_dir;
};

// overrides are APT configuration items set after the system configuration
// is read, as apt-get -o KEY=VALUE does (tests point Dir::State::status and
// Dir::State::lists at fixtures). Fails when APT cannot be initialised or
// the cache cannot be built; the caller then falls back to undef.
nfemu::Result<AptStats> load_apt_sections(
    SectionMap& map, const std::vector<std::pair<std::string, std::string>>& overrides,
    Diagnostics& diag);

}  // namespace upviz::log
