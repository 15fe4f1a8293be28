#include "util/strings.h"

#include <gtest/gtest.h>

namespace nfemu {
namespace {

std::vector<std::string> texts(const std::vector<Word>& w) {
  std::vector<std::string> out;
  for (auto& x : w) out.push_back(x.text);
  return out;
}

TEST(ShellSplitTest, SplitsOnBlanksAndKeepsColumns) {
  auto r = shell_split("-A  INPUT\t-j ACCEPT");
  ASSERT_TRUE(r);
  EXPECT_EQ(texts(*r), (std::vector<std::string>{"-A", "INPUT", "-j", "ACCEPT"}));
  EXPECT_EQ((*r)[1].col, 5);
  EXPECT_EQ((*r)[2].col, 11);
}

TEST(ShellSplitTest, QuotesAndEscapes) {
  auto r = shell_split(R"(--comment "a \"b\" c" 'x y'z a\ b)");
  ASSERT_TRUE(r);
  EXPECT_EQ(texts(*r), (std::vector<std::string>{"--comment", "a \"b\" c", "x yz", "a b"}));
}

TEST(ShellSplitTest, EmptyQuotedWordIsAWord) {
  auto r = shell_split("a '' b");
  ASSERT_TRUE(r);
  EXPECT_EQ(texts(*r), (std::vector<std::string>{"a", "", "b"}));
}

TEST(ShellSplitTest, UnterminatedQuoteIsAnError) {
  auto r = shell_split("--comment \"abc");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().col, 11);
}

TEST(ParseUintTest, DecimalHexAndLimits) {
  EXPECT_EQ(parse_uint("80"), 80u);
  EXPECT_EQ(parse_uint("0x10"), 16u);
  EXPECT_FALSE(parse_uint("65536", 65535));
  EXPECT_FALSE(parse_uint("-1"));
  EXPECT_FALSE(parse_uint("12a"));
  EXPECT_FALSE(parse_uint(""));
  EXPECT_FALSE(parse_uint("99999999999999999999999"));
  EXPECT_EQ(parse_uint_c("010"), 8u);
}

}  // namespace
TEST(StringsTest, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("SyncAck", "SYNCACK"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("ACK", "ACKS"));
  EXPECT_FALSE(iequals("\xe9", "\xc9"));  // é and É: not ASCII, as strcasecmp in the C locale
}

}  // namespace nfemu
