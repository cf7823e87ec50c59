// EventBus bounds in bytes as well as in events: the history, how far one reader may lag, the
// number of readers, and what stalled readers cost the bus (one shared log, not a queue each).
// Each test publishes browser messages of a known size and checks the bus's own accounting
// (EventBus::usage) and what each reader pulls.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "events/event_bus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Outcome = EventBus::PullOutcome;

constexpr uint64_t kFirstSequence = 1000;
constexpr char kNodeId[] = "node-a";
constexpr size_t kText = 1000;  // each message event is a little over this many bytes

v1::Event Message(const std::string& session_id, size_t size = kText, char fill = 'm') {
  v1::Event event;
  event.set_session_id(session_id);
  event.mutable_message()->mutable_message()->set_text(std::string(size, fill));
  return event;
}

EventBus::SubscriptionOptions InGroup(std::string group) {
  EventBus::SubscriptionOptions options;
  options.group = std::move(group);
  return options;
}

EventBus::SubscriptionOptions OfKinds(EventKindMask kinds) {
  EventBus::SubscriptionOptions options;
  options.kinds = kinds;
  return options;
}

// A subscription and how often the bus woke it, held as an Events stream holds it.
struct Reader {
  std::shared_ptr<EventBus::Subscription> subscription;
  std::shared_ptr<int> wakes = std::make_shared<int>(0);

  static Reader Join(EventBus& bus, EventBus::SubscriptionOptions options = {}) {
    Reader reader;
    auto subscription = bus.Subscribe(std::move(options), [wakes = reader.wakes] { ++*wakes; });
    EXPECT_TRUE(subscription.ok()) << subscription.status();
    if (subscription.ok()) reader.subscription = std::move(*subscription);
    return reader;
  }

  std::vector<uint64_t> Drain(EventBus& bus) {
    std::vector<uint64_t> sequences;
    for (auto pulled = bus.Pull(*subscription); pulled.outcome == Outcome::kEvent;
         pulled = bus.Pull(*subscription)) {
      sequences.push_back(pulled.event->sequence());
    }
    return sequences;
  }
};

uint64_t MessageBytes() {
  EventBus probe(EventOptions(), kNodeId, kFirstSequence);
  probe.Publish(Message("session-1"));
  return probe.usage().history_bytes;
}

TEST(EventBusBoundsTest, TheHistoryKeepsNoMoreBytesThanItsBoundAndOlderResumesAreOutOfRange) {
  const uint64_t one = MessageBytes();
  ASSERT_GT(one, kText);
  EventOptions options;
  options.history = 1000;  // the count alone would keep all ten
  options.history_bytes = 3 * one + one / 2;
  EventBus bus(options, kNodeId, kFirstSequence);
  for (int i = 0; i < 10; ++i) bus.Publish(Message("session-1"));  // 1000..1009

  const EventBus::Usage usage = bus.usage();
  EXPECT_EQ(usage.history_events, 3u);
  EXPECT_EQ(usage.history_bytes, 3 * one);

  EventBus::SubscriptionOptions too_old;
  too_old.start_after_sequence = 1005;  // 1006 is gone: 1007..1009 are kept
  auto refused = bus.Subscribe(too_old, [] {});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(refused.status().message(), HasSubstr("1006 to 1006"));
  EXPECT_THAT(refused.status().message(), HasSubstr(absl::StrCat(options.history_bytes, " bytes")));

  EventBus::SubscriptionOptions kept;
  kept.start_after_sequence = 1006;
  Reader resumed = Reader::Join(bus, kept);
  EXPECT_THAT(resumed.Drain(bus), ElementsAre(1007u, 1008u, 1009u));
}

TEST(EventBusBoundsTest, AnEventLargerThanTheHistoryBytesIsNotKept) {
  EventOptions options;
  options.history_bytes = 100;
  EventBus bus(options, kNodeId, kFirstSequence);
  bus.Publish(Message("session-1"));
  EXPECT_EQ(bus.usage().history_events, 0u);
  EXPECT_EQ(bus.usage().history_bytes, 0u);
  EventBus::SubscriptionOptions resume;
  resume.start_after_sequence = 999;
  EXPECT_EQ(bus.Subscribe(resume, [] {}).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(EventBusBoundsTest, AReaderFurtherBehindThanTheByteBoundIsCutOffAndOthersCarryOn) {
  const uint64_t one = MessageBytes();
  EventOptions options;
  options.stream_buffer = 1000;  // the count alone would never cut it off here
  options.stream_buffer_bytes = 4 * one;
  EventBus bus(options, kNodeId, kFirstSequence);
  Reader stalled = Reader::Join(bus);
  Reader keeping_up = Reader::Join(bus);

  std::vector<uint64_t> kept_up;
  for (int i = 0; i < 4; ++i) {
    bus.Publish(Message("session-1"));
    for (uint64_t sequence : keeping_up.Drain(bus)) kept_up.push_back(sequence);
  }
  EXPECT_EQ(*stalled.wakes, 0) << "four events' bytes are within the bound";
  EXPECT_EQ(bus.usage().logged_events, 4u) << "held for the stalled reader, once";

  bus.Publish(Message("session-1"));  // the fifth: past the bound
  EXPECT_EQ(*stalled.wakes, 1);
  EXPECT_EQ(bus.Pull(*stalled.subscription).outcome, Outcome::kOverflowed);
  EXPECT_EQ(bus.subscription_count(), 1u);
  for (uint64_t sequence : keeping_up.Drain(bus)) kept_up.push_back(sequence);
  EXPECT_THAT(kept_up, ElementsAre(1000u, 1001u, 1002u, 1003u, 1004u));
  EXPECT_EQ(bus.usage().logged_events, 0u) << "nobody is behind: the log let go of everything";
}

TEST(EventBusBoundsTest, OneEventLargerThanTheByteBoundStillReachesAReaderThatKeepsUp) {
  EventOptions options;
  options.stream_buffer_bytes = 1024;
  EventBus bus(options, kNodeId, kFirstSequence);
  Reader reader = Reader::Join(bus);
  Reader member = Reader::Join(bus, InGroup("workers"));
  bus.Publish(Message("session-1", 64 * 1024));
  EXPECT_THAT(reader.Drain(bus), ElementsAre(1000u));
  EXPECT_THAT(member.Drain(bus), ElementsAre(1000u));
  bus.Publish(Message("session-1", 64 * 1024));
  EXPECT_THAT(reader.Drain(bus), ElementsAre(1001u));
  EXPECT_THAT(member.Drain(bus), ElementsAre(1001u));
}

TEST(EventBusBoundsTest, AGroupMemberFurtherBehindThanTheByteBoundIsCutOff) {
  const uint64_t one = MessageBytes();
  EventOptions options;
  options.stream_buffer_bytes = 2 * one;
  EventBus bus(options, kNodeId, kFirstSequence);
  Reader member = Reader::Join(bus, InGroup("workers"));
  bus.Publish(Message("session-1"));
  bus.Publish(Message("session-1"));
  EXPECT_EQ(bus.usage().queued_bytes, 2 * one);
  EXPECT_EQ(*member.wakes, 0);
  bus.Publish(Message("session-1"));
  EXPECT_EQ(*member.wakes, 1);
  EXPECT_EQ(bus.Pull(*member.subscription).outcome, Outcome::kOverflowed);
  EXPECT_EQ(bus.usage().queued_bytes, 0u);
}

// The cost of stuck streams: two thousand readers that never pull hold one shared log between
// them, and Publish does not grow with their number.
TEST(EventBusBoundsTest, StalledReadersShareOneLogAndAreCutOffTogetherAtTheBound) {
  EventOptions options;
  options.stream_buffer = 100;
  EventBus bus(options, kNodeId, kFirstSequence);
  std::vector<Reader> stalled;
  for (int i = 0; i < 2000; ++i) stalled.push_back(Reader::Join(bus));
  Reader keeping_up = Reader::Join(bus);

  size_t received = 0;
  for (int i = 0; i < 100; ++i) {
    bus.Publish(Message("session-1", 10));
    received += keeping_up.Drain(bus).size();
  }
  EXPECT_EQ(bus.usage().logged_events, 100u) << "one log, not one queue per reader";
  EXPECT_EQ(bus.subscription_count(), 2001u);

  bus.Publish(Message("session-1", 10));  // one past the bound for every stalled reader
  received += keeping_up.Drain(bus).size();
  EXPECT_EQ(received, 101u);
  EXPECT_EQ(bus.subscription_count(), 1u);
  EXPECT_EQ(bus.usage().logged_events, 0u);
  for (const Reader& reader : stalled) {
    ASSERT_EQ(*reader.wakes, 1);
    ASSERT_EQ(bus.Pull(*reader.subscription).outcome, Outcome::kOverflowed);
  }
}

TEST(EventBusBoundsTest, ReadersOfOtherKindsHaveTheirOwnLogAndBound) {
  EventOptions options;
  options.stream_buffer = 2;
  EventBus bus(options, kNodeId, kFirstSequence);
  Reader errors_only = Reader::Join(bus, OfKinds(1u << v1::EVENT_KIND_ERROR));
  for (int i = 0; i < 10; ++i) bus.Publish(Message("session-1"));
  EXPECT_EQ(*errors_only.wakes, 0) << "messages are not its kind: not behind, not cut off";
  EXPECT_EQ(bus.usage().logged_events, 0u);
  EXPECT_EQ(bus.Pull(*errors_only.subscription).outcome, Outcome::kNone);
}

TEST(EventBusBoundsTest, PullBatchTakesUpToItsCountAndBytesButAlwaysOne) {
  const uint64_t one = MessageBytes();
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader reader = Reader::Join(bus);
  for (int i = 0; i < 10; ++i) bus.Publish(Message("session-1"));
  std::vector<EventPtr> batch;
  EXPECT_EQ(bus.PullBatch(*reader.subscription, 4, 1 << 20, batch), Outcome::kEvent);
  EXPECT_EQ(batch.size(), 4u);
  batch.clear();
  EXPECT_EQ(bus.PullBatch(*reader.subscription, 100, 2 * one, batch), Outcome::kEvent);
  EXPECT_EQ(batch.size(), 2u) << "bytes bound the batch";
  batch.clear();
  EXPECT_EQ(bus.PullBatch(*reader.subscription, 100, 1, batch), Outcome::kEvent);
  EXPECT_EQ(batch.size(), 1u) << "one event always";
  batch.clear();
  EXPECT_EQ(bus.PullBatch(*reader.subscription, 100, 1 << 20, batch), Outcome::kEvent);
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch.back()->sequence(), 1009u);
  batch.clear();
  EXPECT_EQ(bus.PullBatch(*reader.subscription, 100, 1 << 20, batch), Outcome::kNone);
}

TEST(EventBusBoundsTest, SubscribingPastMaxStreamsIsResourceExhaustedNamingTheFlag) {
  EventOptions options;
  options.max_streams = 2;
  EventBus bus(options, kNodeId, kFirstSequence);
  Reader first = Reader::Join(bus);
  Reader second = Reader::Join(bus, InGroup("workers"));
  auto third = bus.Subscribe({}, [] {});
  ASSERT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("--max_events_streams"));
  bus.Unsubscribe(first.subscription);
  EXPECT_TRUE(bus.Subscribe({}, [] {}).ok()) << "a place freed is a place to take";
}

}  // namespace
}  // namespace wsbridge
