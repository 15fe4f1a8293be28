// Upload readers by input kind, for the CLI and the golden tests.
//
//   std::vector<Upload> ups;
//   Diagnostics d;
//   auto r = read_input(InputKind::kChangelogs, "/usr/share/doc", ups, d);
#pragma once

#include <string>
#include <vector>

#include "upviz/log/diagnostics.h"
#include "upviz/log/upload.h"
#include "util/result.h"

namespace upviz::log {

enum class InputKind {
  kUdd,         // UDD gource export
  kChangelogs,  // a directory of DIR/*/changelog.Debian.gz, or one changelog file
  kCsv,         // UDD upload_history CSV
};

// Appends the uploads read from path. Fails only when the input as a whole
// cannot be read (missing file or directory, corrupt compression); bad
// lines inside are skipped and reported to diag.
nfemu::Result<void> read_input(InputKind kind, const std::string& path,
                               std::vector<Upload>& out, Diagnostics& diag);

// Turns parsed changelog entries into uploads; the newest entry's source
// name is every entry's lineage.
void append_changelog_uploads(std::string_view text, std::string_view file,
                              std::vector<Upload>& out, Diagnostics& diag);

}  // namespace upviz::log
