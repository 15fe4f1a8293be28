// libFuzzer target: the gource custom log line parser and the UDD log reader.
// Invariant: a parsed line, its fields made safe with sanitise_field (the
// contract of format_gource_line), formats back to a line that parses to the
// same record (for inputs without a colour field). Without sanitising, a path
// ending in '\r' before an empty colour field could not survive the trip.
//
// Sources compiled in here: see fuzz_upviz_changelog.cpp for why.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "upviz/log/diagnostics.cpp"  // NOLINT(bugprone-suspicious-include)
#include "upviz/log/gource.cpp"  // NOLINT(bugprone-suspicious-include)
#include "upviz/log/text.cpp"  // NOLINT(bugprone-suspicious-include)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  upviz::log::Diagnostics diag;
  auto ups = upviz::log::read_gource_log(text, "fuzz", diag);
  for (const auto& u : ups)
    if (u.user.empty() || u.source.empty()) std::abort();

  std::string_view line = text.substr(0, text.find('\n'));
  auto r = upviz::log::parse_gource_line(line);
  if (r && r->colour.empty()) {
    upviz::log::sanitise_field(r->user);
    upviz::log::sanitise_field(r->path);
    if (r->user.empty() || r->path.empty()) return 0;
    std::string out = upviz::log::format_gource_line(r->time, r->user, r->type, r->path);
    auto back = upviz::log::parse_gource_line(out);
    if (!back || back->time != r->time || back->user != r->user || back->type != r->type ||
        back->path != r->path)
      std::abort();
  }
  return 0;
}
