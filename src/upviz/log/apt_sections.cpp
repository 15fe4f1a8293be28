#include "upviz/log/apt_sections.h"

#include <apt-pkg/cachefile.h>
#include <apt-pkg/configuration.h>
#include <apt-pkg/error.h>
#include <apt-pkg/init.h>
#include <apt-pkg/pkgcache.h>
#include <apt-pkg/pkgsystem.h>

#include <filesystem>
#include <sstream>

#include <fmt/format.h>

namespace upviz::log {

namespace {

// Drains libapt's global error stack: errors become the returned message,
// warnings go to diag, notices (e.g. "Ignoring file ... in sources.list.d")
// are dropped as apt-get drops them without -q0.
std::string drain_apt_errors(Diagnostics& diag) {
  std::ostringstream dump;
  _error->DumpErrors(dump, GlobalError::WARNING, false);
  _error->Discard();
  std::string errors;
  std::istringstream lines(dump.str());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("E: ", 0) == 0) {
      if (!errors.empty()) errors += "; ";
      errors += line.substr(3);
    } else if (line.rfind("W: ", 0) == 0) {
      diag.warn("apt", 0, line.substr(3));
    } else if (!line.empty()) {
      diag.warn("apt", 0, line);
    }
  }
  return errors;
}

int64_t count_package_lists(const std::string& dir) {
  int64_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.find("_Packages") != std::string::npos) ++n;
  }
  return n;
}

}  // namespace

nfemu::Result<AptStats> load_apt_sections(
    SectionMap& map, const std::vector<std::pair<std::string, std::string>>& overrides,
    Diagnostics& diag) {
  AptStats stats;
  if (!pkgInitConfig(*_config))
    return nfemu::make_error(fmt::format("cannot read the APT configuration: {}",
                                         drain_apt_errors(diag)));
  for (const auto& [key, value] : overrides) _config->Set(key, value);
  if (!pkgInitSystem(*_config, _system))
    return nfemu::make_error(fmt::format("cannot initialise the APT system: {}",
                                         drain_apt_errors(diag)));
  stats.lists_dir = _config->FindDir("Dir::State::lists");
  stats.list_files = count_package_lists(stats.lists_dir);
  if (stats.list_files == 0)
    diag.warn("apt", 0,
              fmt::format("no package lists in {}: only installed packages have a section "
                          "and the rest go to undef/; run `apt-get update` (as root) first",
                          stats.lists_dir));

  pkgCacheFile file;
  // Read-only: building in memory when the on-disk cache is stale is fine,
  // taking the APT lock or rewriting /var/cache/apt is not our business.
  pkgCache* cache = file.GetPkgCache();
  if (cache == nullptr || _error->PendingError())
    return nfemu::make_error(
        fmt::format("cannot open the APT cache: {}", drain_apt_errors(diag)));
  for (pkgCache::PkgIterator pkg = cache->PkgBegin(); !pkg.end(); ++pkg) {
    for (pkgCache::VerIterator ver = pkg.VersionList(); !ver.end(); ++ver) {
      ++stats.versions;
      const char* section = ver.Section();
      if (section == nullptr) continue;
      map.add_binary(pkg.Name(), ver.SourcePkgName(), section);
    }
  }
  drain_apt_errors(diag);
  return stats;
}

}  // namespace upviz::log
