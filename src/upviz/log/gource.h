// Gource custom log lines: "timestamp|user|type|path[|colour]".
//
// Read for the UDD export (one line per upload, path = source package) and
// written as upviz log's output. parse_gource_line is strict about the
// fields it needs and says which one is wrong; format_gource_line expects
// fields already made safe with sanitise_field.
//
//   auto r = parse_gource_line("1136243045|Jane Doe|A|hello");
//   // r->time == 1136243045, r->type == 'A', r->path == "hello"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "upviz/log/diagnostics.h"
#include "upviz/log/upload.h"
#include "util/result.h"

namespace upviz::log {

struct GourceRecord {
  int64_t time = 0;
  std::string user;
  char type = 'M';  // A (added), M (modified), D (deleted)
  std::string path;
  std::string colour;  // optional 5th field, RRGGBB
};

// Error columns point at the field that is wrong.
nfemu::Result<GourceRecord> parse_gource_line(std::string_view line);

std::string format_gource_line(int64_t time, std::string_view user, char type,
                               std::string_view path);

// Reads a whole UDD gource export: one upload per line, the last path
// component is the source package. Lines with an empty user are skipped
// (the UDD export has them for uploads with no known uploader), as are
// malformed ones, each with a warning.
std::vector<Upload> read_gource_log(std::string_view text, std::string_view file,
                                    Diagnostics& diag);

}  // namespace upviz::log
