// From uploads to gource log lines: de-duplicate, sort, mark first uploads,
// filter, slice, prefix sections.
//
// The A/M letter is decided on the whole history before any filter: a
// source's first upload is A even when a --month slice shows only later
// ones, as in the UDD export the original pipeline cut with head/tail.
//
//   LogOptions opt;
//   opt.sections = &map;
//   LogResult r = build_log(std::move(uploads), opt, diag);
//   for (auto& l : r.lines) std::cout << l.text() << '\n';
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "upviz/log/diagnostics.h"
#include "upviz/log/sections.h"
#include "upviz/log/upload.h"

namespace upviz::log {

struct LogOptions {
  std::optional<int64_t> since;  // keep time >= since
  std::optional<int64_t> until;  // keep time < until
  std::optional<std::regex> user;     // regex_search on the uploader
  std::optional<std::regex> package;  // regex_search on the source name
  std::optional<int64_t> first;  // then keep the first N
  std::optional<int64_t> last;   // or the last N
  const SectionMap* sections = nullptr;  // nullptr: no section prefix
  ComponentMode components = ComponentMode::kKeep;
};

struct LogLine {
  int64_t time = 0;
  std::string user;  // sanitised
  char type = 'M';
  std::string path;  // "section/source", "undef/source" or "source"
  std::string text() const;
};

struct LogResult {
  std::vector<LogLine> lines;
  int64_t uploads_in = 0;
  int64_t duplicates = 0;
  int64_t filtered_out = 0;
  int64_t sources = 0;               // distinct sources in lines
  int64_t sources_with_section = 0;  // of which have a real section
  int64_t names_sanitised = 0;
};

LogResult build_log(std::vector<Upload> uploads, const LogOptions& opt, Diagnostics& diag);

}  // namespace upviz::log
