// libFuzzer target: the Debian changelog parser and the date parsers.
// Invariants: no crash, every entry has a source, a version and a
// parsed time, and the ISO/RFC 2822 parsers never throw.
//
// The fuzz preset builds without upviz (NFEMU_BUILD_UPVIZ=OFF) and links
// only the nfemu libraries, so the few sources this target needs are
// compiled into it here.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "upviz/log/changelog.cpp"  // NOLINT(bugprone-suspicious-include)
#include "upviz/log/diagnostics.cpp"  // NOLINT(bugprone-suspicious-include)
#include "upviz/log/text.cpp"  // NOLINT(bugprone-suspicious-include)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  upviz::log::Diagnostics diag;
  auto entries = upviz::log::parse_changelog(text, "fuzz", diag);
  for (const auto& e : entries) {
    if (e.source.empty() || e.version.empty() || e.line < 1) std::abort();
  }
  (void)upviz::log::looks_like_debian_changelog(text);
  // Dates: any line may be a trailer date or a command-line time.
  std::string_view first = text.substr(0, text.find('\n'));
  (void)upviz::log::parse_rfc2822_date(first);
  (void)upviz::log::parse_iso_datetime(first);
  (void)upviz::log::parse_time_spec(first);
  (void)upviz::log::parse_month(first);
  std::string s(first);
  upviz::log::sanitise_field(s, true);
  if (s.find('|') != std::string::npos || s.find('/') != std::string::npos) std::abort();
  std::string again = s;
  if (upviz::log::repair_utf8(again)) std::abort();  // already valid UTF-8
  return 0;
}
