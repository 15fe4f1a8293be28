#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "upviz/render/raster.h"
#include "upviz/render/renderer.h"

namespace upviz::render {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("upviz_render_test_" + std::to_string(getpid()) + "_" + name);
}

std::string small_log() { return read_file(fs::path(UPVIZ_TEST_DATA) / "small.log"); }

RenderOptions tiny(const fs::path& out) {
  RenderOptions o;
  o.output = out.string();
  o.width = 96;
  o.height = 64;
  o.framerate = 25;
  o.seconds_per_day = 2;
  o.progress = false;
  o.key = true;
  o.title = "t";
  return o;
}

TEST(RenderTest, PpmStreamHeadersAndSize) {
  const fs::path out = temp_path("a.ppm");
  std::istringstream log(small_log());
  auto r = render(tiny(out), log);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GT(r->frames, 10);
  EXPECT_EQ(r->bad_lines, 1);
  EXPECT_EQ(r->first_bad_lines, std::vector<int64_t>{6});
  const std::string data = read_file(out);
  const std::string header = "P6\n96 64\n255\n";
  const size_t frame = header.size() + 96 * 64 * 3;
  ASSERT_EQ(data.size(), frame * r->frames);
  for (int64_t i = 0; i < r->frames; ++i) ASSERT_EQ(data.compare(i * frame, header.size(), header), 0) << i;
  // The picture is not empty: something was drawn on the black background.
  EXPECT_NE(data.find_first_not_of('\0', header.size()), std::string::npos);
  fs::remove(out);
}

TEST(RenderTest, SameInputSameBytesWhateverTheThreads) {
  const fs::path a = temp_path("d1.ppm"), b = temp_path("d2.ppm");
  RenderOptions oa = tiny(a), ob = tiny(b);
  oa.threads = 1;
  ob.threads = 3;
  std::istringstream la(small_log()), lb(small_log());
  ASSERT_TRUE(render(oa, la));
  ASSERT_TRUE(render(ob, lb));
  const std::string da = read_file(a), db = read_file(b);
  EXPECT_GT(da.size(), 0u);
  EXPECT_TRUE(da == db);
  fs::remove(a);
  fs::remove(b);
}

TEST(RenderTest, NothingValidIsAnError) {
  std::istringstream log("just\nsome text\n");
  auto r = render(tiny(temp_path("never.ppm")), log);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no valid log entries"), std::string::npos);
  EXPECT_NE(r.error().message.find("lines 1, 2"), std::string::npos);
  EXPECT_FALSE(fs::exists(temp_path("never.ppm")));
}

TEST(RenderTest, UnwritableOutputIsAnError) {
  std::istringstream log(small_log());
  auto r = render(tiny("/nonexistent-dir/out.ppm"), log);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("/nonexistent-dir/out.ppm"), std::string::npos);
}

TEST(RenderTest, SnapshotPng) {
  const fs::path out = temp_path("snap.png");
  RenderOptions o = tiny(out);
  o.snapshot_seconds = 1.0;
  std::istringstream log(small_log());
  auto r = render(o, log);
  ASSERT_TRUE(r) << r.error().message;
  const std::string data = read_file(out);
  ASSERT_GT(data.size(), 8u);
  EXPECT_EQ(data.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  fs::remove(out);
}

bool have_ffprobe() { return std::system("command -v ffprobe >/dev/null 2>&1") == 0; }

TEST(RenderTest, TinyWebm) {
  const fs::path out = temp_path("tiny.webm");
  RenderOptions o = tiny(out);
  std::istringstream log(small_log());
  auto r = render(o, log);
  ASSERT_TRUE(r) << r.error().message;
  const std::string data = read_file(out);
  ASSERT_GT(data.size(), 100u);
  EXPECT_EQ(data.substr(0, 4), std::string("\x1a\x45\xdf\xa3", 4));  // EBML magic
  EXPECT_NE(data.find("webm"), std::string::npos);
  {
    // Encoded video is reproducible too (bit-exact muxing, fixed encoder speed).
    const fs::path again = temp_path("tiny2.webm");
    std::istringstream log2(small_log());
    ASSERT_TRUE(render(tiny(again), log2));
    EXPECT_TRUE(read_file(again) == data);
    fs::remove(again);
  }
  if (!have_ffprobe()) {
    fs::remove(out);
    GTEST_SKIP() << "ffprobe not installed (Debian package ffmpeg): container checked by magic only";
  }
  const std::string cmd = "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                          "stream=codec_name,width,height,nb_read_frames -of csv=p=0 '" + out.string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  const size_t n = fread(buf, 1, sizeof buf - 1, p);
  pclose(p);
  EXPECT_EQ(std::string(buf, n), "vp8,96,64," + std::to_string(r->frames) + "\n");
  fs::remove(out);
}

TEST(RenderTest, TinyMp4) {
  const fs::path out = temp_path("tiny.mp4");
  std::istringstream log(small_log());
  auto r = render(tiny(out), log);
  ASSERT_TRUE(r) << r.error().message;
  const std::string data = read_file(out);
  ASSERT_GT(data.size(), 100u);
  EXPECT_EQ(data.substr(4, 4), "ftyp");
  fs::remove(out);
}

TEST(RasterTest, NamesInManyScriptsHaveGlyphs) {
  TextCache cache;
  Rasteriser r(32, 32, cache);
  EXPECT_EQ(r.missing_glyphs("Andrew"), 0);
  EXPECT_EQ(r.missing_glyphs("Ирина"), 0);
  EXPECT_EQ(r.missing_glyphs("محمد"), 0);
  EXPECT_EQ(r.missing_glyphs("张伟"), 0);
  EXPECT_EQ(r.missing_glyphs("田中"), 0);
}

}  // namespace
}  // namespace upviz::render
