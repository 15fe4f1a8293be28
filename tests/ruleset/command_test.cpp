#include "ruleset/command.h"

#include <gtest/gtest.h>

#include "ruleset/restore.h"

namespace nfemu::ruleset {
namespace {

// Applies iptables command lines to a fresh namespace and returns the save.
std::string run(std::initializer_list<std::string_view> lines) {
  xt::Ruleset rs;
  int n = 0;
  for (auto l : lines) {
    auto r = apply_iptables_line(l, rs, ++n);
    if (!r) return "ERROR " + r.error().format("cmd");
  }
  return save(rs, {.counters = true});
}

TEST(CommandTest, AppendInstantiatesTheTable) {
  EXPECT_EQ(run({"-t nat -A PREROUTING -d 1.2.3.4 -j ACCEPT"}),
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
            "[0:0] -A PREROUTING -d 1.2.3.4/32 -j ACCEPT\nCOMMIT\n");
}

TEST(CommandTest, LongOptionsAbbreviationsAndInversion) {
  std::string out = run({"iptables --append INPUT ! --src 10.0.0.0/255.0.0.0 --in-int eth+ --prot tcp --dport 22 --jump DROP"});
  EXPECT_NE(out.find("-A INPUT ! -s 10.0.0.0/8 -i eth+ -p tcp -m tcp --dport 22 -j DROP"), std::string::npos) << out;
}

TEST(CommandTest, MultipleAddressesMakeOneRuleEach) {
  std::string out = run({"-A INPUT -s 192.0.2.1,192.0.2.2 -d 198.51.100.0/24,203.0.113.0/24 -j ACCEPT"});
  EXPECT_NE(out.find("-A INPUT -s 192.0.2.1/32 -d 198.51.100.0/24 -j ACCEPT\n[0:0] -A INPUT -s 192.0.2.1/32 -d "
                     "203.0.113.0/24 -j ACCEPT\n[0:0] -A INPUT -s 192.0.2.2/32 -d 198.51.100.0/24"),
            std::string::npos)
      << out;
}

TEST(CommandTest, InsertReplaceDeleteByNumberAndBySpec) {
  std::string out = run({"-A INPUT -s 192.0.2.1 -j ACCEPT", "-A INPUT -s 192.0.2.2 -j ACCEPT", "-I INPUT -s 192.0.2.3",
                         "-I INPUT 2 -s 192.0.2.4 -j DROP", "-R INPUT 1 -s 192.0.2.5", "-D INPUT -s 192.0.2.1 -j ACCEPT",
                         "-D INPUT 3"});
  EXPECT_EQ(out, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                 "[0:0] -A INPUT -s 192.0.2.5/32\n[0:0] -A INPUT -s 192.0.2.4/32 -j DROP\nCOMMIT\n");
}

TEST(CommandTest, ChainsPolicyRenameAndDelete) {
  std::string out = run({"-N b", "-N a", "-A INPUT -j a", "-E a c", "-P FORWARD DROP", "-X b"});
  EXPECT_EQ(out, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:c - [0:0]\n"
                 "[0:0] -A INPUT -j c\nCOMMIT\n");
}

// Checked on 6.18 with iptables-legacy 1.8.9 in a fresh namespace, one
// command each: iptables refuses DROP in nat itself ("The "nat" table is
// not intended for filtering, the use of DROP is therefore inhibited.",
// exit 2, also for -P, -I, -g and inside a user chain); the kernel refuses
// the others with EINVAL (xt_check_target: the extension's table or hook
// mask; exit 1, "iptables: Invalid argument"). The lines of `accepted`
// were accepted by the same kernel.
TEST(CommandTest, RefusesTargetsOutsideTheirTableOrHooks) {
  const char* const kNatDrop = "The \"nat\" table is not intended for filtering";
  EXPECT_NE(run({"-t nat -A PREROUTING -j DROP"}).find(std::string("cmd:1:25: error: ") + kNatDrop), std::string::npos)
      << run({"-t nat -A PREROUTING -j DROP"});
  EXPECT_NE(run({"-t nat -P PREROUTING DROP"}).find(std::string("cmd:1:22: error: ") + kNatDrop), std::string::npos)
      << run({"-t nat -P PREROUTING DROP"});
  for (const char* line : {"-t nat -I OUTPUT -p tcp -j DROP", "-t nat -A OUTPUT ! -p tcp -j DROP"}) {
    EXPECT_NE(run({line}).find(kNatDrop), std::string::npos) << line;
  }
  EXPECT_NE(run({"-t nat -N x", "-t nat -A x -j DROP"}).find(kNatDrop), std::string::npos);
  EXPECT_NE(run({"-t nat -N x", "-t nat -A OUTPUT -g DROP"}).find(kNatDrop), std::string::npos);
  for (const char* line : {
           "-t mangle -A INPUT -j REJECT", "-t mangle -A PREROUTING -j REJECT", "-t raw -A PREROUTING -j REJECT",
           "-t nat -A INPUT -j REJECT", "-t filter -A INPUT -j TRACE", "-t mangle -A PREROUTING -j TRACE",
           "-t mangle -A PREROUTING -j CT --zone 1", "-t filter -A INPUT -j NOTRACK",
           "-t nat -A PREROUTING -j MASQUERADE", "-t nat -A INPUT -j MASQUERADE", "-t nat -A POSTROUTING -j REDIRECT",
           "-t nat -A INPUT -j DNAT --to-destination 192.0.2.1", "-t nat -A PREROUTING -j SNAT --to-source 192.0.2.1",
           "-t filter -A INPUT -j MASQUERADE", "-t mangle -A POSTROUTING -j MASQUERADE",
           "-t filter -A INPUT -j DNAT --to-destination 192.0.2.1", "-t filter -A INPUT -j TTL --ttl-set 3",
           "-t filter -A INPUT -j CHECKSUM --checksum-fill", "-t filter -A INPUT -j CLASSIFY --set-class 1:1",
           "-t mangle -A PREROUTING -j CLASSIFY --set-class 1:1", "-t filter -A INPUT -j DSCP --set-dscp 1",
           "-t filter -A INPUT -j TOS --set-tos 1", "-t raw -A PREROUTING -j TOS --set-tos 1",
           "-A INPUT -m string --algo fsm --string abcd", "-A INPUT -m string --algo fsm --string abc",
           "-A INPUT -m string --algo fsm --string abcdefgh", "-A INPUT -m string --algo fsm --string a"}) {
    EXPECT_EQ(run({line}).rfind("ERROR cmd:1:", 0), 0u) << line;
  }
  for (const char* line : {"-t nat -A OUTPUT -j ACCEPT", "-t nat -A PREROUTING -j MARK --set-mark 1",
                           "-t nat -A PREROUTING -j CONNMARK --set-mark 1", "-t raw -A PREROUTING -j MARK --set-mark 1",
                           "-t raw -A PREROUTING -j CONNMARK --set-mark 1", "-t nat -A PREROUTING -j LOG",
                           "-A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1000"}) {
    EXPECT_EQ(run({line}).find("ERROR"), std::string::npos) << line << ": " << run({line});
  }
}

TEST(CommandTest, RefusesWhatIptablesRefuses) {
  EXPECT_NE(run({"-N a", "-A INPUT -j a", "-X a"}).find("Can't delete chain with references left"), std::string::npos);
  EXPECT_NE(run({"-A INPUT -j nosuchchain"}).find("Couldn't load target `nosuchchain'"), std::string::npos);
  EXPECT_NE(run({"-A INPUT -g nosuchchain"}).find("goto 'nosuchchain' is not a chain"), std::string::npos);
  EXPECT_NE(run({"-A NOSUCH -j ACCEPT"}).find("No chain/target/match by that name."), std::string::npos);
  EXPECT_NE(run({"-A INPUT -o eth0 -j ACCEPT"}).find("Can't use -o with INPUT"), std::string::npos);
  EXPECT_NE(run({"-A INPUT --dport 22 -j ACCEPT"}).find("cmd:1:10: error: unknown option \"--dport\""), std::string::npos);
  EXPECT_NE(run({"-A INPUT ! ! -s 1.2.3.4"}).find("multiple `!' flags not allowed"), std::string::npos);
  EXPECT_NE(run({"-A INPUT -s 1.2.3.4 -s 1.2.3.5"}).find("multiple -s flags not allowed"), std::string::npos);
  EXPECT_NE(run({"-A INPUT -p bogus"}).find("unknown protocol \"bogus\" specified"), std::string::npos);
  EXPECT_NE(run({"-A INPUT -s 1.2.3.4/33"}).find("invalid mask `33' specified"), std::string::npos);
  EXPECT_NE(run({"-A INPUT -i abcdefghijklmnop"}).find("must be shorter than IFNAMSIZ"), std::string::npos);
  EXPECT_NE(run({"-A INPUT ! -p all"}).find("rule would never match protocol"), std::string::npos);
  EXPECT_NE(run({"-N INPUT"}).find("Chain already exists"), std::string::npos);
  EXPECT_NE(run({"-N ACCEPT"}).find("chain name may not clash with target name"), std::string::npos);
  EXPECT_NE(run({"-N a", "-N b", "-A a -j b", "-A b -j a", "-A INPUT -j a"}).find("loop"), std::string::npos);
  EXPECT_NE(run({"-P INPUT REJECT"}).find("Bad policy name"), std::string::npos);
  EXPECT_NE(run({"-A INPUT -m nosuchmatch"}).find("Couldn't load match `nosuchmatch'"), std::string::npos);
  EXPECT_NE(run({"-t bogus -A INPUT"}).find("Table does not exist"), std::string::npos);
}

TEST(CommandTest, FailedCommandLeavesTheRulesetUnchanged) {
  xt::Ruleset rs;
  ASSERT_TRUE(apply_iptables_line("-N a", rs, 1));
  ASSERT_TRUE(apply_iptables_line("-N b", rs, 2));
  ASSERT_TRUE(apply_iptables_line("-A a -j b", rs, 3));
  ASSERT_TRUE(apply_iptables_line("-A INPUT -j a", rs, 4));
  std::string before = save(rs);
  EXPECT_FALSE(apply_iptables_line("-A b -j a", rs, 5));  // a loop: the kernel refuses the table
  EXPECT_EQ(save(rs), before);
}

TEST(CommandTest, CountersOption) {
  EXPECT_NE(run({"-A INPUT -c 5 500 -j ACCEPT"}).find("[5:500] -A INPUT -j ACCEPT"), std::string::npos);
  EXPECT_NE(run({"-A INPUT --set-counters 7,70"}).find("[7:70] -A INPUT\n"), std::string::npos);
}

TEST(CommandTest, ShellQuotingInScenarioLines) {
  xt::Ruleset rs;
  auto r = apply_iptables_line("-A INPUT -s '192.0.2.1' -j \"DROP\"", rs, 1);
  ASSERT_TRUE(r) << r.error().format("x");
  EXPECT_NE(save(rs).find("-A INPUT -s 192.0.2.1/32 -j DROP"), std::string::npos);
}

}  // namespace
}  // namespace nfemu::ruleset
