// What the kernel cases cannot express for the targets of
// src/xtables/targets/{REJECT,NAT family,NETMAP,LOG,NFLOG,NFQUEUE,TRACE}:
// a real newline in a prefix (a restore file cannot carry one), and the
// libxtables-compatible helpers on their own.
#include <gtest/gtest.h>

#include "ruleset/command.h"
#include "xtables/targets/nat_range.h"
#include "xtables/targets/xtopt_a.h"

namespace nfemu::xt {
namespace {

Result<ruleset::Command> parse(std::vector<std::string> args) {
  std::vector<Word> words;
  for (auto& a : args) words.push_back({a, 1});
  return ruleset::parse_command(words, {});
}

TEST(TargetsATest, NewlineInLogPrefixIsRefused) {
  auto r = parse({"-A", "INPUT", "-j", "LOG", "--log-prefix", "a\nb"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("Newlines not allowed in --log-prefix"), std::string::npos);
}

TEST(TargetsATest, NewlineInNflogPrefixIsRefused) {
  auto r = parse({"-A", "INPUT", "-j", "NFLOG", "--nflog-prefix", "x\n"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("Newlines not allowed"), std::string::npos);
}

TEST(TargetsATest, CommandLineDnatSavesLikeRestore) {
  auto r = parse({"-t", "nat", "-A", "PREROUTING", "-p", "tcp", "-j", "DNAT", "--to", "192.0.2.1:80-90/100"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->rules.size(), 1u);
  EXPECT_EQ(r->rules[0].spec_text(), " -p tcp -j DNAT --to-destination 192.0.2.1:80-90/100");
}

TEST(XtoptATest, StrtoulPrefixStopsWhereStrtoulStops) {
  auto p = xtopt::strtoul_prefix("80-90", 0, 65535);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->value, 80u);
  EXPECT_EQ(p->rest, "-90");
  EXPECT_EQ(xtopt::strtoul_prefix("0x1f", 0, 65535)->value, 31u);
  EXPECT_EQ(xtopt::strtoul_prefix("0x", 0, 65535)->rest, "x");  // "0", then garbage
  EXPECT_EQ(xtopt::strtoul_prefix("010", 0, 65535)->value, 8u);
  EXPECT_EQ(xtopt::strtoul_prefix("08", 0, 65535)->rest, "8");
  EXPECT_EQ(xtopt::strtoul_prefix(" +7", 0, 65535)->value, 7u);
  EXPECT_FALSE(xtopt::strtoul_prefix("-1", 0, 65535));
  EXPECT_FALSE(xtopt::strtoul_prefix("", 0, 65535));
  EXPECT_FALSE(xtopt::strtoul_prefix("65536", 0, 65535));
  EXPECT_FALSE(xtopt::strtoul_prefix("0", 1, 65535));
  EXPECT_FALSE(xtopt::strtoul_prefix("99999999999999999999999", 0, UINT64_MAX));
  EXPECT_FALSE(xtopt::strtoul_whole("7x", 0, 7));
}

TEST(XtoptATest, InetPtonIsStrict) {
  EXPECT_EQ(xtopt::inet_pton4("192.0.2.1"), 0xc0000201u);
  EXPECT_EQ(xtopt::inet_pton4("0.0.0.0"), 0u);
  EXPECT_FALSE(xtopt::inet_pton4("192.0.2.01"));
  EXPECT_FALSE(xtopt::inet_pton4("192.0.2"));
  EXPECT_FALSE(xtopt::inet_pton4("192.0.2.256"));
  EXPECT_FALSE(xtopt::inet_pton4("192.0.2.1."));
  EXPECT_FALSE(xtopt::inet_pton4(""));
}

TEST(XtoptATest, InetAtonTakesShortAndBasedForms) {
  EXPECT_EQ(xtopt::inet_aton("3221225985"), 0xc0000201u);
  EXPECT_EQ(xtopt::inet_aton("192.0.513"), 0xc0000201u);
  EXPECT_EQ(xtopt::inet_aton("192.513"), 0xc0000201u);
  EXPECT_EQ(xtopt::inet_aton("0xc0.0.2.1"), 0xc0000201u);
  EXPECT_EQ(xtopt::inet_aton("0300.0.2.1"), 0xc0000201u);
  EXPECT_FALSE(xtopt::inet_aton("08.0.0.1"));
  EXPECT_FALSE(xtopt::inet_aton("256.0.0.1"));
  EXPECT_FALSE(xtopt::inet_aton("1.2.3.4.5"));
  EXPECT_FALSE(xtopt::inet_aton("1.2.65536"));
  EXPECT_FALSE(xtopt::inet_aton("4294967296"));
  EXPECT_FALSE(xtopt::inet_aton("1.2.3.4 "));
  EXPECT_FALSE(xtopt::inet_aton("host"));
  EXPECT_FALSE(xtopt::inet_aton("0x.0.2.1"));  // glibc wants a digit after 0x
  EXPECT_EQ(xtopt::inet_aton("0.0x0.2.1"), 0x00000201u);
}

TEST(XtoptATest, SaveStringQuotesAsIptables) {
  std::string out;
  xtopt::save_string(out, "fw_in-1");
  EXPECT_EQ(out, " fw_in-1");
  out.clear();
  xtopt::save_string(out, "it's \"x\" \\");
  EXPECT_EQ(out, R"( "it\'s \"x\" \\")");
}

TEST(NatRangeTest, TextAndSkipColon) {
  NatRange r;
  ASSERT_TRUE(parse_nat_ports("1000-2000", true, r));
  EXPECT_EQ(r.text(false), ":1000-2000");
  EXPECT_EQ(r.text(true), "1000-2000");
  NatRange a;
  ASSERT_TRUE(parse_nat_to("192.0.2.1-192.0.2.9", false, a));
  EXPECT_EQ(a.text(false), "192.0.2.1-192.0.2.9");
  NatRange b;
  auto e = parse_nat_to("192.0.2.1:80", false, b);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, "Need TCP, UDP, SCTP or DCCP with port specification");
}

}  // namespace
}  // namespace nfemu::xt
