// The metrics layer without sockets: single-writer counters and histograms, the close code
// label, the gRPC call counts, and NodeMetrics' exposition text read back by the tests' parser.
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "metrics/call_metrics.h"
#include "metrics/io_thread_metrics.h"
#include "metrics/node_metrics.h"
#include "support/prometheus_text.h"

namespace wsbridge::metrics {
namespace {

using ::wsbridge::testing::PrometheusText;

TEST(SingleWriterTest, CountsAndHistogramBucketsAreExactForOneWriter) {
  SingleWriterCounter counter;
  counter.Add();
  counter.Add(41);
  EXPECT_EQ(counter.value(), 42u);

  static constexpr double kBounds[] = {1, 10};
  SingleWriterHistogram histogram(kBounds);
  for (double v : {0.5, 1.0, 2.0, 10.0, 11.0}) histogram.Observe(v);
  SingleWriterHistogram::Snapshot snapshot;
  snapshot.buckets.assign(3, 0);
  histogram.AddTo(snapshot);
  EXPECT_THAT(snapshot.buckets, ::testing::ElementsAre(2u, 2u, 1u));  // le=1, le=10, +Inf
  EXPECT_DOUBLE_EQ(snapshot.sum, 24.5);
}

TEST(SingleWriterTest, AReaderOnAnotherThreadSeesTheWritersCount) {
  SingleWriterCounter counter;
  std::thread writer([&] {
    for (int i = 0; i < 100000; ++i) counter.Add();
  });
  writer.join();
  EXPECT_EQ(counter.value(), 100000u);
}

TEST(CloseCodeSlotTest, StandardCodesExactlyApplicationRangesGrouped) {
  EXPECT_STREQ(CloseCodeLabel(CloseCodeSlot(1000)), "1000");
  EXPECT_STREQ(CloseCodeLabel(CloseCodeSlot(1013)), "1013");
  EXPECT_STREQ(CloseCodeLabel(CloseCodeSlot(3001)), "3xxx");
  EXPECT_STREQ(CloseCodeLabel(CloseCodeSlot(4999)), "4xxx");
  EXPECT_STREQ(CloseCodeLabel(CloseCodeSlot(2000)), "other");
  EXPECT_STREQ(CloseCodeLabel(CloseCodeSlot(1016)), "other");
}

TEST(CallMetricsTest, UnknownMethodsShareOneLabel) {
  CallMetrics calls({"/a.S/One", "/a.S/Two"});
  EXPECT_EQ(calls.MethodIndex("/a.S/Two"), 1u);
  EXPECT_EQ(calls.MethodIndex("/x.Y/Random"), 2u);
  calls.CountCall(calls.MethodIndex("/x.Y/Random"), 12);
  calls.CountCall(calls.MethodIndex("/x.Y/Other"), 12);
  EXPECT_EQ(calls.calls(2, 12), 2u);
}

TEST(NodeMetricsTest, ExpositionSumsTheThreadsAndNamesEverythingByConvention) {
  NodeMetrics node({.io_threads = 2, .descriptor_limit = 1024, .events_stream_lag_limit = 100},
                   {"/wsbridge.v1.Bridge/Push"}, [] {
                     return NodeGauges{.sessions = 3,
                                       .websocket_refused_total = 2,
                                       .events_stream_max_lag = 7,
                                       .events_streams_ended_for_lag = 1};
                   });
  node.thread(0).sessions_opened.Add(2);
  node.thread(1).sessions_opened.Add(3);
  node.thread(0).CountClose(1001, CloseSide::kServer);
  node.thread(1).CountClose(1001, CloseSide::kServer);
  node.thread(1).CountRejection(401);
  node.thread(0).CountRejection(503);
  node.thread(0).delivery_latency.Observe(0.002);
  node.thread(1).delivery_latency.Observe(20);
  node.calls().CountCall(0, 0);
  node.calls().ObserveFanout(1000);

  auto parsed = PrometheusText::Parse(node.ExpositionText());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const PrometheusText& m = *parsed;
  EXPECT_EQ(m.Value("wsbridge_sessions"), 3);
  EXPECT_EQ(m.Value("wsbridge_io_threads"), 2);
  EXPECT_EQ(m.Value("wsbridge_descriptor_limit"), 1024);
  EXPECT_EQ(m.Value("wsbridge_sessions_opened_total"), 5);
  EXPECT_EQ(m.Value("wsbridge_sessions_closed_total", {{"code", "1001"}, {"initiator", "server"}}),
            2);
  EXPECT_EQ(m.Value("wsbridge_handshake_rejections_total", {{"status", "401"}}), 1);
  // 503s: one from a handshake, two refused over the descriptor budget.
  EXPECT_EQ(m.Value("wsbridge_handshake_rejections_total", {{"status", "503"}}), 3);
  EXPECT_EQ(m.Value("wsbridge_delivery_latency_seconds_bucket", {{"le", "0.0025"}}), 1);
  EXPECT_EQ(m.Value("wsbridge_delivery_latency_seconds_bucket", {{"le", "10"}}), 1);
  EXPECT_EQ(m.Value("wsbridge_delivery_latency_seconds_bucket", {{"le", "+Inf"}}), 2);
  EXPECT_EQ(m.Value("wsbridge_delivery_latency_seconds_count"), 2);
  EXPECT_EQ(m.Value("wsbridge_grpc_calls_total", {{"grpc_service", "wsbridge.v1.Bridge"},
                                                  {"grpc_method", "Push"},
                                                  {"grpc_code", "OK"}}),
            1);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_bucket", {{"le", "500"}}), 0);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_bucket", {{"le", "1000"}}), 1);
  EXPECT_EQ(m.Value("wsbridge_events_stream_max_lag_events"), 7);
  EXPECT_EQ(m.Value("wsbridge_events_streams_ended_for_lag_total"), 1);
  EXPECT_EQ(m.Value("wsbridge_events_stream_lag_limit_events"), 100);
  // Counters end in _total; every name has the prefix.
  for (const char* counter :
       {"wsbridge_sessions_opened_total", "wsbridge_sessions_closed_total",
        "wsbridge_sent_messages_total", "wsbridge_sent_bytes_total", "wsbridge_grpc_calls_total",
        "wsbridge_events_delivered_total", "wsbridge_events_streams_ended_for_lag_total"}) {
    EXPECT_EQ(m.Type(counter), "counter") << counter;
  }
  EXPECT_EQ(m.Type("wsbridge_fanout_sessions"), "histogram");
}

}  // namespace
}  // namespace wsbridge::metrics
