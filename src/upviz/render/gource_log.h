// Reader for gource's custom log format, with gource's own semantics.
//
// A line is `TIMESTAMP|USER|ACTION|PATH[|COLOUR[|SIZE]]`. TIMESTAMP is Unix
// seconds or an ISO date; consecutive lines with the same timestamp and user
// form one commit, exactly as gource groups them. The reader streams: it holds
// one commit at a time, so a log of millions of lines costs no more memory
// than its largest commit.
//
//   std::ifstream in("uploads.log");
//   upviz::render::LogReader reader(in);
//   upviz::render::Commit c;
//   while (reader.next(c)) use(c);
//   if (reader.bad_lines()) warn(reader.first_bad_lines());
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace upviz::render {

struct CommitFile {
  std::string path;        // always starts with '/', invalid UTF-8 replaced by '?'
  char action = 'A';       // 'A', 'M' or 'D'; anything else behaves as 'M'
  bool has_colour = false;
  uint32_t rgb = 0;        // 0xRRGGBB when has_colour
};

struct Commit {
  int64_t time = 0;        // Unix seconds
  std::string user;
  std::vector<CommitFile> files;
  int64_t line = 0;        // 1-based line of the commit's first entry
};

// One parsed line; views point into the line given to parse_log_line.
struct LogLine {
  int64_t time = 0;
  std::string_view user;
  char action = 'A';
  std::string_view path;
  bool has_colour = false;
  uint32_t rgb = 0;
};

// `YYYY-MM-DD[( |T)HH:MM[:SS]][ ][Z|(+|-)HH[[:]MM]]`. Without a zone the time
// is UTC (gource uses the local zone; UTC keeps renders machine-independent).
[[nodiscard]] std::optional<int64_t> parse_datetime(std::string_view s);

// Gource's TIMESTAMP field: a date when it has a '-' after its first
// character, otherwise an integer with atoll's leniency (trailing text is
// ignored, but "0" is the only way to write zero).
[[nodiscard]] std::optional<int64_t> parse_log_timestamp(std::string_view s);

// Parses one line (without its newline). False for a malformed line.
[[nodiscard]] bool parse_log_line(std::string_view line, LogLine& out);

// Replaces invalid UTF-8 sequences with '?', like gource's filter.
std::string sanitize_utf8(std::string_view s);

class LogReader {
 public:
  explicit LogReader(std::istream& in) : in_(in) {}

  // Next commit, or false at the end of the input.
  bool next(Commit& out);

  int64_t lines() const { return line_no_; }
  int64_t bad_lines() const { return bad_; }
  // Line numbers of the first few malformed lines.
  const std::vector<int64_t>& first_bad_lines() const { return first_bad_; }
  uint64_t bytes_read() const { return bytes_; }

  static constexpr size_t kMaxReportedBadLines = 5;

 private:
  bool read_line(std::string& line);

  std::istream& in_;
  std::string pending_;       // a line read ahead that starts the next commit
  bool has_pending_ = false;
  int64_t pending_line_ = 0;
  int64_t line_no_ = 0;
  int64_t bad_ = 0;
  uint64_t bytes_ = 0;
  std::vector<int64_t> first_bad_;
};

}  // namespace upviz::render
