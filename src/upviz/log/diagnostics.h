// Diagnostics: warnings and counters shared by every upload reader.
//
// Readers never stop on a bad line: they report it here and go on. Each
// skipped item is counted under a short reason so that the CLI can end with a
// summary ("skipped 3: bad date in trailer 2, entry without trailer 1"), and
// the warning text names the file and line the way compilers do.
//
//   Diagnostics d;
//   d.sink = [](const std::string& w) { std::cerr << w << '\n'; };
//   d.skip("foo.log", 12, "bad timestamp", "'12x' is not a number");
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace upviz::log {

struct Diagnostics {
  // Receives each formatted warning; nullptr drops them (counters still
  // count), which is what tests and the fuzzers want.
  std::function<void(const std::string&)> sink;

  int64_t warnings = 0;
  std::map<std::string, int64_t, std::less<>> skipped;  // reason -> items
  std::map<std::string, int64_t, std::less<>> counts;   // name -> value

  // "FILE:LINE: warning: MESSAGE" (LINE omitted when 0).
  void warn(std::string_view file, int line, std::string_view message);
  // An item (line, entry, record) that was dropped: warns and counts it.
  void skip(std::string_view file, int line, std::string_view reason,
            std::string_view detail = {});
  void count(std::string_view name, int64_t n = 1);
  int64_t skipped_total() const;
  int64_t get(std::string_view name) const;
};

}  // namespace upviz::log
