// libapt-pkg against a fixture dpkg status file: no dependency on the
// machine's own APT state, so the result is the same everywhere.
#include "upviz/log/apt_sections.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace upviz::log {
namespace {

namespace fs = std::filesystem;

TEST(AptSectionsTest, MapsSourcesThroughTheCache) {
  fs::path tmp = fs::temp_directory_path() / ("upviz_apt_test_" + std::to_string(::getpid()));
  fs::create_directories(tmp / "lists");
  fs::create_directories(tmp / "parts");
  SectionMap m;
  Diagnostics d;
  std::vector<std::string> warnings;
  d.sink = [&](const std::string& w) { warnings.push_back(w); };
  auto r = load_apt_sections(m,
                             {{"Dir::State::status", UPVIZ_LOG_FIXTURES "/src/status"},
                              {"Dir::State::lists", (tmp / "lists").string()},
                              {"Dir::Etc::sourcelist", "/dev/null"},
                              {"Dir::Etc::sourceparts", (tmp / "parts").string()},
                              {"Dir::Cache::pkgcache", ""},
                              {"Dir::Cache::srcpkgcache", ""}},
                             d);
  fs::remove_all(tmp);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->versions, 4);
  EXPECT_EQ(r->list_files, 0);
  EXPECT_EQ(m.lookup("hello"), "devel");
  // Source foo is known through libfoo1's source name, not through the
  // unrelated binary package called foo.
  EXPECT_EQ(m.lookup("foo"), "libs");
  EXPECT_EQ(m.lookup("notfoo"), "games");
  EXPECT_EQ(m.lookup("netthing"), "contrib/net");
  EXPECT_EQ(m.lookup("nativepkg"), std::nullopt);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("apt-get update"), std::string::npos) << warnings[0];
}

}  // namespace
}  // namespace upviz::log
