// Hub: the node's sessions spread over two real I/O threads. Each test registers fake sessions on
// both shards (on the shard's own thread, as the WebSocket layer does), makes one hub call, waits
// for its combined answer, and checks what each fake session received or was asked to do.
#include "hub/hub.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "broker/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hub/connection_limiter.h"
#include "hub/session_endpoint.h"
#include "runtime/io_thread.h"
#include "ws/payload.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

// A browser session as the hub sees it: records what it was sent and asked, and answers Deliver
// with a chosen outcome. Touched only on its shard's thread while the hub works, and read by the
// test only after the hub's `done` ran.
class FakeSession : public SessionEndpoint {
 public:
  explicit FakeSession(DeliveryOutcome outcome) : outcome_(outcome) {}

  DeliveryOutcome Deliver(const PayloadPtr& payload) override {
    received.push_back(payload);
    return outcome_;
  }
  void Close(uint16_t code, absl::string_view reason) override {
    closes.emplace_back(code, std::string(reason));
    if (on_close) on_close();
  }
  SessionCounters Counters() const override { return counters; }
  bool Announced() const override { return announced; }

  std::vector<std::string> ReceivedTexts() const {
    std::vector<std::string> texts;
    for (const PayloadPtr& payload : received) texts.push_back(payload->bytes);
    return texts;
  }

  std::vector<PayloadPtr> received;
  std::vector<std::pair<uint16_t, std::string>> closes;
  SessionCounters counters;
  bool announced = true;           // its `opened` was reported
  std::function<void()> on_close;  // runs on the session's thread, inside Close()

 private:
  const DeliveryOutcome outcome_;
};

std::shared_ptr<const SessionSelector> Select(std::vector<std::string> session_ids,
                                              std::vector<std::string> user_ids) {
  return std::make_shared<const SessionSelector>(
      SessionSelector{std::move(session_ids), std::move(user_ids)});
}

std::shared_ptr<const std::vector<std::string>> Topics(std::vector<std::string> topics) {
  return std::make_shared<const std::vector<std::string>>(std::move(topics));
}

std::vector<std::string> IdsOf(const SessionPage& page) {
  std::vector<std::string> ids;
  for (const SessionView& view : page.sessions) ids.push_back(view.info.id);
  return ids;
}

class HubTest : public ::testing::Test {
 protected:
  static constexpr size_t kMaxTopicsPerSession = 4;

  HubTest() : hub_({&thread0_, &thread1_}, kMaxTopicsPerSession, limiter_) {
    thread0_.Start();
    thread1_.Start();
  }
  // The hub's contract: its threads stop before it goes (a thread may still be finishing the
  // batch whose last call answered the test).
  ~HubTest() override {
    thread0_.StopAndJoin();
    thread1_.StopAndJoin();
  }

  // Admits a session on `shard` and registers it there, on that shard's thread (as the WebSocket
  // layer does), and waits until it is registered. Its slot is kept until RemoveSession.
  FakeSession& AddSession(size_t shard, const std::string& id, const std::string& user_id,
                          std::vector<std::string> topics = {},
                          DeliveryOutcome outcome = DeliveryOutcome::kQueued) {
    auto fake = std::make_unique<FakeSession>(outcome);
    FakeSession* raw = fake.get();
    sessions_[id] = std::move(fake);
    SessionInfo info;
    info.id = id;
    info.user_id = user_id;
    info.remote_address = "198.51.100.1:40000";
    info.connected_at = absl::FromUnixSeconds(1'700'000'000);
    absl::StatusOr<SessionSlot> slot = limiter_.TryAdmit(user_id, shard);
    EXPECT_TRUE(slot.ok()) << slot.status();
    if (slot.ok()) slots_[id] = std::move(*slot);
    RunOn(shard, [&] { EXPECT_TRUE(hub_.Register(shard, info, topics, raw)) << id; });
    return *raw;
  }

  // Unregisters a session on its shard's thread, then gives its slot back, as a session's end
  // does.
  void RemoveSession(size_t shard, const std::string& id) {
    RunOn(shard, [&] { EXPECT_TRUE(hub_.Unregister(shard, id)) << id; });
    slots_.erase(id);
  }

  // Runs `task` on the shard's thread and waits for it.
  void RunOn(size_t shard, const std::function<void()>& task) {
    absl::Notification ran;
    hub_.thread(shard).Post([&] {
      EXPECT_TRUE(hub_.thread(shard).IsCurrent());
      task();
      ran.Notify();
    });
    ran.WaitForNotification();
  }

  // Starts a hub call with a `done` callback and waits for the result it delivers.
  template <class Result, class Call>
  Result Await(Call call) {
    struct Outcome {
      absl::Notification done;
      Result result{};
      int calls = 0;
    };
    auto outcome = std::make_shared<Outcome>();
    call([outcome](Result value) {
      ++outcome->calls;
      outcome->result = std::move(value);
      outcome->done.Notify();
    });
    if (!outcome->done.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      ADD_FAILURE() << "the hub never called done";
      return Result{};
    }
    EXPECT_EQ(outcome->calls, 1);
    return std::move(outcome->result);
  }

  DeliveryCounts Push(std::vector<std::string> session_ids, std::vector<std::string> user_ids,
                      const std::string& text) {
    auto targets = std::make_shared<DeliveryTargets>();
    targets->selector = SessionSelector{std::move(session_ids), std::move(user_ids)};
    return Deliver(std::move(targets), MakePayload(Payload::Kind::kText, text));
  }

  DeliveryCounts Broadcast(std::vector<std::string> topics, bool all_sessions,
                           std::vector<std::string> exclude, const std::string& text) {
    auto targets = std::make_shared<DeliveryTargets>();
    targets->topics = std::move(topics);
    targets->all_sessions = all_sessions;
    targets->exclude_session_ids = std::move(exclude);
    return Deliver(std::move(targets), MakePayload(Payload::Kind::kText, text));
  }

  DeliveryCounts Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload) {
    return Await<DeliveryCounts>([&](DeliveryDone done) {
      hub_.Deliver(std::move(targets), std::move(payload), std::move(done));
    });
  }

  // A batch item: a Push to `session_ids` and `user_ids` of `text`.
  static DeliveryItem PushItem(std::vector<std::string> session_ids,
                               std::vector<std::string> user_ids, const std::string& text) {
    auto targets = std::make_shared<DeliveryTargets>();
    targets->selector = SessionSelector{std::move(session_ids), std::move(user_ids)};
    return DeliveryItem{std::move(targets), MakePayload(Payload::Kind::kText, text)};
  }

  std::vector<DeliveryCounts> DeliverBatch(std::vector<DeliveryItem> items) {
    auto shared = std::make_shared<const std::vector<DeliveryItem>>(std::move(items));
    return Await<std::vector<DeliveryCounts>>(
        [&](BatchDone done) { hub_.DeliverBatch(shared, std::move(done)); });
  }

  SubscribeCounts Subscribe(std::shared_ptr<const SessionSelector> selector,
                            std::vector<std::string> topics) {
    return Await<SubscribeCounts>([&](SubscribeDone done) {
      hub_.Subscribe(std::move(selector), Topics(std::move(topics)), std::move(done));
    });
  }

  uint32_t Unsubscribe(std::shared_ptr<const SessionSelector> selector,
                       std::vector<std::string> topics) {
    return Await<SessionCount>([&](SessionCountDone done) {
             hub_.Unsubscribe(std::move(selector), Topics(std::move(topics)), std::move(done));
           })
        .sessions;
  }

  uint32_t Disconnect(std::shared_ptr<const SessionSelector> selector, uint16_t code,
                      const std::string& reason) {
    return Await<SessionCount>([&](SessionCountDone done) {
             hub_.Disconnect(std::move(selector), code, reason, std::move(done));
           })
        .sessions;
  }

  std::optional<SessionView> GetSession(const std::string& id) {
    SessionLookup lookup =
        Await<SessionLookup>([&](SessionDone done) { hub_.GetSession(id, std::move(done)); });
    EXPECT_EQ(lookup.failure, "") << "a hub never fails a lookup";
    return std::move(lookup.session);
  }

  // id -> counters, from CountersOf.
  std::map<std::string, SessionCounters> CountersOf(std::vector<std::string> ids) {
    auto shared = std::make_shared<const std::vector<std::string>>(std::move(ids));
    std::map<std::string, SessionCounters> out;
    for (Hub::HeldCounters& held : Await<std::vector<Hub::HeldCounters>>(
             [&](Hub::CountersDone done) { hub_.CountersOf(shared, std::move(done)); })) {
      EXPECT_TRUE(out.emplace(held.session_id, held.counters).second)
          << held.session_id << " reported twice";
    }
    return out;
  }

  SessionPage List(std::string after_id, size_t page_size, std::string user_id = "",
                   std::string topic = "") {
    ListQuery query;
    query.after_id = std::move(after_id);
    query.page_size = page_size;
    query.user_id = std::move(user_id);
    query.topic = std::move(topic);
    return Await<SessionPage>(
        [&](PageDone done) { hub_.ListSessions(std::move(query), std::move(done)); });
  }

  FakeSession& session(const std::string& id) { return *sessions_.at(id); }

  // Declared first so that they outlive the threads that call them.
  std::map<std::string, std::unique_ptr<FakeSession>> sessions_;
  IoThread thread0_{0};
  IoThread thread1_{1};
  ConnectionLimiter limiter_{2, 0, 0};
  std::map<std::string, SessionSlot> slots_;  // given back before the limiter goes
  Hub hub_;
};

TEST_F(HubTest, HasOneShardPerThread) {
  EXPECT_EQ(hub_.shard_count(), 2u);
  EXPECT_EQ(&hub_.thread(0), &thread0_);
  EXPECT_EQ(&hub_.thread(1), &thread1_);
}

// --- Push ---------------------------------------------------------------------------------------

TEST_F(HubTest, APushReachesNamedSessionsAndEveryUserSessionOnBothShardsOnce) {
  FakeSession& s1 = AddSession(0, "s1", "alice");
  FakeSession& s2 = AddSession(1, "s2", "alice");
  FakeSession& s3 = AddSession(1, "s3", "bob");
  FakeSession& s4 = AddSession(0, "s4", "carol");

  const DeliveryCounts counts = Push({"s1", "s3", "s1"}, {"alice"}, "hello");

  EXPECT_EQ(counts.matched, 3u);
  EXPECT_EQ(counts.queued, 3u);
  EXPECT_EQ(counts.dropped, 0u);
  EXPECT_THAT(counts.unknown_session_ids, IsEmpty());
  EXPECT_THAT(s1.ReceivedTexts(), ElementsAre("hello"));
  EXPECT_THAT(s2.ReceivedTexts(), ElementsAre("hello"));
  EXPECT_THAT(s3.ReceivedTexts(), ElementsAre("hello"));
  EXPECT_THAT(s4.received, IsEmpty());
}

TEST_F(HubTest, APushToUsersRunsOnlyOnTheThreadsHoldingThem) {
  AddSession(1, "s1", "alice");
  AddSession(0, "s2", "bob");
  EXPECT_EQ(limiter_.ThreadsOf({"alice"}), std::vector<size_t>{1});

  // Only alice: the answer comes from thread 1, the one shard that was asked.
  absl::Notification answered;
  bool on_thread_1 = false, on_thread_0 = false;
  auto targets = std::make_shared<DeliveryTargets>();
  targets->selector.user_ids = {"alice"};
  hub_.Deliver(targets, MakePayload(Payload::Kind::kText, "hi"), [&](DeliveryCounts counts) {
    EXPECT_EQ(counts.matched, 1u);
    on_thread_1 = hub_.thread(1).IsCurrent();
    on_thread_0 = hub_.thread(0).IsCurrent();
    answered.Notify();
  });
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(on_thread_1);
  EXPECT_FALSE(on_thread_0);
}

TEST_F(HubTest, APushToOfflineUsersIsAnsweredAtOnceWithoutVisitingAThread) {
  AddSession(0, "s1", "alice");
  auto targets = std::make_shared<DeliveryTargets>();
  targets->selector.user_ids = {"nobody", "ghost"};
  bool answered = false;
  hub_.Deliver(targets, MakePayload(Payload::Kind::kText, "hi"), [&](DeliveryCounts counts) {
    EXPECT_EQ(counts.matched, 0u);
    EXPECT_EQ(counts.queued, 0u);
    EXPECT_THAT(counts.unknown_session_ids, IsEmpty());
    answered = true;
  });
  EXPECT_TRUE(answered);  // synchronously, on this thread
}

TEST_F(HubTest, APushToAUserStopsVisitingAThreadOnceTheirLastSessionThereEnded) {
  AddSession(0, "s1", "alice");
  AddSession(1, "s2", "alice");
  EXPECT_EQ(limiter_.ThreadsOf({"alice"}), (std::vector<size_t>{0, 1}));
  RemoveSession(0, "s1");
  EXPECT_EQ(limiter_.ThreadsOf({"alice"}), std::vector<size_t>{1});
  EXPECT_EQ(Push({}, {"alice"}, "still here").matched, 1u);
  RemoveSession(1, "s2");
  EXPECT_THAT(limiter_.ThreadsOf({"alice"}), IsEmpty());
  EXPECT_EQ(limiter_.user_count(), 0u);
  EXPECT_EQ(Push({}, {"alice"}, "gone").matched, 0u);
}

TEST_F(HubTest, EverySessionOfOnePushGetsTheSamePayloadObject) {
  FakeSession& s1 = AddSession(0, "s1", "alice");
  FakeSession& s2 = AddSession(1, "s2", "alice");

  Push({}, {"alice"}, "shared");

  ASSERT_EQ(s1.received.size(), 1u);
  ASSERT_EQ(s2.received.size(), 1u);
  EXPECT_EQ(s1.received[0].get(), s2.received[0].get());
}

TEST_F(HubTest, NamedIdsOnNoShardAreReportedUnknownInRequestOrder) {
  AddSession(0, "s1", "alice");
  AddSession(1, "s2", "bob");

  const DeliveryCounts counts = Push({"ghost-b", "s1", "s2", "ghost-a"}, {}, "hello");

  EXPECT_EQ(counts.matched, 2u);
  // s1 lives on shard 0 and s2 on shard 1: each shard misses one, yet neither is unknown.
  EXPECT_THAT(counts.unknown_session_ids, ElementsAre("ghost-b", "ghost-a"));
}

TEST_F(HubTest, APushToNobodyMatchesNothing) {
  AddSession(0, "s1", "alice");

  const DeliveryCounts counts = Push({"ghost"}, {"nobody"}, "hello");

  EXPECT_EQ(counts.matched, 0u);
  EXPECT_EQ(counts.queued, 0u);
  EXPECT_EQ(counts.dropped, 0u);
  EXPECT_THAT(counts.unknown_session_ids, ElementsAre("ghost"));
  EXPECT_THAT(session("s1").received, IsEmpty());
}

TEST_F(HubTest, ASessionThatRefusesTheMessageIsCountedDropped) {
  AddSession(0, "fast", "alice");
  AddSession(1, "slow", "alice", {}, DeliveryOutcome::kDropped);
  AddSession(1, "fast2", "alice");

  const DeliveryCounts counts = Push({}, {"alice"}, "hello");

  EXPECT_EQ(counts.matched, 3u);
  EXPECT_EQ(counts.queued, 2u);
  EXPECT_EQ(counts.dropped, 1u);
  EXPECT_THAT(session("slow").ReceivedTexts(), ElementsAre("hello"))
      << "the session itself decides to drop";
}

TEST_F(HubTest, ASessionReceivesMessagesInTheOrderTheCallsReachedTheHub) {
  FakeSession& s1 = AddSession(1, "s1", "alice");

  // Three calls in flight at once; each shard runs its posts in order.
  std::vector<std::shared_ptr<absl::Notification>> done;
  for (const char* text : {"first", "second", "third"}) {
    auto finished = std::make_shared<absl::Notification>();
    done.push_back(finished);
    auto targets = std::make_shared<DeliveryTargets>();
    targets->selector.user_ids = {"alice"};
    hub_.Deliver(std::move(targets), MakePayload(Payload::Kind::kText, text),
                 [finished](DeliveryCounts) { finished->Notify(); });
  }
  for (const auto& finished : done)
    ASSERT_TRUE(finished->WaitForNotificationWithTimeout(absl::Seconds(10)));

  EXPECT_THAT(s1.ReceivedTexts(), ElementsAre("first", "second", "third"));
}

// --- DeliverBatch -------------------------------------------------------------------------------

TEST_F(HubTest, ABatchAnswersEachItemWithItsOwnCountsInItemOrder) {
  AddSession(0, "s1", "alice");
  AddSession(1, "s2", "alice");
  AddSession(1, "s3", "bob");
  AddSession(0, "slow", "carol", {}, DeliveryOutcome::kDropped);

  const std::vector<DeliveryCounts> counts = DeliverBatch({
      PushItem({}, {"alice"}, "to alice"),
      PushItem({"s3", "ghost"}, {}, "to s3"),
      PushItem({}, {"nobody"}, "to nobody"),
      PushItem({"s1"}, {"carol"}, "to s1 and carol"),
  });

  ASSERT_EQ(counts.size(), 4u);
  EXPECT_EQ(counts[0].matched, 2u);
  EXPECT_EQ(counts[0].queued, 2u);
  EXPECT_THAT(counts[0].unknown_session_ids, IsEmpty());
  EXPECT_EQ(counts[1].matched, 1u);
  EXPECT_EQ(counts[1].queued, 1u);
  EXPECT_THAT(counts[1].unknown_session_ids, ElementsAre("ghost"));
  EXPECT_EQ(counts[2].matched, 0u);
  EXPECT_THAT(counts[2].unknown_session_ids, IsEmpty());
  EXPECT_EQ(counts[3].matched, 2u);
  EXPECT_EQ(counts[3].queued, 1u);
  EXPECT_EQ(counts[3].dropped, 1u);
  for (const DeliveryCounts& c : counts) EXPECT_EQ(c.failure, "");
  EXPECT_THAT(session("s1").ReceivedTexts(), ElementsAre("to alice", "to s1 and carol"));
  EXPECT_THAT(session("s2").ReceivedTexts(), ElementsAre("to alice"));
  EXPECT_THAT(session("s3").ReceivedTexts(), ElementsAre("to s3"));
  EXPECT_THAT(session("slow").ReceivedTexts(), ElementsAre("to s1 and carol"));
}

TEST_F(HubTest, SessionsOnBothShardsReceiveInterleavedItemsInItemOrderAndShareEachPayload) {
  FakeSession& a = AddSession(0, "a", "alice");
  FakeSession& b = AddSession(1, "b", "bob");

  DeliverBatch({PushItem({}, {"alice"}, "1"), PushItem({}, {"alice", "bob"}, "2"),
                PushItem({}, {"bob"}, "3"), PushItem({}, {"bob", "alice"}, "4"),
                PushItem({}, {"alice"}, "5")});

  EXPECT_THAT(a.ReceivedTexts(), ElementsAre("1", "2", "4", "5"));
  EXPECT_THAT(b.ReceivedTexts(), ElementsAre("2", "3", "4"));
  // One frame per item, whoever receives it.
  EXPECT_EQ(a.received[1].get(), b.received[0].get());
  EXPECT_EQ(a.received[2].get(), b.received[2].get());
}

TEST_F(HubTest, ABatchToUsersReachesEveryThreadAnyOfItsItemsNeeds) {
  // The first item needs thread 0 only, the second thread 1 only: the batch needs both.
  FakeSession& a = AddSession(0, "a", "alice");
  FakeSession& b = AddSession(1, "b", "bob");

  const std::vector<DeliveryCounts> counts =
      DeliverBatch({PushItem({}, {"alice"}, "for alice"), PushItem({}, {"bob"}, "for bob")});

  EXPECT_EQ(counts[0].matched, 1u);
  EXPECT_EQ(counts[1].matched, 1u);
  EXPECT_THAT(a.ReceivedTexts(), ElementsAre("for alice"));
  EXPECT_THAT(b.ReceivedTexts(), ElementsAre("for bob"));
}

TEST_F(HubTest, ABatchToUsersOnOneThreadRunsOnlyThere) {
  AddSession(1, "s1", "alice");
  AddSession(1, "s2", "bob");
  AddSession(0, "s3", "carol");

  absl::Notification answered;
  bool on_thread_1 = false;
  auto items = std::make_shared<const std::vector<DeliveryItem>>(std::vector<DeliveryItem>{
      PushItem({}, {"alice"}, "a"), PushItem({}, {"bob", "nobody"}, "b")});
  hub_.DeliverBatch(items, [&](std::vector<DeliveryCounts> counts) {
    EXPECT_EQ(counts.size(), 2u);
    on_thread_1 = hub_.thread(1).IsCurrent();
    answered.Notify();
  });
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(on_thread_1);
  EXPECT_THAT(session("s3").received, IsEmpty());
}

TEST_F(HubTest, ABatchToOfflineUsersIsAnsweredAtOnceWithZeroCountsPerItem) {
  AddSession(0, "s1", "alice");
  bool answered = false;
  auto items = std::make_shared<const std::vector<DeliveryItem>>(
      std::vector<DeliveryItem>{PushItem({}, {"nobody"}, "a"), PushItem({}, {"ghost"}, "b")});
  hub_.DeliverBatch(items, [&](std::vector<DeliveryCounts> counts) {
    ASSERT_EQ(counts.size(), 2u);
    EXPECT_EQ(counts[0].matched, 0u);
    EXPECT_EQ(counts[1].matched, 0u);
    answered = true;
  });
  EXPECT_TRUE(answered);  // synchronously, on this thread
}

TEST_F(HubTest, ABatchIsOneStepBetweenTheCallsBeforeAndAfterIt) {
  FakeSession& a = AddSession(0, "a", "alice");
  FakeSession& b = AddSession(1, "b", "alice");

  // Enqueued back to back without waiting: each shard runs them in the node order.
  std::vector<std::shared_ptr<absl::Notification>> done;
  auto deliver = [&](const std::string& text) {
    auto finished = std::make_shared<absl::Notification>();
    done.push_back(finished);
    hub_.Deliver(PushItem({}, {"alice"}, text).targets, MakePayload(Payload::Kind::kText, text),
                 [finished](DeliveryCounts) { finished->Notify(); });
  };
  deliver("before");
  auto finished = std::make_shared<absl::Notification>();
  done.push_back(finished);
  hub_.DeliverBatch(std::make_shared<const std::vector<DeliveryItem>>(std::vector<DeliveryItem>{
                        PushItem({}, {"alice"}, "b1"), PushItem({"b"}, {}, "b2")}),
                    [finished](std::vector<DeliveryCounts>) { finished->Notify(); });
  deliver("after");
  for (const auto& f : done) ASSERT_TRUE(f->WaitForNotificationWithTimeout(absl::Seconds(10)));

  EXPECT_THAT(a.ReceivedTexts(), ElementsAre("before", "b1", "after"));
  EXPECT_THAT(b.ReceivedTexts(), ElementsAre("before", "b1", "b2", "after"));
}

// --- Broadcast ----------------------------------------------------------------------------------

TEST_F(HubTest, ABroadcastReachesTheSubscribersOfAnyTopicOnBothShardsOnce) {
  FakeSession& s1 = AddSession(0, "s1", "alice", {"news"});
  FakeSession& s2 = AddSession(1, "s2", "bob", {"news", "sports"});
  FakeSession& s3 = AddSession(0, "s3", "", {"sports"});
  FakeSession& s4 = AddSession(1, "s4", "dave", {"weather"});

  const DeliveryCounts counts = Broadcast({"news", "sports"}, false, {}, "goal!");

  EXPECT_EQ(counts.matched, 3u);
  EXPECT_EQ(counts.queued, 3u);
  EXPECT_THAT(s1.ReceivedTexts(), ElementsAre("goal!"));
  EXPECT_THAT(s2.ReceivedTexts(), ElementsAre("goal!"));
  EXPECT_THAT(s3.ReceivedTexts(), ElementsAre("goal!"));
  EXPECT_THAT(s4.received, IsEmpty());
}

TEST_F(HubTest, ABroadcastSkipsTheExcludedSessions) {
  FakeSession& sender = AddSession(1, "sender", "alice", {"chat"});
  FakeSession& peer = AddSession(0, "peer", "bob", {"chat"});

  const DeliveryCounts counts = Broadcast({"chat"}, false, {"sender", "ghost"}, "hi all");

  EXPECT_EQ(counts.matched, 1u);
  EXPECT_THAT(counts.unknown_session_ids, IsEmpty()) << "exclusions are never unknown";
  EXPECT_THAT(sender.received, IsEmpty());
  EXPECT_THAT(peer.ReceivedTexts(), ElementsAre("hi all"));
}

TEST_F(HubTest, ABroadcastToAllSessionsReachesEveryoneButTheExcluded) {
  AddSession(0, "s1", "alice");
  AddSession(1, "s2", "");
  AddSession(1, "s3", "bob", {"news"});
  AddSession(0, "s4", "carol", {}, DeliveryOutcome::kDropped);

  const DeliveryCounts counts = Broadcast({}, true, {"s3"}, "maintenance at 2am");

  EXPECT_EQ(counts.matched, 3u);
  EXPECT_EQ(counts.queued, 2u);
  EXPECT_EQ(counts.dropped, 1u);
  EXPECT_THAT(session("s1").ReceivedTexts(), ElementsAre("maintenance at 2am"));
  EXPECT_THAT(session("s2").ReceivedTexts(), ElementsAre("maintenance at 2am"));
  EXPECT_THAT(session("s3").received, IsEmpty());
}

// --- Subscribe / Unsubscribe --------------------------------------------------------------------

TEST_F(HubTest, SubscribeAddsTopicsOnBothShardsAndCountsEachSessionOnce) {
  AddSession(0, "s1", "alice");
  AddSession(1, "s2", "alice", {"news"});
  AddSession(1, "s3", "bob");

  EXPECT_EQ(Subscribe(Select({"s1", "s3"}, {"alice"}), {"sports"}).subscribed, 3u);

  const DeliveryCounts counts = Broadcast({"sports"}, false, {}, "score");
  EXPECT_EQ(counts.matched, 3u);
  const std::optional<SessionView> s2 = GetSession("s2");
  ASSERT_TRUE(s2.has_value());
  EXPECT_THAT(s2->topics, ElementsAre("news", "sports"));
}

TEST_F(HubTest, ASessionThatWouldPassTheTopicLimitIsNotSubscribedNorCounted) {
  AddSession(0, "full", "alice", {"a", "b", "c", "d"});  // at the limit of 4
  AddSession(1, "roomy", "alice", {"a"});

  const SubscribeCounts counts = Subscribe(Select({}, {"alice"}), {"e"});

  EXPECT_EQ(counts.subscribed, 1u);
  EXPECT_EQ(counts.refused, 1u);
  EXPECT_EQ(counts.refused_session_id, "full");
  EXPECT_EQ(counts.refused_session_topics, 4u);
  EXPECT_EQ(counts.refused_session_would_have, 5u);
  EXPECT_EQ(counts.max_topics_per_session, 4u);
  EXPECT_THAT(GetSession("full")->topics, ElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(GetSession("roomy")->topics, ElementsAre("a", "e"));
  EXPECT_EQ(Broadcast({"e"}, false, {}, "x").matched, 1u);
}

TEST_F(HubTest, RefusalsOnSeveralShardsAreAddedUpAndTheSmallestIdIsNamed) {
  AddSession(0, "full-b", "alice", {"a", "b", "c", "d"});
  AddSession(1, "full-a", "alice", {"a", "b", "c"});  // "e" and "f" would make 5
  AddSession(1, "roomy", "alice");

  const SubscribeCounts counts = Subscribe(Select({}, {"alice"}), {"e", "f"});

  EXPECT_EQ(counts.subscribed, 1u);
  EXPECT_EQ(counts.refused, 2u);
  EXPECT_EQ(counts.refused_session_id, "full-a");
  EXPECT_EQ(counts.refused_session_topics, 3u);
  EXPECT_EQ(counts.refused_session_would_have, 5u);
  EXPECT_THAT(GetSession("roomy")->topics, ElementsAre("e", "f"));
}

TEST_F(HubTest, ATopicRepeatedInOneSubscribeIsCountedOnceAgainstTheLimit) {
  AddSession(0, "s1", "alice", {"a", "b", "c"});  // room for one more topic

  // "e" twice is one new topic: the session ends with 4 topics, within the limit of 4.
  EXPECT_EQ(Subscribe(Select({"s1"}, {}), {"e", "e"}).subscribed, 1u);
  EXPECT_THAT(GetSession("s1")->topics, ElementsAre("a", "b", "c", "e"));
}

TEST_F(HubTest, UnsubscribeRemovesTopicsAndCountsTheSelectedSessions) {
  AddSession(0, "s1", "alice", {"news", "chat"});
  AddSession(1, "s2", "alice", {"news"});
  AddSession(1, "s3", "bob", {"news"});

  EXPECT_EQ(Unsubscribe(Select({}, {"alice"}), {"news"}), 2u);

  EXPECT_THAT(GetSession("s1")->topics, ElementsAre("chat"));
  EXPECT_THAT(GetSession("s2")->topics, IsEmpty());
  const DeliveryCounts counts = Broadcast({"news"}, false, {}, "x");
  EXPECT_EQ(counts.matched, 1u);
  EXPECT_THAT(session("s3").ReceivedTexts(), ElementsAre("x"));
}

TEST_F(HubTest, SubscribingNobodyCountsZero) {
  AddSession(0, "s1", "alice");
  EXPECT_EQ(Subscribe(Select({"ghost"}, {"nobody"}), {"news"}).subscribed, 0u);
  EXPECT_EQ(Unsubscribe(Select({"ghost"}, {"nobody"}), {"news"}), 0u);
}

// --- Disconnect ---------------------------------------------------------------------------------

TEST_F(HubTest, DisconnectClosesExactlyTheSelectedSessionsWithTheCodeAndReason) {
  FakeSession& s1 = AddSession(0, "s1", "alice");
  FakeSession& s2 = AddSession(1, "s2", "alice");
  FakeSession& s3 = AddSession(1, "s3", "bob");
  FakeSession& s4 = AddSession(0, "s4", "carol");
  FakeSession& s5 = AddSession(1, "s5", "");

  EXPECT_EQ(Disconnect(Select({"s1", "s3", "s1"}, {"alice"}), 4001, "account suspended"), 3u);

  EXPECT_THAT(s1.closes, ElementsAre(Pair(4001, "account suspended")));
  EXPECT_THAT(s2.closes, ElementsAre(Pair(4001, "account suspended")));
  EXPECT_THAT(s3.closes, ElementsAre(Pair(4001, "account suspended")));
  EXPECT_THAT(s4.closes, IsEmpty());
  EXPECT_THAT(s5.closes, IsEmpty());
  EXPECT_THAT(s1.received, IsEmpty());
}

TEST_F(HubTest, DisconnectOfNobodyClosesNothing) {
  FakeSession& s1 = AddSession(0, "s1", "alice");
  EXPECT_EQ(Disconnect(Select({"ghost"}, {"nobody", ""}), 1000, ""), 0u);
  EXPECT_THAT(s1.closes, IsEmpty());
}

TEST_F(HubTest, DisconnectCopesWithSessionsThatUnregisterWhileClosing) {
  // The real session leaves the index from inside Close(); the hub must not trip over that.
  for (const auto& [shard, id] : {std::pair<size_t, const char*>{0, "s1"}, {0, "s2"}, {1, "s3"}}) {
    FakeSession& fake = AddSession(shard, id, "alice");
    fake.on_close = [this, shard = shard, id = std::string(id)] {
      EXPECT_TRUE(hub_.Unregister(shard, id));
    };
  }

  EXPECT_EQ(Disconnect(Select({"s2"}, {"alice"}), 1000, "bye"), 3u);

  for (const char* id : {"s1", "s2", "s3"}) {
    EXPECT_THAT(session(id).closes, ElementsAre(Pair(1000, "bye"))) << id;
    EXPECT_FALSE(GetSession(id).has_value()) << id;
  }
  EXPECT_EQ(Push({}, {"alice"}, "anyone?").matched, 0u);
}

TEST_F(HubTest, DisconnectAllClosesEverySessionOnBothShards) {
  AddSession(0, "s1", "alice");
  AddSession(1, "s2", "");
  AddSession(1, "s3", "bob", {"news"});

  const uint32_t closed = Await<uint32_t>(
      [&](CountDone done) { hub_.DisconnectAll(1001, "server shutting down", std::move(done)); });

  EXPECT_EQ(closed, 3u);
  for (const char* id : {"s1", "s2", "s3"}) {
    EXPECT_THAT(session(id).closes, ElementsAre(Pair(1001, "server shutting down"))) << id;
  }
}

TEST_F(HubTest, DrainStepsCloseAnEvenShareOfEachShardThenEveryoneLeft) {
  // 4 steps (0, 100, 200, 300 ms); shard 0 holds 8 sessions, shard 1 holds 4.
  const auto schedule = std::make_shared<const DrainSchedule>(
      absl::Milliseconds(600), absl::Milliseconds(300), absl::Milliseconds(100));
  ASSERT_EQ(schedule->steps(), 4u);
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    ids.push_back("s" + std::to_string(i));
    AddSession(i < 8 ? 0 : 1, ids.back(), "");
  }
  auto closed_count = [&] {
    size_t closed = 0;
    for (const std::string& id : ids) closed += session(id).closes.size();
    return closed;
  };
  auto step = [&](size_t n) {
    return Await<uint32_t>([&](CountDone done) {
      hub_.CloseDrainStep(schedule, n, 1001, "server shutting down", std::move(done));
    });
  };

  EXPECT_EQ(step(0), 3u);  // 8 / 4 and 4 / 4, rounded up
  EXPECT_EQ(closed_count(), 3u);
  // One session of shard 0 not yet asked leaves on its own; one arrives late on shard 1.
  std::string gone;
  for (size_t i = 0; i < 8 && gone.empty(); ++i) {
    if (session(ids[i]).closes.empty()) gone = ids[i];
  }
  RemoveSession(0, gone);
  AddSession(1, "late", "");

  // Shard 0: 6 pending / 3 steps = 2 (one may be the one gone); shard 1: 4 pending / 3 = 2.
  const uint32_t second = step(1);
  EXPECT_GE(second, 3u);
  EXPECT_LE(second, 4u);
  // Step 2 missed: the last step closes everything left, "late" included.
  EXPECT_EQ(3u + second + step(3), 12u);
  for (const std::string& id : ids) {
    if (id == gone) {
      EXPECT_TRUE(session(id).closes.empty());
      continue;
    }
    EXPECT_THAT(session(id).closes, ElementsAre(Pair(1001, "server shutting down"))) << id;
  }
  EXPECT_THAT(session("late").closes, ElementsAre(Pair(1001, "server shutting down")));
}

// --- GetSession ---------------------------------------------------------------------------------

TEST_F(HubTest, GetSessionDescribesASessionFromWhicheverShardHoldsIt) {
  AddSession(0, "s1", "alice");
  FakeSession& s2 = AddSession(1, "s2", "bob", {"news", "chat"});
  s2.counters.messages_sent = 7;
  s2.counters.bytes_sent = 700;
  s2.counters.queued_messages = 2;

  const std::optional<SessionView> view = GetSession("s2");

  ASSERT_TRUE(view.has_value());
  EXPECT_EQ(view->info.id, "s2");
  EXPECT_EQ(view->info.user_id, "bob");
  EXPECT_EQ(view->info.remote_address, "198.51.100.1:40000");
  EXPECT_EQ(view->info.connected_at, absl::FromUnixSeconds(1'700'000'000));
  EXPECT_THAT(view->topics, ElementsAre("chat", "news"));
  EXPECT_EQ(view->counters.messages_sent, 7u);
  EXPECT_EQ(view->counters.bytes_sent, 700u);
  EXPECT_EQ(view->counters.queued_messages, 2u);
}

TEST_F(HubTest, GetSessionOfAnUnknownIdIsEmpty) {
  AddSession(0, "s1", "alice");
  EXPECT_FALSE(GetSession("ghost").has_value());
}

TEST_F(HubTest, CountersOfGivesTheHeldSessionsOfBothShardsAndLeavesOutTheOthers) {
  FakeSession& s1 = AddSession(0, "s1", "alice");
  FakeSession& s2 = AddSession(1, "s2", "bob");
  s1.counters.messages_sent = 3;
  s1.counters.bytes_sent = 30;
  s2.counters.messages_received = 5;
  s2.counters.queued_bytes = 50;

  const auto counters = CountersOf({"s2", "ghost", "s1"});

  ASSERT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters.at("s1").messages_sent, 3u);
  EXPECT_EQ(counters.at("s1").bytes_sent, 30u);
  EXPECT_EQ(counters.at("s2").messages_received, 5u);
  EXPECT_EQ(counters.at("s2").queued_bytes, 50u);
  EXPECT_TRUE(CountersOf({"ghost"}).empty());
}

// --- ListSessions -------------------------------------------------------------------------------

class HubListTest : public HubTest {
 protected:
  void SetUp() override {
    // Ids alternate between the shards, so every page needs both.
    AddSession(0, "s1", "alice", {"news"});
    AddSession(1, "s2", "bob");
    AddSession(0, "s3", "alice");
    AddSession(1, "s4", "alice", {"news"});
    AddSession(0, "s5", "", {"news"});
  }
};

TEST_F(HubListTest, AFirstPageHoldsTheSmallestIdsFromBothShards) {
  const SessionPage page = List("", 2);
  EXPECT_THAT(IdsOf(page), ElementsAre("s1", "s2"));
  EXPECT_TRUE(page.more);
}

TEST_F(HubListTest, PagesFollowEachOtherInIdOrderUntilTheLastHasNoMore) {
  const SessionPage first = List("", 2);
  ASSERT_THAT(IdsOf(first), ElementsAre("s1", "s2"));
  ASSERT_TRUE(first.more);

  const SessionPage second = List(first.sessions.back().info.id, 2);
  ASSERT_THAT(IdsOf(second), ElementsAre("s3", "s4"));
  ASSERT_TRUE(second.more);

  const SessionPage last = List(second.sessions.back().info.id, 2);
  EXPECT_THAT(IdsOf(last), ElementsAre("s5"));
  EXPECT_FALSE(last.more);
}

TEST_F(HubListTest, APageThatEndsExactlyAtTheLastSessionHasNoMore) {
  const SessionPage page = List("s3", 2);
  EXPECT_THAT(IdsOf(page), ElementsAre("s4", "s5"));
  EXPECT_FALSE(page.more);

  const SessionPage everything = List("", 5);
  EXPECT_THAT(IdsOf(everything), ElementsAre("s1", "s2", "s3", "s4", "s5"));
  EXPECT_FALSE(everything.more);
}

TEST_F(HubListTest, ALargePageHoldsEverySession) {
  const SessionPage page = List("", 100);
  EXPECT_THAT(IdsOf(page), ElementsAre("s1", "s2", "s3", "s4", "s5"));
  EXPECT_FALSE(page.more);
  EXPECT_THAT(IdsOf(List("s5", 100)), IsEmpty());
}

TEST_F(HubListTest, AOneSessionPageStillSaysWhetherMoreFollow) {
  EXPECT_THAT(IdsOf(List("s3", 1)), ElementsAre("s4"));
  EXPECT_TRUE(List("s3", 1).more);
  EXPECT_FALSE(List("s4", 1).more);
}

TEST_F(HubListTest, FiltersByUserAndTopicAcrossShards) {
  EXPECT_THAT(IdsOf(List("", 100, "alice")), ElementsAre("s1", "s3", "s4"));
  EXPECT_THAT(IdsOf(List("", 100, "", "news")), ElementsAre("s1", "s4", "s5"));
  EXPECT_THAT(IdsOf(List("", 100, "alice", "news")), ElementsAre("s1", "s4"));

  const SessionPage page = List("", 1, "alice", "news");
  EXPECT_THAT(IdsOf(page), ElementsAre("s1"));
  EXPECT_TRUE(page.more);
  EXPECT_FALSE(List("s1", 1, "alice", "news").more);
}

TEST_F(HubListTest, ListedSessionsCarryTheirDescription) {
  session("s4").counters.messages_received = 3;

  const SessionPage page = List("s3", 1);

  ASSERT_EQ(page.sessions.size(), 1u);
  const SessionView& s4 = page.sessions[0];
  EXPECT_EQ(s4.info.user_id, "alice");
  EXPECT_THAT(s4.topics, ElementsAre("news"));
  EXPECT_EQ(s4.counters.messages_received, 3u);
}

TEST_F(HubListTest, SessionsWhoseOpenedIsNotReportedYetAreNotListed) {
  // s3 registered, its upgrade not yet complete: no `opened` event yet, so no listing has it.
  RunOn(0, [&] { session("s3").announced = false; });
  EXPECT_THAT(IdsOf(List("", 100)), ElementsAre("s1", "s2", "s4", "s5"));
  EXPECT_THAT(IdsOf(List("", 100, "alice")), ElementsAre("s1", "s4"));
  // Still reachable by id meanwhile (a Push during the upgrade is queued behind the 101).
  EXPECT_TRUE(GetSession("s3").has_value());
}

TEST_F(HubListTest, APageCarriesTheEventSequenceReadWhileEveryShardIsParked) {
  // The sequence source checks that no shard thread runs anything else while it reads: a task
  // posted to each shard thread must not have run until the source returned.
  std::atomic<int> ran{0};
  std::atomic<int> reads{0};
  std::atomic<bool> parked{true};
  hub_.SetEventSequence([&] {
    reads.fetch_add(1);
    for (size_t i = 0; i < hub_.shard_count(); ++i) hub_.thread(i).Post([&] { ran.fetch_add(1); });
    absl::SleepFor(absl::Milliseconds(50));  // room for a free thread to run its task
    if (ran.load() != 0) parked = false;
    return uint64_t{4242};
  });

  const SessionPage page = List("", 2);

  EXPECT_THAT(IdsOf(page), ElementsAre("s1", "s2"));
  EXPECT_EQ(page.sequence, 4242u);
  EXPECT_EQ(reads.load(), 1);
  EXPECT_TRUE(parked.load()) << "a shard thread ran other work while the sequence was read";
}

TEST_F(HubListTest, WithoutASequenceSourcePagesCarryZero) { EXPECT_EQ(List("", 100).sequence, 0u); }

}  // namespace
}  // namespace wsbridge
