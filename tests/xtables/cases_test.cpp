// Data-driven extension tests: every tests/xtables/cases/NAME.cases line is
// a rule; NAME.expected holds what the real kernel made of it (written by
// gen-expected.sh from iptables-legacy in a network namespace). nfemu must
// print the same saved rule, or refuse the same rules.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ruleset/restore.h"
#include "xtables/types.h"

namespace nfemu {
namespace {

namespace fs = std::filesystem;

std::string block_for(const std::string& table, const std::string& rule) {
  std::string chains;
  auto id = xt::table_from_name(table);
  // Several rules of one case are separated by " ;; " (case-block.sh).
  std::string rules = rule;
  for (size_t at; (at = rules.find(" ;; ")) != std::string::npos;) rules.replace(at, 4, "\n");
  std::string out = "*" + table + "\n:reached - [0:0]\n:uchain - [0:0]\n" + rules + "\n";
  if (id) {
    xt::HookMask hooks = xt::table_hooks(*id);
    for (int h = 0; h < xt::kNumHooks; ++h)
      if (hooks & (1u << h)) out += "-A " + std::string(xt::hook_chain_name(static_cast<xt::Hook>(h))) + " -j reached\n";
  }
  return out + "COMMIT\n";
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

class CasesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CasesTest, MatchesKernel) {
  fs::path cases = GetParam();
  fs::path expected = cases;
  expected.replace_extension(".expected");
  ASSERT_TRUE(fs::exists(expected)) << "run tests/xtables/gen-expected.sh " << cases.string() << " as root";
  auto in = lines_of(cases);
  auto want = lines_of(expected);
  ASSERT_EQ(in.size(), want.size()) << expected << " is stale: regenerate it";
  int checked = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string& line = in[i];
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find(' ');
    std::string table = line.substr(0, sp), rule = line.substr(sp + 1);
    xt::Ruleset rs;
    auto r = ruleset::restore(block_for(table, rule), rs);
    SCOPED_TRACE(cases.filename().string() + ":" + std::to_string(i + 1) + ": " + line);
    if (want[i].rfind("ERR", 0) == 0) {
      EXPECT_FALSE(r) << "kernel refused it: " << want[i];
    } else {
      ASSERT_TRUE(r) << r.error().format("case");
      std::string saved;
      std::istringstream ss(ruleset::save(rs));
      for (std::string l; std::getline(ss, l);) {
        if (l.rfind("-A ", 0) != 0) continue;
        if (l.size() > 11 && l.substr(l.size() - 11) == " -j reached" && l.find(' ', 3) == l.size() - 11) continue;
        saved += saved.empty() ? l : " ;; " + l;
      }
      EXPECT_EQ("OK " + saved, want[i]);
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

std::vector<std::string> all_cases() {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(NFEMU_CASES_DIR))
    if (e.path().extension() == ".cases") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(Kernel, CasesTest, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) {
                           std::string n = fs::path(info.param).stem().string();
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace nfemu
