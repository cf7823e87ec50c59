// A slow browser seen through GET /metrics. Over real sockets, a browser that completes its
// upgrade and then stops reading (a raw socket with a 4 KiB receive buffer) sits beside a healthy
// browser on the same topic while broadcasts pile up for it. The bridge has one policy for a slow
// consumer, with two triggers (ws/session.h, config/config.h SendQueueLimits and write_timeout):
//   - a message that does not fit the send queue (its message limit or its byte limit) is
//     refused, counted as one queue drop, and the session is closed with 1013 "slow consumer";
//     nothing is dropped while the queue has room, and nothing oldest-first;
//   - a write that makes no progress for --write_timeout closes it the same way, with no drop;
//   - either way, a browser that never reads again is dropped at the close deadline and is still
//     counted as the server's 1013 close.
// Each test then scrapes /metrics and checks the numbers the policy makes exact: one drop or none,
// one slow-consumer close, one close with code 1013 by the server, and sent messages and bytes
// equal to what the healthy browser received plus the whole frames the slow one read before its
// close frame. The Events stream and the gRPC answers say the same thing the counters do.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/events_reader.h"
#include "support/eventually.h"
#include "support/prometheus_text.h"
#include "support/raw_frames.h"
#include "support/raw_ws_client.h"
#include "support/test_bridge.h"
#include "support/ws_client.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

PrometheusText Scrape(TestBridge& bridge) { return ScrapeMetrics(bridge.admin_port()); }

MetricLabels Closed(const std::string& code, const std::string& initiator) {
  return {{"code", code}, {"initiator", initiator}};
}

// Message `i` of a test: its number, then filler up to `bytes`, so every message has the same
// size and the healthy browser's order can be checked.
std::string Numbered(int i, size_t bytes) {
  char number[16];
  std::snprintf(number, sizeof number, "%08d", i);
  std::string message(number);
  message.resize(bytes, 'm');
  return message;
}

// A browser that upgrades on topic "news" and then reads nothing until told to: its 4 KiB
// receive buffer fills at once, then the bridge's send buffer, then its send queue.
class StalledBrowser {
 public:
  explicit StalledBrowser(uint16_t port) : socket_(port, /*receive_buffer_bytes=*/4096) {
    socket_.Write(UpgradeRequest(kRfcKey, "13", "/ws?topics=news"));
    const auto head = socket_.ReadHttpHead();
    if (head.has_value() && head->find(" 101 ") != std::string::npos) {
      session_id_ = HeaderValue(*head, "X-Wsbridge-Session-Id");
    }
  }

  bool upgraded() const { return !session_id_.empty(); }
  const std::string& session_id() const { return session_id_; }

  // Reads again: the data frames that made it out before the close frame, then the close frame,
  // which it answers as a browser does. Each frame's payload goes into `messages`.
  std::optional<ServerFrame> ReadUntilClose(std::vector<std::string>& messages) {
    while (auto frame = socket_.ReadDataFrame(absl::Seconds(10))) {
      if (frame->opcode != kClose) {
        messages.push_back(frame->payload);
        continue;
      }
      socket_.Write(ClientFrame(kClose, frame->payload.substr(0, 2)));
      return frame;
    }
    return std::nullopt;
  }

  // What the bridge sends after the close frame (nothing), once it has closed the connection.
  std::optional<std::string> ReadToEnd() { return socket_.ReadToEnd(); }

 private:
  RawWsClient socket_;
  std::string session_id_;
};

uint16_t CloseCode(const ServerFrame& close) {
  if (close.payload.size() < 2) return 0;
  return static_cast<uint16_t>(static_cast<uint8_t>(close.payload[0]) << 8 |
                               static_cast<uint8_t>(close.payload[1]));
}

// The next event of `session_id` of the kind `has` picks (error, closed), within 10 s.
template <typename Has>
std::optional<v1::Event> NextEventOf(EventsReader& reader, const std::string& session_id, Has has) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    auto event = reader.Next(absl::Seconds(1));
    if (event.has_value() && event->session_id() == session_id && has(*event)) return event;
  }
  return std::nullopt;
}

v1::BroadcastRequest ToNews(std::string text) {
  v1::BroadcastRequest request;
  request.add_topics("news");
  request.mutable_message()->set_text(std::move(text));
  return request;
}

v1::SessionStats StatsOf(TestBridge& bridge, const std::string& user_id) {
  v1::ListSessionsRequest request;
  request.set_user_id(user_id);
  v1::ListSessionsResponse response;
  EXPECT_TRUE(bridge.api().ListSessions(CallContext().get(), request, &response).ok());
  EXPECT_EQ(response.sessions_size(), 1);
  return response.sessions_size() == 1 ? response.sessions(0).stats() : v1::SessionStats();
}

// The stalled session's `closed` event: 1013, started by the server.
void ExpectClosedAsSlowConsumer(EventsReader& events, const std::string& session_id) {
  auto closed =
      NextEventOf(events, session_id, [](const v1::Event& event) { return event.has_closed(); });
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ(closed->closed().code(), 1013u);
  EXPECT_EQ(closed->closed().initiator(), v1::INITIATOR_SERVER);
}

// The healthy browser got messages 0..count-1 of `bytes` each, in order, and its session counted
// exactly them, with nothing left queued.
void ExpectHealthyGotAll(WsClient& healthy, TestBridge& bridge, int count, size_t bytes) {
  for (int i = 0; i < count; ++i) {
    auto message = healthy.NextMessage();
    ASSERT_TRUE(message.has_value()) << "healthy browser missed message " << i;
    ASSERT_EQ(message->data, Numbered(i, bytes));
  }
  const v1::SessionStats stats = StatsOf(bridge, "healthy");
  EXPECT_EQ(stats.messages_sent(), static_cast<uint64_t>(count));
  EXPECT_EQ(stats.bytes_sent(), static_cast<uint64_t>(count) * bytes);
  EXPECT_EQ(stats.queued_messages(), 0u);
}

constexpr size_t kMessageBytes = 16 * 1024;

// Broadcasts numbered messages to "news" (a healthy and a stalled browser) until one is refused
// for a session. Every answer must match both and queue or drop for each. Returns how many were
// sent, or 0 if none was dropped within 5,000 or an answer was wrong.
int BroadcastUntilOneIsDropped(TestBridge& bridge) {
  for (int sent = 0; sent < 5000;) {
    v1::BroadcastResponse response;
    const grpc::Status status = bridge.api().Broadcast(
        CallContext().get(), ToNews(Numbered(sent, kMessageBytes)), &response);
    ++sent;
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.matched(), 2u);
    EXPECT_EQ(response.queued() + response.dropped(), 2u);
    if (!status.ok() || response.matched() != 2u || response.dropped() > 1u) return 0;
    if (response.dropped() == 1u) return sent;
  }
  return 0;
}

// Broadcasts to a healthy and a stalled browser until the stalled one's queue refuses a message,
// then checks the browsers, the events and the scrape. `limits` decide where the queue is full;
// `full_detail` is how the error event describes the queue at that moment.
void ExpectOneOverflowCounted(SendQueueLimits limits, const std::string& full_detail) {
  TestBridge bridge([&](Config& config) {
    config.session.send_queue = limits;
    // Only the queue may decide here: the stalled write must not time out first, and the close
    // handshake waits for the stalled browser to read again.
    config.session.write_timeout = absl::Minutes(5);
    config.session.close_timeout = absl::Seconds(30);
  });
  EventsReader events(bridge.api(), v1::EventsRequest());
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));
  auto healthy = bridge.ConnectUser("healthy", "topics=news");
  ASSERT_TRUE(healthy);
  StalledBrowser stalled(bridge.ws_port());
  ASSERT_TRUE(stalled.upgraded());

  // Every broadcast reaches both until the stalled browser's queue is full: the one that does
  // not fit is refused for it alone, and that is the only refusal.
  int sent = BroadcastUntilOneIsDropped(bridge);
  ASSERT_GT(sent, 0) << "the stalled browser's queue never filled";
  // One more while it closes: the gRPC answer counts it dropped for the closing session, but that
  // is no queue drop (its queue is not what refused it).
  {
    v1::BroadcastResponse response;
    ASSERT_TRUE(
        bridge.api()
            .Broadcast(CallContext().get(), ToNews(Numbered(sent, kMessageBytes)), &response)
            .ok());
    ++sent;
    EXPECT_EQ(response.matched(), 2u);
    EXPECT_EQ(response.queued(), 1u);
    EXPECT_EQ(response.dropped(), 1u);
  }

  // The error event comes before the close and names the full queue.
  auto error = NextEventOf(events, stalled.session_id(),
                           [](const v1::Event& event) { return event.has_error(); });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->error().code(), v1::ERROR_CODE_SLOW_CONSUMER);
  EXPECT_THAT(error->error().detail(), HasSubstr(full_detail));

  // The stalled browser reads again: the messages that were on the wire (in order, each whole),
  // then 1013 "slow consumer"; nothing follows the close frame.
  std::vector<std::string> partial;
  auto close = stalled.ReadUntilClose(partial);
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(CloseCode(*close), 1013);
  EXPECT_EQ(close->payload.substr(2), "slow consumer");
  ASSERT_LT(partial.size(), static_cast<size_t>(sent - 1));
  for (size_t i = 0; i < partial.size(); ++i) {
    ASSERT_EQ(partial[i], Numbered(static_cast<int>(i), kMessageBytes)) << "message " << i;
  }
  EXPECT_EQ(stalled.ReadToEnd(), "");
  ASSERT_NO_FATAL_FAILURE(ExpectClosedAsSlowConsumer(events, stalled.session_id()));

  ASSERT_NO_FATAL_FAILURE(ExpectHealthyGotAll(*healthy, bridge, sent, kMessageBytes));

  // The scrape: one drop (the refused broadcast), one slow-consumer close, one 1013 by the server,
  // and every message written whole counted once, the slow browser's included.
  ASSERT_TRUE(Eventually([&] { return Scrape(bridge).ValueOrZero("wsbridge_sessions") == 1; }))
      << HttpGet(bridge.admin_port(), "/metrics").body;
  PrometheusText m = Scrape(bridge);
  EXPECT_EQ(m.Value("wsbridge_sessions_opened_total"), 2);
  EXPECT_EQ(m.Value("wsbridge_queue_drops_total"), 1);
  EXPECT_EQ(m.Value("wsbridge_slow_consumer_closes_total"), 1);
  EXPECT_EQ(m.Value("wsbridge_sessions_closed_total", Closed("1013", "server")), 1);
  EXPECT_EQ(m.ValueOrZero("wsbridge_sessions_closed_total", Closed("1013", "client")), 0);
  EXPECT_EQ(m.ValueOrZero("wsbridge_sessions_closed_total", Closed("1006", "transport")), 0);
  const double written = sent + static_cast<double>(partial.size());
  EXPECT_EQ(m.Value("wsbridge_sent_messages_total"), written);
  EXPECT_EQ(m.Value("wsbridge_sent_bytes_total"), written * kMessageBytes);
  EXPECT_EQ(m.Value("wsbridge_delivery_latency_seconds_count"), written);
  EXPECT_EQ(m.Value("wsbridge_received_messages_total"), 0);
}

TEST(SlowConsumerMetricsTest, MessageLimitOverflowIsOneDropAndOne1013Close) {
  // 8 messages of 16 KiB are far below the byte limit: the message limit decides.
  ExpectOneOverflowCounted({.max_bytes = 64 << 20, .max_messages = 8},
                           "send queue full (8 messages, 131072 bytes) with a message of 16384 "
                           "bytes waiting");
}

TEST(SlowConsumerMetricsTest, ByteLimitOverflowIsOneDropAndOne1013Close) {
  // 64 KiB hold exactly four 16 KiB messages (payload bytes; frame headers are not counted): the
  // fifth is refused long before the message limit.
  ExpectOneOverflowCounted({.max_bytes = 64 * 1024, .max_messages = 100000},
                           "send queue full (4 messages, 65536 bytes) with a message of 16384 "
                           "bytes waiting");
}

TEST(SlowConsumerMetricsTest, ABrowserThatNeverReadsAgainIsStillA1013CloseByTheServer) {
  // The common case in production: the stalled browser never drains, so its close handshake
  // never completes and the close deadline drops the connection. It is still counted as the
  // slow-consumer close the server started, not as a transport failure.
  TestBridge bridge([](Config& config) {
    config.session.send_queue = {.max_bytes = 64 << 20, .max_messages = 8};
    config.session.write_timeout = absl::Minutes(5);
    config.session.close_timeout = absl::Milliseconds(300);
  });
  EventsReader events(bridge.api(), v1::EventsRequest());
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));
  auto healthy = bridge.ConnectUser("healthy", "topics=news");
  ASSERT_TRUE(healthy);
  StalledBrowser stalled(bridge.ws_port());
  ASSERT_TRUE(stalled.upgraded());

  const int sent = BroadcastUntilOneIsDropped(bridge);
  ASSERT_GT(sent, 0) << "the stalled browser's queue never filled";
  ASSERT_NO_FATAL_FAILURE(ExpectClosedAsSlowConsumer(events, stalled.session_id()));
  for (int i = 0; i < sent; ++i) ASSERT_TRUE(healthy->NextMessage().has_value()) << i;

  ASSERT_TRUE(Eventually([&] { return Scrape(bridge).ValueOrZero("wsbridge_sessions") == 1; }));
  PrometheusText m = Scrape(bridge);
  EXPECT_EQ(m.Value("wsbridge_queue_drops_total"), 1);
  EXPECT_EQ(m.Value("wsbridge_slow_consumer_closes_total"), 1);
  EXPECT_EQ(m.Value("wsbridge_sessions_closed_total", Closed("1013", "server")), 1);
  EXPECT_EQ(m.ValueOrZero("wsbridge_sessions_closed_total", Closed("1006", "transport")), 0);
  // What sat in the kernel's buffers counts as written; the message cut off mid-frame does not.
  EXPECT_GE(m.ValueOrZero("wsbridge_sent_messages_total"), sent);
  EXPECT_LT(m.ValueOrZero("wsbridge_sent_messages_total"), 2 * sent);
}

TEST(SlowConsumerMetricsTest, StalledWriteIsASlowConsumerCloseWithoutADrop) {
  constexpr size_t kLargeMessage = 256 * 1024;
  constexpr int kMessages = 32;  // 8 MiB: more than the kernel buffers between the two sockets
  TestBridge bridge([](Config& config) {
    config.session.write_timeout = absl::Milliseconds(500);
    config.session.close_timeout = absl::Seconds(30);  // the stalled browser reads after the pushes
    // The queue never fills: only the stall can tell.
    config.session.send_queue = {.max_bytes = 256 << 20, .max_messages = 100000};
  });
  EventsReader events(bridge.api(), v1::EventsRequest());
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));
  auto healthy = bridge.ConnectUser("healthy", "topics=news");
  ASSERT_TRUE(healthy);
  StalledBrowser stalled(bridge.ws_port());
  ASSERT_TRUE(stalled.upgraded());

  for (int i = 0; i < kMessages; ++i) {
    v1::BroadcastResponse response;
    ASSERT_TRUE(bridge.api()
                    .Broadcast(CallContext().get(), ToNews(Numbered(i, kLargeMessage)), &response)
                    .ok());
    // Once the write timeout has closed the stalled session, later broadcasts skip it (it is
    // closing, not full: no queue drop), so only the healthy browser is sure to be queued.
    ASSERT_GE(response.queued(), 1u);
  }
  auto error = NextEventOf(events, stalled.session_id(),
                           [](const v1::Event& event) { return event.has_error(); });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->error().code(), v1::ERROR_CODE_SLOW_CONSUMER);
  EXPECT_THAT(error->error().detail(), HasSubstr("write_timeout"));

  std::vector<std::string> partial;
  auto close = stalled.ReadUntilClose(partial);
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(CloseCode(*close), 1013);
  ASSERT_LT(partial.size(), static_cast<size_t>(kMessages));
  for (size_t i = 0; i < partial.size(); ++i) {
    ASSERT_EQ(partial[i], Numbered(static_cast<int>(i), kLargeMessage)) << "message " << i;
  }
  ASSERT_NO_FATAL_FAILURE(ExpectClosedAsSlowConsumer(events, stalled.session_id()));

  ASSERT_NO_FATAL_FAILURE(ExpectHealthyGotAll(*healthy, bridge, kMessages, kLargeMessage));

  ASSERT_TRUE(Eventually([&] { return Scrape(bridge).ValueOrZero("wsbridge_sessions") == 1; }))
      << HttpGet(bridge.admin_port(), "/metrics").body;
  PrometheusText m = Scrape(bridge);
  EXPECT_EQ(m.Value("wsbridge_queue_drops_total"), 0);
  EXPECT_EQ(m.Value("wsbridge_slow_consumer_closes_total"), 1);
  EXPECT_EQ(m.Value("wsbridge_sessions_closed_total", Closed("1013", "server")), 1);
  EXPECT_EQ(m.ValueOrZero("wsbridge_sessions_closed_total", Closed("1006", "transport")), 0);
  const double written = kMessages + static_cast<double>(partial.size());
  EXPECT_EQ(m.Value("wsbridge_sent_messages_total"), written);
  EXPECT_EQ(m.Value("wsbridge_sent_bytes_total"), written * kLargeMessage);
}

}  // namespace
}  // namespace wsbridge::testing
