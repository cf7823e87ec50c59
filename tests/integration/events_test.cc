// Events: what a backend service learns about browser sessions, and what the stream promises:
// one opened and one closed per session, opened first, per-session order, strictly increasing
// sequences, kinds filters, groups, resuming from a sequence, and no silent loss.
#include <map>
#include <set>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/events_reader.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

v1::EventsRequest Request(std::vector<v1::EventKind> kinds = {}, const std::string& group = "",
                          uint64_t start_after = 0) {
  v1::EventsRequest request;
  for (auto kind : kinds) request.add_kinds(kind);
  request.set_group(group);
  request.set_start_after_sequence(start_after);
  return request;
}

// Waits until the bridge holds `n` Events subscriptions, so nothing that follows is missed.
void AwaitSubscribers(TestBridge& bridge, size_t n) {
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == n; }))
      << "expected " << n << " Events subscriptions, have "
      << bridge.server().events().subscription_count();
}

bool HasClosed(const std::vector<v1::Event>& events, const std::string& session_id) {
  for (const auto& event : events) {
    if (event.session_id() == session_id && event.has_closed()) return true;
  }
  return false;
}

std::vector<v1::Event> UntilClosed(EventsReader& reader, const std::string& session_id) {
  return reader.ReadUntil(
      [&](const std::vector<v1::Event>& events) { return HasClosed(events, session_id); });
}

class EventsTest : public ::testing::Test {
 protected:
  TestBridge bridge_;
};

TEST_F(EventsTest, OneSessionsLifeOpenedMessagesClosed) {
  EventsReader reader(bridge_.api(), Request());
  AwaitSubscribers(bridge_, 1);
  TokenSpec spec;
  spec.user_id = "alice";
  spec.meta = {{"plan", "pro"}};
  auto browser = WsClient::Connect(bridge_.ws_port(), "/ws?topics=news&token=" + MakeToken(spec));
  ASSERT_TRUE(browser);
  browser->SendText("hi from alice");
  browser->SendBinary(std::string("\x00\x01\xfe", 3));
  browser->Close(4000, "bye");
  ASSERT_TRUE(browser->WaitClosed().has_value());

  auto events = EventsOf(UntilClosed(reader, browser->session_id()), browser->session_id());
  ASSERT_EQ(events.size(), 4u);
  for (const auto& event : events) {
    EXPECT_EQ(event.user_id(), "alice");
    EXPECT_EQ(event.node_id(), "test-node");
    EXPECT_GT(event.time().seconds(), 0);
  }
  ASSERT_TRUE(events[0].has_opened());
  EXPECT_THAT(events[0].opened().remote_address(), ::testing::StartsWith("127.0.0.1:"));
  EXPECT_THAT(events[0].opened().topics(), ElementsAre("news"));
  EXPECT_THAT(events[0].opened().metadata(), UnorderedElementsAre(Pair("plan", "pro")));
  ASSERT_TRUE(events[1].has_message());
  EXPECT_EQ(events[1].message().message().text(), "hi from alice");
  ASSERT_TRUE(events[2].has_message());
  EXPECT_EQ(events[2].message().message().binary(), std::string("\x00\x01\xfe", 3));
  ASSERT_TRUE(events[3].has_closed());
  EXPECT_EQ(events[3].closed().code(), 4000u);
  EXPECT_EQ(events[3].closed().reason(), "bye");
  EXPECT_EQ(events[3].closed().initiator(), v1::INITIATOR_CLIENT);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].sequence(), events[i - 1].sequence());
  }
}

TEST_F(EventsTest, APushSentOnSeeingOpenedArrives) {
  EventsReader reader(bridge_.api(), Request({v1::EVENT_KIND_OPENED}));
  AwaitSubscribers(bridge_, 1);
  auto browser = bridge_.ConnectUser("bob");
  ASSERT_TRUE(browser);
  auto opened = reader.Next();
  ASSERT_TRUE(opened.has_value());
  ASSERT_TRUE(opened->has_opened());

  v1::PushRequest push;
  push.add_session_ids(opened->session_id());
  push.mutable_message()->set_text("welcome");
  v1::PushResponse response;
  ASSERT_TRUE(bridge_.api().Push(CallContext().get(), push, &response).ok());
  EXPECT_EQ(response.matched(), 1u);
  auto message = browser->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data, "welcome");
}

TEST_F(EventsTest, KindsFilterDeliversOnlyThoseKinds) {
  EventsReader closed_only(bridge_.api(), Request({v1::EVENT_KIND_CLOSED}));
  EventsReader everything(bridge_.api(), Request());
  AwaitSubscribers(bridge_, 2);
  auto browser = bridge_.ConnectAnonymous();
  ASSERT_TRUE(browser);
  browser->SendText("ignored by the filter");
  browser->Close(1000, "");

  auto all = UntilClosed(everything, browser->session_id());
  EXPECT_EQ(all.size(), 3u);
  auto filtered = UntilClosed(closed_only, browser->session_id());
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_TRUE(filtered[0].has_closed());
  EXPECT_FALSE(closed_only.Next(absl::Milliseconds(100)).has_value());
}

TEST_F(EventsTest, UnspecifiedKindIsInvalid) {
  EventsReader reader(bridge_.api(), Request({v1::EVENT_KIND_UNSPECIFIED}));
  auto status = reader.WaitEnded();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status->error_message(), HasSubstr("kinds[0]"));
}

TEST_F(EventsTest, SequencesStrictlyIncreaseAcrossSessions) {
  EventsReader reader(bridge_.api(), Request());
  AwaitSubscribers(bridge_, 1);
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (int i = 0; i < 20; ++i) browsers.push_back(bridge_.ConnectAnonymous());
  for (auto& browser : browsers) browser->SendText("x");
  browsers.clear();  // drop them all
  auto events = reader.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 60; });
  ASSERT_EQ(events.size(), 60u);
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].sequence(), events[i - 1].sequence());
  }
}

TEST_F(EventsTest, GroupSharesEventsOneMemberPerSessionAndUngroupedGetEverything) {
  EventsReader member_a(bridge_.api(), Request({}, "workers"));
  EventsReader member_b(bridge_.api(), Request({}, "workers"));
  EventsReader member_c(bridge_.api(), Request({}, "workers"));
  EventsReader auditor(bridge_.api(), Request());
  AwaitSubscribers(bridge_, 4);

  constexpr int kSessions = 30;
  for (int i = 0; i < kSessions; ++i) {
    auto browser = bridge_.ConnectAnonymous();
    ASSERT_TRUE(browser);
    browser->SendText("m" + std::to_string(i));
    browser->Close(1000, "");
    ASSERT_TRUE(browser->WaitClosed().has_value());
  }
  auto all =
      auditor.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 3 * kSessions; });
  ASSERT_EQ(all.size(), 3u * kSessions);

  std::map<std::string, std::set<int>> members_of_session;
  size_t total = 0;
  int member_index = 0;
  for (EventsReader* member : {&member_a, &member_b, &member_c}) {
    size_t mine = 0;
    while (auto event = member->Next(absl::Milliseconds(300))) {
      members_of_session[event->session_id()].insert(member_index);
      ++mine;
    }
    EXPECT_GT(mine, 0u) << "member " << member_index << " got no share";
    total += mine;
    ++member_index;
  }
  EXPECT_EQ(total, all.size()) << "each event goes to exactly one member";
  EXPECT_EQ(members_of_session.size(), static_cast<size_t>(kSessions));
  for (const auto& [session, members] : members_of_session) {
    EXPECT_EQ(members.size(), 1u) << "session " << session << " split across members";
  }
}

TEST_F(EventsTest, WhenAGroupMemberLeavesTheOthersTakeOverItsShare) {
  auto leaving = std::make_unique<EventsReader>(bridge_.api(), Request({}, "g"));
  EventsReader staying(bridge_.api(), Request({}, "g"));
  AwaitSubscribers(bridge_, 2);
  leaving.reset();  // cancels
  AwaitSubscribers(bridge_, 1);
  for (int i = 0; i < 10; ++i) {
    auto browser = bridge_.ConnectAnonymous();
    ASSERT_TRUE(browser);
  }
  auto events = staying.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 20; });
  EXPECT_EQ(events.size(), 20u);
}

TEST_F(EventsTest, JoiningAGroupWithOtherKindsFailsPrecondition) {
  EventsReader first(bridge_.api(), Request({v1::EVENT_KIND_OPENED}, "g"));
  AwaitSubscribers(bridge_, 1);
  EventsReader other_kinds(bridge_.api(), Request({v1::EVENT_KIND_CLOSED}, "g"));
  auto status = other_kinds.WaitEnded();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status->error_message(), HasSubstr("group"));
}

TEST_F(EventsTest, ResumingAfterASequenceReplaysTheGapThenJoinsLiveWithoutGapOrDuplicate) {
  EventsReader witness(bridge_.api(), Request());
  AwaitSubscribers(bridge_, 1);
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (int i = 0; i < 5; ++i) browsers.push_back(bridge_.ConnectAnonymous());
  auto first = witness.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 5; });
  ASSERT_EQ(first.size(), 5u);
  const uint64_t processed = first[1].sequence();  // the consumer got this far, then restarted

  EventsReader resumed(bridge_.api(), Request({}, "", processed));
  AwaitSubscribers(bridge_, 2);
  for (int i = 0; i < 5; ++i) browsers.push_back(bridge_.ConnectAnonymous());
  auto rest = witness.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 5; });
  ASSERT_EQ(rest.size(), 5u);

  auto got = resumed.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 8; });
  ASSERT_EQ(got.size(), 8u);
  std::vector<uint64_t> expected;
  for (size_t i = 2; i < first.size(); ++i) expected.push_back(first[i].sequence());
  for (const auto& event : rest) expected.push_back(event.sequence());
  std::vector<uint64_t> actual;
  for (const auto& event : got) actual.push_back(event.sequence());
  EXPECT_EQ(actual, expected);
  EXPECT_FALSE(resumed.Next(absl::Milliseconds(100)).has_value());
}

TEST(EventsHistoryTest, ResumingPastTheHistoryIsOutOfRange) {
  TestBridge bridge([](Config& config) { config.events.history = 5; });
  EventsReader witness(bridge.api(), Request());
  AwaitSubscribers(bridge, 1);
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (int i = 0; i < 10; ++i) browsers.push_back(bridge.ConnectAnonymous());
  auto events = witness.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 10; });
  ASSERT_EQ(events.size(), 10u);

  EventsReader too_old(bridge.api(), Request({}, "", events[0].sequence()));
  auto status = too_old.WaitEnded();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::OUT_OF_RANGE);

  EventsReader from_the_future(bridge.api(), Request({}, "", events.back().sequence() + 1000));
  status = from_the_future.WaitEnded();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::OUT_OF_RANGE);

  // Still in the history: the last five.
  EventsReader recent(bridge.api(), Request({}, "", events[4].sequence()));
  auto replayed = recent.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 5; });
  EXPECT_EQ(replayed.size(), 5u);
}

// A stalled stream beside a healthy one, both of every kind: one browser sends `steps` x
// `per_step` 4 KiB messages, which the healthy consumer reads step by step; the stalled one reads
// nothing, so gRPC's flow-control windows fill and then its buffer, and it is cut off with
// RESOURCE_EXHAUSTED naming `hint`, while the healthy one stays.
void ExpectTheStalledStreamCutOff(TestBridge& bridge, int steps, int per_step,
                                  std::string_view hint) {
  EventsReader stalled(bridge.api(), Request(), /*start_reading=*/false);
  EventsReader healthy(bridge.api(), Request());
  AwaitSubscribers(bridge, 2);
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);
  ASSERT_TRUE(healthy.Next().has_value());  // opened

  const std::string chunk(4096, 'e');
  for (int step = 0; step < steps; ++step) {
    for (int i = 0; i < per_step; ++i) browser->SendText(chunk);
    auto got = healthy.ReadUntil(
        [&](const std::vector<v1::Event>& e) { return e.size() >= static_cast<size_t>(per_step); });
    ASSERT_EQ(got.size(), static_cast<size_t>(per_step)) << "healthy stream lost events";
  }
  AwaitSubscribers(bridge, 1);  // the stalled one was cut off, the healthy one stays
  stalled.StartReading();
  auto status = stalled.WaitEnded(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status->error_message(), HasSubstr(std::string(hint)));
  EXPECT_FALSE(healthy.WaitEnded(absl::Milliseconds(10)).has_value());
}

TEST(EventsBackpressureTest, AStreamThatCannotKeepUpEndsWithResourceExhausted) {
  TestBridge bridge([](Config& config) {
    config.events.stream_buffer = 100;
    config.session.client_messages_per_second = 0;  // one browser makes all the events
  });
  // ~12 MB of events against a 100-event buffer.
  ExpectTheStalledStreamCutOff(bridge, 60, 50, "start_after_sequence");
}

// Every Events stream is bounded in bytes too: 4 KiB browser messages against a 64 KiB bound, so
// the event count (a million) never matters.
TEST(EventsBackpressureTest, AStreamPastItsByteBoundEndsWithResourceExhaustedWhileOthersContinue) {
  TestBridge bridge([](Config& config) {
    config.events.stream_buffer = 1000000;
    config.events.stream_buffer_bytes = 64 << 10;
    config.session.client_messages_per_second = 0;
  });
  // ~12 MB of events in steps of 40 KiB, which the healthy consumer reads before the next (so it
  // stays within its 64 KiB).
  ExpectTheStalledStreamCutOff(bridge, 300, 10, "--events_stream_buffer_bytes");
}

TEST_F(EventsTest, CancelledStreamReleasesItsSubscription) {
  auto reader = std::make_unique<EventsReader>(bridge_.api(), Request());
  AwaitSubscribers(bridge_, 1);
  reader->Cancel();
  AwaitSubscribers(bridge_, 0);
  auto status = reader->WaitEnded();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(EventsTest, FiftyConcurrentStreamsEachGetEverything) {
  std::vector<std::unique_ptr<EventsReader>> readers;
  for (int i = 0; i < 50; ++i) {
    readers.push_back(std::make_unique<EventsReader>(bridge_.api(), Request()));
  }
  AwaitSubscribers(bridge_, 50);
  auto browser = bridge_.ConnectUser("fifty");
  ASSERT_TRUE(browser);
  browser->SendText("to all fifty");
  browser->Close(1000, "");
  for (auto& reader : readers) {
    auto events = UntilClosed(*reader, browser->session_id());
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[1].message().message().text(), "to all fifty");
  }
}

TEST(EventsConfigTest, ClientMessagesAreNotForwardedWhenTurnedOff) {
  TestBridge bridge([](Config& config) { config.session.forward_client_messages = false; });
  EventsReader reader(bridge.api(), Request());
  AwaitSubscribers(bridge, 1);
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);
  browser->SendText("private");
  browser->Close(1000, "");
  auto events = UntilClosed(reader, browser->session_id());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].has_opened());
  EXPECT_TRUE(events[1].has_closed());
}

TEST(EventsDrainTest, StreamsGetEveryClosedEventThenEndWithOk) {
  TestBridge bridge;
  EventsReader reader(bridge.api(), Request());
  AwaitSubscribers(bridge, 1);
  auto a = bridge.ConnectAnonymous();
  auto b = bridge.ConnectUser("drained");
  ASSERT_TRUE(a && b);
  bridge.server().Shutdown(absl::Seconds(5));
  auto events = reader.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 4; });
  ASSERT_EQ(events.size(), 4u);
  int closed = 0;
  for (const auto& event : events) {
    if (!event.has_closed()) continue;
    ++closed;
    EXPECT_EQ(event.closed().code(), 1001u);
    EXPECT_EQ(event.closed().initiator(), v1::INITIATOR_SERVER);
  }
  EXPECT_EQ(closed, 2);
  auto status = reader.WaitEnded();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->ok()) << status->error_message();
}

}  // namespace
}  // namespace wsbridge::testing
