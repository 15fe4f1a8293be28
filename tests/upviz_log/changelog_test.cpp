#include "upviz/log/changelog.h"

#include <gtest/gtest.h>

#include "upviz/log/decompress.h"

namespace upviz::log {
namespace {

TEST(ChangelogHeaderTest, PolicyAndOldForms) {
  ChangelogHeader h;
  ASSERT_TRUE(parse_changelog_header("hello (2.10-3) unstable; urgency=medium", h));
  EXPECT_EQ(h.source, "hello");
  EXPECT_EQ(h.version, "2.10-3");
  EXPECT_EQ(h.distributions, "unstable");
  EXPECT_EQ(h.options, "urgency=medium");
  ASSERT_TRUE(parse_changelog_header("g++-12 (1:12.2.0-14) bookworm-security experimental; urgency=high, binary-only=yes", h));
  EXPECT_EQ(h.source, "g++-12");
  EXPECT_EQ(h.distributions, "bookworm-security experimental");
  EXPECT_TRUE(h.conforming);
  ASSERT_TRUE(parse_changelog_header("dpkg (1.2.12); priority=LOW", h));
  EXPECT_EQ(h.distributions, "");
  EXPECT_FALSE(h.conforming);
  ASSERT_TRUE(parse_changelog_header("gmp (1.3.2-1)", h));
  EXPECT_EQ(h.version, "1.3.2-1");
  EXPECT_FALSE(h.conforming);
  EXPECT_FALSE(parse_changelog_header("binutils (2.7-3):", h));
  EXPECT_FALSE(parse_changelog_header("Version 1.2 (2004)", h));
  EXPECT_FALSE(parse_changelog_header("foo (1 2) unstable; urgency=low", h));
  EXPECT_FALSE(parse_changelog_header("foo () unstable; urgency=low", h));
  EXPECT_FALSE(parse_changelog_header("-foo (1) unstable; urgency=low", h));
}

TEST(ChangelogTest, ParsesEntriesWithZones) {
  auto text = read_file(UPVIZ_LOG_FIXTURES "/src/hello.changelog");
  ASSERT_TRUE(text);
  Diagnostics d;
  auto e = parse_changelog(*text, "hello", d);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(d.warnings, 0);
  EXPECT_EQ(e[0].version, "2.10-3");
  EXPECT_EQ(e[0].name, "Jane Doe");
  EXPECT_EQ(e[0].email, "jane@example.org");
  EXPECT_EQ(e[0].time, 1678093200);
  EXPECT_EQ(e[0].line, 1);
  EXPECT_EQ(e[1].name, "Jos\xe9 P\xe9rez");  // repaired only when written
  EXPECT_EQ(e[1].time, 1675830600);
  EXPECT_EQ(e[2].time, 1672529400);
  EXPECT_EQ(e[2].line, 13);
}

TEST(ChangelogTest, SkipsBrokenEntriesWithWarnings) {
  auto text = read_file(UPVIZ_LOG_FIXTURES "/src/broken.changelog");
  ASSERT_TRUE(text);
  Diagnostics d;
  std::vector<std::string> warnings;
  d.sink = [&](const std::string& w) { warnings.push_back(w); };
  auto e = parse_changelog(*text, "b", d);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].version, "1.2-1");
  EXPECT_EQ(e[1].version, "1.0-1");
  EXPECT_EQ(e[1].time, 1672639200);  // zone comment ignored
  EXPECT_EQ(d.skipped_total(), 3);
  EXPECT_EQ(d.skipped.at("changelog text outside an entry"), 1);
  EXPECT_EQ(d.skipped.at("bad changelog trailer"), 1);
  EXPECT_EQ(d.skipped.at("changelog entry without trailer"), 1);
  EXPECT_EQ(d.get("changelog trailers badly formatted"), 1);
  EXPECT_EQ(d.get("changelog lines after end marker"), 1);
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_EQ(warnings[0].rfind("b:7: warning: changelog text outside an entry", 0), 0u)
      << warnings[0];
  EXPECT_NE(warnings[1].find("b:13:"), std::string::npos);
  EXPECT_NE(warnings[2].find("b:15:"), std::string::npos);
}

TEST(ChangelogTest, ToleratesOddShapes) {
  Diagnostics d;
  auto e = parse_changelog(
      "# a comment\n"
      "foo (1) unstable; urgency=low\r\n"
      "\r\n"
      "not indented but inside the entry\n"
      "  -- Ann <a@b>   Mon, 02 Jan 2023 00:00:00 +0000\n"
      "$Id: changelog,v 1.1 $\n"
      "foo (0) unstable; urgency=low\n"
      " -- <only@email>  Mon, 02 Jan 2023 00:00:00 +0000\n"
      "Old Changelog:\n"
      "foo (-1) unstable; urgency=low\n"
      " -- Ann <a@b>  Mon, 02 Jan 2023 00:00:00 +0000\n",
      "f", d);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].name, "Ann");
  EXPECT_EQ(e[1].name, "");
  EXPECT_EQ(e[1].email, "only@email");
  EXPECT_EQ(d.skipped_total(), 0);
  EXPECT_EQ(d.get("changelog comment lines"), 1);
}

TEST(ChangelogTest, AncientHeadersWithoutDistributions) {
  Diagnostics d;
  auto e = parse_changelog(
      "gmp (1.3.2-2) - dcs\n\n  * Rebuild as ELF\n\n"
      "gmp (1.3.2-1)\n\n  * Initial Debian release.\n\n"
      " -- Ian Jackson <iwj10@cus.cam.ac.uk>  Sat, 29 Jul 1995 03:20:19 +0100\n",
      "f", d);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].version, "1.3.2-1");
  EXPECT_EQ(e[0].time, 806984419);
  EXPECT_EQ(d.skipped.at("changelog entry without trailer"), 1);
}

TEST(ChangelogTest, IndentedDashesAreChangeText) {
  Diagnostics d;
  auto e = parse_changelog(
      "foo (1) unstable; urgency=low\n\n"
      "  * Reworded:\n"
      "     -- not a trailer, just a quote\n"
      "\t-- nor this\n\n"
      " -- Ann <a@b>  Mon, 02 Jan 2023 00:00:00 +0000\n",
      "f", d);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].name, "Ann");
  EXPECT_EQ(d.warnings, 0);
}

TEST(ChangelogTest, TrailerWithoutHeaderAndMissingEmail) {
  Diagnostics d;
  auto e = parse_changelog(
      " -- Ann <a@b>  Mon, 02 Jan 2023 00:00:00 +0000\n"
      "foo (1) unstable; urgency=low\n"
      " -- Ann  Mon, 02 Jan 2023 00:00:00 +0000\n"
      "foo (2) unstable; urgency=low\n",
      "f", d);
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(d.skipped.at("changelog trailer without header"), 1);
  EXPECT_EQ(d.skipped.at("bad changelog trailer"), 1);
  EXPECT_EQ(d.skipped.at("changelog entry without trailer"), 1);
}

TEST(ChangelogTest, StopsAtGnuChangeLogHistory) {
  Diagnostics d;
  auto e = parse_changelog(
      "tool (1.2.12); priority=LOW\n\n  * x\n\n"
      " -- A <a@b>  Thu, 4 Jul 1996 15:04:49 +0100\n\n"
      "Thu Sep  1 12:21:11 1994  Someone  (s@example.org)\n\n\t* y\n"
      "tool (0) unstable; urgency=low\n"
      " -- A <a@b>  Thu, 4 Jul 1996 15:04:49 +0100\n",
      "f", d);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].distributions, "");
  EXPECT_EQ(e[0].options, "priority=LOW");
  EXPECT_EQ(d.skipped_total(), 0);
  EXPECT_EQ(d.get("changelog lines after end marker"), 1);
}

TEST(ChangelogTest, DebianFormatDetection) {
  EXPECT_TRUE(looks_like_debian_changelog("\n\nfoo (1) unstable; urgency=low\n"));
  EXPECT_FALSE(looks_like_debian_changelog("2023-01-01  Upstream  <u@example.org>\n"));
  EXPECT_FALSE(looks_like_debian_changelog(" foo (1) unstable; urgency=low\n"));
  EXPECT_FALSE(looks_like_debian_changelog(""));
  EXPECT_FALSE(looks_like_debian_changelog("libfoo (1.2)\n\n * upstream news\n"));
}

}  // namespace
}  // namespace upviz::log
