// The command line as users meet it: exit codes and messages.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Run {
  int status;
  std::string err;
};

Run run(const std::string& args) {
  const fs::path err = fs::temp_directory_path() / ("upviz_cli_err_" + std::to_string(getpid()));
  const std::string cmd = std::string(UPVIZ_BIN) + " render " + args + " >/dev/null 2>'" + err.string() + "'";
  const int rc = std::system(cmd.c_str());
  Run r{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, {}};
  if (FILE* f = std::fopen(err.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.err.append(buf, n);
    std::fclose(f);
  }
  fs::remove(err);
  return r;
}

const std::string kLog = std::string(UPVIZ_TEST_DATA) + "/small.log";

TEST(RenderCliTest, GourceCommandLineWorks) {
  auto r = run(kLog + " -64x48 -s 5 -a 1 -r 25 --stop-at-end --log-format custom --hide mouse,progress -o -");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 1 malformed line (first at line 6)"), std::string::npos) << r.err;
}

TEST(RenderCliTest, StandardInput) {
  auto r = run("- -64x48 -o - < " + kLog);
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(RenderCliTest, UnknownOptionExits2) {
  auto r = run(kLog + " --no-such-option -o -");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
}

TEST(RenderCliTest, BadViewportExits2) {
  EXPECT_EQ(run(kLog + " -8x8 -o -").status, 2);
  EXPECT_EQ(run(kLog + " --viewport 100 -o -").status, 2);
  auto r = run(kLog + " --viewport 0x10 -o -");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("viewport"), std::string::npos) << r.err;
}

TEST(RenderCliTest, UnwritableOutputExits2) {
  auto r = run(kLog + " -64x48 -o /nonexistent-dir/x.ppm");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("cannot open /nonexistent-dir/x.ppm"), std::string::npos) << r.err;
}

TEST(RenderCliTest, NothingValidExits2) {
  auto r = run("/dev/null -64x48 -o -");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no valid log entries"), std::string::npos) << r.err;
}

TEST(RenderCliTest, MissingLogExits2) {
  EXPECT_EQ(run("/nonexistent.log -o -").status, 2);
}

TEST(RenderCliTest, BadValuesExit2) {
  EXPECT_EQ(run(kLog + " --hide sky -o -").status, 2);
  EXPECT_EQ(run(kLog + " --log-format git -o -").status, 2);
  EXPECT_EQ(run(kLog + " --start-date yesterday -o -").status, 2);
  EXPECT_EQ(run(kLog + " -o out.gif").status, 2);
  EXPECT_EQ(run(kLog + " -65x48 -o /tmp/x.webm").status, 2);
  EXPECT_EQ(run(kLog).status, 2);  // no output
}

TEST(RenderCliTest, Help) {
  EXPECT_EQ(run("--help").status, 0);
}

}  // namespace
