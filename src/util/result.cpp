#include "util/result.h"

#include <fmt/format.h>

namespace nfemu {

std::string Error::format(std::string_view file) const {
  std::string where(this->file.empty() ? file : std::string_view(this->file));
  if (line > 0) {
    where += fmt::format(":{}", line);
    if (col > 0) where += fmt::format(":{}", col);
  }
  if (where.empty()) return fmt::format("error: {}", message);
  return fmt::format("{}: error: {}", where, message);
}

}  // namespace nfemu
