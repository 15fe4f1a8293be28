// Debian changelog parser (debian/changelog, /usr/share/doc/*/changelog.Debian.gz).
//
// Follows Debian policy 4.4 with dpkg-parsechangelog's tolerance. An entry is
//
//   source (version) dist1 dist2; urgency=low
//
//     * change lines, indented
//
//    -- Name <email>  Mon, 02 Jan 2006 15:04:05 +0100
//
// Each complete entry is one upload. Garbage between entries, an entry with
// no trailer, or a trailer with a bad date are reported to Diagnostics and
// skipped; parsing stops quietly at the "Old Changelog:" and editor
// modeline markers that end the machine-readable part, as dpkg does.
//
//   Diagnostics d;
//   auto entries = parse_changelog(text, "hello/changelog.Debian.gz", d);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "upviz/log/diagnostics.h"

namespace upviz::log {

struct ChangelogEntry {
  std::string source;
  std::string version;
  std::string distributions;  // space separated, as written
  std::string options;        // text after ';' (urgency=..., binary-only=yes)
  std::string name;           // maintainer name from the trailer
  std::string email;
  int64_t time = 0;           // UNIX seconds, UTC
  int line = 0;               // 1-based line of the header
};

struct ChangelogHeader {
  std::string source, version, distributions, options;
  bool conforming = false;  // has distributions and "; options", as policy says
};

// Parses a header line; false when the line is not one. Old forms without
// distributions or without ';' are headers too, but not conforming ones.
bool parse_changelog_header(std::string_view line, ChangelogHeader& out);

// True when the first non-blank line is a changelog header: tells a
// Debian-format changelog.gz of a native package from an upstream one.
bool looks_like_debian_changelog(std::string_view text);

std::vector<ChangelogEntry> parse_changelog(std::string_view text, std::string_view file,
                                            Diagnostics& diag);

}  // namespace upviz::log
