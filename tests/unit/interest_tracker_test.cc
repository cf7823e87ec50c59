// InterestCounts, the pure part of InterestTracker (cluster/interest_tracker.h): per-shard
// first/last-holder reports become node-level edges, which decide SUBSCRIBE and UNSUBSCRIBE.
// What the tracker then asks Redis is tested against redis-server in cluster_scripts_test.cc.
#include "cluster/interest_tracker.h"

#include <gtest/gtest.h>

namespace wsbridge::cluster {
namespace {

TEST(InterestCountsTest, ANameIsHeldFromTheFirstShardHoldingItToTheLastLettingGo) {
  using Edge = InterestCounts::Edge;
  InterestCounts counts;
  EXPECT_EQ(counts.Change("wsb:t:news", true), Edge::kFirst);
  EXPECT_EQ(counts.Change("wsb:t:news", true), Edge::kNone);  // a second shard
  EXPECT_EQ(counts.holders("wsb:t:news"), 2u);
  EXPECT_EQ(counts.Change("wsb:t:news", false), Edge::kNone);
  EXPECT_EQ(counts.Change("wsb:t:news", false), Edge::kLast);
  EXPECT_EQ(counts.holders("wsb:t:news"), 0u);
  EXPECT_EQ(counts.size(), 0u);
  // Letting go of what is not held changes nothing.
  EXPECT_EQ(counts.Change("wsb:t:news", false), Edge::kNone);
  EXPECT_EQ(counts.Change("wsb:t:news", true), Edge::kFirst);
}

}  // namespace
}  // namespace wsbridge::cluster
