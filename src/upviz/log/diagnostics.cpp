#include "upviz/log/diagnostics.h"

#include <fmt/format.h>

namespace upviz::log {

void Diagnostics::warn(std::string_view file, int line, std::string_view message) {
  ++warnings;
  if (!sink) return;
  std::string where(file);
  if (line > 0) where += fmt::format(":{}", line);
  if (where.empty())
    sink(fmt::format("warning: {}", message));
  else
    sink(fmt::format("{}: warning: {}", where, message));
}

void Diagnostics::skip(std::string_view file, int line, std::string_view reason,
                       std::string_view detail) {
  auto it = skipped.find(reason);
  if (it == skipped.end())
    skipped.emplace(std::string(reason), 1);
  else
    ++it->second;
  if (detail.empty())
    warn(file, line, fmt::format("{}; skipped", reason));
  else
    warn(file, line, fmt::format("{}: {}; skipped", reason, detail));
}

void Diagnostics::count(std::string_view name, int64_t n) {
  auto it = counts.find(name);
  if (it == counts.end())
    counts.emplace(std::string(name), n);
  else
    it->second += n;
}

int64_t Diagnostics::skipped_total() const {
  int64_t n = 0;
  for (const auto& [reason, k] : skipped) n += k;
  return n;
}

int64_t Diagnostics::get(std::string_view name) const {
  auto it = counts.find(name);
  return it == counts.end() ? 0 : it->second;
}

}  // namespace upviz::log
