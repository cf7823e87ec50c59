// EventBus: where the session events of the I/O threads meet the Events streams. Each test
// subscribes a few readers the way Events streams do (some alone, some sharing a group, some
// resuming from a sequence), publishes the events of a few browser sessions, then pulls what each
// reader received and checks its sequence numbers, its sessions, and how often the bus woke it.
// Sequences start at 1000 so that every expected number is written out.
#include "events/event_bus.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

// Failure messages name the outcome rather than print its number. Internal linkage: a file of
// tests adds no symbol to the library's namespace.
[[maybe_unused]] static void PrintTo(EventBus::PullOutcome outcome, std::ostream* os) {
  switch (outcome) {
    case EventBus::PullOutcome::kEvent:
      *os << "kEvent";
      return;
    case EventBus::PullOutcome::kNone:
      *os << "kNone";
      return;
    case EventBus::PullOutcome::kOverflowed:
      *os << "kOverflowed";
      return;
    case EventBus::PullOutcome::kClosed:
      *os << "kClosed";
      return;
  }
  *os << "PullOutcome(" << static_cast<int>(outcome) << ")";
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Outcome = EventBus::PullOutcome;

constexpr uint64_t kFirstSequence = 1000;

constexpr char kNodeId[] = "node-a";

constexpr EventKindMask Only(v1::EventKind kind) { return 1u << kind; }

EventBus::SubscriptionOptions Kinds(EventKindMask kinds) {
  EventBus::SubscriptionOptions options;
  options.kinds = kinds;
  return options;
}

EventBus::SubscriptionOptions InGroup(std::string group, EventKindMask kinds = kAllEventKinds) {
  EventBus::SubscriptionOptions options;
  options.group = std::move(group);
  options.kinds = kinds;
  return options;
}

EventBus::SubscriptionOptions ResumingAfter(uint64_t sequence,
                                            EventKindMask kinds = kAllEventKinds) {
  EventBus::SubscriptionOptions options;
  options.start_after_sequence = sequence;
  options.kinds = kinds;
  return options;
}

// The four things an I/O thread reports about a browser session.
v1::Event Opened(const std::string& session_id) {
  v1::Event event;
  event.set_session_id(session_id);
  event.mutable_opened()->set_remote_address("203.0.113.7:51000");
  return event;
}

v1::Event Message(const std::string& session_id, const std::string& text) {
  v1::Event event;
  event.set_session_id(session_id);
  event.mutable_message()->mutable_message()->set_text(text);
  return event;
}

v1::Event Closed(const std::string& session_id) {
  v1::Event event;
  event.set_session_id(session_id);
  event.mutable_closed()->set_code(1000);
  event.mutable_closed()->set_initiator(v1::INITIATOR_CLIENT);
  return event;
}

v1::Event Failed(const std::string& session_id) {
  v1::Event event;
  event.set_session_id(session_id);
  event.mutable_error()->set_code(v1::ERROR_CODE_RATE_LIMITED);
  return event;
}

std::vector<std::string> SessionIds(int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back(absl::StrCat("session-", i));
  return ids;
}

std::vector<uint64_t> Sequences(const std::vector<EventPtr>& events) {
  std::vector<uint64_t> sequences;
  for (const EventPtr& event : events) sequences.push_back(event->sequence());
  return sequences;
}

// One reader of the bus, held the way an Events stream holds it: its subscription, and how many
// times the bus has woken it.
class Reader {
 public:
  // A refused subscription fails the test and leaves a reader that only ever pulls kClosed.
  static Reader Join(EventBus& bus, EventBus::SubscriptionOptions options = {}) {
    Reader reader(bus);
    auto subscription = bus.Subscribe(std::move(options), [wakes = reader.wakes_] { ++*wakes; });
    if (subscription.ok()) {
      reader.subscription_ = std::move(*subscription);
    } else {
      ADD_FAILURE() << "Subscribe refused: " << subscription.status();
    }
    return reader;
  }

  EventBus::Pulled Pull() {
    if (subscription_ == nullptr) return {Outcome::kClosed, nullptr};
    return bus_->Pull(*subscription_);
  }

  // Pulls until nothing is left, like a stream catching up; the last Pull arms the wake when the
  // subscription is still live.
  std::vector<EventPtr> Drain() {
    std::vector<EventPtr> events;
    for (EventBus::Pulled pulled = Pull(); pulled.outcome == Outcome::kEvent; pulled = Pull()) {
      events.push_back(std::move(pulled.event));
    }
    return events;
  }

  void Leave() {
    if (subscription_ != nullptr) bus_->Unsubscribe(subscription_);
  }

  int wakes() const { return *wakes_; }

 private:
  explicit Reader(EventBus& bus) : bus_(&bus) {}

  EventBus* bus_;
  std::shared_ptr<EventBus::Subscription> subscription_;
  std::shared_ptr<int> wakes_ = std::make_shared<int>(0);
};

// ---- Stamping ---------------------------------------------------------------------------------

TEST(EventBusTest, PublishStampsIncreasingSequencesFromTheFirstSequence) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader reader = Reader::Join(bus);
  EXPECT_EQ(bus.last_sequence(), kFirstSequence - 1);

  bus.Publish(Opened("session-1"));
  bus.Publish(Message("session-1", "hello"));
  bus.Publish(Closed("session-1"));

  EXPECT_THAT(Sequences(reader.Drain()), ElementsAre(1000u, 1001u, 1002u));
  EXPECT_EQ(bus.last_sequence(), 1002u);
}

TEST(EventBusTest, PublishOverwritesWhateverSequenceTimeAndNodeThePublisherSet) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader reader = Reader::Join(bus);
  v1::Event event = Message("session-1", "hello");
  event.set_sequence(7);
  event.set_node_id("node-z");
  event.mutable_time()->set_seconds(1);

  const int64_t before = absl::GetCurrentTimeNanos();
  bus.Publish(std::move(event));
  const int64_t after = absl::GetCurrentTimeNanos();

  const std::vector<EventPtr> received = reader.Drain();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0]->sequence(), kFirstSequence);
  EXPECT_EQ(received[0]->node_id(), "node-a");
  const int64_t stamped =
      google::protobuf::util::TimeUtil::TimestampToNanoseconds(received[0]->time());
  EXPECT_GE(stamped, before);
  EXPECT_LE(stamped, after);
  EXPECT_EQ(received[0]->session_id(), "session-1");
  EXPECT_EQ(received[0]->message().message().text(), "hello");
}

TEST(EventBusTest, WithoutAFirstSequenceTheNodeStartTimeInMicrosecondsIsTheFirst) {
  const uint64_t before = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  EventBus bus(EventOptions(), kNodeId);
  const uint64_t after = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  Reader reader = Reader::Join(bus);

  bus.Publish(Opened("session-1"));
  bus.Publish(Closed("session-1"));

  const std::vector<uint64_t> sequences = Sequences(reader.Drain());
  ASSERT_EQ(sequences.size(), 2u);
  EXPECT_GE(sequences[0], before);
  EXPECT_LE(sequences[0], after);
  EXPECT_EQ(sequences[1], sequences[0] + 1);
}

TEST(EventBusTest, KindOfNamesEachOneofCase) {
  EXPECT_EQ(KindOf(Opened("s")), v1::EVENT_KIND_OPENED);
  EXPECT_EQ(KindOf(Message("s", "hi")), v1::EVENT_KIND_MESSAGE);
  EXPECT_EQ(KindOf(Closed("s")), v1::EVENT_KIND_CLOSED);
  EXPECT_EQ(KindOf(Failed("s")), v1::EVENT_KIND_ERROR);
  EXPECT_EQ(KindOf(v1::Event()), v1::EVENT_KIND_UNSPECIFIED);
}

// ---- Pull and wake ----------------------------------------------------------------------------

TEST(EventBusTest, PullOnAnEmptyQueueFindsNothingAndDoesNotWake) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader reader = Reader::Join(bus);

  const EventBus::Pulled pulled = reader.Pull();

  EXPECT_EQ(pulled.outcome, Outcome::kNone);
  EXPECT_EQ(pulled.event, nullptr);
  EXPECT_EQ(reader.wakes(), 0);
}

TEST(EventBusTest, AWaitingReaderIsWokenOnceByItsNextEventAndPullsEventsInOrder) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader reader = Reader::Join(bus);
  ASSERT_EQ(reader.Pull().outcome, Outcome::kNone);

  bus.Publish(Opened("session-1"));
  EXPECT_EQ(reader.wakes(), 1);
  bus.Publish(Message("session-1", "hello"));
  EXPECT_EQ(reader.wakes(), 1) << "the reader has not pulled since its wake";

  EXPECT_THAT(Sequences(reader.Drain()), ElementsAre(1000u, 1001u));
  bus.Publish(Closed("session-1"));
  EXPECT_EQ(reader.wakes(), 2) << "the drain ended on kNone, which re-armed the wake";
}

TEST(EventBusTest, AWaitingReaderIsNotWokenByEventsOfKindsItDidNotAskFor) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader messages_only = Reader::Join(bus, Kinds(Only(v1::EVENT_KIND_MESSAGE)));
  ASSERT_EQ(messages_only.Pull().outcome, Outcome::kNone);

  bus.Publish(Opened("session-1"));
  EXPECT_EQ(messages_only.wakes(), 0);
  EXPECT_EQ(messages_only.Pull().outcome, Outcome::kNone);

  bus.Publish(Message("session-1", "hello"));
  EXPECT_EQ(messages_only.wakes(), 1);
  EXPECT_THAT(Sequences(messages_only.Drain()), ElementsAre(1001u));
}

TEST(EventBusTest, AWaitingGroupMemberIsNotWokenByAnEventGivenToAnotherMember) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader first = Reader::Join(bus, InGroup("workers"));
  Reader second = Reader::Join(bus, InGroup("workers"));
  ASSERT_EQ(first.Pull().outcome, Outcome::kNone);
  ASSERT_EQ(second.Pull().outcome, Outcome::kNone);

  bus.Publish(Opened("session-1"));

  const std::vector<EventPtr> to_first = first.Drain();
  const std::vector<EventPtr> to_second = second.Drain();
  EXPECT_EQ(to_first.size() + to_second.size(), 1u);
  EXPECT_EQ(first.wakes(), static_cast<int>(to_first.size()));
  EXPECT_EQ(second.wakes(), static_cast<int>(to_second.size()));
}

// ---- Kinds and groups -------------------------------------------------------------------------

TEST(EventBusTest, EachReaderGetsOnlyTheKindsItAskedFor) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader opened_only = Reader::Join(bus, Kinds(Only(v1::EVENT_KIND_OPENED)));
  Reader messages_and_closes =
      Reader::Join(bus, Kinds(Only(v1::EVENT_KIND_MESSAGE) | Only(v1::EVENT_KIND_CLOSED)));
  Reader errors_only = Reader::Join(bus, Kinds(Only(v1::EVENT_KIND_ERROR)));
  Reader everything = Reader::Join(bus);

  bus.Publish(Opened("session-1"));            // 1000
  bus.Publish(Message("session-1", "hello"));  // 1001
  bus.Publish(Failed("session-1"));            // 1002
  bus.Publish(Closed("session-1"));            // 1003
  bus.Publish(Opened("session-2"));            // 1004

  EXPECT_THAT(Sequences(opened_only.Drain()), ElementsAre(1000u, 1004u));
  EXPECT_THAT(Sequences(messages_and_closes.Drain()), ElementsAre(1001u, 1003u));
  EXPECT_THAT(Sequences(errors_only.Drain()), ElementsAre(1002u));
  EXPECT_THAT(Sequences(everything.Drain()), ElementsAre(1000u, 1001u, 1002u, 1003u, 1004u));
}

TEST(EventBusTest, ReadersWithoutAGroupEachGetEveryEventAndAGroupGetsItOnce) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader dashboard = Reader::Join(bus);
  Reader audit = Reader::Join(bus);
  Reader lone_worker = Reader::Join(bus, InGroup("workers"));

  bus.Publish(Opened("session-1"));
  bus.Publish(Opened("session-2"));
  bus.Publish(Closed("session-1"));

  EXPECT_THAT(Sequences(dashboard.Drain()), ElementsAre(1000u, 1001u, 1002u));
  EXPECT_THAT(Sequences(audit.Drain()), ElementsAre(1000u, 1001u, 1002u));
  EXPECT_THAT(Sequences(lone_worker.Drain()), ElementsAre(1000u, 1001u, 1002u));
  EXPECT_EQ(bus.subscription_count(), 3u);
}

// Drains every member of a group and says which member received the events of each session; a
// session whose events were split between members maps to all their names ("a+b").
std::map<std::string, std::string> OwnerOfEachSession(const std::map<std::string, Reader*>& members,
                                                      std::vector<uint64_t>* sequences) {
  std::map<std::string, std::set<std::string>> receivers;
  for (const auto& [name, member] : members) {
    for (const EventPtr& event : member->Drain()) {
      receivers[event->session_id()].insert(name);
      sequences->push_back(event->sequence());
    }
  }
  std::map<std::string, std::string> owners;
  for (const auto& [session, names] : receivers) {
    for (const std::string& name : names) {
      owners[session] += owners[session].empty() ? name : "+" + name;
    }
  }
  std::sort(sequences->begin(), sequences->end());
  return owners;
}

std::vector<uint64_t> SequenceRange(uint64_t first, size_t count) {
  std::vector<uint64_t> range;
  for (size_t i = 0; i < count; ++i) range.push_back(first + i);
  return range;
}

TEST(EventBusTest, AGroupGivesEachEventToOneMemberAndEachSessionToTheSameMember) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader a = Reader::Join(bus, InGroup("workers"));
  Reader b = Reader::Join(bus, InGroup("workers"));
  Reader c = Reader::Join(bus, InGroup("workers"));
  const std::vector<std::string> sessions = SessionIds(200);

  for (const std::string& session : sessions) bus.Publish(Opened(session));
  for (const std::string& session : sessions) bus.Publish(Message(session, "hello"));
  for (const std::string& session : sessions) bus.Publish(Closed(session));

  std::vector<uint64_t> sequences;
  const std::map<std::string, std::string> owners =
      OwnerOfEachSession({{"a", &a}, {"b", &b}, {"c", &c}}, &sequences);
  EXPECT_EQ(sequences, SequenceRange(kFirstSequence, 600)) << "each event exactly once";
  ASSERT_EQ(owners.size(), sessions.size());
  std::map<std::string, int> sessions_per_member;
  for (const auto& [session, owner] : owners) ++sessions_per_member[owner];
  EXPECT_THAT(sessions_per_member,
              ElementsAre(::testing::Key("a"), ::testing::Key("b"), ::testing::Key("c")))
      << "every session has exactly one owner, and every member owns some";
}

TEST(EventBusTest, WhenAGroupMemberLeavesOnlyItsSessionsMoveToTheOthers) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader a = Reader::Join(bus, InGroup("workers"));
  Reader b = Reader::Join(bus, InGroup("workers"));
  Reader c = Reader::Join(bus, InGroup("workers"));
  const std::vector<std::string> sessions = SessionIds(200);
  for (const std::string& session : sessions) bus.Publish(Opened(session));
  std::vector<uint64_t> before_sequences;
  const std::map<std::string, std::string> before =
      OwnerOfEachSession({{"a", &a}, {"b", &b}, {"c", &c}}, &before_sequences);
  ASSERT_EQ(before.size(), sessions.size());

  b.Leave();
  for (const std::string& session : sessions) bus.Publish(Closed(session));

  std::vector<uint64_t> after_sequences;
  const std::map<std::string, std::string> after =
      OwnerOfEachSession({{"a", &a}, {"c", &c}}, &after_sequences);
  EXPECT_EQ(after_sequences, SequenceRange(kFirstSequence + 200, 200)) << "nothing lost";
  EXPECT_THAT(b.Drain(), IsEmpty()) << "b left: it gets nothing more";
  ASSERT_EQ(after.size(), sessions.size());
  int moved_to_a = 0;
  int moved_to_c = 0;
  for (const std::string& session : sessions) {
    const std::string& owner_before = before.at(session);
    const std::string& owner_after = after.at(session);
    if (owner_before == "b") {
      EXPECT_TRUE(owner_after == "a" || owner_after == "c")
          << session << " went to " << owner_after;
      (owner_after == "a" ? moved_to_a : moved_to_c) += 1;
    } else {
      EXPECT_EQ(owner_after, owner_before) << session << " moved though its owner stayed";
    }
  }
  EXPECT_GT(moved_to_a, 0) << "b's share spreads over the remaining members";
  EXPECT_GT(moved_to_c, 0) << "b's share spreads over the remaining members";
  EXPECT_EQ(bus.subscription_count(), 2u);
}

TEST(EventBusTest, JoiningAGroupWithOtherKindsIsRefused) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  const EventKindMask lifecycle = Only(v1::EVENT_KIND_OPENED) | Only(v1::EVENT_KIND_CLOSED);
  Reader member = Reader::Join(bus, InGroup("workers", lifecycle));

  auto refused = bus.Subscribe(InGroup("workers", kAllEventKinds), [] {});

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("group"));
  EXPECT_EQ(bus.subscription_count(), 1u);
  Reader same_kinds = Reader::Join(bus, InGroup("workers", lifecycle));
  Reader other_group = Reader::Join(bus, InGroup("auditors", kAllEventKinds));
  EXPECT_EQ(bus.subscription_count(), 3u);
}

TEST(EventBusTest, AGroupWhoseMembersAllLeftCanBeFormedAgainWithOtherKinds) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader old_member = Reader::Join(bus, InGroup("workers", Only(v1::EVENT_KIND_OPENED)));
  old_member.Leave();

  Reader new_member = Reader::Join(bus, InGroup("workers", Only(v1::EVENT_KIND_CLOSED)));
  bus.Publish(Opened("session-1"));
  bus.Publish(Closed("session-1"));

  EXPECT_THAT(Sequences(new_member.Drain()), ElementsAre(1001u));
}

// ---- Resuming with start_after_sequence ------------------------------------------------------

TEST(EventBusTest, AResumingReaderGetsExactlyTheMissedEventsThenTheLiveOnes) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  bus.Publish(Opened("session-1"));          // 1000
  bus.Publish(Message("session-1", "one"));  // 1001, the last one it processed
  bus.Publish(Message("session-1", "two"));  // 1002
  bus.Publish(Opened("session-2"));          // 1003

  Reader resumed = Reader::Join(bus, ResumingAfter(1001));
  bus.Publish(Closed("session-1"));  // 1004

  EXPECT_THAT(Sequences(resumed.Drain()), ElementsAre(1002u, 1003u, 1004u));
  bus.Publish(Closed("session-2"));  // 1005
  EXPECT_EQ(resumed.wakes(), 1);
  EXPECT_THAT(Sequences(resumed.Drain()), ElementsAre(1005u));
}

TEST(EventBusTest, TheReplayKeepsToTheKindsAskedFor) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  bus.Publish(Opened("session-1"));          // 1000
  bus.Publish(Message("session-1", "one"));  // 1001
  bus.Publish(Opened("session-2"));          // 1002
  bus.Publish(Message("session-2", "two"));  // 1003

  Reader resumed = Reader::Join(bus, ResumingAfter(1000, Only(v1::EVENT_KIND_MESSAGE)));
  bus.Publish(Opened("session-3"));            // 1004
  bus.Publish(Message("session-3", "three"));  // 1005

  EXPECT_THAT(Sequences(resumed.Drain()), ElementsAre(1001u, 1003u, 1005u));
}

TEST(EventBusTest, ResumingAfterTheLastSequenceReplaysNothingAndContinuesLive) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  bus.Publish(Opened("session-1"));  // 1000
  bus.Publish(Closed("session-1"));  // 1001

  Reader resumed = Reader::Join(bus, ResumingAfter(1001));

  EXPECT_EQ(resumed.Pull().outcome, Outcome::kNone);
  bus.Publish(Opened("session-2"));  // 1002
  EXPECT_THAT(Sequences(resumed.Drain()), ElementsAre(1002u));
}

TEST(EventBusTest, ResumingAfterASequenceThisNodeNeverReachedIsOutOfRange) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  bus.Publish(Opened("session-1"));  // 1000
  bus.Publish(Closed("session-1"));  // 1001

  auto refused = bus.Subscribe(ResumingAfter(1002), [] {});

  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(bus.subscription_count(), 0u);
}

TEST(EventBusTest, ResumingFromEventsTheHistoryNoLongerHoldsIsOutOfRange) {
  EventOptions options;
  options.history = 3;
  EventBus bus(options, kNodeId, kFirstSequence);
  for (int i = 0; i < 5; ++i) bus.Publish(Message("session-1", absl::StrCat(i)));  // 1000..1004
  // The history now holds 1002, 1003 and 1004.

  auto refused = bus.Subscribe(ResumingAfter(1000), [] {});  // would need 1001
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);

  Reader oldest_kept = Reader::Join(bus, ResumingAfter(1001));  // needs 1002 onwards
  EXPECT_THAT(Sequences(oldest_kept.Drain()), ElementsAre(1002u, 1003u, 1004u));
  EXPECT_EQ(bus.subscription_count(), 1u);
}

// ---- Falling behind ---------------------------------------------------------------------------

TEST(EventBusTest, AReaderThatFallsBehindIsCutOffAndOthersCarryOn) {
  EventOptions options;
  options.stream_buffer = 3;
  EventBus bus(options, kNodeId, kFirstSequence);
  Reader stalled = Reader::Join(bus);
  Reader keeping_up = Reader::Join(bus);

  std::vector<EventPtr> kept_up;
  for (int i = 0; i < 3; ++i) {
    bus.Publish(Message("session-1", absl::StrCat(i)));  // 1000..1002
    for (EventPtr& event : keeping_up.Drain()) kept_up.push_back(std::move(event));
  }
  EXPECT_EQ(stalled.wakes(), 0) << "three queued events are within the limit";
  EXPECT_EQ(bus.subscription_count(), 2u);

  bus.Publish(Message("session-1", "3"));  // 1003: one more than the stalled reader may hold
  EXPECT_EQ(stalled.wakes(), 1) << "woken to learn it was cut off, though it never pulled";
  EXPECT_EQ(bus.subscription_count(), 1u);
  EXPECT_EQ(stalled.Pull().outcome, Outcome::kOverflowed);
  EXPECT_EQ(stalled.Pull().outcome, Outcome::kOverflowed) << "it stays cut off";

  bus.Publish(Message("session-1", "4"));  // 1004
  EXPECT_EQ(stalled.wakes(), 1);
  for (EventPtr& event : keeping_up.Drain()) kept_up.push_back(std::move(event));
  EXPECT_THAT(Sequences(kept_up), ElementsAre(1000u, 1001u, 1002u, 1003u, 1004u));
}

TEST(EventBusTest, WhenAGroupMemberIsCutOffTheOtherMembersTakeItsLaterEvents) {
  EventOptions options;
  options.stream_buffer = 3;
  EventBus bus(options, kNodeId, kFirstSequence);
  Reader stalled = Reader::Join(bus, InGroup("workers"));
  Reader keeping_up = Reader::Join(bus, InGroup("workers"));
  const std::vector<std::string> sessions = SessionIds(100);

  // Open sessions until the stalled member has been given one event more than its limit.
  std::set<std::string> kept_up_sessions;
  std::vector<std::string> opened;
  for (size_t i = 0; i < sessions.size() && stalled.wakes() == 0; ++i) {
    bus.Publish(Opened(sessions[i]));
    opened.push_back(sessions[i]);
    for (const EventPtr& event : keeping_up.Drain()) kept_up_sessions.insert(event->session_id());
  }
  ASSERT_EQ(stalled.wakes(), 1) << "the stalled member was never cut off";
  EXPECT_EQ(opened.size() - kept_up_sessions.size(), 4u) << "three queued, the fourth cut it off";
  EXPECT_EQ(stalled.Pull().outcome, Outcome::kOverflowed);
  EXPECT_EQ(bus.subscription_count(), 1u);

  std::vector<std::string> closed_seen;
  for (const std::string& session : opened) {
    bus.Publish(Closed(session));
    for (const EventPtr& event : keeping_up.Drain()) closed_seen.push_back(event->session_id());
  }

  EXPECT_EQ(closed_seen, opened) << "the stalled member's sessions now go to the one that keeps up";
}

TEST(EventBusTest, AResumingReaderIsNotCutOffForAReplayLongerThanTheLimit) {
  EventOptions options;
  options.stream_buffer = 3;
  EventBus bus(options, kNodeId, kFirstSequence);
  for (int i = 0; i < 6; ++i) bus.Publish(Message("session-1", absl::StrCat(i)));  // 1000..1005

  Reader resumed = Reader::Join(bus, ResumingAfter(1000));
  bus.Publish(Message("session-1", "6"));  // 1006: live, within the limit

  EXPECT_EQ(resumed.wakes(), 0);
  EXPECT_THAT(Sequences(resumed.Drain()), ElementsAre(1001u, 1002u, 1003u, 1004u, 1005u, 1006u));
}

// The limit is on live events a stream may lag behind (event_bus.h): a long replay, once
// drained, earns no extra room.
TEST(EventBusTest, OnceItsReplayIsDrainedAResumingReaderHasTheSameLimitAsAnyOther) {
  EventOptions options;
  options.stream_buffer = 3;
  EventBus bus(options, kNodeId, kFirstSequence);
  for (int i = 0; i < 6; ++i) bus.Publish(Message("session-1", absl::StrCat(i)));  // 1000..1005
  Reader resumed = Reader::Join(bus, ResumingAfter(1000));
  ASSERT_THAT(Sequences(resumed.Drain()), ElementsAre(1001u, 1002u, 1003u, 1004u, 1005u));

  for (int i = 6; i < 10; ++i) bus.Publish(Message("session-1", absl::StrCat(i)));  // 1006..1009

  EXPECT_EQ(resumed.Pull().outcome, Outcome::kOverflowed)
      << "four live events queued against a limit of three";
  EXPECT_EQ(bus.subscription_count(), 0u);
}

// ---- Leaving and closing ----------------------------------------------------------------------

TEST(EventBusTest, AwaitNoSubscriptionsReturnsWhenTheLastStreamLeaves) {
  EventBus bus(EventOptions(), kNodeId);
  auto first = bus.Subscribe({}, [] {});
  auto second = bus.Subscribe(InGroup("workers", kAllEventKinds), [] {});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(bus.AwaitNoSubscriptions(absl::Now()));
  // The drain closes the bus and waits for the streams, which leave from other threads.
  bus.Close();
  std::thread streams_end([&] {
    bus.Unsubscribe(*first);
    bus.Unsubscribe(*second);
  });
  EXPECT_TRUE(bus.AwaitNoSubscriptions(absl::InfiniteFuture()));
  streams_end.join();
  EXPECT_EQ(bus.subscription_count(), 0u);
}

TEST(EventBusTest, UnsubscribeReleasesQueuedEventsAndIsIdempotent) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader staying = Reader::Join(bus);
  Reader leaving = Reader::Join(bus);
  bus.Publish(Opened("session-1"));
  const EventPtr opened = staying.Pull().event;
  ASSERT_NE(opened, nullptr);
  EXPECT_EQ(opened.use_count(), 3) << "held here, by the history, and in the leaving queue";

  leaving.Leave();
  EXPECT_EQ(opened.use_count(), 2) << "the leaving reader's queue let go of it";
  EXPECT_EQ(bus.subscription_count(), 1u);
  leaving.Leave();
  EXPECT_EQ(bus.subscription_count(), 1u);

  EXPECT_EQ(leaving.Pull().outcome, Outcome::kClosed);
  bus.Publish(Closed("session-1"));
  EXPECT_EQ(leaving.Pull().outcome, Outcome::kClosed);
  EXPECT_EQ(leaving.wakes(), 0);
  EXPECT_THAT(Sequences(staying.Drain()), ElementsAre(1001u));
}

TEST(EventBusTest, CloseWakesWaitingReadersWhichThenSeeClosed) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader waiting = Reader::Join(bus);
  Reader grouped = Reader::Join(bus, InGroup("workers"));
  ASSERT_EQ(waiting.Pull().outcome, Outcome::kNone);
  ASSERT_EQ(grouped.Pull().outcome, Outcome::kNone);

  bus.Close();

  EXPECT_EQ(waiting.wakes(), 1);
  EXPECT_EQ(grouped.wakes(), 1);
  EXPECT_EQ(waiting.Pull().outcome, Outcome::kClosed);
  EXPECT_EQ(grouped.Pull().outcome, Outcome::kClosed);
  bus.Close();
  EXPECT_EQ(waiting.wakes(), 1) << "a second Close changes nothing";
}

TEST(EventBusTest, AfterCloseAReaderDrainsWhatItHadQueuedThenSeesClosed) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader reader = Reader::Join(bus);
  bus.Publish(Opened("session-1"));
  bus.Publish(Closed("session-1"));

  bus.Close();

  EXPECT_THAT(Sequences(reader.Drain()), ElementsAre(1000u, 1001u));
  EXPECT_EQ(reader.Pull().outcome, Outcome::kClosed);
}

TEST(EventBusTest, AfterClosePublishIsIgnoredAndSubscribeIsUnavailable) {
  EventBus bus(EventOptions(), kNodeId, kFirstSequence);
  Reader reader = Reader::Join(bus);
  bus.Publish(Opened("session-1"));  // 1000
  bus.Close();

  bus.Publish(Closed("session-1"));
  auto refused = bus.Subscribe({}, [] {});

  EXPECT_EQ(bus.last_sequence(), 1000u);
  EXPECT_THAT(Sequences(reader.Drain()), ElementsAre(1000u));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
}

// ---- Many threads -----------------------------------------------------------------------------

// Counts the wakes of a reader thread, which sleeps until the count passes what it last saw.
class WakeCounter {
 public:
  void Wake() {
    absl::MutexLock lock(&mutex_);
    ++count_;
    woken_.SignalAll();
  }
  int count() const {
    absl::MutexLock lock(&mutex_);
    return count_;
  }
  void WaitBeyond(int seen) const {
    absl::MutexLock lock(&mutex_);
    while (count_ <= seen) woken_.Wait(&mutex_);
  }

 private:
  mutable absl::Mutex mutex_;
  mutable absl::CondVar woken_;
  int count_ ABSL_GUARDED_BY(mutex_) = 0;
};

TEST(EventBusTest, FourPublishersAndTwoReadersLoseNothingAndKeepEachSessionInOrder) {
  constexpr int kPublishers = 4;
  constexpr int kEventsEach = 10000;
  EventOptions options;
  options.stream_buffer = kPublishers * kEventsEach;  // no reader may be cut off
  EventBus bus(options, kNodeId, kFirstSequence);

  struct ReaderThread {
    std::shared_ptr<EventBus::Subscription> subscription;
    std::shared_ptr<WakeCounter> wakes = std::make_shared<WakeCounter>();
    std::vector<EventPtr> received;
    Outcome ended_with = Outcome::kNone;
    std::thread thread;
  };
  std::vector<ReaderThread> readers(2);
  for (ReaderThread& reader : readers) {
    auto subscription = bus.Subscribe({}, [wakes = reader.wakes] { wakes->Wake(); });
    ASSERT_TRUE(subscription.ok()) << subscription.status();
    reader.subscription = std::move(*subscription);
  }
  for (ReaderThread& reader : readers) {
    reader.thread = std::thread([&bus, &reader] {
      for (;;) {
        const int seen = reader.wakes->count();
        EventBus::Pulled pulled = bus.Pull(*reader.subscription);
        if (pulled.outcome == Outcome::kEvent) {
          reader.received.push_back(std::move(pulled.event));
        } else if (pulled.outcome == Outcome::kNone) {
          reader.wakes->WaitBeyond(seen);
        } else {
          reader.ended_with = pulled.outcome;
          return;
        }
      }
    });
  }

  // Each publisher is the I/O thread of one session; the message text counts its events.
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&bus, p] {
      const std::string session = absl::StrCat("session-", p);
      for (int i = 0; i < kEventsEach; ++i) bus.Publish(Message(session, absl::StrCat(i)));
    });
  }
  for (std::thread& publisher : publishers) publisher.join();
  bus.Close();
  for (ReaderThread& reader : readers) reader.thread.join();

  EXPECT_EQ(bus.last_sequence(), kFirstSequence + kPublishers * kEventsEach - 1);
  for (const ReaderThread& reader : readers) {
    EXPECT_EQ(reader.ended_with, Outcome::kClosed);
    ASSERT_EQ(reader.received.size(), static_cast<size_t>(kPublishers * kEventsEach));
    const std::vector<uint64_t> sequences = Sequences(reader.received);
    EXPECT_EQ(std::adjacent_find(sequences.begin(), sequences.end(),
                                 [](uint64_t before, uint64_t after) { return after <= before; }),
              sequences.end())
        << "sequences must strictly increase";
    std::map<std::string, int> next_of_session;
    int out_of_order = 0;
    for (const EventPtr& event : reader.received) {
      int& next = next_of_session[event->session_id()];
      if (event->message().message().text() != absl::StrCat(next)) ++out_of_order;
      ++next;
    }
    EXPECT_EQ(out_of_order, 0);
    EXPECT_EQ(next_of_session.size(), static_cast<size_t>(kPublishers));
  }
}

}  // namespace
}  // namespace wsbridge
