// ClusterBroker and InterestTracker in-process against a real redis-server: one ClusterNode
// ("node-self") around a Hub with fake sessions on two I/O threads, the directory written by the
// test (docs/cluster.md "Keys") for sessions on other nodes. Checks the counts the Lua scripts
// answer from the directory, which channels they publish on, what the answer waits for, the
// channels the node listens to as sessions come and go, and failures without Redis.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "cluster/cluster_node.h"
#include "events/event_bus.h"
#include "hub/connection_limiter.h"
#include "hub/hub.h"
#include "hub/session_endpoint.h"
#include "redis/redis_subscriber.h"
#include "runtime/io_thread.h"
#include "support/cluster_fixture.h"
#include "support/eventually.h"
#include "support/redis_server.h"
#include "ws/payload.h"
#include "wsbridge/internal/v1/cluster.pb.h"

namespace wsbridge::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

class FakeSession : public SessionEndpoint {
 public:
  DeliveryOutcome Deliver(const PayloadPtr& payload) override {
    absl::MutexLock lock(&mutex_);
    received_.push_back(payload->bytes);
    return DeliveryOutcome::kQueued;
  }
  void Close(uint16_t code, absl::string_view reason) override {
    absl::MutexLock lock(&mutex_);
    closes_.emplace_back(code, std::string(reason));
  }
  SessionCounters Counters() const override { return {}; }
  std::vector<std::string> received() const {
    absl::MutexLock lock(&mutex_);
    return received_;
  }

 private:
  mutable absl::Mutex mutex_;
  std::vector<std::string> received_;
  std::vector<std::pair<uint16_t, std::string>> closes_;
};

// Every Envelope published on some channels, as a listener on another node would see them.
class ChannelSpy {
 public:
  ChannelSpy(uint16_t port, std::vector<std::string> channels) {
    thread_.Start();
    RedisClientOptions options;
    options.url.host = "127.0.0.1";
    options.url.port = port;
    subscriber_ = std::make_unique<RedisSubscriber>(
        thread_, options, [this](const std::string& channel, const std::string& payload) {
          internal::v1::Envelope envelope;
          envelope.ParseFromString(payload);
          absl::MutexLock lock(&mutex_);
          seen_.emplace_back(channel, std::move(envelope));
        });
    for (std::string& channel : channels) {
      absl::Notification active;
      subscriber_->Subscribe(channel, [&active] { active.Notify(); });
      active.WaitForNotificationWithTimeout(absl::Seconds(5));
    }
  }
  ~ChannelSpy() {
    subscriber_.reset();
    thread_.StopAndJoin();
  }
  std::vector<std::pair<std::string, internal::v1::Envelope>> seen() const {
    absl::MutexLock lock(&mutex_);
    return seen_;
  }

 private:
  IoThread thread_{99};
  std::unique_ptr<RedisSubscriber> subscriber_;
  mutable absl::Mutex mutex_;
  std::vector<std::pair<std::string, internal::v1::Envelope>> seen_;
};

class ClusterScriptsTest : public ::testing::Test {
 protected:
  static constexpr size_t kMaxTopics = 3;

  ClusterScriptsTest() : hub_({&thread0_, &thread1_}, kMaxTopics, limiter_) {
    config_.cluster.redis_url = redis_.Url();
    config_.admission.max_topics_per_session = kMaxTopics;
    auto node = cluster::ClusterNode::Create(config_, "node-self", hub_, events_, [] {});
    EXPECT_TRUE(node.ok()) << node.status();
    node_ = std::move(*node);
    hub_.SetObserver(&node_->observer());
    thread0_.Start();
    thread1_.Start();
    node_->Start();
    EXPECT_TRUE(Eventually([&] { return Subscribers("wsb:n:node-self") == 1; }));
  }
  ~ClusterScriptsTest() override {
    node_->Stop();
    thread0_.StopAndJoin();
    thread1_.StopAndJoin();
  }

  int Subscribers(const std::string& channel) {
    std::vector<std::string> lines;
    for (absl::string_view line : absl::StrSplit(
             RunRedisCli(redis_.port(), {"PUBSUB", "NUMSUB", channel}), '\n', absl::SkipEmpty())) {
      lines.emplace_back(line);
    }
    return lines.size() < 2 ? -1 : std::atoi(lines[1].c_str());
  }
  std::vector<std::string> Channels() {
    std::vector<std::string> channels =
        absl::StrSplit(RunRedisCli(redis_.port(), {"PUBSUB", "CHANNELS"}), '\n', absl::SkipEmpty());
    std::sort(channels.begin(), channels.end());
    return channels;
  }

  // A session of this node: in the hub (on `shard`) and in the directory.
  FakeSession& AddLocal(size_t shard, const std::string& id, const std::string& user,
                        std::vector<std::string> topics = {}) {
    sessions_[id] = std::make_unique<FakeSession>();
    FakeSession* raw = sessions_[id].get();
    auto slot = limiter_.TryAdmit(user, shard);
    EXPECT_TRUE(slot.ok());
    if (slot.ok()) slots_[id] = std::move(*slot);
    SessionInfo info;
    info.id = id;
    info.user_id = user;
    RunOn(shard, [&] { EXPECT_TRUE(hub_.Register(shard, info, topics, raw)); });
    WriteDirectoryEntry(redis_.port(), id, "node-self", user, topics);
    shards_[id] = shard;
    return *raw;
  }
  void RemoveLocal(const std::string& id) {
    const size_t shard = shards_.at(id);
    RunOn(shard, [&] { EXPECT_TRUE(hub_.Unregister(shard, id)); });
    slots_.erase(id);
  }
  void RunOn(size_t shard, const std::function<void()>& task) {
    absl::Notification ran;
    hub_.thread(shard).Post([&] {
      task();
      ran.Notify();
    });
    ran.WaitForNotification();
  }

  template <class Result, class Call>
  Result Await(Call call) {
    auto outcome = std::make_shared<std::pair<absl::Notification, Result>>();
    call([outcome](Result result) {
      outcome->second = std::move(result);
      outcome->first.Notify();
    });
    EXPECT_TRUE(outcome->first.WaitForNotificationWithTimeout(absl::Seconds(10)))
        << "the call never completed";
    return outcome->second;
  }

  DeliveryCounts Push(std::vector<std::string> ids, std::vector<std::string> users,
                      const std::string& text = "m") {
    auto targets = std::make_shared<DeliveryTargets>();
    targets->selector = SessionSelector{std::move(ids), std::move(users)};
    return Deliver(std::move(targets), text);
  }
  DeliveryCounts Broadcast(std::vector<std::string> topics, bool all,
                           std::vector<std::string> exclude = {}, const std::string& text = "m") {
    auto targets = std::make_shared<DeliveryTargets>();
    targets->topics = std::move(topics);
    targets->all_sessions = all;
    targets->exclude_session_ids = std::move(exclude);
    return Deliver(std::move(targets), text);
  }
  DeliveryCounts Deliver(std::shared_ptr<DeliveryTargets> targets, const std::string& text) {
    return Await<DeliveryCounts>([&](DeliveryDone done) {
      node_->broker().Deliver(std::move(targets), MakePayload(Payload::Kind::kText, text),
                              std::move(done));
    });
  }
  std::shared_ptr<const SessionSelector> Select(std::vector<std::string> ids,
                                                std::vector<std::string> users) {
    return std::make_shared<const SessionSelector>(
        SessionSelector{std::move(ids), std::move(users)});
  }
  std::shared_ptr<const std::vector<std::string>> Topics(std::vector<std::string> topics) {
    return std::make_shared<const std::vector<std::string>>(std::move(topics));
  }

  RedisServer redis_;
  IoThread thread0_{0};
  IoThread thread1_{1};
  ConnectionLimiter limiter_{2, 0, 0};
  Hub hub_;
  Config config_;
  EventBus events_{EventOptions{}, "node-self", 1};
  std::unique_ptr<cluster::ClusterNode> node_;
  std::map<std::string, std::unique_ptr<FakeSession>> sessions_;
  std::map<std::string, SessionSlot> slots_;
  std::map<std::string, size_t> shards_;
};

TEST_F(ClusterScriptsTest, TheNodeListensToItsSessionsTopicsAndUsersOnlyWhileItHoldsThem) {
  EXPECT_THAT(Channels(), ElementsAre("wsb:all", "wsb:n:node-self"));

  AddLocal(0, "s1", "alice", {"news"});
  AddLocal(1, "s2", "alice", {"news", "sports"});
  ASSERT_TRUE(Eventually([&] { return Channels().size() == 5; })) << Channels().size();
  EXPECT_THAT(Channels(), ElementsAre("wsb:all", "wsb:n:node-self", "wsb:t:news", "wsb:t:sports",
                                      "wsb:u:alice"));

  // s2 leaves: news and alice are still held through s1 (another shard); sports is not.
  RemoveLocal("s2");
  ASSERT_TRUE(Eventually([&] { return Subscribers("wsb:t:sports") == 0; }));
  EXPECT_THAT(Channels(), ElementsAre("wsb:all", "wsb:n:node-self", "wsb:t:news", "wsb:u:alice"));

  // A topic change through Subscribe / Unsubscribe counts as well.
  Await<SubscribeCounts>([&](SubscribeDone done) {
    hub_.Subscribe(Select({"s1"}, {}), Topics({"weather"}), std::move(done));
  });
  ASSERT_TRUE(Eventually([&] { return Subscribers("wsb:t:weather") == 1; }));
  Await<SessionCount>([&](SessionCountDone done) {
    hub_.Unsubscribe(Select({"s1"}, {}), Topics({"news", "weather"}), std::move(done));
  });
  ASSERT_TRUE(Eventually([&] { return Subscribers("wsb:t:news") == 0; }));
  EXPECT_EQ(Subscribers("wsb:t:weather"), 0);

  RemoveLocal("s1");
  ASSERT_TRUE(Eventually([&] { return Subscribers("wsb:u:alice") == 0; }));
  EXPECT_THAT(Channels(), ElementsAre("wsb:all", "wsb:n:node-self"));
}

TEST_F(ClusterScriptsTest, PushCountsKnownIdsAndUsersSessionsOnceAndPublishesOncePerNode) {
  WriteDirectoryEntry(redis_.port(), "x1", "node-x", "xavier", {});
  WriteDirectoryEntry(redis_.port(), "x2", "node-x", "yvonne", {});
  WriteDirectoryEntry(redis_.port(), "y1", "node-y", "yvonne", {});
  WriteDirectoryEntry(redis_.port(), "y2", "node-y", "yvonne", {});
  ChannelSpy spy(redis_.port(), {"wsb:n:node-x", "wsb:n:node-y", "wsb:u:yvonne"});

  // x1, x2, y1 by id; yvonne's sessions are x2, y1, y2: the union is 4 sessions.
  DeliveryCounts counts = Push({"x1", "x2", "y1", "ghost"}, {"yvonne"}, "hello");
  EXPECT_EQ(counts.matched, 4u);
  EXPECT_EQ(counts.queued, 4u);  // all on other nodes: queued once Redis took them
  EXPECT_EQ(counts.dropped, 0u);
  EXPECT_THAT(counts.unknown_session_ids, ElementsAre("ghost"));
  EXPECT_TRUE(counts.failure.empty());

  ASSERT_TRUE(Eventually([&] { return spy.seen().size() == 3; })) << spy.seen().size();
  std::map<std::string, internal::v1::Envelope> by_channel;
  for (auto& [channel, envelope] : spy.seen()) by_channel[channel] = envelope;
  ASSERT_EQ(by_channel.size(), 3u) << "one copy per node channel and per user channel";
  const internal::v1::Envelope& to_x = by_channel["wsb:n:node-x"];
  EXPECT_EQ(to_x.op(), internal::v1::Envelope::OP_DELIVER);
  EXPECT_EQ(to_x.message(), "hello");
  EXPECT_EQ(to_x.origin_node(), "node-self");
  EXPECT_THAT(to_x.session_ids(), ElementsAre("x1", "x2", "y1", "ghost"));
  EXPECT_THAT(to_x.user_ids(), IsEmpty());
  const internal::v1::Envelope& to_yvonne = by_channel["wsb:u:yvonne"];
  EXPECT_THAT(to_yvonne.user_ids(), ElementsAre("yvonne"));
  // Sessions named by id get their copy through their node: the user copy skips them.
  EXPECT_THAT(to_yvonne.exclude_session_ids(), ElementsAre("x1", "x2", "y1", "ghost"));
}

TEST_F(ClusterScriptsTest, BroadcastCountsTheDirectoryAndEachSessionOnceAcrossTopics) {
  WriteDirectoryEntry(redis_.port(), "a", "node-x", "", {"news"});
  WriteDirectoryEntry(redis_.port(), "b", "node-x", "", {"news", "sports"});
  WriteDirectoryEntry(redis_.port(), "c", "node-y", "", {"sports"});
  WriteDirectoryEntry(redis_.port(), "d", "node-y", "", {});
  ChannelSpy spy(redis_.port(), {"wsb:t:news", "wsb:t:sports", "wsb:all"});

  EXPECT_EQ(Broadcast({"news"}, false).matched, 2u);
  EXPECT_EQ(Broadcast({"news"}, false, {"b", "ghost"}).matched, 1u);
  DeliveryCounts both = Broadcast({"news", "sports"}, false, {}, "both");
  EXPECT_EQ(both.matched, 3u);  // b once
  EXPECT_EQ(both.queued, 3u);
  EXPECT_EQ(Broadcast({"news", "sports"}, false, {"c"}).matched, 2u);
  EXPECT_EQ(Broadcast({}, true).matched, 4u);
  EXPECT_EQ(Broadcast({}, true, {"a", "d", "ghost"}).matched, 2u);

  // The two-topic copies: the one for sports skips news's subscribers.
  ASSERT_TRUE(Eventually([&] { return spy.seen().size() == 8; })) << spy.seen().size();
  std::vector<internal::v1::Envelope> copies_of_both;
  for (auto& [channel, envelope] : spy.seen()) {
    if (envelope.message() == "both") copies_of_both.push_back(envelope);
  }
  ASSERT_EQ(copies_of_both.size(), 2u);
  EXPECT_THAT(copies_of_both[0].target_topics(), ElementsAre("news"));
  EXPECT_THAT(copies_of_both[0].topics_before(), IsEmpty());
  EXPECT_THAT(copies_of_both[1].target_topics(), ElementsAre("sports"));
  EXPECT_THAT(copies_of_both[1].topics_before(), ElementsAre("news"));
}

TEST_F(ClusterScriptsTest, SubscribeRefusesByTheDirectoryNamingTheSmallestRefusedSession) {
  // kMaxTopics = 3.
  WriteDirectoryEntry(redis_.port(), "p", "node-x", "pat", {"t1", "t2", "t3"});  // full
  WriteDirectoryEntry(redis_.port(), "q", "node-x", "pat", {"t1", "t2"});        // room for 1
  WriteDirectoryEntry(redis_.port(), "r", "node-y", "", {"t1"});
  WriteDirectoryEntry(redis_.port(), "o", "node-y", "", {"t1", "t2"});

  // {t1, t4}: p would have 4 (refused), q 3, r 2, o 3.
  SubscribeCounts counts = Await<SubscribeCounts>([&](SubscribeDone done) {
    node_->broker().Subscribe(Select({"r", "o", "ghost"}, {"pat"}), Topics({"t4", "t1", "t4"}),
                              std::move(done));
  });
  EXPECT_EQ(counts.subscribed, 3u);
  EXPECT_EQ(counts.refused, 1u);
  EXPECT_EQ(counts.refused_session_id, "p");
  EXPECT_EQ(counts.refused_session_topics, 3u);
  EXPECT_EQ(counts.refused_session_would_have, 4u);
  EXPECT_EQ(counts.max_topics_per_session, kMaxTopics);

  // {t3, t4}: p refused (4... it has t3: 3 + 1 = 4), q would have 4, o 4: the smallest is "o".
  counts = Await<SubscribeCounts>([&](SubscribeDone done) {
    node_->broker().Subscribe(Select({"o", "q", "p"}, {}), Topics({"t3", "t4"}), std::move(done));
  });
  EXPECT_EQ(counts.subscribed, 0u);
  EXPECT_EQ(counts.refused, 3u);
  EXPECT_EQ(counts.refused_session_id, "o");
  EXPECT_EQ(counts.refused_session_would_have, 4u);
}

TEST_F(ClusterScriptsTest, UnsubscribeAndDisconnectCountTheSelectedSessionsInTheDirectory) {
  WriteDirectoryEntry(redis_.port(), "u1", "node-x", "uma", {"t"});
  WriteDirectoryEntry(redis_.port(), "u2", "node-y", "uma", {"t"});
  WriteDirectoryEntry(redis_.port(), "v1", "node-y", "vic", {"t"});

  SessionCount unsubscribed = Await<SessionCount>([&](SessionCountDone done) {
    node_->broker().Unsubscribe(Select({"v1", "u1", "ghost"}, {"uma"}), Topics({"t"}),
                                std::move(done));
  });
  EXPECT_EQ(unsubscribed.sessions, 3u);
  SessionCount disconnected = Await<SessionCount>([&](SessionCountDone done) {
    node_->broker().Disconnect(Select({}, {"uma"}), 4000, "bye", std::move(done));
  });
  EXPECT_EQ(disconnected.sessions, 2u);
  EXPECT_TRUE(disconnected.failure.empty());
}

TEST_F(ClusterScriptsTest, TheAnswerComesAfterThisNodesOwnSessionsHaveTheMessage) {
  FakeSession& mine = AddLocal(0, "m1", "mia", {"news"});
  FakeSession& also_mine = AddLocal(1, "m2", "", {"news"});
  WriteDirectoryEntry(redis_.port(), "far", "node-x", "", {"news"});
  ASSERT_TRUE(Eventually([&] { return Subscribers("wsb:t:news") == 1; }));
  ASSERT_TRUE(Eventually([&] { return Subscribers("wsb:u:mia") == 1; }));

  // Shard 0 is held busy: the script runs, publishes and answers, but this node's own copy
  // cannot reach m1 yet, so the call must not answer.
  ChannelSpy spy(redis_.port(), {"wsb:t:news"});
  absl::Notification release;
  hub_.thread(0).Post([&release] { release.WaitForNotification(); });
  auto answered = std::make_shared<std::pair<absl::Notification, DeliveryCounts>>();
  auto targets = std::make_shared<DeliveryTargets>();
  targets->topics = {"news"};
  node_->broker().Deliver(std::move(targets), MakePayload(Payload::Kind::kText, "b1"),
                          [answered](DeliveryCounts result) {
                            answered->second = std::move(result);
                            answered->first.Notify();
                          });
  ASSERT_TRUE(Eventually([&] { return spy.seen().size() == 1; })) << "never published";
  EXPECT_FALSE(answered->first.WaitForNotificationWithTimeout(absl::Milliseconds(300)))
      << "answered before this node's own sessions had the message";
  release.Notify();
  ASSERT_TRUE(answered->first.WaitForNotificationWithTimeout(absl::Seconds(5)));
  DeliveryCounts counts = answered->second;
  // Queued locally before the answer (the node's own copy went through the hub first).
  EXPECT_THAT(mine.received(), ElementsAre("b1"));
  EXPECT_THAT(also_mine.received(), ElementsAre("b1"));
  EXPECT_EQ(counts.matched, 3u);
  EXPECT_EQ(counts.queued, 3u);  // 2 here, exact; 1 on node-x, queued once Redis took it

  counts = Push({"m1"}, {}, "p1");
  EXPECT_THAT(mine.received(), ElementsAre("b1", "p1"));
  EXPECT_EQ(counts.matched, 1u);
  counts = Push({}, {"mia"}, "p2");
  EXPECT_THAT(mine.received(), ElementsAre("b1", "p1", "p2"));
  EXPECT_EQ(counts.matched, 1u);
  EXPECT_EQ(counts.queued, 1u);
}

TEST_F(ClusterScriptsTest, WithoutScriptsCachedTheCallFallsBackToEval) {
  WriteDirectoryEntry(redis_.port(), "x1", "node-x", "", {"news"});
  EXPECT_EQ(Broadcast({"news"}, false).matched, 1u);
  RunRedisCli(redis_.port(), {"SCRIPT", "FLUSH"});
  DeliveryCounts counts = Broadcast({"news"}, false);
  EXPECT_TRUE(counts.failure.empty()) << counts.failure;
  EXPECT_EQ(counts.matched, 1u);
}

TEST_F(ClusterScriptsTest, WithoutRedisEveryCallFailsNamingRedis) {
  redis_.Stop();
  DeliveryCounts counts = Broadcast({"news"}, false);
  EXPECT_THAT(counts.failure, ::testing::StartsWith("redis unavailable: "));
  SessionCount disconnected = Await<SessionCount>([&](SessionCountDone done) {
    node_->broker().Disconnect(Select({"x"}, {}), 4000, "bye", std::move(done));
  });
  EXPECT_THAT(disconnected.failure, ::testing::StartsWith("redis unavailable: "));
  SubscribeCounts subscribed = Await<SubscribeCounts>([&](SubscribeDone done) {
    node_->broker().Subscribe(Select({"x"}, {}), Topics({"t"}), std::move(done));
  });
  EXPECT_THAT(subscribed.failure, ::testing::StartsWith("redis unavailable: "));
}

}  // namespace
}  // namespace wsbridge::testing
