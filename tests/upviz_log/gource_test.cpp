#include "upviz/log/gource.h"

#include <gtest/gtest.h>

namespace upviz::log {
namespace {

TEST(GourceLineTest, ParsesFields) {
  auto r = parse_gource_line("1136243045|Jane Doe|A|hello\r");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->time, 1136243045);
  EXPECT_EQ(r->user, "Jane Doe");
  EXPECT_EQ(r->type, 'A');
  EXPECT_EQ(r->path, "hello");
  auto c = parse_gource_line("1|u|D|a/b|FF0000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->colour, "FF0000");
  EXPECT_EQ(c->path, "a/b");
}

TEST(GourceLineTest, NamesTheBadField) {
  auto few = parse_gource_line("1|u|A");
  ASSERT_FALSE(few);
  EXPECT_NE(few.error().message.find("found 3"), std::string::npos);
  auto ts = parse_gource_line("12x|u|A|p");
  ASSERT_FALSE(ts);
  EXPECT_EQ(ts.error().col, 1);
  auto type = parse_gource_line("1|u|AM|p");
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().col, 5);
  EXPECT_FALSE(parse_gource_line("1|u|A|"));
  EXPECT_FALSE(parse_gource_line("1|a|b|M|p|c"));
  EXPECT_FALSE(parse_gource_line(""));
}

TEST(GourceLineTest, FormatRoundTrips) {
  std::string line = format_gource_line(42, "Ann", 'M', "net/foo");
  EXPECT_EQ(line, "42|Ann|M|net/foo");
  auto r = parse_gource_line(line);
  ASSERT_TRUE(r);
  EXPECT_EQ(format_gource_line(r->time, r->user, r->type, r->path), line);
}

TEST(GourceLogTest, ReadsUddExport) {
  Diagnostics d;
  auto ups = read_gource_log("10|Ann|A|foo\n\n11||M|foo\nbad\n12|Bob|M|net/bar/\n", "u", d);
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_EQ(ups[0].source, "foo");
  EXPECT_EQ(ups[1].source, "bar");
  EXPECT_EQ(ups[1].time, 12);
  EXPECT_TRUE(ups[1].version.empty());
  EXPECT_EQ(d.skipped.at("empty uploader"), 1);
  EXPECT_EQ(d.skipped.at("malformed gource line"), 1);
}

}  // namespace
}  // namespace upviz::log
