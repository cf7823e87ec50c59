// RoutingIndex: who a call reaches, on one I/O thread. Each test registers a few sessions (some
// with a user, some anonymous, with topics), asks the index who a Push, Broadcast, Subscribe or
// ListSessions reaches, and checks the session ids that came back, each expected exactly once.
#include "hub/routing_index.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "broker/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hub/session_endpoint.h"
#include "ws/payload.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// The index never calls its endpoints; this one fails the test if it is ever called.
class UntouchableEndpoint : public SessionEndpoint {
 public:
  DeliveryOutcome Deliver(const PayloadPtr&) override {
    ADD_FAILURE() << "RoutingIndex delivered to an endpoint";
    return DeliveryOutcome::kDropped;
  }
  void Close(uint16_t, absl::string_view) override {
    ADD_FAILURE() << "RoutingIndex closed an endpoint";
  }
  SessionCounters Counters() const override { return {}; }
};

SessionInfo Info(std::string id, std::string user_id) {
  SessionInfo info;
  info.id = std::move(id);
  info.user_id = std::move(user_id);
  info.remote_address = "203.0.113.7:51000";
  info.connected_at = absl::FromUnixSeconds(1'700'000'000);
  return info;
}

SessionSelector Selector(std::vector<std::string> session_ids, std::vector<std::string> user_ids) {
  return SessionSelector{std::move(session_ids), std::move(user_ids)};
}

DeliveryTargets PushTo(std::vector<std::string> session_ids, std::vector<std::string> user_ids) {
  DeliveryTargets targets;
  targets.selector = Selector(std::move(session_ids), std::move(user_ids));
  return targets;
}

DeliveryTargets BroadcastTo(std::vector<std::string> topics,
                            std::vector<std::string> exclude_session_ids = {}) {
  DeliveryTargets targets;
  targets.topics = std::move(topics);
  targets.exclude_session_ids = std::move(exclude_session_ids);
  return targets;
}

DeliveryTargets BroadcastToAll(std::vector<std::string> exclude_session_ids = {}) {
  DeliveryTargets targets;
  targets.all_sessions = true;
  targets.exclude_session_ids = std::move(exclude_session_ids);
  return targets;
}

// Ids of the entries, sorted but with duplicates kept, so "each once" is checked by ElementsAre.
std::vector<std::string> SortedIds(const std::vector<RoutingIndex::Entry*>& entries) {
  std::vector<std::string> ids;
  for (const RoutingIndex::Entry* entry : entries) ids.push_back(entry->info.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Ids in the order ListAfter returned them.
std::vector<std::string> ListedIds(const std::vector<const RoutingIndex::Entry*>& entries) {
  std::vector<std::string> ids;
  for (const RoutingIndex::Entry* entry : entries) ids.push_back(entry->info.id);
  return ids;
}

class RoutingIndexTest : public ::testing::Test {
 protected:
  void AddSession(std::string id, std::string user_id, std::vector<std::string> topics = {}) {
    ASSERT_TRUE(index_.Add(Info(id, std::move(user_id)), std::move(topics), &endpoint_))
        << "could not add " << id;
  }

  std::vector<std::string> Reached(const DeliveryTargets& targets,
                                   std::vector<bool>* found_named = nullptr) {
    std::vector<RoutingIndex::Entry*> out;
    index_.Resolve(targets, found_named, out);
    return SortedIds(out);
  }

  std::vector<std::string> Selected(const SessionSelector& selector,
                                    std::vector<bool>* found_named = nullptr) {
    std::vector<RoutingIndex::Entry*> out;
    index_.Select(selector, found_named, out);
    return SortedIds(out);
  }

  std::vector<std::string> TopicsOf(absl::string_view id) {
    const RoutingIndex::Entry* entry = index_.Find(id);
    EXPECT_NE(entry, nullptr) << id;
    return entry == nullptr ? std::vector<std::string>() : entry->topics;
  }

  // Everyone the index knows, through each of its three indexes.
  std::vector<std::string> ListAll() { return ListedIds(index_.ListAfter("", "", "", 1000)); }

  UntouchableEndpoint endpoint_;
  RoutingIndex index_;
};

// --- Add, Find, Remove -----------------------------------------------------------------------

TEST_F(RoutingIndexTest, AnAddedSessionIsFoundWithItsInfoAndSortedUniqueTopics) {
  AddSession("s1", "alice", {"news", "chat", "news", "alerts"});

  ASSERT_EQ(index_.size(), 1u);
  const RoutingIndex::Entry* entry = index_.Find("s1");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->info.id, "s1");
  EXPECT_EQ(entry->info.user_id, "alice");
  EXPECT_EQ(entry->info.remote_address, "203.0.113.7:51000");
  EXPECT_EQ(entry->info.connected_at, absl::FromUnixSeconds(1'700'000'000));
  EXPECT_THAT(entry->topics, ElementsAre("alerts", "chat", "news"));
  EXPECT_EQ(entry->endpoint, &endpoint_);
  EXPECT_EQ(index_.Find("s2"), nullptr);
}

TEST_F(RoutingIndexTest, AddingAnIdThatExistsIsRefusedAndChangesNothing) {
  AddSession("s1", "alice", {"news"});

  UntouchableEndpoint other;
  EXPECT_FALSE(index_.Add(Info("s1", "mallory"), {"secrets"}, &other));

  EXPECT_EQ(index_.size(), 1u);
  const RoutingIndex::Entry* entry = index_.Find("s1");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->info.user_id, "alice");
  EXPECT_EQ(entry->endpoint, &endpoint_);
  EXPECT_THAT(entry->topics, ElementsAre("news"));
  EXPECT_THAT(Reached(PushTo({}, {"mallory"})), IsEmpty());
  EXPECT_THAT(Reached(BroadcastTo({"secrets"})), IsEmpty());
  EXPECT_THAT(Reached(PushTo({}, {"alice"})), ElementsAre("s1"));
}

TEST_F(RoutingIndexTest, RemoveForgetsTheSessionInEveryIndex) {
  AddSession("s1", "alice", {"news", "chat"});
  AddSession("s2", "alice", {"news"});

  EXPECT_TRUE(index_.Remove("s1"));

  EXPECT_EQ(index_.size(), 1u);
  EXPECT_EQ(index_.Find("s1"), nullptr);
  EXPECT_THAT(Reached(PushTo({"s1"}, {})), IsEmpty());
  EXPECT_THAT(Reached(PushTo({}, {"alice"})), ElementsAre("s2"));
  EXPECT_THAT(Reached(BroadcastTo({"news", "chat"})), ElementsAre("s2"));
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "chat", 10)), IsEmpty());
  EXPECT_THAT(ListAll(), ElementsAre("s2"));
}

TEST_F(RoutingIndexTest, RemovingTheLastSessionOfAUserAndTopicLeavesNothingReachable) {
  AddSession("s1", "alice", {"news"});

  EXPECT_TRUE(index_.Remove("s1"));

  EXPECT_EQ(index_.size(), 0u);
  EXPECT_THAT(Reached(PushTo({}, {"alice"})), IsEmpty());
  EXPECT_THAT(Reached(BroadcastTo({"news"})), IsEmpty());
  EXPECT_THAT(Reached(BroadcastToAll()), IsEmpty());
  EXPECT_THAT(ListedIds(index_.ListAfter("", "alice", "", 10)), IsEmpty());
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "news", 10)), IsEmpty());
  EXPECT_THAT(ListAll(), IsEmpty());
}

TEST_F(RoutingIndexTest, RemovingAnUnknownSessionReturnsFalse) {
  AddSession("s1", "alice");
  EXPECT_FALSE(index_.Remove("s2"));
  EXPECT_TRUE(index_.Remove("s1"));
  EXPECT_FALSE(index_.Remove("s1"));
  EXPECT_EQ(index_.size(), 0u);
}

TEST_F(RoutingIndexTest, AnIdCanBeReusedAfterRemoveWithANewUserAndTopics) {
  AddSession("s1", "alice", {"news"});
  ASSERT_TRUE(index_.Remove("s1"));

  AddSession("s1", "bob", {"chat"});

  EXPECT_THAT(Reached(PushTo({}, {"alice"})), IsEmpty());
  EXPECT_THAT(Reached(BroadcastTo({"news"})), IsEmpty());
  EXPECT_THAT(Reached(PushTo({}, {"bob"})), ElementsAre("s1"));
  EXPECT_THAT(Reached(BroadcastTo({"chat"})), ElementsAre("s1"));
}

// --- Resolve: Push (session ids and users) ---------------------------------------------------

TEST_F(RoutingIndexTest, PushReachesTheNamedSessionsAndEverySessionOfTheNamedUsers) {
  AddSession("s1", "alice");
  AddSession("s2", "alice");
  AddSession("s3", "bob");
  AddSession("s4", "carol");
  AddSession("s5", "");

  EXPECT_THAT(Reached(PushTo({"s4"}, {"alice"})), ElementsAre("s1", "s2", "s4"));
  EXPECT_THAT(Reached(PushTo({"s5"}, {})), ElementsAre("s5"));
}

TEST_F(RoutingIndexTest, ASessionNamedTwiceIsReachedOnceAndBothEntriesAreFound) {
  AddSession("s1", "alice");

  std::vector<bool> found(2, false);
  EXPECT_THAT(Reached(PushTo({"s1", "s1"}, {}), &found), ElementsAre("s1"));
  EXPECT_THAT(found, ElementsAre(true, true));
}

TEST_F(RoutingIndexTest, ASessionNamedAndAlsoReachedThroughItsUserIsReachedOnce) {
  AddSession("s1", "alice");
  AddSession("s2", "alice");

  EXPECT_THAT(Reached(PushTo({"s1", "s2"}, {"alice", "alice"})), ElementsAre("s1", "s2"));
}

TEST_F(RoutingIndexTest, FoundNamedMarksOnlyTheIdsRegisteredHere) {
  AddSession("s1", "alice");
  AddSession("s3", "bob");

  std::vector<bool> found(4, false);
  EXPECT_THAT(Reached(PushTo({"s1", "elsewhere", "s3", ""}, {}), &found), ElementsAre("s1", "s3"));
  EXPECT_THAT(found, ElementsAre(true, false, true, false));
}

TEST_F(RoutingIndexTest, AnUnknownUserReachesNobody) {
  AddSession("s1", "alice");
  EXPECT_THAT(Reached(PushTo({}, {"bob"})), IsEmpty());
}

TEST_F(RoutingIndexTest, AnonymousSessionsAreNotReachableByUserButByIdTopicAndAllSessions) {
  AddSession("anon1", "", {"lobby"});
  AddSession("anon2", "");
  AddSession("s1", "alice");

  EXPECT_THAT(Reached(PushTo({}, {""})), IsEmpty());
  EXPECT_THAT(Selected(Selector({}, {""})), IsEmpty());
  EXPECT_THAT(Reached(PushTo({"anon2"}, {})), ElementsAre("anon2"));
  EXPECT_THAT(Reached(BroadcastTo({"lobby"})), ElementsAre("anon1"));
  EXPECT_THAT(Reached(BroadcastToAll()), ElementsAre("anon1", "anon2", "s1"));
}

TEST_F(RoutingIndexTest, ResolveAppendsToWhatTheCallerAlreadyCollected) {
  AddSession("s1", "alice");
  AddSession("s2", "bob");

  std::vector<RoutingIndex::Entry*> out;
  index_.Resolve(PushTo({"s1"}, {}), nullptr, out);
  index_.Resolve(PushTo({"s2"}, {}), nullptr, out);

  EXPECT_THAT(SortedIds(out), ElementsAre("s1", "s2"));
}

TEST_F(RoutingIndexTest, EachResolutionReachesASessionAgain) {
  // The dedup mark of one call must not hide the session from the next call.
  AddSession("s1", "alice", {"news"});

  for (int call = 0; call < 3; ++call) {
    EXPECT_THAT(Reached(PushTo({"s1"}, {"alice"})), ElementsAre("s1")) << "call " << call;
    EXPECT_THAT(Reached(BroadcastTo({"news"})), ElementsAre("s1")) << "call " << call;
    EXPECT_THAT(Selected(Selector({"s1"}, {})), ElementsAre("s1")) << "call " << call;
  }
}

// --- Resolve: Broadcast (topics, all sessions, exclusion) ------------------------------------

TEST_F(RoutingIndexTest, BroadcastReachesTheSubscribersOfAnyTopicEachOnce) {
  AddSession("s1", "alice", {"news"});
  AddSession("s2", "bob", {"news", "sports"});
  AddSession("s3", "carol", {"sports"});
  AddSession("s4", "dave", {"weather"});

  EXPECT_THAT(Reached(BroadcastTo({"news", "sports"})), ElementsAre("s1", "s2", "s3"));
  EXPECT_THAT(Reached(BroadcastTo({"news", "news"})), ElementsAre("s1", "s2"));
  EXPECT_THAT(Reached(BroadcastTo({"nobody-listens"})), IsEmpty());
}

TEST_F(RoutingIndexTest, AllSessionsReachesEverySessionOnce) {
  AddSession("s1", "alice", {"news"});
  AddSession("s2", "alice");
  AddSession("s3", "");

  EXPECT_THAT(Reached(BroadcastToAll()), ElementsAre("s1", "s2", "s3"));
}

TEST_F(RoutingIndexTest, AnExcludedSessionIsNotReachedByAnyTopic) {
  AddSession("sender", "alice", {"chat", "news"});
  AddSession("s2", "bob", {"chat"});

  EXPECT_THAT(Reached(BroadcastTo({"chat", "news"}, {"sender"})), ElementsAre("s2"));
}

TEST_F(RoutingIndexTest, AnExcludedSessionIsNotReachedByAllSessions) {
  AddSession("sender", "alice");
  AddSession("s2", "bob");
  AddSession("s3", "");

  EXPECT_THAT(Reached(BroadcastToAll({"sender", "s3"})), ElementsAre("s2"));
}

TEST_F(RoutingIndexTest, ExclusionWinsOverBeingNamedAndOverTheUser) {
  AddSession("s1", "alice", {"news"});
  AddSession("s2", "alice", {"news"});

  DeliveryTargets targets = PushTo({"s1"}, {"alice"});
  targets.topics = {"news"};
  targets.exclude_session_ids = {"s1"};
  std::vector<bool> found(1, false);

  EXPECT_THAT(Reached(targets, &found), ElementsAre("s2"));
  // s1 is online here, so it is not "unknown"; it is just not a recipient.
  EXPECT_THAT(found, ElementsAre(true));
}

TEST_F(RoutingIndexTest, SkippedTopicsSplitAMultiTopicBroadcastIntoOneCopyPerTopic) {
  // Cluster mode publishes a Broadcast to {news, sports, weather} as one copy per topic; the
  // copy for topic k skips the subscribers of the topics before it.
  AddSession("s1", "alice", {"news"});
  AddSession("s2", "bob", {"news", "sports"});
  AddSession("s3", "carol", {"sports", "weather"});
  AddSession("s4", "dave", {"weather"});

  DeliveryTargets news = BroadcastTo({"news"});
  DeliveryTargets sports = BroadcastTo({"sports"});
  sports.skip_topics = {"news"};
  DeliveryTargets weather = BroadcastTo({"weather"});
  weather.skip_topics = {"news", "sports"};

  EXPECT_THAT(Reached(news), ElementsAre("s1", "s2"));
  EXPECT_THAT(Reached(sports), ElementsAre("s3"));
  EXPECT_THAT(Reached(weather), ElementsAre("s4"));
  // A skipped topic nobody here holds skips nobody.
  DeliveryTargets nobody = BroadcastTo({"news"});
  nobody.skip_topics = {"nobody-listens"};
  EXPECT_THAT(Reached(nobody), ElementsAre("s1", "s2"));
}

TEST_F(RoutingIndexTest, ExcludingAnUnknownIdChangesNothing) {
  AddSession("s1", "alice", {"news"});
  EXPECT_THAT(Reached(BroadcastTo({"news"}, {"ghost"})), ElementsAre("s1"));
  EXPECT_THAT(Reached(BroadcastToAll({"ghost"})), ElementsAre("s1"));
}

TEST_F(RoutingIndexTest, AnExclusionAppliesOnlyToTheCallThatNamedIt) {
  AddSession("s1", "alice", {"news"});

  EXPECT_THAT(Reached(BroadcastTo({"news"}, {"s1"})), IsEmpty());
  EXPECT_THAT(Reached(BroadcastTo({"news"})), ElementsAre("s1"));
}

// --- Select ------------------------------------------------------------------------------------

TEST_F(RoutingIndexTest, SelectReturnsNamedAndUserSessionsOnceAndMarksFoundIds) {
  AddSession("s1", "alice", {"news"});
  AddSession("s2", "alice");
  AddSession("s3", "bob");

  std::vector<bool> found(3, false);
  EXPECT_THAT(Selected(Selector({"s1", "ghost", "s3"}, {"alice"}), &found),
              ElementsAre("s1", "s2", "s3"));
  EXPECT_THAT(found, ElementsAre(true, false, true));
}

// --- Subscribe / Unsubscribe -----------------------------------------------------------------

TEST_F(RoutingIndexTest, SubscribeAddsTheTopicsToEverySelectedSession) {
  AddSession("s1", "alice", {"news"});
  AddSession("s2", "alice");
  AddSession("s3", "bob");

  EXPECT_EQ(index_.Subscribe(Selector({"s3"}, {"alice"}), {"sports", "chat"}, 256).subscribed, 3u);

  EXPECT_THAT(TopicsOf("s1"), ElementsAre("chat", "news", "sports"));
  EXPECT_THAT(TopicsOf("s2"), ElementsAre("chat", "sports"));
  EXPECT_THAT(TopicsOf("s3"), ElementsAre("chat", "sports"));
  EXPECT_THAT(Reached(BroadcastTo({"sports"})), ElementsAre("s1", "s2", "s3"));
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "chat", 10)), ElementsAre("s1", "s2", "s3"));
}

TEST_F(RoutingIndexTest, SubscribeCountsEachSelectedSessionOnce) {
  AddSession("s1", "alice");
  EXPECT_EQ(index_.Subscribe(Selector({"s1", "s1"}, {"alice"}), {"news"}, 256).subscribed, 1u);
}

TEST_F(RoutingIndexTest, SubscribingToATopicItAlreadyHasCountsTheSession) {
  AddSession("s1", "alice", {"news"});
  EXPECT_EQ(index_.Subscribe(Selector({"s1"}, {}), {"news"}, 256).subscribed, 1u);
  EXPECT_THAT(TopicsOf("s1"), ElementsAre("news"));
}

TEST_F(RoutingIndexTest, SubscribeUpToTheLimitIsAllowed) {
  AddSession("s1", "alice", {"a"});
  EXPECT_EQ(index_.Subscribe(Selector({"s1"}, {}), {"b", "c"}, 3).subscribed, 1u);
  EXPECT_THAT(TopicsOf("s1"), ElementsAre("a", "b", "c"));
}

TEST_F(RoutingIndexTest, ASessionThatWouldPassTheTopicLimitIsLeftUnchangedAndNotCounted) {
  AddSession("full", "alice", {"a", "b"});
  AddSession("roomy", "alice");

  // Limit 3: "full" would end with 4 topics, "roomy" with 2.
  const SubscribeCounts counts = index_.Subscribe(Selector({}, {"alice"}), {"c", "d"}, 3);

  EXPECT_EQ(counts.subscribed, 1u);
  EXPECT_EQ(counts.refused, 1u);
  EXPECT_EQ(counts.refused_session_id, "full");
  EXPECT_EQ(counts.refused_session_topics, 2u);
  EXPECT_EQ(counts.refused_session_would_have, 4u);
  EXPECT_EQ(counts.max_topics_per_session, 3u);

  EXPECT_THAT(TopicsOf("full"), ElementsAre("a", "b"));
  EXPECT_THAT(TopicsOf("roomy"), ElementsAre("c", "d"));
  EXPECT_THAT(Reached(BroadcastTo({"c", "d"})), ElementsAre("roomy"));
}

TEST_F(RoutingIndexTest, TopicsASessionAlreadyHasDoNotCountAgainstTheLimit) {
  AddSession("s1", "alice", {"a", "b"});
  EXPECT_EQ(index_.Subscribe(Selector({"s1"}, {}), {"a", "b", "c"}, 3).subscribed, 1u);
  EXPECT_THAT(TopicsOf("s1"), ElementsAre("a", "b", "c"));
}

TEST_F(RoutingIndexTest, ATopicNamedTwiceInOneSubscribeCountsOnceAgainstTheLimit) {
  AddSession("s1", "alice", {"a"});

  // The session would end with {"a", "b"}: 2 topics, within the limit of 2.
  // (The API passes Subscribe's topics through as given, duplicates included.)
  EXPECT_EQ(index_.Subscribe(Selector({"s1"}, {}), {"b", "b"}, 2).subscribed, 1u);
  EXPECT_THAT(TopicsOf("s1"), ElementsAre("a", "b"));
}

TEST_F(RoutingIndexTest, SubscribeOfNobodyReturnsZero) {
  AddSession("s1", "alice");
  EXPECT_EQ(index_.Subscribe(Selector({"ghost"}, {"bob", ""}), {"news"}, 256).subscribed, 0u);
  EXPECT_THAT(Reached(BroadcastTo({"news"})), IsEmpty());
}

TEST_F(RoutingIndexTest, UnsubscribeRemovesTheTopicsAndCountsEverySelectedSession) {
  AddSession("s1", "alice", {"chat", "news"});
  AddSession("s2", "alice", {"news"});
  AddSession("s3", "alice");  // had none of them: still selected, still counted
  AddSession("s4", "bob", {"news"});

  EXPECT_EQ(index_.Unsubscribe(Selector({}, {"alice"}), {"news", "chat"}), 3u);

  EXPECT_THAT(TopicsOf("s1"), IsEmpty());
  EXPECT_THAT(TopicsOf("s2"), IsEmpty());
  EXPECT_THAT(TopicsOf("s4"), ElementsAre("news"));
  EXPECT_THAT(Reached(BroadcastTo({"news"})), ElementsAre("s4"));
  EXPECT_THAT(Reached(BroadcastTo({"chat"})), IsEmpty());
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "chat", 10)), IsEmpty());
}

TEST_F(RoutingIndexTest, UnsubscribeThenRemoveLeavesNoTrace) {
  AddSession("s1", "alice", {"news"});
  EXPECT_EQ(index_.Unsubscribe(Selector({"s1"}, {}), {"news"}), 1u);
  EXPECT_TRUE(index_.Remove("s1"));
  EXPECT_THAT(Reached(BroadcastTo({"news"})), IsEmpty());
  EXPECT_THAT(ListAll(), IsEmpty());
}

TEST_F(RoutingIndexTest, UnsubscribeOfNobodyReturnsZero) {
  AddSession("s1", "alice", {"news"});
  EXPECT_EQ(index_.Unsubscribe(Selector({"ghost"}, {"bob"}), {"news"}), 0u);
  EXPECT_THAT(TopicsOf("s1"), ElementsAre("news"));
}

// --- ListAfter ---------------------------------------------------------------------------------

class RoutingIndexListTest : public RoutingIndexTest {
 protected:
  void SetUp() override {
    // Added out of order, so any ordering in the answer comes from ListAfter.
    AddSession("s4", "bob", {"news"});
    AddSession("s1", "alice", {"news"});
    AddSession("s6", "", {"news"});
    AddSession("s3", "alice", {"sports"});
    AddSession("s2", "bob");
    AddSession("s5", "alice", {"news", "sports"});
  }
};

TEST_F(RoutingIndexListTest, ListsEverySessionOrderedById) {
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "", 100)),
              ElementsAre("s1", "s2", "s3", "s4", "s5", "s6"));
}

TEST_F(RoutingIndexListTest, ListsOnlySessionsAfterTheGivenId) {
  EXPECT_THAT(ListedIds(index_.ListAfter("s3", "", "", 100)), ElementsAre("s4", "s5", "s6"));
  // The id need not be registered: it is a position in id order.
  EXPECT_THAT(ListedIds(index_.ListAfter("s3x", "", "", 100)), ElementsAre("s4", "s5", "s6"));
  EXPECT_THAT(ListedIds(index_.ListAfter("s6", "", "", 100)), IsEmpty());
}

TEST_F(RoutingIndexListTest, TheLimitKeepsTheSmallestIds) {
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "", 2)), ElementsAre("s1", "s2"));
  EXPECT_THAT(ListedIds(index_.ListAfter("s2", "", "", 3)), ElementsAre("s3", "s4", "s5"));
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "", 6)),
              ElementsAre("s1", "s2", "s3", "s4", "s5", "s6"));
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "", 0)), IsEmpty());
}

TEST_F(RoutingIndexListTest, FiltersByUser) {
  EXPECT_THAT(ListedIds(index_.ListAfter("", "alice", "", 100)), ElementsAre("s1", "s3", "s5"));
  EXPECT_THAT(ListedIds(index_.ListAfter("s1", "alice", "", 1)), ElementsAre("s3"));
  EXPECT_THAT(ListedIds(index_.ListAfter("", "nobody", "", 100)), IsEmpty());
}

TEST_F(RoutingIndexListTest, FiltersByTopic) {
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "news", 100)),
              ElementsAre("s1", "s4", "s5", "s6"));
  EXPECT_THAT(ListedIds(index_.ListAfter("s4", "", "news", 100)), ElementsAre("s5", "s6"));
  EXPECT_THAT(ListedIds(index_.ListAfter("", "", "weather", 100)), IsEmpty());
}

TEST_F(RoutingIndexListTest, FiltersByUserAndTopicTogether) {
  EXPECT_THAT(ListedIds(index_.ListAfter("", "alice", "news", 100)), ElementsAre("s1", "s5"));
  EXPECT_THAT(ListedIds(index_.ListAfter("", "bob", "sports", 100)), IsEmpty());
  EXPECT_THAT(ListedIds(index_.ListAfter("s1", "alice", "sports", 1)), ElementsAre("s3"));
}

TEST_F(RoutingIndexListTest, ListedEntriesCarryTheirTopics) {
  const std::vector<const RoutingIndex::Entry*> listed = index_.ListAfter("s4", "", "", 1);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]->info.id, "s5");
  EXPECT_EQ(listed[0]->info.user_id, "alice");
  EXPECT_THAT(listed[0]->topics, ElementsAre("news", "sports"));
}

TEST_F(RoutingIndexListTest, PagingThroughListAfterVisitsEverySessionOnce) {
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    const std::vector<std::string> ids = ListedIds(index_.ListAfter(after, "", "", 4));
    if (ids.empty()) break;
    seen.insert(seen.end(), ids.begin(), ids.end());
    after = ids.back();
  }
  EXPECT_THAT(seen, ElementsAre("s1", "s2", "s3", "s4", "s5", "s6"));
}

TEST_F(RoutingIndexListTest, ManySessionsAreListedInIdOrderThroughALimit) {
  for (int i = 100; i < 300; ++i) AddSession("m" + std::to_string(i), i % 2 == 0 ? "even" : "odd");

  const std::vector<std::string> ids = ListedIds(index_.ListAfter("m149", "even", "", 5));
  EXPECT_THAT(ids, ElementsAre("m150", "m152", "m154", "m156", "m158"));
  EXPECT_THAT(ListedIds(index_.ListAfter("m297", "", "", 10)),
              ElementsAre("m298", "m299", "s1", "s2", "s3", "s4", "s5", "s6"));
}

// Cluster mode's view (hub/hub_observer.h): the index reports the first and the last session of
// each topic and user, and each real change Subscribe/Unsubscribe makes to a session's topics.
class RecordingObserver : public HubObserver {
 public:
  void OnTopicHeld(size_t shard, const std::string& topic, bool held) override {
    seen.push_back(absl::StrCat(shard, held ? " +t:" : " -t:", topic));
  }
  void OnUserHeld(size_t shard, const std::string& user, bool held) override {
    seen.push_back(absl::StrCat(shard, held ? " +u:" : " -u:", user));
  }
  void OnSessionTopicsChanged(size_t shard, const SessionInfo& session,
                              const std::vector<std::string>& topics) override {
    seen.push_back(absl::StrCat(shard, " ", session.id, "=", absl::StrJoin(topics, ",")));
  }
  std::vector<std::string> seen;
};

TEST(RoutingIndexObserverTest, ReportsFirstAndLastHolderOfTopicsAndUsersAndTopicChanges) {
  RoutingIndex index;
  RecordingObserver observer;
  index.SetObserver(&observer, 3);
  UntouchableEndpoint endpoint;
  ASSERT_TRUE(index.Add(Info("a", "alice"), {"news"}, &endpoint));
  ASSERT_TRUE(index.Add(Info("b", "alice"), {"news", "sport"}, &endpoint));
  ASSERT_TRUE(index.Add(Info("c", ""), {}, &endpoint));
  EXPECT_THAT(observer.seen, ElementsAre("3 +u:alice", "3 +t:news", "3 +t:sport"));
  observer.seen.clear();

  // Only sessions whose topics really change are reported; "sport" is already b's.
  index.Subscribe(Selector({"b", "c"}, {}), {"sport"}, 10);
  EXPECT_THAT(observer.seen, ElementsAre("3 c=sport"));
  observer.seen.clear();
  // (A user's sessions come in no particular order.)
  index.Unsubscribe(Selector({}, {"alice"}), {"news"});
  EXPECT_THAT(observer.seen, UnorderedElementsAre("3 a=", "3 b=sport", "3 -t:news"));
  observer.seen.clear();
  // A refused Subscribe changes nothing and reports nothing.
  index.Subscribe(Selector({"c"}, {}), {"x", "y"}, 2);
  EXPECT_THAT(observer.seen, IsEmpty());

  ASSERT_TRUE(index.Remove("b"));
  EXPECT_THAT(observer.seen, IsEmpty());  // c still holds sport, a still holds alice
  ASSERT_TRUE(index.Remove("c"));
  ASSERT_TRUE(index.Remove("a"));
  EXPECT_THAT(observer.seen, ElementsAre("3 -t:sport", "3 -u:alice"));
}

}  // namespace
}  // namespace wsbridge
