#include <gtest/gtest.h>

#include <sstream>

#include "upviz/render/gource_log.h"

namespace upviz::render {
namespace {

std::vector<Commit> read_all(const std::string& text, LogReader** keep = nullptr) {
  static std::istringstream in;
  in.clear();
  in.str(text);
  static std::unique_ptr<LogReader> reader;
  reader = std::make_unique<LogReader>(in);
  std::vector<Commit> out;
  Commit c;
  while (reader->next(c)) out.push_back(c);
  if (keep) *keep = reader.get();
  return out;
}

TEST(GourceLogDateTest, DateOnlyIsMidnightUtc) {
  EXPECT_EQ(parse_datetime("1970-01-01"), 0);
  EXPECT_EQ(parse_datetime("2010-06-03"), 1275523200);
}

TEST(GourceLogDateTest, TimeAndZone) {
  EXPECT_EQ(parse_datetime("2010-06-03 10:00:00"), 1275523200 + 36000);
  EXPECT_EQ(parse_datetime("2010-06-03 10:00"), 1275523200 + 36000);
  EXPECT_EQ(parse_datetime("2010-06-03 9:30:00"), 1275523200 + 9 * 3600 + 1800);
  EXPECT_EQ(parse_datetime("2010-06-03 10:00:00 +2"), 1275523200 + 8 * 3600);
  EXPECT_EQ(parse_datetime("2010-06-03 10:00:00 -05"), 1275523200 + 15 * 3600);
  EXPECT_EQ(parse_datetime("2010-06-03T10:00:00Z"), 1275523200 + 36000);
  EXPECT_EQ(parse_datetime("2010-06-03T10:00:00+01:30"), 1275523200 + 36000 - 5400);
}

TEST(GourceLogDateTest, RejectsNonsense) {
  EXPECT_FALSE(parse_datetime("2010-13-03"));
  EXPECT_FALSE(parse_datetime("2010-06-03 25:00"));
  EXPECT_FALSE(parse_datetime("2010-06-03 10:00 junk"));
  EXPECT_FALSE(parse_datetime("10-06-03"));
  EXPECT_FALSE(parse_datetime(""));
}

TEST(GourceLogTimestampTest, FollowsAtoll) {
  EXPECT_EQ(parse_log_timestamp("1275543595"), 1275543595);
  EXPECT_EQ(parse_log_timestamp("0"), 0);
  EXPECT_EQ(parse_log_timestamp("-5"), -5);
  EXPECT_EQ(parse_log_timestamp("12abc"), 12);  // atoll ignores the tail
  EXPECT_FALSE(parse_log_timestamp("abc"));
  EXPECT_FALSE(parse_log_timestamp("00"));      // zero only as "0", like gource
  EXPECT_FALSE(parse_log_timestamp(""));
  EXPECT_EQ(parse_log_timestamp("2010-06-03"), 1275523200);
  EXPECT_FALSE(parse_log_timestamp("2010-06-3x"));
}

TEST(GourceLogLineTest, FieldsAndDefaults) {
  LogLine l;
  ASSERT_TRUE(parse_log_line("100|alice|M|a/b.c", l));
  EXPECT_EQ(l.time, 100);
  EXPECT_EQ(l.user, "alice");
  EXPECT_EQ(l.action, 'M');
  EXPECT_EQ(l.path, "a/b.c");
  EXPECT_FALSE(l.has_colour);
  ASSERT_TRUE(parse_log_line("100|||x", l));
  EXPECT_EQ(l.user, "Unknown");
  EXPECT_EQ(l.action, 'A');
  ASSERT_TRUE(parse_log_line("100|u|X|x", l));
  EXPECT_EQ(l.action, 'M');  // unknown actions modify, as in gource
}

TEST(GourceLogLineTest, ColourField) {
  LogLine l;
  ASSERT_TRUE(parse_log_line("1|u|A|f|FF8000", l));
  EXPECT_TRUE(l.has_colour);
  EXPECT_EQ(l.rgb, 0xFF8000u);
  ASSERT_TRUE(parse_log_line("1|u|A|f|#00ff00|1234", l));
  EXPECT_EQ(l.rgb, 0x00FF00u);
  ASSERT_TRUE(parse_log_line("1|u|A|f|zzz", l));
  EXPECT_FALSE(l.has_colour);
  ASSERT_TRUE(parse_log_line("1|u|A|f|", l));
  EXPECT_FALSE(l.has_colour);
}

TEST(GourceLogLineTest, Malformed) {
  LogLine l;
  EXPECT_FALSE(parse_log_line("1|u|A", l));
  EXPECT_FALSE(parse_log_line("x|u|A|f", l));
  EXPECT_FALSE(parse_log_line("1|u|A|", l));
  EXPECT_FALSE(parse_log_line("1|u|A|dir/", l));
  EXPECT_FALSE(parse_log_line("", l));
}

TEST(GourceLogReaderTest, BomCrlfAndMerging) {
  LogReader* r = nullptr;
  auto commits = read_all(
      "\xEF\xBB\xBF"
      "10|a|A|x/1\r\n10|a|A|x/2\r\n10|b|A|x/3\r\n11|b|M|/x/3\n\n12|a|D|x/1\n",
      &r);
  ASSERT_EQ(commits.size(), 4u);
  EXPECT_EQ(commits[0].time, 10);
  EXPECT_EQ(commits[0].user, "a");
  ASSERT_EQ(commits[0].files.size(), 2u);
  EXPECT_EQ(commits[0].files[0].path, "/x/1");  // a root slash is added
  EXPECT_EQ(commits[0].files[1].path, "/x/2");
  EXPECT_EQ(commits[0].line, 1);
  EXPECT_EQ(commits[1].user, "b");
  EXPECT_EQ(commits[1].line, 3);
  EXPECT_EQ(commits[2].files[0].path, "/x/3");
  EXPECT_EQ(commits[3].files[0].action, 'D');
  EXPECT_EQ(commits[3].line, 6);
  EXPECT_EQ(r->bad_lines(), 0);
}

TEST(GourceLogReaderTest, BadLinesCountedWithLineNumbers) {
  LogReader* r = nullptr;
  auto commits = read_all("junk\n10|a|A|f\nx|y\n10|a|A|g\n1|2|3\n4\n5\n6\n7\n", &r);
  // A bad line ends the commit being gathered, as in gource.
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[0].files.size(), 1u);
  EXPECT_EQ(commits[1].files[0].path, "/g");
  EXPECT_EQ(r->bad_lines(), 7);
  EXPECT_EQ(r->first_bad_lines(), (std::vector<int64_t>{1, 3, 5, 6, 7}));
  EXPECT_EQ(r->lines(), 9);
}

TEST(GourceLogReaderTest, InvalidUtf8Replaced) {
  auto commits = read_all("1|bad\xFFuser|A|d/\xC3\xA9t\xE9\n");
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(commits[0].user, "bad?user");
  EXPECT_EQ(commits[0].files[0].path, "/d/\xC3\xA9t?");
}

TEST(GourceLogReaderTest, NothingValid) {
  LogReader* r = nullptr;
  EXPECT_TRUE(read_all("hello\nworld\n", &r).empty());
  EXPECT_EQ(r->bad_lines(), 2);
}

}  // namespace
}  // namespace upviz::render
