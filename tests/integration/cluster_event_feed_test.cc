// ClusterEventFeed against a real redis-server: two or three "nodes" in one process, each an
// EventBus fed by its own feed on its own Redis thread, with events appended to the cluster's
// event log the way SessionLog writes them (XADD wsb:events MAXLEN ~ N * e <wsbridge.v1.Event
// without sequence>). The tests read what each node's Events readers get: every event, in log
// order, with the entry id as sequence; resumes on a node that started later; Redis restarting
// and the log losing entries under the feed; a group shared by members on two nodes, and one of
// those nodes dying. Component tests of one process, so they also run under the sanitizers.
#include "cluster/cluster_event_feed.h"

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cluster/cluster_keys.h"
#include "events/event_bus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis/redis_connection.h"
#include "redis/redis_url.h"
#include "runtime/io_thread.h"
#include "support/eventually.h"
#include "support/redis_server.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge::cluster {
namespace {

using ::testing::ElementsAreArray;
using testing::Eventually;
using testing::RedisServer;
using Outcome = EventBus::PullOutcome;

RedisClientOptions OptionsFor(const std::string& url) {
  RedisClientOptions options;
  options.url = ParseRedisUrl(url).value();
  options.reconnect_initial = absl::Milliseconds(20);
  options.reconnect_max = absl::Milliseconds(200);
  return options;
}

RedisReply Call(RedisConnection& connection, std::vector<std::string> argv) {
  auto promise = std::make_shared<std::promise<RedisReply>>();
  std::future<RedisReply> reply = promise->get_future();
  connection.Command(std::move(argv), [promise](RedisReply r) { promise->set_value(r); });
  if (reply.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "no reply within 10 s";
    return RedisReply::Unanswered("test: no reply");
  }
  return reply.get();
}

// One node: its Redis thread, command connection, bus and feed.
struct Node {
  Node(const std::string& url, std::string node_id, EventOptions events = {})
      : id(std::move(node_id)), bus(events, id, 1) {
    thread.Start();
    commands = std::make_unique<RedisConnection>(thread, OptionsFor(url));
    ClusterEventFeed::Options options;
    options.block = absl::Milliseconds(200);
    options.tick = absl::Milliseconds(100);
    options.retry = absl::Milliseconds(50);
    feed = std::make_unique<ClusterEventFeed>(thread, *commands, OptionsFor(url), bus, events,
                                              ClusterKeys(), id, options);
    auto started = std::make_shared<std::promise<void>>();
    auto done = started->get_future();
    feed->Start([started] { started->set_value(); });
    EXPECT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  // Like SIGKILL: nothing more is written for it (no leave, no acknowledgement).
  void Crash() {
    feed.reset();
    commands.reset();
  }

  std::string id;
  IoThread thread{0};
  std::unique_ptr<RedisConnection> commands;
  EventBus bus;
  std::unique_ptr<ClusterEventFeed> feed;
};

// An Events stream as the bus sees it: pulls, and every pull acknowledges the previous one.
class Reader {
 public:
  Reader(EventBus& bus, EventBus::SubscriptionOptions options) : bus_(bus) {
    auto subscription = bus.Subscribe(std::move(options), [] {});
    if (!subscription.ok()) {
      status_ = subscription.status();
      return;
    }
    subscription_ = std::move(*subscription);
  }
  const absl::Status& status() const { return status_; }

  // Pulls what is there; returns the last outcome.
  Outcome Take() {
    if (subscription_ == nullptr) return Outcome::kClosed;
    std::vector<EventPtr> batch;
    Outcome outcome;
    while ((outcome = bus_.PullBatch(*subscription_, 16, 1 << 20, batch)) == Outcome::kEvent) {
    }
    for (auto& event : batch) got_.push_back(std::move(event));
    return outcome;
  }
  // Pulls until it holds `count` events or 10 s pass.
  bool TakeUntil(size_t count) {
    return Eventually(
        [&] {
          Take();
          return got_.size() >= count;
        },
        absl::Seconds(10));
  }
  std::vector<uint64_t> sequences() const {
    std::vector<uint64_t> out;
    for (const auto& event : got_) out.push_back(event->sequence());
    return out;
  }
  const std::vector<EventPtr>& events() const { return got_; }
  void Leave() { bus_.Unsubscribe(subscription_); }

 private:
  EventBus& bus_;
  absl::Status status_;
  std::shared_ptr<EventBus::Subscription> subscription_;
  std::vector<EventPtr> got_;
};

class ClusterEventFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    writer_thread_.Start();
    writer_ = std::make_unique<RedisConnection>(writer_thread_, OptionsFor(redis_.Url()));
  }

  // Appends one event as SessionLog does; returns its sequence (from the entry id).
  uint64_t Append(const std::string& session, const std::string& node, const std::string& text,
                  uint64_t maxlen = 100000) {
    v1::Event event;
    event.set_session_id(session);
    event.set_node_id(node);
    event.mutable_time()->set_seconds(1700000000);
    event.mutable_message()->mutable_message()->set_text(text);
    RedisReply reply;
    // Until the writer's connection is back after a restart: a reply that never came is retried.
    for (int attempt = 0; attempt < 100; ++attempt) {
      reply = Call(*writer_, {"XADD", keys_.Events(), "MAXLEN", "~", absl::StrCat(maxlen), "*",
                              std::string(ClusterKeys::EventField()), event.SerializeAsString()});
      if (!reply.unanswered) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_EQ(reply.type, RedisReply::Type::kString) << reply.str;
    return SequenceOfStreamId(reply.str).value_or(0);
  }
  std::vector<uint64_t> AppendMany(int count, int sessions, const std::string& tag = "m") {
    std::vector<uint64_t> sequences;
    for (int i = 0; i < count; ++i) {
      sequences.push_back(Append(absl::StrCat("session-", i % sessions),
                                 absl::StrCat("node-", i % 3), absl::StrCat(tag, i)));
    }
    return sequences;
  }
  void Heartbeat(const std::string& node) {
    Call(*writer_,
         {"ZADD", keys_.Nodes(), absl::StrCat(absl::ToUnixMillis(absl::Now()) + 600000), node});
  }

  RedisServer redis_;
  ClusterKeys keys_;
  IoThread writer_thread_{0};
  std::unique_ptr<RedisConnection> writer_;
};

TEST_F(ClusterEventFeedTest, EveryNodesBusSeesEveryEventInLogOrderWithTheEntryIdAsSequence) {
  Node a(redis_.Url(), "a"), b(redis_.Url(), "b"), c(redis_.Url(), "c");
  Reader on_a(a.bus, {}), on_b(b.bus, {}), on_c(c.bus, {});
  const std::vector<uint64_t> sequences = AppendMany(30, 5);
  for (Reader* reader : {&on_a, &on_b, &on_c}) {
    ASSERT_TRUE(reader->TakeUntil(30));
    EXPECT_THAT(reader->sequences(), ElementsAreArray(sequences));
  }
  EXPECT_EQ(on_b.events()[4]->node_id(), "node-1") << "node_id names the node that held it";
  EXPECT_EQ(on_b.events()[4]->message().message().text(), "m4");
  EXPECT_EQ(a.feed->stats().entries, 30u);
}

TEST_F(ClusterEventFeedTest,
       ANodeStartedLaterResumesFromTheBackfilledHistoryWithoutGapOrDuplicate) {
  const std::vector<uint64_t> before = AppendMany(20, 4);
  Node late(redis_.Url(), "late");
  EXPECT_EQ(late.bus.usage().history_events, 20u);
  EventBus::SubscriptionOptions resume;
  resume.start_after_sequence = before[9];
  Reader reader(late.bus, resume);
  ASSERT_TRUE(reader.status().ok()) << reader.status();
  const std::vector<uint64_t> after = AppendMany(5, 4, "after");
  ASSERT_TRUE(reader.TakeUntil(15));
  std::vector<uint64_t> expected(before.begin() + 10, before.end());
  expected.insert(expected.end(), after.begin(), after.end());
  EXPECT_THAT(reader.sequences(), ElementsAreArray(expected));
}

TEST_F(ClusterEventFeedTest, TheBackfillIsBoundedByTheHistoryInEventsAndInBytes) {
  const std::vector<uint64_t> sequences = AppendMany(40, 4);
  EventOptions few;
  few.history = 7;
  Node by_count(redis_.Url(), "by-count", few);
  EXPECT_EQ(by_count.bus.usage().history_events, 7u);
  EXPECT_EQ(by_count.bus.first_history_sequence(), sequences[33]);
  EventOptions small;
  small.history_bytes = 5 * 60;  // each event is well under 60 bytes and over 30
  Node by_bytes(redis_.Url(), "by-bytes", small);
  EXPECT_LE(by_bytes.bus.usage().history_bytes, small.history_bytes);
  EXPECT_GE(by_bytes.bus.usage().history_events, 5u);
  EXPECT_LT(by_bytes.bus.usage().history_events, 10u);
  EventBus::SubscriptionOptions too_old;
  too_old.start_after_sequence = sequences[10];
  Reader refused(by_count.bus, too_old);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(ClusterEventFeedTest, ARedisRestartMidFlowContinuesWithoutGapOrDuplicate) {
  Node a(redis_.Url(), "a");
  Reader reader(a.bus, {});
  std::vector<uint64_t> sequences = AppendMany(10, 3);
  ASSERT_TRUE(reader.TakeUntil(10));
  // Redis keeps its data over the restart (SAVE, then it loads dump.rdb from its directory).
  ASSERT_EQ(Call(*writer_, {"SAVE"}).str, "OK");
  redis_.Restart();
  for (uint64_t sequence : AppendMany(10, 3, "after")) sequences.push_back(sequence);
  ASSERT_TRUE(reader.TakeUntil(20));
  EXPECT_THAT(reader.sequences(), ElementsAreArray(sequences));
  EXPECT_EQ(reader.Take(), Outcome::kNone) << "still live";
  EXPECT_EQ(a.feed->stats().losses, 0u);
}

TEST_F(ClusterEventFeedTest, WhenTheLogIsTrimmedPastWhatANodeReadItsStreamsAreCutOffNotSkipped) {
  Node a(redis_.Url(), "a");
  Reader reader(a.bus, {});
  const std::vector<uint64_t> first = AppendMany(3, 3);
  ASSERT_TRUE(reader.TakeUntil(3));
  // 100 entries in one step, the log trimmed to 10: the node cannot have read in between.
  v1::Event event;
  event.set_session_id("burst");
  event.mutable_message()->mutable_message()->set_text("b");
  const RedisReply burst = Call(
      *writer_, {"EVAL",
                 "for i = 1, 100 do redis.call('XADD', KEYS[1], 'MAXLEN', '10', '*', 'e', ARGV[1]) "
                 "end return redis.call('XLEN', KEYS[1])",
                 "1", keys_.Events(), event.SerializeAsString()});
  ASSERT_EQ(burst.integer, 10);
  ASSERT_TRUE(Eventually([&] { return reader.Take() == Outcome::kOverflowed; }))
      << "the stream must end, not skip 90 events";
  EXPECT_EQ(a.feed->stats().losses, 1u);
  EXPECT_EQ(reader.sequences(), first);
  // The client reconnects from what it processed: the bus no longer pretends to have it.
  EventBus::SubscriptionOptions resume;
  resume.start_after_sequence = first.back();
  Reader resumed(a.bus, resume);
  EXPECT_EQ(resumed.status().code(), absl::StatusCode::kOutOfRange) << resumed.status();
  // Live events flow again.
  Reader fresh(a.bus, {});
  const std::vector<uint64_t> later = AppendMany(2, 2, "later");
  ASSERT_TRUE(fresh.TakeUntil(2));
  EXPECT_EQ(fresh.sequences(), later);
}

TEST_F(ClusterEventFeedTest, WhenRedisLosesTheLogItsStreamsAreCutOff) {
  Node a(redis_.Url(), "a");
  Reader reader(a.bus, {});
  AppendMany(3, 3);
  ASSERT_TRUE(reader.TakeUntil(3));
  Call(*writer_, {"FLUSHALL"});  // what a restart without persistence does to the log
  AppendMany(2, 2, "new");
  ASSERT_TRUE(Eventually([&] { return reader.Take() == Outcome::kOverflowed; }));
  EXPECT_EQ(reader.events().size(), 3u);
  EXPECT_EQ(a.feed->stats().losses, 1u);
}

TEST_F(ClusterEventFeedTest, UnknownFieldsAreSkippedAndTheRestIsRead) {
  Node a(redis_.Url(), "a");
  Reader reader(a.bus, {});
  Call(*writer_, {"XADD", keys_.Events(), "*", "future", "x"});
  Call(*writer_, {"XADD", keys_.Events(), "*", "e", "\xff\xff not a protobuf"});
  const uint64_t good = Append("s", "n", "fine");
  ASSERT_TRUE(reader.TakeUntil(1));
  EXPECT_EQ(reader.sequences(), std::vector<uint64_t>{good});
  EXPECT_EQ(a.feed->stats().skipped_fields, 2u);
}

// ---- Groups across nodes ----------------------------------------------------------------------

EventBus::SubscriptionOptions InGroup(const std::string& group) {
  EventBus::SubscriptionOptions options;
  options.group = group;
  return options;
}

class ClusterGroupTest : public ClusterEventFeedTest {
 protected:
  // Both members' joins are in the log and every node has read past them.
  void AwaitMembers(int count, std::vector<Node*> nodes) {
    ASSERT_TRUE(Eventually([&] {
      return Call(*writer_, {"HLEN", keys_.Group("workers") + ":members"}).integer == count;
    }));
    const uint64_t marker = Append("marker", "n", "marker");
    for (Node* node : nodes) {
      ASSERT_TRUE(Eventually([&] { return node->bus.last_sequence() >= marker; }));
    }
  }
};

TEST_F(ClusterGroupTest, AGroupOnTwoNodesGivesEachEventToOneMemberAndEachSessionToOne) {
  Node a(redis_.Url(), "a"), b(redis_.Url(), "b");
  Heartbeat("a");
  Heartbeat("b");
  Reader on_a(a.bus, InGroup("workers")), on_b(b.bus, InGroup("workers"));
  AwaitMembers(2, {&a, &b});
  on_a.Take();
  on_b.Take();  // the marker, to one of them
  const size_t marker_count = on_a.events().size() + on_b.events().size();
  const std::vector<uint64_t> sequences = AppendMany(100, 20);
  ASSERT_TRUE(Eventually([&] {
    on_a.Take();
    on_b.Take();
    return on_a.events().size() + on_b.events().size() >= 100 + marker_count;
  }));
  std::map<uint64_t, int> deliveries;
  std::map<std::string, std::set<Reader*>> members_of_session;
  for (Reader* reader : {&on_a, &on_b}) {
    for (const auto& event : reader->events()) {
      ++deliveries[event->sequence()];
      members_of_session[event->session_id()].insert(reader);
    }
  }
  for (uint64_t sequence : sequences) EXPECT_EQ(deliveries[sequence], 1) << sequence;
  for (const auto& [session, members] : members_of_session)
    EXPECT_EQ(members.size(), 1u) << session;
  // Both share the work (member ids carry the run's start time, so the split varies by run; 20
  // sessions all on one member is a one-in-a-million draw).
  EXPECT_GT(on_a.events().size(), marker_count);
  EXPECT_GT(on_b.events().size(), marker_count);
}

TEST_F(ClusterGroupTest, AMemberWhoseNodeIsLostHasItsUnacknowledgedShareReplayedToTheSurvivor) {
  Node a(redis_.Url(), "a");
  auto b = std::make_unique<Node>(redis_.Url(), "b");
  Heartbeat("a");
  Heartbeat("b");
  Reader survivor(a.bus, InGroup("workers"));
  auto victim = std::make_unique<Reader>(b->bus, InGroup("workers"));
  AwaitMembers(2, {&a, b.get()});
  const std::vector<uint64_t> first = AppendMany(40, 10, "first");
  // b writes its share of the first events and its acknowledgement reaches Redis.
  ASSERT_TRUE(Eventually([&] {
    victim->Take();
    survivor.Take();
    return victim->events().size() + survivor.events().size() >= 41;
  }));
  victim->Take();  // acknowledges all it took
  const std::string victim_ack = StreamIdOfSequence(victim->sequences().back());
  ASSERT_TRUE(Eventually([&] {
    const RedisReply acked = Call(*writer_, {"HVALS", keys_.Group("workers") + ":acked"});
    for (const auto& value : acked.elements) {
      if (value.str == victim_ack) return true;
    }
    return false;
  }));
  const size_t victim_written = victim->events().size();
  // The next events reach b's bus, but b dies before its stream writes them.
  const std::vector<uint64_t> second = AppendMany(40, 10, "second");
  ASSERT_TRUE(Eventually([&] { return b->bus.last_sequence() >= second.back(); }));
  b->Crash();
  Call(*writer_, {"ZREM", keys_.Nodes(), "b"});
  // a notices, writes b's leave, and replays b's share after its acknowledgement.
  const std::vector<uint64_t> third = AppendMany(10, 10, "third");
  const std::vector<uint64_t> victim_got = victim->sequences();
  const std::set<uint64_t> written(victim_got.begin(), victim_got.begin() + victim_written);
  ASSERT_TRUE(Eventually(
      [&] {
        survivor.Take();
        std::set<uint64_t> all = written;
        const std::vector<uint64_t> got = survivor.sequences();
        all.insert(got.begin(), got.end());
        for (const auto* batch : {&first, &second, &third}) {
          for (uint64_t sequence : *batch) {
            if (!all.contains(sequence)) return false;
          }
        }
        return true;
      },
      absl::Seconds(10)))
      << "every event was written by b before it died or reaches a";
  // Per session, a got its events in log order; duplicates only of what b had not acknowledged.
  std::map<std::string, uint64_t> last_of_session;
  for (const auto& event : survivor.events()) {
    uint64_t& last = last_of_session[event->session_id()];
    EXPECT_GT(event->sequence(), last) << event->session_id() << " out of order";
    last = event->sequence();
    if (written.contains(event->sequence())) {
      ADD_FAILURE() << event->sequence() << " was written and acknowledged by b, and given again";
    }
  }
  EXPECT_EQ(Call(*writer_, {"HLEN", keys_.Group("workers") + ":members"}).integer, 1);
}

TEST_F(ClusterGroupTest, AStreamThatEndsLeavesWithItsAcknowledgementAndItsShareMoves) {
  Node a(redis_.Url(), "a"), b(redis_.Url(), "b");
  Heartbeat("a");
  Heartbeat("b");
  Reader stays(a.bus, InGroup("workers"));
  Reader goes(b.bus, InGroup("workers"));
  AwaitMembers(2, {&a, &b});
  goes.Take();
  goes.Leave();  // a cancel: its leave is written by b itself
  ASSERT_TRUE(Eventually([&] {
    return Call(*writer_, {"HLEN", keys_.Group("workers") + ":members"}).integer == 1;
  }));
  const std::vector<uint64_t> sequences = AppendMany(20, 10);
  ASSERT_TRUE(Eventually([&] {
    stays.Take();
    return !stays.events().empty() && stays.events().back()->sequence() == sequences.back();
  }));
  std::vector<uint64_t> got = stays.sequences();
  got.erase(got.begin(), got.end() - 20);
  EXPECT_EQ(got, sequences) << "every event to the member that stays";
}

}  // namespace
}  // namespace wsbridge::cluster
