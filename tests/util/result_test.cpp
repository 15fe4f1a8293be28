#include "util/result.h"

#include <gtest/gtest.h>

namespace nfemu {
namespace {

TEST(ErrorTest, FormatsLikeACompiler) {
  EXPECT_EQ(make_error("bad", 3, 7).format("f.rules"), "f.rules:3:7: error: bad");
  EXPECT_EQ(make_error("bad", 3).format("f.rules"), "f.rules:3: error: bad");
  EXPECT_EQ(make_error("bad").format("f.rules"), "f.rules: error: bad");
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> good = 4;
  Result<int> bad = make_error("no");
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 4);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "no");
}

}  // namespace
}  // namespace nfemu
