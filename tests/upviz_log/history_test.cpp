#include "upviz/log/history.h"

#include <gtest/gtest.h>

namespace upviz::log {
namespace {

Upload up(int64_t t, std::string user, std::string src, std::string ver = "",
          std::string lineage = "") {
  Upload u;
  u.time = t;
  u.user = std::move(user);
  u.source = std::move(src);
  u.version = std::move(ver);
  u.lineage = std::move(lineage);
  return u;
}

std::vector<std::string> texts(const LogResult& r) {
  std::vector<std::string> v;
  for (const auto& l : r.lines) v.push_back(l.text());
  return v;
}

TEST(BuildLogTest, SortsStablyAndMarksFirstUploads) {
  Diagnostics d;
  LogResult r = build_log({up(30, "c", "foo", "2"), up(10, "a", "foo", "1"),
                           up(30, "b", "bar", "1"), up(20, "x", "bar", "0")},
                          {}, d);
  EXPECT_EQ(texts(r), (std::vector<std::string>{"10|a|A|foo", "20|x|A|bar", "30|c|M|foo",
                                                "30|b|M|bar"}));
}

TEST(BuildLogTest, DeduplicatesBySourceVersionAndByTime) {
  Diagnostics d;
  LogResult r = build_log({up(10, "a", "foo", "1"), up(10, "a", "foo", "1"),  // copies
                           up(10, "a", "foo"),      // same upload from the UDD log
                           up(11, "a", "foo", "1"),  // same version, other date
                           up(10, "b", "foo", "1+b1"),  // same second, other version
                           up(12, "a", "bar"), up(12, "a", "bar")},
                          {}, d);
  EXPECT_EQ(r.duplicates, 4);
  EXPECT_EQ(texts(r), (std::vector<std::string>{"10|a|A|foo", "10|b|M|foo", "12|a|A|bar"}));
}

TEST(BuildLogTest, FirstUploadDecidedBeforeFilters) {
  Diagnostics d;
  LogOptions o;
  o.since = 20;
  LogResult r = build_log({up(10, "a", "foo", "1"), up(20, "a", "foo", "2")}, o, d);
  EXPECT_EQ(texts(r), (std::vector<std::string>{"20|a|M|foo"}));
  EXPECT_EQ(r.filtered_out, 1);
}

TEST(BuildLogTest, FiltersAndSlices) {
  std::vector<Upload> ups;
  for (int i = 0; i < 10; ++i) {
    std::string pkg = "p";
    pkg += std::to_string(i % 3);
    ups.push_back(up(i, i % 2 ? "Odd One" : "Even", pkg));
  }
  auto run = [&](LogOptions o) {
    Diagnostics d;
    return texts(build_log(ups, o, d));
  };
  LogOptions o;
  o.since = 2;
  o.until = 5;
  EXPECT_EQ(run(o), (std::vector<std::string>{"2|Even|A|p2", "3|Odd One|M|p0", "4|Even|M|p1"}));
  o = {};
  o.user.emplace("^Odd");
  o.first = 2;
  EXPECT_EQ(run(o), (std::vector<std::string>{"1|Odd One|A|p1", "3|Odd One|M|p0"}));
  o = {};
  o.package.emplace("p[12]$");
  o.last = 2;
  EXPECT_EQ(run(o), (std::vector<std::string>{"7|Odd One|M|p1", "8|Even|M|p2"}));
  o = {};
  o.first = 0;
  EXPECT_TRUE(run(o).empty());
}

TEST(BuildLogTest, SectionsUndefComponentsAndLineage) {
  SectionMap m;
  m.add_binary("netthing-client", "netthing", "contrib/net");
  m.add_binary("newname", "", "admin");
  Diagnostics d;
  LogOptions o;
  o.sections = &m;
  std::vector<Upload> ups = {up(1, "a", "netthing", "1"), up(2, "a", "ghost", "1"),
                             up(3, "a", "oldname", "1", "newname"),
                             up(4, "a", "newname", "2", "newname")};
  LogResult r = build_log(ups, o, d);
  EXPECT_EQ(texts(r), (std::vector<std::string>{"1|a|A|contrib/net/netthing", "2|a|A|undef/ghost",
                                                "3|a|A|admin/oldname", "4|a|A|admin/newname"}));
  EXPECT_EQ(r.sources, 4);
  EXPECT_EQ(r.sources_with_section, 3);
  o.components = ComponentMode::kStrip;
  EXPECT_EQ(build_log(ups, o, d).lines[0].path, "net/netthing");
}

TEST(BuildLogTest, SanitisesNamesWithoutTruncating) {
  Diagnostics d;
  LogResult r = build_log({up(1, "Jos\xe9 | X", "a|b/c")}, {}, d);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].text(), "1|José ¦ X|A|a¦b_c");
  EXPECT_EQ(r.names_sanitised, 2);
}

}  // namespace
}  // namespace upviz::log
