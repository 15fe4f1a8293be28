// Expected digests come from sha256sum, e.g. `printf 'fw/eth0' | sha256sum`.
#include "scenario/sha256.h"

#include <gtest/gtest.h>

#include <string>

#include "packet/addr.h"
#include "scenario/scenario.h"

namespace nfemu::scenario {
namespace {

TEST(Sha256Test, MatchesSha256sum) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("fw/eth0")), "1d70f2e7e135a24f43b07e8ee3bd5ba773ceeb0d4c4c061cf8ef949dbe392f8e");
}

TEST(Sha256Test, PaddingBoundaries) {
  // 55 bytes fit one padded block, 56 need two; 64 and 200 cross block ends.
  EXPECT_EQ(to_hex(sha256(std::string(55, 'a'))), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(to_hex(sha256(std::string(56, 'a'))), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(to_hex(sha256(std::string(64, 'a'))), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  EXPECT_EQ(to_hex(sha256(std::string(200, 'a'))), "c2a908d98f5df987ade41b5fce213067efbcc21ef2240212a41e54b5e7c28ae5");
}

TEST(DefaultMacTest, TwoPlusFirstFiveDigestBytes) {
  // printf 'fw/eth0' | sha256sum   -> 1d70f2e7e1...
  EXPECT_EQ(packet::format_mac(default_mac("fw", "eth0")), "02:1d:70:f2:e7:e1");
  // printf 'client/c0' | sha256sum -> 23e6b603d7...
  EXPECT_EQ(packet::format_mac(default_mac("client", "c0")), "02:23:e6:b6:03:d7");
  // printf 'router/r0' | sha256sum -> f89b1ac1fe...
  EXPECT_EQ(packet::format_mac(default_mac("router", "r0")), "02:f8:9b:1a:c1:fe");
}

}  // namespace
}  // namespace nfemu::scenario
