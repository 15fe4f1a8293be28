// UDD upload_history CSV export (psql "\copy ... csv header").
//
// The header row names the columns; source, version and date are required,
// the uploader is changed_by_name, else the name part of changed_by, else
// signed_by_name, else maintainer_name. Fields follow RFC 4180 (quotes,
// doubled quotes, newlines inside quotes). Dates are ISO 8601 with a zone
// ("2012-03-04 12:34:56+00") or RFC 2822.
//
//   Diagnostics d;
//   std::vector<Upload> ups = read_upload_history_csv(text, "uh.csv", d);
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "upviz/log/diagnostics.h"
#include "upviz/log/upload.h"

namespace upviz::log {

// One CSV record with the 1-based line it starts on.
struct CsvRecord {
  std::vector<std::string> fields;
  int line = 0;
};

// Splits CSV text into records; a quote left open at the end is reported
// and the partial record dropped.
std::vector<CsvRecord> split_csv(std::string_view text, char sep, std::string_view file,
                                 Diagnostics& diag);

std::vector<Upload> read_upload_history_csv(std::string_view text, std::string_view file,
                                            Diagnostics& diag);

}  // namespace upviz::log
