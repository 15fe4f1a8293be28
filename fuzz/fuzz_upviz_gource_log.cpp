// libFuzzer target for the gource custom log reader.
//
// The fuzz preset builds without upviz (no cairo/libav there), so the reader's
// single source file, which needs only the standard library, is compiled in.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "upviz/render/gource_log.cpp"  // NOLINT: see above

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  upviz::render::LogReader reader(in);
  upviz::render::Commit c;
  int64_t files = 0;
  while (reader.next(c)) {
    // Invariants every consumer relies on.
    if (c.files.empty()) __builtin_trap();
    for (const auto& f : c.files) {
      if (f.path.empty() || f.path[0] != '/') __builtin_trap();
      if (f.action != 'A' && f.action != 'M' && f.action != 'D') __builtin_trap();
    }
    files += static_cast<int64_t>(c.files.size());
  }
  if (reader.first_bad_lines().size() > upviz::render::LogReader::kMaxReportedBadLines) __builtin_trap();
  (void)upviz::render::parse_datetime(text);
  (void)upviz::render::parse_log_timestamp(text);
  return files < 0;
}
