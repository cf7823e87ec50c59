// GET /metrics after known traffic: sessions opened and closed three ways, a broadcast and a push
// of known sizes, a message from a browser, a refused handshake, a failing gRPC call and an
// Events stream; the scrape is parsed (support/prometheus_text.h) and every number that the
// traffic decides is checked exactly. A second test stalls an Events stream until it is ended
// for lag and watches the lag gauge and the counter on the way.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/events_reader.h"
#include "support/eventually.h"
#include "support/prometheus_text.h"
#include "support/test_bridge.h"
#include "support/ws_client.h"

namespace wsbridge::testing {
namespace {

PrometheusText Scrape(TestBridge& bridge) { return ScrapeMetrics(bridge.admin_port()); }

MetricLabels Call(const std::string& method, const std::string& code) {
  return {{"grpc_service", "wsbridge.v1.Bridge"}, {"grpc_method", method}, {"grpc_code", code}};
}

TEST(MetricsTest, KnownTrafficGivesExactCounts) {
  TestBridge bridge;
  v1::EventsRequest all_kinds;
  EventsReader events(bridge.api(), all_kinds);
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));

  // Five sessions: four anonymous on topic "news", one of user alice.
  std::vector<std::unique_ptr<WsClient>> news;
  for (int i = 0; i < 4; ++i) {
    news.push_back(bridge.ConnectAnonymous("topics=news"));
    ASSERT_TRUE(news.back());
  }
  auto alice = bridge.ConnectUser("alice");
  ASSERT_TRUE(alice);

  // A handshake refused for its token: 401.
  HttpAnswer refused;
  EXPECT_EQ(WsClient::Connect(bridge.ws_port(), "/ws?token=not-a-jwt", {}, &refused), nullptr);
  EXPECT_EQ(refused.status, 401u);

  // A 100-byte broadcast to the four, a 7-byte binary push to alice, a push with no target.
  v1::BroadcastRequest broadcast;
  broadcast.add_topics("news");
  broadcast.mutable_message()->set_text(std::string(100, 'b'));
  v1::BroadcastResponse broadcast_response;
  ASSERT_TRUE(bridge.api().Broadcast(CallContext().get(), broadcast, &broadcast_response).ok());
  EXPECT_EQ(broadcast_response.matched(), 4u);
  v1::PushRequest push;
  push.add_user_ids("alice");
  push.mutable_message()->set_binary("1234567");
  v1::PushResponse push_response;
  ASSERT_TRUE(bridge.api().Push(CallContext().get(), push, &push_response).ok());
  v1::PushRequest no_target;
  no_target.mutable_message()->set_text("x");
  EXPECT_EQ(bridge.api().Push(CallContext().get(), no_target, &push_response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  for (auto& browser : news) ASSERT_TRUE(browser->NextMessage().has_value());
  ASSERT_TRUE(alice->NextMessage().has_value());

  // Alice says 5 bytes.
  alice->SendText("hello");

  // Three ends: the browser closes with 4000, the service disconnects one with 4001, one
  // connection just drops.
  news[0]->Close(4000, "bye");
  v1::DisconnectRequest disconnect;
  disconnect.add_session_ids(news[1]->session_id());
  disconnect.set_code(4001);
  v1::DisconnectResponse disconnect_response;
  ASSERT_TRUE(bridge.api().Disconnect(CallContext().get(), disconnect, &disconnect_response).ok());
  news[2]->Abort();
  ASSERT_TRUE(news[0]->WaitClosed().has_value());
  ASSERT_TRUE(news[1]->WaitClosed().has_value());

  // 5 opened, 1 message, 3 closed: 9 events, each counted once written to the stream.
  auto got = events.ReadUntil([](const std::vector<v1::Event>& e) { return e.size() >= 9; });
  ASSERT_EQ(got.size(), 9u);
  ASSERT_TRUE(Eventually([&] {
    PrometheusText m = Scrape(bridge);
    return m.ValueOrZero("wsbridge_events_delivered_total") == 9 &&
           m.ValueOrZero("wsbridge_sessions") == 2;
  })) << HttpGet(bridge.admin_port(), "/metrics").body;

  PrometheusText m = Scrape(bridge);
  EXPECT_EQ(m.Type("wsbridge_sessions"), "gauge");
  EXPECT_EQ(m.Type("wsbridge_sessions_opened_total"), "counter");
  EXPECT_EQ(m.Type("wsbridge_delivery_latency_seconds"), "histogram");
  EXPECT_EQ(m.Value("wsbridge_sessions"), 2);
  EXPECT_EQ(m.Value("wsbridge_sessions_opened_total"), 5);
  EXPECT_EQ(m.Value("wsbridge_sessions_closed_total", {{"code", "4xxx"}, {"initiator", "client"}}),
            1);
  EXPECT_EQ(m.Value("wsbridge_sessions_closed_total", {{"code", "4xxx"}, {"initiator", "server"}}),
            1);
  EXPECT_EQ(
      m.Value("wsbridge_sessions_closed_total", {{"code", "1006"}, {"initiator", "transport"}}), 1);
  EXPECT_EQ(m.Value("wsbridge_sent_messages_total"), 5);
  EXPECT_EQ(m.Value("wsbridge_sent_bytes_total"), 4 * 100 + 7);
  EXPECT_EQ(m.Value("wsbridge_received_messages_total"), 1);
  EXPECT_EQ(m.Value("wsbridge_received_bytes_total"), 5);
  EXPECT_EQ(m.Value("wsbridge_queue_drops_total"), 0);
  EXPECT_EQ(m.Value("wsbridge_slow_consumer_closes_total"), 0);
  EXPECT_EQ(m.Value("wsbridge_handshake_rejections_total", {{"status", "401"}}), 1);
  EXPECT_EQ(m.ValueOrZero("wsbridge_handshake_rejections_total", {{"status", "503"}}), 0);

  EXPECT_EQ(m.Value("wsbridge_grpc_calls_total", Call("Broadcast", "OK")), 1);
  EXPECT_EQ(m.Value("wsbridge_grpc_calls_total", Call("Push", "OK")), 1);
  EXPECT_EQ(m.Value("wsbridge_grpc_calls_total", Call("Push", "INVALID_ARGUMENT")), 1);
  EXPECT_EQ(m.Value("wsbridge_grpc_calls_total", Call("Disconnect", "OK")), 1);
  // The Events stream is still open: it is counted when it ends.
  EXPECT_EQ(m.Value("wsbridge_grpc_calls_total", Call("Events", "OK")), std::nullopt);

  // Fan-out: the broadcast matched 4, the push 1; the refused push never reached the hub.
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_count"), 2);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_sum"), 5);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_bucket", {{"le", "0"}}), 0);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_bucket", {{"le", "1"}}), 1);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_bucket", {{"le", "2"}}), 1);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_bucket", {{"le", "5"}}), 2);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_bucket", {{"le", "+Inf"}}), 2);

  // One latency observation per delivered message, all of them under the largest bound.
  EXPECT_EQ(m.Value("wsbridge_delivery_latency_seconds_count"), 5);
  EXPECT_EQ(m.Value("wsbridge_delivery_latency_seconds_bucket", {{"le", "10"}}), 5);
  EXPECT_GT(m.ValueOrZero("wsbridge_delivery_latency_seconds_sum"), 0);

  EXPECT_EQ(m.Value("wsbridge_events_streams"), 1);
  EXPECT_EQ(m.Value("wsbridge_events_delivered_total"), 9);
  EXPECT_EQ(m.Value("wsbridge_events_streams_ended_for_lag_total"), 0);
  EXPECT_EQ(m.Value("wsbridge_events_stream_max_lag_events"), 0);
  EXPECT_EQ(m.Value("wsbridge_draining"), 0);
  EXPECT_EQ(m.Value("wsbridge_io_threads"), 2);
}

TEST(MetricsTest, AStalledEventsStreamShowsItsLagThenItsEndForLag) {
  TestBridge bridge([](Config& config) {
    config.events.stream_buffer = 100;
    config.session.client_messages_per_second = 0;  // one browser makes all the events
  });
  EventsReader stalled(bridge.api(), v1::EventsRequest(), /*start_reading=*/false);
  ASSERT_TRUE(Eventually([&] { return bridge.server().events().subscription_count() == 1; }));
  EXPECT_EQ(Scrape(bridge).Value("wsbridge_events_stream_lag_limit_events"), 100);
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);

  // 4 KiB messages in steps of 10, each step published before the scrape that follows it: gRPC's
  // windows fill first, then the bus holds the rest for the stream until it is cut off at 100.
  const std::string chunk(4096, 'e');
  double largest_lag_seen = 0;
  int sent = 0;
  for (int step = 0; step < 400; ++step) {
    for (int i = 0; i < 10; ++i) browser->SendText(chunk);
    sent += 10;
    PrometheusText m = Scrape(bridge);
    ASSERT_TRUE(Eventually([&] {
      m = Scrape(bridge);
      return m.ValueOrZero("wsbridge_received_messages_total") == sent;
    }));
    if (m.ValueOrZero("wsbridge_events_streams_ended_for_lag_total") == 1) break;
    largest_lag_seen =
        std::max(largest_lag_seen, m.ValueOrZero("wsbridge_events_stream_max_lag_events"));
  }
  PrometheusText m = Scrape(bridge);
  EXPECT_EQ(m.Value("wsbridge_events_streams_ended_for_lag_total"), 1);
  EXPECT_GT(largest_lag_seen, 50);  // the gauge climbed towards the limit before the cut
  EXPECT_LE(largest_lag_seen, 100);
  stalled.StartReading();
  auto status = stalled.WaitEnded(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(Eventually([&] {
    PrometheusText after = Scrape(bridge);
    return after.ValueOrZero("wsbridge_events_streams") == 0 &&
           after.ValueOrZero("wsbridge_grpc_calls_total", Call("Events", "RESOURCE_EXHAUSTED")) ==
               1;
  })) << HttpGet(bridge.admin_port(), "/metrics").body;
}

}  // namespace
}  // namespace wsbridge::testing
