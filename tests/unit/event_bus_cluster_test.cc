// EventBus in cluster mode: the events come already stamped from the cluster's event log
// (Backfill, PublishStamped), groups are routed by the ClusterEventFeed (RouteGroupsExternally),
// and the bus keeps what each group member has acknowledged (a pull acknowledges what the
// previous one handed out). These tests drive the bus the way the feed and an Events stream do.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "events/event_bus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Outcome = EventBus::PullOutcome;

v1::Event Stamped(uint64_t sequence, const std::string& session, const std::string& node) {
  v1::Event event;
  event.set_session_id(session);
  event.set_sequence(sequence);
  event.set_node_id(node);
  event.mutable_time()->set_seconds(1700000000);
  event.mutable_message()->mutable_message()->set_text("hello");
  return event;
}

std::vector<uint64_t> DrainSequences(EventBus& bus, EventBus::Subscription& subscription) {
  std::vector<uint64_t> sequences;
  for (auto pulled = bus.Pull(subscription); pulled.outcome == Outcome::kEvent;
       pulled = bus.Pull(subscription)) {
    sequences.push_back(pulled.event->sequence());
  }
  return sequences;
}

struct Hooked {
  std::vector<std::shared_ptr<EventBus::Subscription>> joined;
  std::vector<std::pair<uint64_t, uint64_t>> left;  // id, acknowledged
};

void RouteGroupsTo(EventBus& bus, Hooked& hooked) {
  bus.RouteGroupsExternally(
      {.joined =
           [&hooked](std::shared_ptr<EventBus::Subscription> s) { hooked.joined.push_back(s); },
       .left = [&hooked](uint64_t id, uint64_t ack) { hooked.left.emplace_back(id, ack); }});
}

EventBus::SubscriptionOptions InGroup(std::string group, uint64_t start_after = 0) {
  EventBus::SubscriptionOptions options;
  options.group = std::move(group);
  options.start_after_sequence = start_after;
  return options;
}

TEST(EventBusClusterTest, PublishStampedKeepsTheLogsSequenceTimeAndNodeAndRefusesAnOlderOne) {
  EventBus bus(EventOptions{}, "this-node", 1);
  auto reader = bus.Subscribe({}, [] {});
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(bus.PublishStamped(Stamped(5000, "s1", "other-node"), {}));
  EXPECT_FALSE(bus.PublishStamped(Stamped(5000, "s1", "other-node"), {})) << "a duplicate";
  EXPECT_FALSE(bus.PublishStamped(Stamped(4000, "s1", "other-node"), {})) << "older";
  EXPECT_TRUE(bus.PublishStamped(Stamped(7000, "s2", "other-node"), {}));
  auto pulled = bus.Pull(**reader);
  ASSERT_EQ(pulled.outcome, Outcome::kEvent);
  EXPECT_EQ(pulled.event->sequence(), 5000u);
  EXPECT_EQ(pulled.event->node_id(), "other-node");
  EXPECT_EQ(pulled.event->time().seconds(), 1700000000);
  EXPECT_THAT(DrainSequences(bus, **reader), ElementsAre(7000));
  EXPECT_EQ(bus.last_sequence(), 7000u);
}

TEST(EventBusClusterTest, BackfillFillsTheHistoryForResumesButDeliversNothingLive) {
  EventBus bus(EventOptions{}, "this-node", 1);
  auto live = bus.Subscribe({}, [] {});
  ASSERT_TRUE(live.ok());
  for (uint64_t sequence : {100, 200, 300}) bus.Backfill(Stamped(sequence, "s", "n"));
  EXPECT_THAT(DrainSequences(bus, **live), IsEmpty());
  EventBus::SubscriptionOptions resume;
  resume.start_after_sequence = 100;
  auto resumed = bus.Subscribe(resume, [] {});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  bus.PublishStamped(Stamped(400, "s", "n"), {});
  EXPECT_THAT(DrainSequences(bus, **resumed), ElementsAre(200, 300, 400));
  EXPECT_EQ(bus.first_history_sequence(), 100u);
  EXPECT_EQ(bus.HistoryBetween(100, 400).size(), 2u);
}

TEST(EventBusClusterTest, GroupsRoutedOutsideGetOnlyWhatTheRouterGivesAndReportJoinAndLeave) {
  EventBus bus(EventOptions{}, "this-node", 1);
  Hooked hooked;
  RouteGroupsTo(bus, hooked);
  auto member = bus.Subscribe(InGroup("workers"), [] {});
  ASSERT_TRUE(member.ok());
  ASSERT_EQ(hooked.joined.size(), 1u);
  EXPECT_EQ(hooked.joined[0], *member);
  bus.Publish(Stamped(0, "s", "n"));  // a local publish does not route groups in this mode
  bus.PublishStamped(Stamped(1u << 30, "s", "n"), {});
  bus.PublishStamped(Stamped((1u << 30) + 1, "s", "n"), {member->get()});
  EXPECT_THAT(DrainSequences(bus, **member), ElementsAre((1u << 30) + 1));
  bus.Unsubscribe(*member);
  ASSERT_EQ(hooked.left.size(), 1u);
  EXPECT_EQ(hooked.left[0].first, (*member)->id());
  EXPECT_EQ(hooked.left[0].second, (1u << 30) + 1) << "drained: a pull acknowledged it";
}

TEST(EventBusClusterTest, APullAcknowledgesWhatThePreviousPullHandedOut) {
  EventBus bus(EventOptions{}, "this-node", 1);
  Hooked hooked;
  RouteGroupsTo(bus, hooked);
  auto member = bus.Subscribe(InGroup("workers"), [] {});
  ASSERT_TRUE(member.ok());
  for (uint64_t sequence : {10, 20, 30})
    bus.PublishStamped(Stamped(sequence, "s", "n"), {member->get()});
  EXPECT_EQ(bus.Acknowledged(**member), 0u);
  ASSERT_EQ(bus.Pull(**member).event->sequence(), 10u);
  EXPECT_EQ(bus.Acknowledged(**member), 0u) << "10 is handed out, not yet written";
  ASSERT_EQ(bus.Pull(**member).event->sequence(), 20u);
  EXPECT_EQ(bus.Acknowledged(**member), 10u);
  // A replayed share older than what it wrote holds the acknowledgement below it.
  bus.Replay(**member, bus.HistoryBetween(10, 20));  // nothing between
  bus.Replay(**member, {std::make_shared<const v1::Event>(Stamped(15, "t", "n"))});
  EXPECT_EQ(bus.Acknowledged(**member), 10u);
  EXPECT_THAT(DrainSequences(bus, **member), ElementsAre(15, 30)) << "replays come first";
  EXPECT_EQ(bus.Acknowledged(**member), 30u);
}

TEST(EventBusClusterTest, ACutOffMemberLeavesWithWhatItHadWrittenNotWhatWasDropped) {
  EventOptions options;
  options.stream_buffer = 2;
  EventBus bus(options, "this-node", 1);
  Hooked hooked;
  RouteGroupsTo(bus, hooked);
  auto member = bus.Subscribe(InGroup("workers"), [] {});
  ASSERT_TRUE(member.ok());
  bus.PublishStamped(Stamped(10, "s", "n"), {member->get()});
  ASSERT_EQ(bus.Pull(**member).outcome, Outcome::kEvent);
  ASSERT_EQ(bus.Pull(**member).outcome, Outcome::kNone);  // 10 written
  for (uint64_t sequence : {20, 30, 40})
    bus.PublishStamped(Stamped(sequence, "s", "n"), {member->get()});
  EXPECT_EQ(bus.Pull(**member).outcome, Outcome::kOverflowed);
  ASSERT_EQ(hooked.left.size(), 1u);
  EXPECT_EQ(hooked.left[0].second, 10u);
}

TEST(EventBusClusterTest, InterruptCutsEveryStreamOffAndAResumeFromBeforeItIsOutOfRange) {
  EventBus bus(EventOptions{}, "this-node", 1);
  Hooked hooked;
  RouteGroupsTo(bus, hooked);
  auto reader = bus.Subscribe({}, [] {});
  auto member = bus.Subscribe(InGroup("workers"), [] {});
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(member.ok());
  for (uint64_t sequence : {10, 20}) bus.PublishStamped(Stamped(sequence, "s", "n"), {});
  bus.Interrupt();
  EXPECT_EQ(bus.Pull(**reader).outcome, Outcome::kOverflowed);
  EXPECT_EQ(bus.Pull(**member).outcome, Outcome::kOverflowed);
  EXPECT_EQ(hooked.left.size(), 1u) << "the group member left";
  // From the last event before the loss too, though nothing the bus holds shows a gap there.
  EventBus::SubscriptionOptions resume;
  resume.start_after_sequence = 20;
  EXPECT_EQ(bus.Subscribe(resume, [] {}).status().code(), absl::StatusCode::kOutOfRange);
  bus.PublishStamped(Stamped(50, "s", "n"), {});
  resume.start_after_sequence = 10;
  EXPECT_EQ(bus.Subscribe(resume, [] {}).status().code(), absl::StatusCode::kOutOfRange);
  resume.start_after_sequence = 50;
  EXPECT_TRUE(bus.Subscribe(resume, [] {}).ok()) << "after the loss all is well";
}

}  // namespace
}  // namespace wsbridge
