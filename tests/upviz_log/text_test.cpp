#include "upviz/log/text.h"

#include <gtest/gtest.h>

namespace upviz::log {
namespace {

TEST(DaysFromCivilTest, KnownDates) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
  EXPECT_EQ(days_from_civil(2024, 2, 29) + 1, days_from_civil(2024, 3, 1));
}

TEST(Rfc2822Test, ChangelogTrailerDates) {
  EXPECT_EQ(*parse_rfc2822_date("Thu, 01 Jan 1970 00:00:00 +0000"), 0);
  EXPECT_EQ(*parse_rfc2822_date("Sun, 01 Jan 2023 00:30:00 +0100"), 1672529400);
  EXPECT_EQ(*parse_rfc2822_date("Tue, 07 Feb 2023 23:30:00 -0500"), 1675830600);
  // No weekday, single-digit day, full month name, lower case.
  EXPECT_EQ(*parse_rfc2822_date("1 january 2023 00:00:00 +0000"), 1672531200);
  EXPECT_EQ(*parse_rfc2822_date("Sun,1 Jan 2023 01:00:00 +01:00"), 1672531200);
  EXPECT_EQ(*parse_rfc2822_date("Sun, 01 Jan 2023 00:00 GMT"), 1672531200);
  EXPECT_EQ(*parse_rfc2822_date("Sat, 31 Dec 2022 19:00:00 EST"), 1672531200);
  EXPECT_EQ(*parse_rfc2822_date("Sun, 01 Jan 2023 00:00:00 +0000 (UTC)"), 1672531200);
  EXPECT_EQ(*parse_rfc2822_date("Fri, 01 Jan 99 00:00:00 +0000"), 915148800);
  EXPECT_EQ(*parse_rfc2822_date("01-Jan-2023 00:00:00 +0000"), 1672531200);
}

TEST(Rfc2822Test, RejectsGarbage) {
  EXPECT_FALSE(parse_rfc2822_date(""));
  EXPECT_FALSE(parse_rfc2822_date("Sun, 32 Jan 2023 00:00:00 +0000"));
  EXPECT_FALSE(parse_rfc2822_date("Sun, 29 Feb 2023 00:00:00 +0000"));
  EXPECT_TRUE(parse_rfc2822_date("Thu, 29 Feb 2024 00:00:00 +0000"));
  EXPECT_FALSE(parse_rfc2822_date("Sun, 01 Foo 2023 00:00:00 +0000"));
  EXPECT_FALSE(parse_rfc2822_date("Sun, 01 Jan 2023 24:00:00 +0000"));
  EXPECT_FALSE(parse_rfc2822_date("Sun, 01 Jan 2023 00:00:00"));
  EXPECT_FALSE(parse_rfc2822_date("Sun, 01 Jan 2023 00:00:00 +2500"));
  EXPECT_FALSE(parse_rfc2822_date("Sun, 01 Jan 2023 00:00:00 XYZ"));
  EXPECT_FALSE(parse_rfc2822_date("Sun, 01 Jan 2023 00:00:00 +0000 trailing"));
  EXPECT_FALSE(parse_rfc2822_date("Funday, 01 Jan 2023 00:00:00 +0000"));
}

TEST(IsoDateTest, SqlAndIsoForms) {
  EXPECT_EQ(*parse_iso_datetime("2023-01-01"), 1672531200);
  EXPECT_EQ(*parse_iso_datetime("2023-01-01 01:00:00+01"), 1672531200);
  EXPECT_EQ(*parse_iso_datetime("2023-01-01T01:30:00+01:30"), 1672531200);
  EXPECT_EQ(*parse_iso_datetime("2022-12-31T16:00:00-0800"), 1672531200);
  EXPECT_EQ(*parse_iso_datetime("2023-01-01T00:00:00.123456Z"), 1672531200);
  EXPECT_EQ(*parse_iso_datetime("2023-01-01 00:00"), 1672531200);
  EXPECT_FALSE(parse_iso_datetime("2023-1-1"));
  EXPECT_FALSE(parse_iso_datetime("2023-02-30"));
  EXPECT_FALSE(parse_iso_datetime("2023-01-01x"));
}

TEST(TimeSpecTest, CommandLineForms) {
  auto a = parse_time_spec("2023-01-01");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->time, 1672531200);
  EXPECT_TRUE(a->date_only);
  EXPECT_EQ(parse_time_spec("1672531200")->time, 1672531200);
  EXPECT_EQ(parse_time_spec("@86400")->time, 86400);
  EXPECT_FALSE(parse_time_spec("2023-01-01T00:00:00Z")->date_only);
  EXPECT_EQ(parse_time_spec("Sun, 01 Jan 2023 00:00:00 +0000")->time, 1672531200);
  EXPECT_FALSE(parse_time_spec("2023"));  // a year, not seconds
  EXPECT_FALSE(parse_time_spec("yesterday"));
}

TEST(MonthTest, HalfOpenRange) {
  auto m = parse_month("2022-12");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->first, 1669852800);
  EXPECT_EQ(m->second, 1672531200);
  EXPECT_EQ(parse_month("2024-02")->second - parse_month("2024-02")->first, 29 * 86400);
  EXPECT_FALSE(parse_month("2023-13"));
  EXPECT_FALSE(parse_month("2023-1"));
  EXPECT_FALSE(parse_month("2023-01-01"));
}

TEST(SanitiseTest, Utf8Repair) {
  std::string ok = "José Pérez";
  EXPECT_FALSE(repair_utf8(ok));
  std::string latin1 = "Jos\xe9 P\xe9rez";
  EXPECT_TRUE(repair_utf8(latin1));
  EXPECT_EQ(latin1, "José Pérez");
  std::string overlong = "a\xc0\xaf";
  EXPECT_TRUE(repair_utf8(overlong));
  EXPECT_EQ(overlong, "a\xc3\x80\xc2\xaf");
  std::string cut = "x\xe2\x82";  // truncated euro sign
  EXPECT_TRUE(repair_utf8(cut));
  EXPECT_EQ(cut, "x\xc3\xa2\xc2\x82");
}

TEST(SanitiseTest, FieldsForGource) {
  std::string pipe = "Bob | Builder";
  EXPECT_TRUE(sanitise_field(pipe));
  EXPECT_EQ(pipe, "Bob \xc2\xa6 Builder");
  std::string nl = " Line\nBreak\t";
  EXPECT_TRUE(sanitise_field(nl));
  EXPECT_EQ(nl, "Line Break");
  std::string path = "a/b|c";
  EXPECT_TRUE(sanitise_field(path, true));
  EXPECT_EQ(path, "a_b\xc2\xa6" "c");
  std::string plain = "hello";
  EXPECT_FALSE(sanitise_field(plain, true));
  // Never truncated: a long name stays whole.
  std::string longname(5000, 'x');
  EXPECT_FALSE(sanitise_field(longname));
  EXPECT_EQ(longname.size(), 5000u);
}

}  // namespace
}  // namespace upviz::log
