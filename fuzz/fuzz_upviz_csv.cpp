// libFuzzer target: the CSV splitter and the UDD upload_history reader.
// Sources compiled in here: see fuzz_upviz_changelog.cpp for why.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "upviz/log/csv.cpp"  // NOLINT(bugprone-suspicious-include)
#include "upviz/log/diagnostics.cpp"  // NOLINT(bugprone-suspicious-include)
#include "upviz/log/text.cpp"  // NOLINT(bugprone-suspicious-include)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  upviz::log::Diagnostics diag;
  auto ups = upviz::log::read_upload_history_csv(text, "fuzz", diag);
  for (const auto& u : ups)
    if (u.source.empty() || u.user.empty()) std::abort();
  return 0;
}
