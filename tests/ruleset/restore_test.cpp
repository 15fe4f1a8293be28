#include "ruleset/restore.h"

#include <gtest/gtest.h>

namespace nfemu::ruleset {
namespace {

Result<std::string> load(std::string_view text, bool counters = false, bool print_counters = false) {
  xt::Ruleset rs;
  auto r = restore(text, rs, {.counters = counters});
  if (!r) return r.error();
  return save(rs, {.counters = print_counters});
}

TEST(RestoreTest, TablesPrintNewestFirstAndUserChainsSorted) {
  auto out = load("*filter\n:zeta - [0:0]\n:Alpha - [0:0]\nCOMMIT\n*raw\nCOMMIT\n");
  ASSERT_TRUE(out) << out.error().format("t");
  EXPECT_EQ(*out, "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
                  "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                  ":Alpha - [0:0]\n:zeta - [0:0]\nCOMMIT\n");
}

TEST(RestoreTest, CountersOnlyWithCountersOptionButDashCAlways) {
  std::string text = "*filter\n:INPUT DROP [5:500]\n[3:300] -A INPUT -j ACCEPT\n-A INPUT -c 7 70\nCOMMIT\n";
  auto with = load(text, true, true);
  ASSERT_TRUE(with);
  EXPECT_NE(with->find(":INPUT DROP [5:500]"), std::string::npos);
  EXPECT_NE(with->find("[3:300] -A INPUT -j ACCEPT\n[7:70] -A INPUT\n"), std::string::npos);
  auto without = load(text, false, true);
  ASSERT_TRUE(without);
  EXPECT_NE(without->find(":INPUT DROP [0:0]"), std::string::npos);
  EXPECT_NE(without->find("[0:0] -A INPUT -j ACCEPT\n[7:70] -A INPUT\n"), std::string::npos);
}

TEST(RestoreTest, CommentsBlankLinesAndQuotes) {
  auto out = load("# hello\n\n*filter\n-A INPUT -s \"192.0.2.1\" -j ACCEPT\nCOMMIT\n");
  ASSERT_TRUE(out) << out.error().format("t");
  EXPECT_NE(out->find("-A INPUT -s 192.0.2.1/32 -j ACCEPT"), std::string::npos);
}

struct BadCase {
  const char* text;
  int line;
  const char* message;
};

TEST(RestoreTest, ErrorsNameTheLine) {
  const BadCase cases[] = {
      {"*filter\n-A INPUT -j ACCEPT\n", 3, "COMMIT expected at line 3"},
      {"-A INPUT -j ACCEPT\n", 1, "outside of a table"},
      {"*bogus\nCOMMIT\n", 1, "Table does not exist"},
      {"*filter\n:foo - [0:0]\n:foo - [0:0]\nCOMMIT\n", 3, "error creating chain 'foo':File exists"},
      {"*filter\n:foo ACCEPT [0:0]\nCOMMIT\n", 2, "Bad built-in chain name"},
      {"*filter\n:INPUT REJECT [0:0]\nCOMMIT\n", 2, "Bad policy name"},
      // 6.18, iptables-legacy-restore 1.8.9: "Error occurred at line: 2".
      {"*nat\n-A PREROUTING -j DROP\nCOMMIT\n", 2, "the use of DROP is therefore inhibited"},
      {"*filter\n-A INPUT -s 300.1.1.1 -j ACCEPT\nCOMMIT\n", 2, "host/network `300.1.1.1' not found"},
      {"*filter\n-A INPUT -p tcp --dport 70000\nCOMMIT\n", 2, "invalid port/service `70000' specified"},
      {"*filter\n-A INPUT --comment \"abc\nCOMMIT\n", 2, "unknown option \"--comment\""},
      {"*filter\r\nCOMMIT\r\n", 1, "CRLF"},
      {"*filter\nCOMMIT", 2, "COMMIT without a newline"},
      {"*filter\n:a - [0:0]\n-A INPUT -j a\n-A a -j a\nCOMMIT\n", 4, "loop"},
      {"*filter\n-A INPUT -m tcp --dport 22\nCOMMIT\n", 2, "tcp match: only valid for protocol 6"},
      {"*filter\n-A INPUT\0 -j ACCEPT\nCOMMIT\n", 2, "NUL byte"},
      {"*filter\n*nat\nCOMMIT\n", 2, "before COMMIT"},
      {"*filter\n-t nat -A INPUT\nCOMMIT\n", 2, "cannot be used in iptables-restore"},
  };
  for (const auto& c : cases) {
    std::string_view text(c.text, std::char_traits<char>::length(c.text));
    if (std::string_view(c.message) == "NUL byte") text = std::string_view("*filter\n-A INPUT\0 -j ACCEPT\nCOMMIT\n", 36);
    auto out = load(text);
    ASSERT_FALSE(out) << c.text;
    EXPECT_EQ(out.error().line, c.line) << c.text << " -> " << out.error().message;
    EXPECT_NE(out.error().message.find(c.message), std::string::npos) << out.error().message;
  }
}

// Measured with iptables-legacy-restore 1.8.9: an unknown extension is
// iptables' "Couldn't load".
TEST(RestoreTest, AnUnknownExtensionCannotBeLoaded) {
  auto unknown = load("*filter\n-A INPUT -m frobnicate\nCOMMIT\n");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "Couldn't load match `frobnicate':No such file or directory");
}

// Measured with iptables-legacy 1.8.9 and Linux 6.18 (more single-table
// cases in tests/xtables/cases/rateest.cases): a -m rateest rule needs an
// estimator that a RATEEST rule made when the kernel checked it, and the
// estimators of the tables loaded before count. The old version of a
// table being replaced still holds its estimators while the new one is
// checked.
TEST(RestoreTest, RateestNeedsAnEstimatorLoadedBeforeIt) {
  const std::string mangle =
      "*mangle\n-A PREROUTING -j RATEEST --rateest-name wan --rateest-interval 250ms --rateest-ewmalog 1s\nCOMMIT\n";
  const std::string filter = "*filter\n-A FORWARD -m rateest --rateest wan --rateest-pps 10 --rateest-gt -j DROP\nCOMMIT\n";
  EXPECT_TRUE(load(mangle + filter));
  auto reversed = load(filter + mangle);
  ASSERT_FALSE(reversed);
  EXPECT_EQ(reversed.error().line, 2);
  EXPECT_NE(reversed.error().message.find("no rate estimator `wan'"), std::string::npos) << reversed.error().message;
  // Another interval for the same name is the kernel's EINVAL.
  auto other = load(mangle + "*filter\n-A INPUT -j RATEEST --rateest-name wan --rateest-interval 1s --rateest-ewmalog 4s\nCOMMIT\n");
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("exists already"), std::string::npos) << other.error().message;
  // Replacing the table that holds the estimator: the old one still holds it.
  xt::Ruleset rs;
  ASSERT_TRUE(ruleset::restore(mangle, rs));
  EXPECT_TRUE(ruleset::restore("*mangle\n-A FORWARD -m rateest --rateest wan --rateest-bps 1mbit --rateest-lt\nCOMMIT\n",
                               rs));
}

// The kernel refuses a table at COMMIT and names no rule; nfemu names the
// rule's line and the word that loaded what the kernel refused: `-m` for a
// match, `-p` for a protocol's implicit match, the name after -j or -g.
TEST(RestoreTest, ALoadTimeErrorPointsAtTheWordThatLoadedTheExtension) {
  struct Case {
    const char* rules;
    int line, col;
    const char* message;
  } cases[] = {
      {"*filter\n-A INPUT -p tcp -j SNAT --to-source 192.0.2.1\nCOMMIT\n", 2, 20, "only valid in nat table"},
      {"*filter\n-A INPUT -p udp --dport 5 -m tcp --sport 3\nCOMMIT\n", 2, 27, "tcp match: only valid for protocol 6"},
      {"*filter\n-A INPUT -p udp --dport 5 -o eth0\nCOMMIT\n", 2, 0, ""},  // a parse error: -o in INPUT
      {"*nat\n-A PREROUTING -p tcp --dport 1 -j MASQUERADE\nCOMMIT\n", 2, 35, "only usable from POSTROUTING"},
      {"*mangle\n-A INPUT -m rateest --rateest e --rateest-pps 1 --rateest-gt\nCOMMIT\n", 2, 10, "no rate estimator"},
      {"*filter\n-A INPUT -p icmp -m icmp --icmp-type 8 -j TCPMSS --clamp-mss-to-pmtu\nCOMMIT\n", 2, 43,
       "TCPMSS target: only valid for protocol 6"},
  };
  for (const auto& c : cases) {
    auto out = load(c.rules);
    ASSERT_FALSE(out) << c.rules;
    EXPECT_EQ(out.error().line, c.line) << c.rules;
    if (c.col) {
      EXPECT_EQ(out.error().col, c.col) << c.rules << " -> " << out.error().message;
    }
    EXPECT_NE(out.error().message.find(c.message), std::string::npos) << out.error().message;
  }
}

// Measured with iptables-legacy-restore 1.8.9 on Linux 6.18, one restore
// after another in a namespace: a -m rateest rule holds its estimator too,
// so the estimator outlives the last RATEEST rule of its name, with the
// parameters it was made with.
TEST(RestoreTest, AnEstimatorHeldOnlyByRateestRulesKeepsItsParameters) {
  xt::Ruleset rs;
  ruleset::RestoreOptions noflush{.noflush = true};
  ASSERT_TRUE(ruleset::restore(
      "*mangle\n-A PREROUTING -j RATEEST --rateest-name x --rateest-interval 1s --rateest-ewmalog 4s\nCOMMIT\n", rs,
      noflush));
  ASSERT_TRUE(ruleset::restore("*filter\n-A INPUT -m rateest --rateest x --rateest-pps 1 --rateest-gt\nCOMMIT\n", rs, noflush));
  ASSERT_TRUE(ruleset::restore("*mangle\nCOMMIT\n", rs));  // the RATEEST rule is gone
  auto again = ruleset::restore("*filter\n-A INPUT -m rateest --rateest x --rateest-pps 2 --rateest-gt\nCOMMIT\n", rs);
  EXPECT_TRUE(again) << again.error().message;
  auto other = ruleset::restore(
      "*mangle\n-A PREROUTING -j RATEEST --rateest-name x --rateest-interval 2s --rateest-ewmalog 8s\nCOMMIT\n", rs, noflush);
  EXPECT_FALSE(other);
  auto same = ruleset::restore(
      "*mangle\n-A PREROUTING -j RATEEST --rateest-name x --rateest-interval 1s --rateest-ewmalog 4s\nCOMMIT\n", rs, noflush);
  EXPECT_TRUE(same) << same.error().message;
}

// Measured with iptables-legacy 1.8.9, nfacct 1.0.2 and Linux 6.18: the
// object must exist (the kernel's ENOENT at COMMIT; nfemu blames the rule),
// a name is cut to 31 characters, and the save has two spaces (libxt_nfacct
// prints one before xtables_save_string's own).
TEST(RestoreTest, NfacctNamesAnObjectOfTheNamespace) {
  xt::NfacctObjects objects;
  ASSERT_TRUE(objects.add("web"));
  ASSERT_TRUE(objects.add("we b"));
  ASSERT_TRUE(objects.add("a1234567890123456789012345678901"));  // kept as its first 31 characters
  EXPECT_FALSE(objects.add("a12345678901234567890123456789012"));  // the same object, cut
  auto restore = [&](std::string_view rules, const xt::NfacctObjects* o) {
    xt::Ruleset rs;
    auto r = ruleset::restore(std::string("*filter\n") + std::string(rules) + "\nCOMMIT\n", rs, {.nfacct = o});
    return r ? Result<std::string>(save(rs)) : Result<std::string>(r.error());
  };
  auto ok = restore("-A INPUT -m nfacct --nfacct-name web\n-A INPUT -m nfacct --nfacct-name \"we b\"\n"
                    "-A OUTPUT -m nfacct --nfacct-name a12345678901234567890123456789012",
                    &objects);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_NE(ok->find("-A INPUT -m nfacct --nfacct-name  web\n-A INPUT -m nfacct --nfacct-name  \"we b\"\n"
                     "-A OUTPUT -m nfacct --nfacct-name  a123456789012345678901234567890\n"),
            std::string::npos)
      << *ok;
  auto missing = restore("-A INPUT -p tcp\n-A INPUT -m nfacct --nfacct-name nope", &objects);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().line, 3);
  EXPECT_NE(missing.error().message.find("accounting object `nope' does not exist"), std::string::npos)
      << missing.error().message;
  EXPECT_FALSE(restore("-A INPUT -m nfacct --nfacct-name web", nullptr));  // a namespace without objects
  auto required = restore("-A INPUT -m nfacct", &objects);
  ASSERT_FALSE(required);
  EXPECT_NE(required.error().message.find("nfacct: option \"--nfacct-name\" must be specified"), std::string::npos)
      << required.error().message;
  auto inverted = restore("-A INPUT -m nfacct ! --nfacct-name web", &objects);
  ASSERT_FALSE(inverted);
  EXPECT_NE(inverted.error().message.find("cannot be inverted"), std::string::npos) << inverted.error().message;
  auto twice = restore("-A INPUT -m nfacct --nfacct-name web --nfacct-name web", &objects);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("can only be used once"), std::string::npos) << twice.error().message;
}

TEST(RestoreTest, LenientCountersAndAnUnclosedQuote) {
  auto out = load("*filter\n:INPUT ACCEPT [1:2:3]\n:FORWARD ACCEPT [-1:2]\n[ 1:2] -A INPUT -p tcp\n"
                  "-A INPUT -c 0x10 010\n-A OUTPUT -m comment --comment \"never closed\nCOMMIT\n",
                  true, true);
  ASSERT_TRUE(out) << out.error().format("t");
  EXPECT_NE(out->find(":INPUT ACCEPT [1:2]"), std::string::npos) << *out;
  EXPECT_NE(out->find(":FORWARD ACCEPT [18446744073709551615:2]"), std::string::npos) << *out;
  EXPECT_NE(out->find("[1:2] -A INPUT -p tcp\n"), std::string::npos) << *out;
  EXPECT_NE(out->find("[0:10] -A INPUT\n"), std::string::npos) << *out;  // -c values are read with %llu
  EXPECT_NE(out->find("--comment \"never closed\n\"\n"), std::string::npos) << *out;
}

TEST(RestoreTest, ErrorColumnPointsAtTheWord) {
  auto out = load("*filter\n-A INPUT -p tcp --dport 22 --bogus 1\nCOMMIT\n");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().line, 2);
  EXPECT_EQ(out.error().col, 28);  // where --bogus starts
}

// 6.18, iptables-legacy-restore 1.8.9: a policy line is not a command;
// ":PREROUTING DROP" in *nat is taken (and saved back as is).
TEST(RestoreTest, NatDropPolicyLineIsAccepted) {
  auto r = load("*nat\n:PREROUTING DROP [0:0]\nCOMMIT\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE(r->find(":PREROUTING DROP [0:0]"), std::string::npos) << *r;
}

TEST(RestoreTest, FailedBlockKeepsEarlierCommits) {
  xt::Ruleset rs;
  auto r = restore("*nat\n-A PREROUTING -j ACCEPT\nCOMMIT\n*filter\n-A INPUT -j nosuch\nCOMMIT\n", rs);
  ASSERT_FALSE(r);
  ASSERT_EQ(rs.tables().size(), 1u);
  EXPECT_EQ(rs.tables()[0].name(), "nat");
}

TEST(RestoreSplitTest, QuotesAndBackslashes) {
  auto w = restore_split(R"(-m comment --comment "a \"quoted\" word" 'single')");
  ASSERT_TRUE(w);
  ASSERT_EQ(w->size(), 5u);
  EXPECT_EQ((*w)[3].text, "a \"quoted\" word");
  EXPECT_EQ((*w)[4].text, "'single'");
}

}  // namespace
}  // namespace nfemu::ruleset
