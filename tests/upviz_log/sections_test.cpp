#include "upviz/log/sections.h"

#include <gtest/gtest.h>

#include "upviz/log/decompress.h"

namespace upviz::log {
namespace {

const std::string kDir = UPVIZ_LOG_FIXTURES;

TEST(SectionMapTest, SourceFromItsBinariesNotABinaryOfTheSameName) {
  SectionMap m;
  m.add_binary("bar-bin", "bar", "games");
  m.add_binary("bar", "bar-other", "x11");  // a binary named like source bar
  EXPECT_EQ(m.lookup("bar"), "games");
  EXPECT_EQ(m.lookup("bar-other"), "x11");
  EXPECT_EQ(m.lookup("bar-bin"), std::nullopt);
}

TEST(SectionMapTest, SameNameBinaryWinsThenMajorityThenMajorSections) {
  SectionMap m;
  m.add_binary("foo", "", "utils");
  m.add_binary("foo-a", "foo", "net");
  m.add_binary("foo-b", "foo", "net");
  EXPECT_EQ(m.lookup("foo"), "utils");

  m.add_binary("libx1", "x (1.0-1)", "libs");
  m.add_binary("libx-dev", "x", "libdevel");
  m.add_binary("x-doc", "x", "doc");
  EXPECT_EQ(m.lookup("x"), "libs");

  m.add_binary("y-doc", "y", "doc");
  m.add_binary("y-doc2", "y", "doc");
  m.add_binary("y-cli", "y", "utils");
  EXPECT_EQ(m.lookup("y"), "doc");  // a real majority still wins

  // The same binary seen in several versions counts once.
  m.add_binary("z-a", "z", "net");
  m.add_binary("z-a", "z", "net");
  m.add_binary("z-b", "z", "admin");
  EXPECT_EQ(m.lookup("z"), "admin");
  EXPECT_EQ(m.lookup("nothing"), std::nullopt);
}

TEST(SectionMapTest, SourcesIndexWins) {
  SectionMap m;
  m.add_source("foo", "misc");
  m.add_binary("foo", "", "libs");
  EXPECT_EQ(m.lookup("foo"), "misc");
}

TEST(SectionMapTest, Components) {
  EXPECT_EQ(apply_component_mode("contrib/net", ComponentMode::kKeep), "contrib/net");
  EXPECT_EQ(apply_component_mode("contrib/net", ComponentMode::kStrip), "net");
  EXPECT_EQ(apply_component_mode("net", ComponentMode::kStrip), "net");
  EXPECT_EQ(apply_component_mode("", ComponentMode::kStrip), "");
}

TEST(IndexTest, PackagesIndex) {
  auto text = read_file(kDir + "/index/Packages.xz");
  ASSERT_TRUE(text);
  SectionMap m;
  Diagnostics d;
  EXPECT_EQ(read_index(*text, "P", m, d), 10);
  EXPECT_EQ(d.warnings, 0);
  EXPECT_EQ(m.lookup("hello"), "devel");
  EXPECT_EQ(m.lookup("foo"), "libs");  // not "games" from binary foo
  EXPECT_EQ(m.lookup("notfoo"), "games");
  EXPECT_EQ(m.lookup("netthing"), "contrib/net");
  EXPECT_EQ(m.lookup("multi"), "x11");
  EXPECT_EQ(m.lookup("ghost"), std::nullopt);
}

TEST(IndexTest, SourcesIndex) {
  auto text = read_file(kDir + "/index/Sources.gz");
  ASSERT_TRUE(text);
  SectionMap m;
  Diagnostics d;
  EXPECT_EQ(read_index(*text, "S", m, d), 3);
  EXPECT_EQ(m.lookup("foo"), "misc");
  EXPECT_EQ(m.lookup("libfoo1"), std::nullopt);
}

TEST(IndexTest, BadStanzas) {
  SectionMap m;
  Diagnostics d;
  EXPECT_EQ(read_index("Section: x\n\nPackage: a\nno colon here\n\nPackage: b\n", "i", m, d), 0);
  EXPECT_EQ(d.skipped.at("index stanza without Package field"), 1);
  EXPECT_EQ(d.skipped.at("index line without ':'"), 1);
  EXPECT_EQ(d.get("index stanzas without Section"), 2);
}

}  // namespace
}  // namespace upviz::log
