// ClusterKeys: the Redis names of cluster mode (docs/cluster.md) and the mapping between stream
// entry ids and event sequences, which must keep log order and refuse what is not an id.
#include "cluster/cluster_keys.h"

#include <cstdint>
#include <optional>

#include "gtest/gtest.h"

namespace wsbridge::cluster {
namespace {

TEST(ClusterKeysTest, NamesFollowTheSchema) {
  const ClusterKeys keys;
  EXPECT_EQ(keys.TopicChannel("prices"), "wsb:t:prices");
  EXPECT_EQ(keys.UserChannel("alice"), "wsb:u:alice");
  EXPECT_EQ(keys.NodeChannel("node-1"), "wsb:n:node-1");
  EXPECT_EQ(keys.AllChannel(), "wsb:all");
  EXPECT_EQ(keys.ProbeChannel(), "wsb:probe");
  EXPECT_EQ(keys.Session("abc"), "wsb:s:abc");
  EXPECT_EQ(keys.AllSessions(), "wsb:sessions");
  EXPECT_EQ(keys.UserSessions("alice"), "wsb:us:alice");
  EXPECT_EQ(keys.TopicSessions("prices"), "wsb:ts:prices");
  EXPECT_EQ(keys.NodeSessions("node-1"), "wsb:ns:node-1");
  EXPECT_EQ(keys.Nodes(), "wsb:nodes");
  EXPECT_EQ(keys.Events(), "wsb:events");
  EXPECT_EQ(keys.Group("workers"), "wsb:g:workers");
  EXPECT_EQ(ClusterKeys("other:").TopicChannel("x"), "other:t:x");
}

TEST(ClusterKeysTest, SequencesKeepStreamOrderAndRoundTrip) {
  EXPECT_EQ(SequenceOfStreamId("0-1"), std::optional<uint64_t>(1));
  EXPECT_EQ(SequenceOfStreamId("1-0"), std::optional<uint64_t>(uint64_t{1} << 20));
  const uint64_t a = *SequenceOfStreamId("1700000000000-5");
  const uint64_t b = *SequenceOfStreamId("1700000000000-6");
  const uint64_t c = *SequenceOfStreamId("1700000000001-0");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(StreamIdOfSequence(a), "1700000000000-5");
  EXPECT_EQ(StreamIdOfSequence(c), "1700000000001-0");
  EXPECT_EQ(StreamIdOfSequence(0), "0-0");
}

TEST(ClusterKeysTest, WhatIsNotAStreamIdHasNoSequence) {
  for (const char* bad : {"", "-", "1", "1-", "-1", "a-1", "1-b", "+1-1", " 1-1", "1-1-1",
                          "1-1048576", "17592186044416-0"}) {
    EXPECT_EQ(SequenceOfStreamId(bad), std::nullopt) << bad;
  }
  EXPECT_TRUE(SequenceOfStreamId("1-1048575").has_value());
  EXPECT_TRUE(SequenceOfStreamId("17592186044415-0").has_value());
}

}  // namespace
}  // namespace wsbridge::cluster
