// CounterExchange against a real redis-server: two nodes in one process (each its own hub, I/O
// thread and exchange; one Redis thread, one pub/sub connection that hands each node the
// envelopes of its channel, as ClusterBroker::OnMessage does) ask each other for their sessions'
// counters over wsb:n:<node>. A node gives the counters of the sessions it holds and leaves out
// the others; a node that nobody listens for, or one that never answers, leaves zeros; the
// requests waiting for replies are bounded in count and in bytes.
#include "cluster/counter_exchange.h"

#include <algorithm>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hub/connection_limiter.h"
#include "hub/hub.h"
#include "hub/session_endpoint.h"
#include "redis/redis_subscriber.h"
#include "runtime/io_thread.h"
#include "support/cluster_directory_fixture.h"
#include "support/eventually.h"
#include "support/redis_server.h"
#include "wsbridge/internal/v1/cluster.pb.h"

namespace wsbridge {
namespace {

using cluster::CounterExchange;
using testing::CountingSession;
using testing::RedisOptionsFor;
using testing::RedisServer;

// One node: an I/O thread, its hub, and its exchange on the shared Redis thread.
struct Node {
  Node(IoThread& redis_thread, RedisConnection& redis, const cluster::ClusterKeys& keys,
       const std::string& id)
      : hub({&io_thread}, 16, limiter), exchange(redis_thread, redis, keys, id, hub) {}

  void Hold(const std::string& session_id, CountingSession* session) {
    auto slot = limiter.TryAdmit("", 0);
    ASSERT_TRUE(slot.ok());
    slots.push_back(std::move(*slot));
    absl::Notification done;
    io_thread.Post([&] {
      SessionInfo info;
      info.id = session_id;
      hub.Register(0, info, {}, session);
      done.Notify();
    });
    done.WaitForNotification();
  }

  IoThread io_thread{0};
  ConnectionLimiter limiter{1, 1000, 1000};
  std::vector<SessionSlot> slots;
  Hub hub;
  CounterExchange exchange;
};

class CounterExchangeTest : public ::testing::Test {
 protected:
  CounterExchangeTest()
      : redis_(std::make_unique<RedisConnection>(redis_thread_, RedisOptionsFor(server_.Url()))),
        a_(redis_thread_, *redis_, keys_, "node-a"),
        b_(redis_thread_, *redis_, keys_, "node-b") {}

  void SetUp() override {
    redis_thread_.Start();
    a_.io_thread.Start();
    b_.io_thread.Start();
    subscriber_ = std::make_unique<RedisSubscriber>(
        redis_thread_, RedisOptionsFor(server_.Url()),
        [this](const std::string& channel, const std::string& payload) {
          internal::v1::Envelope envelope;
          ASSERT_TRUE(envelope.ParseFromString(payload));
          // node-silent's channel has a listener (this subscriber) and nobody who answers.
          if (channel == keys_.NodeChannel("node-a")) a_.exchange.OnEnvelope(envelope);
          if (channel == keys_.NodeChannel("node-b")) b_.exchange.OnEnvelope(envelope);
        });
    for (const char* node : {"node-a", "node-b"}) {
      auto active = std::make_shared<std::promise<void>>();
      subscriber_->Subscribe(keys_.NodeChannel(node), [active] { active->set_value(); });
      ASSERT_EQ(active->get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
    }
  }

  ~CounterExchangeTest() override {
    redis_thread_.RunAndWait([this] {
      a_.exchange.Detach();
      b_.exchange.Detach();
    });
    // The clients go before the exchanges: their pending commands complete into them.
    subscriber_.reset();
    redis_.reset();
    a_.io_thread.StopAndJoin();
    b_.io_thread.StopAndJoin();
  }

  // A listener on node-silent's channel that never answers.
  void SubscribeSilent() {
    auto active = std::make_shared<std::promise<void>>();
    subscriber_->Subscribe(keys_.NodeChannel("node-silent"), [active] { active->set_value(); });
    ASSERT_EQ(active->get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }

  // Node A asks `node` for the counters of `ids`; waits for the answer.
  CounterExchange::CountersById FetchFromA(const std::string& node, std::vector<std::string> ids) {
    auto promise = std::make_shared<std::promise<CounterExchange::CountersById>>();
    auto result = promise->get_future();
    redis_thread_.Post([&, node, ids = std::move(ids), promise]() mutable {
      a_.exchange.Fetch(node, std::move(ids), [promise](CounterExchange::CountersById counters) {
        promise->set_value(std::move(counters));
      });
    });
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "no answer from the exchange within 10 s";
      return {{"(no answer)", SessionCounters{}}};
    }
    return result.get();
  }

  RedisServer server_;
  cluster::ClusterKeys keys_;
  IoThread redis_thread_{0};
  std::unique_ptr<RedisConnection> redis_;
  Node a_;
  Node b_;
  std::unique_ptr<RedisSubscriber> subscriber_;
};

TEST_F(CounterExchangeTest, ANodeAnswersWithTheCountersOfTheSessionsItHoldsOnly) {
  CountingSession b1, a1;
  b1.counters.messages_sent = 4;
  b1.counters.bytes_sent = 40;
  b1.counters.queued_messages = 2;
  b1.counters.queued_bytes = 20;
  b1.counters.messages_received = 1;
  b1.counters.bytes_received = 7;
  a1.counters.messages_sent = 9;
  b_.Hold("b1", &b1);
  a_.Hold("a1", &a1);

  // From B over Redis: b1 only ("gone" closed meanwhile, a1 is not B's).
  CounterExchange::CountersById from_b = FetchFromA("node-b", {"b1", "gone", "a1"});
  ASSERT_EQ(from_b.size(), 1u);
  const SessionCounters& c = from_b.at("b1");
  EXPECT_EQ(c.messages_sent, 4u);
  EXPECT_EQ(c.bytes_sent, 40u);
  EXPECT_EQ(c.queued_messages, 2u);
  EXPECT_EQ(c.queued_bytes, 20u);
  EXPECT_EQ(c.messages_received, 1u);
  EXPECT_EQ(c.bytes_received, 7u);

  // Its own sessions from its own hub.
  CounterExchange::CountersById own = FetchFromA("node-a", {"a1", "b1"});
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own.at("a1").messages_sent, 9u);
}

TEST_F(CounterExchangeTest, NodesThatAreGoneOrSilentLeaveNoCounters) {
  // Nobody listens to node-gone's channel: the PUBLISH says so, no wait.
  EXPECT_TRUE(FetchFromA("node-gone", {"x"}).empty());
  // Someone listens to node-silent's channel but never answers: the wait runs out.
  SubscribeSilent();
  EXPECT_TRUE(FetchFromA("node-silent", {"x"}).empty());
}

// Node A sends `fetches` requests of `ids_each` ids of `id_bytes` bytes to a node that never
// answers, all in one step of the Redis thread: [i] is whether fetch i completed inside its
// Fetch call (refused: past the bound, nothing sent) rather than waiting for a reply.
std::vector<bool> AnsweredAtOnce(IoThread& redis_thread, CounterExchange& exchange, size_t fetches,
                                 size_t ids_each, size_t id_bytes) {
  struct Record {
    size_t in_fetch = 0;
    std::vector<bool> at_once;
  };
  auto record = std::make_shared<Record>();
  record->at_once.assign(fetches, false);
  redis_thread.RunAndWait([&] {
    for (size_t i = 0; i < fetches; ++i) {
      std::vector<std::string> ids;
      for (size_t k = 0; k < ids_each; ++k) {
        std::string id = std::to_string(i) + "-" + std::to_string(k) + "-";
        id.resize(id_bytes, 'x');
        ids.push_back(std::move(id));
      }
      record->in_fetch = i + 1;
      exchange.Fetch("node-silent", std::move(ids), [record, i](CounterExchange::CountersById) {
        if (record->in_fetch == i + 1) record->at_once[i] = true;
      });
      record->in_fetch = 0;
    }
  });
  return record->at_once;
}

TEST_F(CounterExchangeTest, RequestsWaitingForRepliesAreBoundedInCount) {
  SubscribeSilent();
  std::vector<bool> expected(CounterExchange::kMaxPending + 2, false);
  expected[CounterExchange::kMaxPending] = expected[CounterExchange::kMaxPending + 1] = true;
  EXPECT_EQ(AnsweredAtOnce(redis_thread_, a_.exchange, CounterExchange::kMaxPending + 2, 1, 8),
            expected);
}

TEST_F(CounterExchangeTest, RequestsWaitingForRepliesAreBoundedInBytes) {
  SubscribeSilent();
  // Full pages of 1000-byte ids: about 1 MB each, so 4 fit in 4 MiB, far below the count.
  static_assert(CounterExchange::kMaxPendingBytes == size_t{4} << 20);
  EXPECT_EQ(AnsweredAtOnce(redis_thread_, a_.exchange, 6, CounterExchange::kMaxIdsPerRequest, 1000),
            (std::vector<bool>{false, false, false, false, true, true}));
}

}  // namespace
}  // namespace wsbridge
