#include "upviz/log/decompress.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace upviz::log {
namespace {

const std::string kDir = UPVIZ_LOG_FIXTURES;

TEST(DecompressTest, EveryFormatGivesTheSameText) {
  auto plain = read_file(kDir + "/index/Packages");
  ASSERT_TRUE(plain);
  ASSERT_FALSE(plain->empty());
  for (const char* ext : {".gz", ".xz", ".lz4"}) {
    auto z = read_file(kDir + "/index/Packages" + ext);
    ASSERT_TRUE(z) << ext << ": " << z.error().message;
    EXPECT_EQ(*z, *plain) << ext;
  }
  auto log = read_file(kDir + "/udd/udd.gource.log");
  auto bz = read_file(kDir + "/udd/udd.gource.log.bz2");
  ASSERT_TRUE(bz);
  EXPECT_EQ(*bz, *log);
}

TEST(DecompressTest, DetectsByMagic) {
  EXPECT_EQ(detect_compression("\x1f\x8b\x08"), Compression::kGzip);
  EXPECT_EQ(detect_compression("BZh9"), Compression::kBzip2);
  EXPECT_EQ(detect_compression("BZhx"), Compression::kNone);
  EXPECT_EQ(detect_compression(std::string("\xfd" "7zXZ\0", 6)), Compression::kXz);
  EXPECT_EQ(detect_compression("\x04\x22\x4d\x18"), Compression::kLz4);
  EXPECT_EQ(detect_compression("Package: x"), Compression::kNone);
}

TEST(DecompressTest, TruncatedDataIsAnError) {
  for (const char* name : {"/index/Packages.gz", "/index/Packages.xz", "/index/Packages.lz4",
                           "/udd/udd.gource.log.bz2"}) {
    // The raw bytes: read_file would decompress them.
    std::FILE* f = std::fopen((kDir + name).c_str(), "rb");
    ASSERT_NE(f, nullptr);
    std::string bytes(1 << 16, '\0');
    bytes.resize(std::fread(bytes.data(), 1, bytes.size(), f));
    std::fclose(f);
    auto cut = decompress(std::string_view(bytes).substr(0, bytes.size() / 2));
    EXPECT_FALSE(cut) << name;
  }
}

TEST(DecompressTest, MissingFile) {
  auto r = read_file(kDir + "/no/such/file");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace upviz::log
