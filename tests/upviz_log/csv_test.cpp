#include "upviz/log/csv.h"

#include <gtest/gtest.h>

#include "upviz/log/decompress.h"

namespace upviz::log {
namespace {

TEST(CsvSplitTest, Rfc4180Quoting) {
  Diagnostics d;
  auto r = split_csv("a,\"b,c\",\"d\"\"e\"\r\n\"multi\nline\",,x\n\nlast", ',', "f", d);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].fields, (std::vector<std::string>{"a", "b,c", "d\"e"}));
  EXPECT_EQ(r[1].fields, (std::vector<std::string>{"multi\nline", "", "x"}));
  EXPECT_EQ(r[1].line, 2);
  EXPECT_EQ(r[2].fields, (std::vector<std::string>{"last"}));
  EXPECT_EQ(r[2].line, 5);
}

TEST(CsvSplitTest, UnterminatedQuote) {
  Diagnostics d;
  auto r = split_csv("a,b\n\"open,c\n", ',', "f", d);
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(d.skipped.at("unterminated quote in CSV record"), 1);
}

TEST(UploadHistoryTest, ReadsFixture) {
  auto text = read_file(UPVIZ_LOG_FIXTURES "/src/upload_history.csv");
  ASSERT_TRUE(text);
  Diagnostics d;
  auto ups = read_upload_history_csv(*text, "uh", d);
  ASSERT_EQ(ups.size(), 4u);
  EXPECT_EQ(ups[0].source, "hello");
  EXPECT_EQ(ups[0].version, "2.9-1");
  EXPECT_EQ(ups[0].time, 1433152800);
  EXPECT_EQ(ups[1].user, "Smith, John");
  EXPECT_EQ(ups[2].user, "Line\nBreak");
  EXPECT_EQ(ups[2].time, 1451635200);
  // netthing 0.1-1 has no uploader at all and is skipped; for 0.2-1
  // changed_by_name is empty and the name part of changed_by is used.
  EXPECT_EQ(ups[3].source, "netthing");
  EXPECT_EQ(ups[3].version, "0.2-1");
  EXPECT_EQ(ups[3].user, "Nina");
  EXPECT_EQ(d.skipped_total(), 3);
  EXPECT_EQ(d.skipped.at("bad date in CSV record"), 1);
  EXPECT_EQ(d.skipped.at("CSV record with wrong field count"), 1);
  EXPECT_EQ(d.skipped.at("empty uploader"), 1);
}

TEST(UploadHistoryTest, TabSeparatedAndMissingColumns) {
  Diagnostics d;
  auto ups = read_upload_history_csv(
      "\xEF\xBB\xBFsource\tdate\tmaintainer_name\nfoo\t2023-01-01\tAnn\n", "t", d);
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].user, "Ann");
  EXPECT_EQ(ups[0].time, 1672531200);
  Diagnostics d2;
  EXPECT_TRUE(read_upload_history_csv("package,when\nfoo,2023-01-01\n", "t", d2).empty());
  EXPECT_EQ(d2.skipped.at("CSV header without source and date columns"), 1);
}

}  // namespace
}  // namespace upviz::log
