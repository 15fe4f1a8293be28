#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "upviz/render/gource_log.h"
#include "upviz/render/simulation.h"

namespace upviz::render {
namespace {

// A deterministic, Debian-like log: packages in sections, a few uploaders.
std::string synthetic_log(int lines, int64_t step = 3600) {
  std::ostringstream o;
  uint32_t x = 12345;
  auto rnd = [&] { return x = x * 1103515245u + 12345u, (x >> 8) & 0xFFFF; };
  const char* sections[] = {"admin", "devel", "libs", "net", "games", "doc", "python", "web"};
  int64_t t = 1000000000;
  for (int i = 0; i < lines; ++i) {
    t += step;
    o << t << "|user" << rnd() % 7 << "|" << (i % 3 ? 'M' : 'A') << "|main/" << sections[rnd() % 8] << "/pkg"
      << rnd() % 60 << "\n";
  }
  return o.str();
}

RenderOptions small_opts() {
  RenderOptions o;
  o.width = 320;
  o.height = 240;
  o.framerate = 30;
  o.seconds_per_day = 1;
  return o;
}

TEST(SimulationTest, LayoutIsStableFrameToFrame) {
  std::istringstream in(synthetic_log(300));
  LogReader reader(in);
  Simulation sim(small_opts(), [&](Commit& c) { return reader.next(c); });
  ASSERT_TRUE(sim.step());
  auto prev = sim.dir_positions();
  double worst = 0, total = 0;
  int samples = 0;
  while (sim.step()) {
    auto now = sim.dir_positions();
    // Compare directories that exist in both frames.
    size_t i = 0, j = 0;
    while (i < prev.size() && j < now.size()) {
      if (prev[i].first < now[j].first) { ++i; continue; }
      if (now[j].first < prev[i].first) { ++j; continue; }
      const double d = std::sqrt((now[j].second - prev[i].second).length2());
      worst = std::max(worst, d);
      total += d;
      ++samples;
      ++i, ++j;
    }
    prev = std::move(now);
  }
  ASSERT_GT(samples, 1000);
  // World units per frame at 30 fps; a section disc is some 100 units wide.
  EXPECT_LT(worst, 25.0);
  EXPECT_LT(total / samples, 1.0);
  EXPECT_GT(sim.frame(), 100);
}

TEST(SimulationTest, SameInputSameState) {
  const std::string log = synthetic_log(200);
  auto run = [&] {
    std::istringstream in(log);
    LogReader reader(in);
    Simulation sim(small_opts(), [&](Commit& c) { return reader.next(c); });
    while (sim.step()) {
    }
    return std::make_pair(sim.frame(), sim.dir_positions());
  };
  auto a = run(), b = run();
  EXPECT_EQ(a.first, b.first);
  ASSERT_EQ(a.second.size(), b.second.size());
  for (size_t i = 0; i < a.second.size(); ++i) {
    EXPECT_EQ(a.second[i].first, b.second[i].first);
    EXPECT_EQ(a.second[i].second.x, b.second[i].second.x);
    EXPECT_EQ(a.second[i].second.y, b.second[i].second.y);
  }
}

TEST(SimulationTest, ClockFollowsSecondsPerDayAndAutoSkip) {
  // Two commits ten days apart: auto-skip jumps the gap after 3 s of video.
  std::istringstream in("0|a|A|x\n864000|a|M|x\n");
  LogReader reader(in);
  RenderOptions o = small_opts();
  o.seconds_per_day = 10;
  o.auto_skip_seconds = 3;
  Simulation sim(o, [&](Commit& c) { return reader.next(c); });
  ASSERT_TRUE(sim.step());
  EXPECT_EQ(sim.log_time(), 0);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(sim.step());
  EXPECT_NEAR(sim.log_time(), 8640.0, 1e-6);  // one second of video is a tenth of a day
  EXPECT_EQ(sim.commits_applied(), 1);
  while (sim.step() && sim.commits_applied() < 2) {
  }
  EXPECT_EQ(sim.commits_applied(), 2);
  EXPECT_NEAR(sim.video_time(), 3.0, 0.05);
}

TEST(SimulationTest, IdleFilesAndDeletesLeave) {
  std::istringstream in("0|a|A|d/x\n0|a|A|d/y\n0|a|A|e/z\n3600|a|D|d/x\n");
  LogReader reader(in);
  RenderOptions o = small_opts();
  o.file_idle_time = 0.5;
  Simulation sim(o, [&](Commit& c) { return reader.next(c); });
  ASSERT_TRUE(sim.step());
  EXPECT_EQ(sim.live_files(), 3u);
  while (sim.step()) {
  }
  // Everything went idle or was deleted; empty directories went with them.
  EXPECT_EQ(sim.live_files(), 0u);
}

TEST(SimulationTest, MaxFilesEvictsLeastRecentlyTouched) {
  std::ostringstream log;
  for (int i = 0; i < 50; ++i) log << i * 60 << "|a|A|d/f" << i << "\n";
  std::istringstream in(log.str());
  LogReader reader(in);
  RenderOptions o = small_opts();
  o.max_files = 10;
  Simulation sim(o, [&](Commit& c) { return reader.next(c); });
  while (sim.step()) EXPECT_LE(sim.live_files(), 10u);
}

TEST(SimulationTest, SceneStaysInsideTheFrame) {
  std::istringstream in(synthetic_log(100));
  LogReader reader(in);
  RenderOptions o = small_opts();
  o.key = true;
  o.title = "T";
  Simulation sim(o, [&](Commit& c) { return reader.next(c); });
  int frames = 0;
  while (sim.step() && frames++ < 200) {
    Scene s = sim.scene();
    for (const auto& b : s.files)
      for (const auto& c : b.circles) {
        EXPECT_GE(c.x, -c.r);
        EXPECT_LE(c.x, o.width + c.r);
      }
    bool has_title = false;
    for (const auto& l : s.labels) has_title |= l.text == "T";
    EXPECT_TRUE(has_title);
  }
}

TEST(SimulationTest, StartAndStopDates) {
  std::istringstream in("100|a|A|x\n86500|a|A|y\n172900|a|A|z\n");
  LogReader reader(in);
  RenderOptions o = small_opts();
  o.start_date = 86400;
  o.stop_date = 100000;
  Simulation sim(o, [&](Commit& c) { return reader.next(c); });
  ASSERT_TRUE(sim.step());
  EXPECT_EQ(sim.log_time(), 86500);  // the clock starts at the first entry kept
  while (sim.step()) EXPECT_LE(sim.log_time(), 100000);
  EXPECT_EQ(sim.commits_applied(), 1);
}

TEST(SimulationTest, HiddenElementsAreNotDrawn) {
  std::istringstream in(synthetic_log(20));
  LogReader reader(in);
  RenderOptions o = small_opts();
  o.hide.date = o.hide.users = o.hide.tree = o.hide.dirnames = o.hide.filenames = true;
  Simulation sim(o, [&](Commit& c) { return reader.next(c); });
  ASSERT_TRUE(sim.step());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(sim.step());
  Scene s = sim.scene();
  EXPECT_TRUE(s.edges.empty());
  EXPECT_TRUE(s.users.empty());
  EXPECT_TRUE(s.beams.empty());
  EXPECT_TRUE(s.labels.empty());
  EXPECT_FALSE(s.files.empty());
}

}  // namespace
}  // namespace upviz::render
