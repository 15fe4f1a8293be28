#include "util/peer_table.h"

#include <gtest/gtest.h>

namespace nfemu {
namespace {

TEST(PeerTableTest, EveryPeerKeepsItsStateThroughGrowth) {
  PeerTable<int> t(60);
  for (uint32_t a = 0; a < 20000; ++a) t.get(a, 0, [] { return 0; }) = static_cast<int>(a) * 3;
  EXPECT_EQ(t.size(), 20000u);
  for (uint32_t a = 0; a < 20000; ++a) EXPECT_EQ(t.get(a, 1, [] { return -1; }), static_cast<int>(a) * 3) << a;
}

TEST(PeerTableTest, IdlePeersAreForgottenWhenRoomIsNeededAndComeBackFresh) {
  PeerTable<int> t(60);
  for (uint32_t a = 0; a < 1000; ++a) t.get(a, 0, [] { return 7; });
  // Seen at 30: kept. The others are idle for 60 at time 60.
  t.get(5, 30, [] { return 7; }) = 8;
  for (uint32_t a = 1000; a < 2000; ++a) t.get(a, 60, [] { return 1; });
  EXPECT_LT(t.size(), 2000u);  // some room was made by forgetting
  EXPECT_EQ(t.get(5, 61, [] { return -1; }), 8);
  // Forgotten ones come back fresh; a kept one is never made fresh.
  int fresh = 0;
  for (uint32_t a = 0; a < 1000; ++a) fresh += t.get(a, 61, [] { return -1; }) == -1;
  EXPECT_GT(fresh, 0);
  EXPECT_EQ(t.get(1999, 61, [] { return -1; }), 1);
}

TEST(PeerTableTest, NewPeersRoundAfterRoundLeaveOnlyTheRecentOnes) {
  // 100 new peers a round, a round every 100 time units (idle peers
  // forgotten after 60): 5000 peers in all, at most the last two rounds
  // held.
  PeerTable<int> t(60);
  for (int round = 0; round < 50; ++round)
    for (uint32_t a = 0; a < 100; ++a) t.get(static_cast<uint32_t>(round) * 1000 + a, round * 100, [] { return 0; });
  EXPECT_LE(t.size(), 200u);
}

}  // namespace
}  // namespace nfemu
