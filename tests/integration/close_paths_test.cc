// Every way a session ends, over real sockets: the frames the browser sees and the events a
// service receives (an `error` first where something went wrong, then exactly one `closed` with
// code, reason and initiator).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/events_reader.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

struct Ending {
  std::vector<v1::Event> errors;
  std::optional<v1::SessionClosed> closed;
  int opened = 0;
  int closed_count = 0;
  std::vector<std::string> messages;  // texts of the session's message events
};

// Reads `reader` until the session's closed event, then a little longer to catch duplicates.
Ending EndingOf(EventsReader& reader, const std::string& session_id) {
  Ending ending;
  auto take = [&](const v1::Event& event) {
    if (event.session_id() != session_id) return;
    if (event.has_opened()) ++ending.opened;
    if (event.has_message()) ending.messages.push_back(event.message().message().text());
    if (event.has_error()) ending.errors.push_back(event);
    if (event.has_closed()) {
      ++ending.closed_count;
      ending.closed = event.closed();
    }
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (!ending.closed.has_value() && absl::Now() < deadline) {
    if (auto event = reader.Next(absl::Seconds(1))) take(*event);
  }
  while (auto event = reader.Next(absl::Milliseconds(200))) take(*event);
  return ending;
}

class ClosePathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reader_ = std::make_unique<EventsReader>(bridge_.api(), v1::EventsRequest());
    ASSERT_TRUE(Eventually([&] { return bridge_.server().events().subscription_count() == 1; }));
  }
  TestBridge bridge_{[](Config& config) {
    config.session.max_message_bytes = 64 * 1024;
    config.session.send_queue.max_bytes = 128 * 1024;
    config.session.client_messages_per_second = 5;
    config.session.client_messages_burst = 5;
  }};
  std::unique_ptr<EventsReader> reader_;
};

TEST_F(ClosePathsTest, ClientCloseIsEchoedAndReportedAsClient) {
  auto browser = bridge_.ConnectAnonymous();
  ASSERT_TRUE(browser);
  browser->Close(4321, "tab closed");
  auto close = browser->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 4321);  // the bridge echoes the browser's close
  Ending ending = EndingOf(*reader_, browser->session_id());
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->code(), 4321u);
  EXPECT_EQ(ending.closed->reason(), "tab closed");
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_CLIENT);
  EXPECT_EQ(ending.opened, 1);
  EXPECT_EQ(ending.closed_count, 1);
  EXPECT_TRUE(ending.errors.empty());
}

TEST_F(ClosePathsTest, DisconnectRpcIsReportedAsServer) {
  auto browser = bridge_.ConnectUser("kicked");
  ASSERT_TRUE(browser);
  v1::DisconnectRequest request;
  request.add_session_ids(browser->session_id());
  request.set_code(4403);
  request.set_reason("banned");
  v1::DisconnectResponse response;
  ASSERT_TRUE(bridge_.api().Disconnect(CallContext().get(), request, &response).ok());
  auto close = browser->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 4403);
  Ending ending = EndingOf(*reader_, browser->session_id());
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->code(), 4403u);
  EXPECT_EQ(ending.closed->reason(), "banned");
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_SERVER);
  EXPECT_EQ(ending.closed_count, 1);
}

TEST(CloseWhileQueuedTest, FramesArrivingWhileTheServerClosesAreStillForwarded) {
  TestBridge bridge([](Config& config) { config.session.send_queue.max_bytes = 64 << 20; });
  EventsReader reader(bridge.api(), v1::EventsRequest());
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));
  // A browser that is not reading keeps the close frame waiting behind megabytes of queued
  // messages: the session is closing, but its close is not on the wire yet.
  auto browser = bridge.ConnectUser("leaving", "", /*start_reading=*/false);
  ASSERT_TRUE(browser);
  for (int i = 0; i < 16; ++i) {
    v1::PushRequest push;
    push.add_session_ids(browser->session_id());
    push.mutable_message()->set_binary(std::string(1 << 20, 'q'));
    v1::PushResponse response;
    ASSERT_TRUE(bridge.api().Push(CallContext().get(), push, &response).ok());
    ASSERT_EQ(response.queued(), 1u);
  }
  v1::DisconnectRequest disconnect;
  disconnect.add_session_ids(browser->session_id());
  disconnect.set_code(4000);
  v1::DisconnectResponse disconnected;
  ASSERT_TRUE(bridge.api().Disconnect(CallContext().get(), disconnect, &disconnected).ok());
  browser->SendText("last words");
  browser->StartReading();
  auto close = browser->WaitClosed(absl::Seconds(10));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 4000);
  Ending ending = EndingOf(reader, browser->session_id());
  EXPECT_THAT(ending.messages, ::testing::ElementsAre("last words"));
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_SERVER);
}

TEST_F(ClosePathsTest, TcpDropWithoutCloseFrameIsTransport1006) {
  auto browser = bridge_.ConnectAnonymous();
  ASSERT_TRUE(browser);
  const std::string id = browser->session_id();
  browser->Abort();
  Ending ending = EndingOf(*reader_, id);
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->code(), 1006u);
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_TRANSPORT);
  EXPECT_EQ(ending.closed_count, 1);
}

TEST_F(ClosePathsTest, InvalidUtf8Is1007WithProtocolError) {
  auto browser = bridge_.ConnectAnonymous();
  ASSERT_TRUE(browser);
  browser->SendText(std::string("\xff\xfe not utf-8"));
  auto close = browser->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1007);
  Ending ending = EndingOf(*reader_, browser->session_id());
  ASSERT_EQ(ending.errors.size(), 1u);
  EXPECT_EQ(ending.errors[0].error().code(), v1::ERROR_CODE_PROTOCOL_ERROR);
  EXPECT_THAT(ending.errors[0].error().detail(), HasSubstr("UTF-8"));
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->code(), 1007u);
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_SERVER);
}

TEST_F(ClosePathsTest, FrameOverMaxMessageBytesIs1009WithMessageTooLarge) {
  auto browser = bridge_.ConnectAnonymous();
  ASSERT_TRUE(browser);
  browser->SendBinary(std::string(64 * 1024 + 1, 'b'));
  auto close = browser->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1009);
  Ending ending = EndingOf(*reader_, browser->session_id());
  ASSERT_EQ(ending.errors.size(), 1u);
  EXPECT_EQ(ending.errors[0].error().code(), v1::ERROR_CODE_MESSAGE_TOO_LARGE);
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->code(), 1009u);
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_SERVER);
}

TEST_F(ClosePathsTest, InboundRateLimitIs1008WithRateLimited) {
  auto browser = bridge_.ConnectAnonymous();
  ASSERT_TRUE(browser);
  for (int i = 0; i < 20; ++i) browser->SendText("spam " + std::to_string(i));
  auto close = browser->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1008);
  EXPECT_EQ(close->reason, "rate limited");
  Ending ending = EndingOf(*reader_, browser->session_id());
  ASSERT_GE(ending.errors.size(), 1u);
  EXPECT_EQ(ending.errors[0].error().code(), v1::ERROR_CODE_RATE_LIMITED);
  // The burst of 5 was forwarded; the flood that broke the limit was not.
  EXPECT_EQ(ending.messages.size(), 5u);
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->code(), 1008u);
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_SERVER);
}

TEST_F(ClosePathsTest, BurstWithinTheRateLimitIsFine) {
  auto browser = bridge_.ConnectAnonymous();
  ASSERT_TRUE(browser);
  for (int i = 0; i < 5; ++i) browser->SendText("ok " + std::to_string(i));
  EXPECT_FALSE(browser->WaitClosed(absl::Milliseconds(300)).has_value());
}

TEST_F(ClosePathsTest, SlowConsumerIs1013WithSlowConsumerError) {
  auto stalled = bridge_.ConnectUser("stalled", "", /*start_reading=*/false);
  ASSERT_TRUE(stalled);
  const std::string chunk(32 * 1024, 's');
  bool dropped = false;
  for (int i = 0; i < 5000 && !dropped; ++i) {
    v1::PushRequest push;
    push.add_session_ids(stalled->session_id());
    push.mutable_message()->set_text(chunk);
    v1::PushResponse response;
    ASSERT_TRUE(bridge_.api().Push(CallContext().get(), push, &response).ok());
    dropped = response.dropped() == 1;
  }
  ASSERT_TRUE(dropped);
  stalled->StartReading();
  auto close = stalled->WaitClosed(absl::Seconds(10));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1013);
  Ending ending = EndingOf(*reader_, stalled->session_id());
  ASSERT_EQ(ending.errors.size(), 1u);
  EXPECT_EQ(ending.errors[0].error().code(), v1::ERROR_CODE_SLOW_CONSUMER);
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->code(), 1013u);
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_SERVER);
}

TEST(IdleTimeoutTest, SilentPeerIsClosedAsTransportWhileAPingAnsweringPeerStays) {
  TestBridge bridge([](Config& config) {
    config.session.idle_timeout = absl::Seconds(1);
    config.session.ping_interval = absl::Milliseconds(300);
  });
  EventsReader reader(bridge.api(), v1::EventsRequest());
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));
  // Neither sends anything; only the reading one answers the bridge's pings.
  auto silent = bridge.ConnectUser("silent", "", /*start_reading=*/false);
  auto alive = bridge.ConnectUser("alive");
  ASSERT_TRUE(silent && alive);
  Ending ending = EndingOf(reader, silent->session_id());
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_TRANSPORT);
  EXPECT_FALSE(alive->WaitClosed(absl::Seconds(2)).has_value())
      << "a peer that answers pings must stay open past the idle timeout";
}

TEST(PingTest, SilentBrowsersArePingedEveryPingInterval) {
  TestBridge bridge([](Config& config) {
    config.session.idle_timeout = absl::ZeroDuration();  // never dropped: only pings are measured
    config.session.ping_interval = absl::Milliseconds(200);
  });
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);
  // End to end on the real clock: pings keep coming and the silent browser stays connected. How
  // many per interval, and none when the interval is 0, are unit tests on a fake clock
  // (tests/unit/session_test.cc).
  EXPECT_TRUE(Eventually([&] { return browser->pings_received() >= 3; }));
  EXPECT_FALSE(browser->WaitClosed(absl::Milliseconds(10)).has_value());
}

TEST(WriteTimeoutTest, StalledWriteIsASlowConsumerEvenWithRoomInTheQueue) {
  TestBridge bridge([](Config& config) {
    config.session.write_timeout = absl::Milliseconds(500);
    config.session.send_queue.max_bytes = 256
                                          << 20;  // the queue never fills: only the stall can tell
    config.session.send_queue.max_messages = 100000;
  });
  EventsReader reader(bridge.api(), v1::EventsRequest());
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));
  auto stalled = bridge.ConnectUser("stalled", "", /*start_reading=*/false);
  ASSERT_TRUE(stalled);
  // A few MB fill the socket buffers; the write in flight then makes no progress.
  const std::string chunk(1 << 20, 'w');
  for (int i = 0; i < 24; ++i) {
    v1::PushRequest push;
    push.add_session_ids(stalled->session_id());
    push.mutable_message()->set_binary(chunk);
    v1::PushResponse response;
    ASSERT_TRUE(bridge.api().Push(CallContext().get(), push, &response).ok());
    if (response.matched() == 0) break;  // already closed
    EXPECT_EQ(response.dropped(), 0u) << "the queue itself must not overflow in this test";
  }
  Ending ending = EndingOf(reader, stalled->session_id());
  ASSERT_EQ(ending.errors.size(), 1u);
  EXPECT_EQ(ending.errors[0].error().code(), v1::ERROR_CODE_SLOW_CONSUMER);
  EXPECT_THAT(ending.errors[0].error().detail(), HasSubstr("write_timeout"));
  ASSERT_TRUE(ending.closed.has_value());
  EXPECT_EQ(ending.closed->code(), 1013u);
  EXPECT_EQ(ending.closed->initiator(), v1::INITIATOR_SERVER);
}

}  // namespace
}  // namespace wsbridge::testing
