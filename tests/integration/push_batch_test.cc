// PushBatch: a backend service sends many pushes in one call, each with its own targets and
// message. Each push is answered in its place, exactly as a Push would be; an invalid push is
// refused alone; the pushes reach the browsers in item order, as one step of the node order.
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::PushBatchRequest Batch(std::vector<v1::PushRequest> pushes) {
  v1::PushBatchRequest request;
  for (v1::PushRequest& push : pushes) *request.add_pushes() = std::move(push);
  return request;
}

// The texts `browser` receives next, `count` of them (fewer if it stops receiving).
std::vector<std::string> NextTexts(WsClient& browser, size_t count) {
  std::vector<std::string> texts;
  for (size_t i = 0; i < count; ++i) {
    auto message = browser.NextMessage();
    if (!message.has_value()) break;
    texts.push_back(message->data);
  }
  return texts;
}

class PushBatchTest : public ::testing::Test {
 protected:
  grpc::Status PushBatch(const v1::PushBatchRequest& request, v1::PushBatchResponse* response) {
    return bridge_.api().PushBatch(CallContext().get(), request, response);
  }
  TestBridge bridge_;
};

TEST_F(PushBatchTest, EachPushIsAnsweredInItsPlaceWithItsOwnCounts) {
  auto alice1 = bridge_.ConnectUser("alice");
  auto alice2 = bridge_.ConnectUser("alice");
  auto bob = bridge_.ConnectUser("bob");
  ASSERT_TRUE(alice1 && alice2 && bob);

  v1::PushBatchResponse response;
  ASSERT_TRUE(PushBatch(Batch({TextPush({}, {"alice"}, "to alice"),
                               TextPush({bob->session_id(), "ghost"}, {}, "to bob"),
                               TextPush({}, {"nobody"}, "to nobody"),
                               TextPush({alice1->session_id()}, {"bob"}, "to alice1 and bob")}),
                        &response)
                  .ok());

  ASSERT_EQ(response.results_size(), 4);
  for (const v1::PushBatchResult& result : response.results()) {
    EXPECT_EQ(result.error_code(), 0u);
    EXPECT_EQ(result.error_message(), "");
  }
  EXPECT_EQ(response.results(0).response().matched(), 2u);
  EXPECT_EQ(response.results(0).response().queued(), 2u);
  EXPECT_EQ(response.results(1).response().matched(), 1u);
  EXPECT_THAT(response.results(1).response().unknown_session_ids(), ElementsAre("ghost"));
  EXPECT_EQ(response.results(2).response().matched(), 0u);
  EXPECT_EQ(response.results(2).response().queued(), 0u);
  EXPECT_EQ(response.results(3).response().matched(), 2u);
  EXPECT_EQ(response.results(3).response().queued(), 2u);
  EXPECT_EQ(response.results(3).response().dropped(), 0u);

  EXPECT_THAT(NextTexts(*alice1, 2), ElementsAre("to alice", "to alice1 and bob"));
  EXPECT_THAT(NextTexts(*alice2, 1), ElementsAre("to alice"));
  EXPECT_THAT(NextTexts(*bob, 2), ElementsAre("to bob", "to alice1 and bob"));
  EXPECT_FALSE(alice2->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(PushBatchTest, AnInvalidPushIsRefusedInItsResultAndTheOthersStillGo) {
  auto carol = bridge_.ConnectUser("carol");
  ASSERT_TRUE(carol);
  v1::PushRequest no_message;
  no_message.add_user_ids("carol");

  v1::PushBatchResponse response;
  ASSERT_TRUE(PushBatch(Batch({TextPush({}, {"carol"}, "first"), TextPush({}, {"carol", ""}, "x"),
                               no_message, TextPush({}, {"carol"}, "last")}),
                        &response)
                  .ok());

  ASSERT_EQ(response.results_size(), 4);
  EXPECT_EQ(response.results(0).error_code(), 0u);
  EXPECT_EQ(response.results(0).response().queued(), 1u);
  EXPECT_EQ(response.results(1).error_code(),
            static_cast<uint32_t>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(response.results(1).error_message(), "pushes[1].user_ids[1]: empty id");
  EXPECT_FALSE(response.results(1).has_response());
  EXPECT_EQ(response.results(2).error_code(),
            static_cast<uint32_t>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(response.results(2).error_message(), HasSubstr("pushes[2].message: required"));
  EXPECT_EQ(response.results(3).error_code(), 0u);
  EXPECT_EQ(response.results(3).response().queued(), 1u);

  EXPECT_THAT(NextTexts(*carol, 2), ElementsAre("first", "last"));
  EXPECT_FALSE(carol->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(PushBatchTest, AnOversizedMessageIsRefusedAloneNamingTheFlag) {
  auto dave = bridge_.ConnectUser("dave");
  ASSERT_TRUE(dave);
  const uint64_t limit = DefaultTestConfig().session.max_message_bytes;

  v1::PushBatchResponse response;
  ASSERT_TRUE(PushBatch(Batch({TextPush({}, {"dave"}, std::string(limit + 1, 'x')),
                               TextPush({}, {"dave"}, "fits")}),
                        &response)
                  .ok());

  EXPECT_EQ(response.results(0).error_code(),
            static_cast<uint32_t>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(response.results(0).error_message(), HasSubstr("pushes[0].message: "));
  EXPECT_THAT(response.results(0).error_message(), HasSubstr("--max_message_bytes"));
  EXPECT_EQ(response.results(1).response().queued(), 1u);
  EXPECT_THAT(NextTexts(*dave, 1), ElementsAre("fits"));
}

TEST_F(PushBatchTest, AnEmptyBatchFailsTheCall) {
  v1::PushBatchResponse response;
  grpc::Status status = PushBatch(v1::PushBatchRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("pushes: name at least one push"));
}

TEST(PushBatchLimitTest, MoreThanMaxBatchItemsFailsTheCallNamingTheLimitAndNothingIsSent) {
  TestBridge bridge([](Config& config) { config.api.max_batch_items = 3; });
  auto erin = bridge.ConnectUser("erin");
  ASSERT_TRUE(erin);
  std::vector<v1::PushRequest> four(4, TextPush({}, {"erin"}, "x"));

  v1::PushBatchResponse response;
  grpc::Status status = bridge.api().PushBatch(CallContext().get(), Batch(four), &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("over the limit of 3"));
  EXPECT_THAT(status.error_message(), HasSubstr("--max_batch_items"));
  EXPECT_FALSE(erin->NextMessage(absl::Milliseconds(200)).has_value());

  four.pop_back();
  ASSERT_TRUE(bridge.api().PushBatch(CallContext().get(), Batch(four), &response).ok());
  EXPECT_EQ(response.results_size(), 3);
  EXPECT_THAT(NextTexts(*erin, 3), ElementsAre("x", "x", "x"));
}

TEST(PushBatchLimitTest, ABatchOverTheGrpcReceiveLimitIsRefusedByGrpc) {
  // 4 MiB is the receive limit at the default --max_message_bytes (server/bridge_server.cc):
  // five pushes of 1 MiB pass it, whatever --max_batch_items allows.
  TestBridge bridge;
  std::vector<v1::PushRequest> five(5, TextPush({}, {"frank"}, std::string(1 << 20, 'x')));
  v1::PushBatchResponse response;
  grpc::Status status = bridge.api().PushBatch(CallContext().get(), Batch(five), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
}

TEST(PushBatchAdmissionTest, RequiresTheApiKey) {
  TestBridge bridge([](Config& config) { config.api.api_key = "k"; });
  v1::PushBatchResponse response;
  grpc::Status status =
      bridge.api().PushBatch(CallContext().get(), Batch({TextPush({}, {"alice"}, "x")}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(PushBatchAdmissionTest, WhileDrainingTheCallIsUnavailable) {
  TestBridge bridge([](Config& config) { config.session.close_timeout = absl::Seconds(3); });
  // A browser that does not answer the close handshake keeps the drain going for a while.
  auto stubborn = bridge.ConnectUser("stubborn", "", /*start_reading=*/false);
  ASSERT_TRUE(stubborn);
  std::thread drain([&] { bridge.server().Shutdown(absl::Seconds(3)); });
  EXPECT_TRUE(Eventually([&] { return HttpGet(bridge.admin_port(), "/readyz").status == 503u; }));

  v1::PushBatchResponse response;
  grpc::Status status = bridge.api().PushBatch(CallContext().get(),
                                               Batch({TextPush({}, {"stubborn"}, "x")}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("draining"));
  drain.join();
}

TEST(PushBatchOrderTest, TwoBrowsersReceivingInterleavedPushesSeeThemInOneOrder) {
  // Four I/O threads: the two browsers are likely on different ones (3/4).
  TestBridge bridge([](Config& config) { config.listeners.io_threads = 4; });
  auto alice = bridge.ConnectUser("alice");
  auto bob = bridge.ConnectUser("bob");
  ASSERT_TRUE(alice && bob);

  // Push k goes to alice, to bob or to both, by k % 3; several batches back to back.
  constexpr int kBatches = 20, kPerBatch = 30;
  std::vector<std::string> to_alice, to_bob;
  for (int b = 0; b < kBatches; ++b) {
    v1::PushBatchRequest request;
    for (int k = 0; k < kPerBatch; ++k) {
      const std::string text = absl::StrCat(b, ".", k);
      std::vector<std::string> users;
      if (k % 3 != 1) {
        users.push_back("alice");
        to_alice.push_back(text);
      }
      if (k % 3 != 0) {
        users.push_back("bob");
        to_bob.push_back(text);
      }
      *request.add_pushes() = TextPush({}, users, text);
    }
    v1::PushBatchResponse response;
    ASSERT_TRUE(bridge.api().PushBatch(CallContext().get(), request, &response).ok());
    for (int k = 0; k < kPerBatch; ++k) {
      EXPECT_EQ(response.results(k).response().queued(), k % 3 == 2 ? 2u : 1u) << b << "." << k;
    }
  }

  EXPECT_EQ(NextTexts(*alice, to_alice.size()), to_alice);
  EXPECT_EQ(NextTexts(*bob, to_bob.size()), to_bob);
}

TEST(PushBatchOrderTest, ABatchToUsersOnSeveralIoThreadsReachesEachInItemOrder) {
  // Sixteen users on two I/O threads: the chance that the kernel put them all on one thread
  // (SO_REUSEPORT spreads connections) is 2^-15.
  TestBridge bridge([](Config& config) {
    config.listeners.io_threads = 2;
    config.session.send_queue.max_messages = 100000;
  });
  constexpr int kUsers = 16, kRounds = 10;
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (int u = 0; u < kUsers; ++u) {
    browsers.push_back(bridge.ConnectUser(absl::StrCat("user", u)));
    ASSERT_TRUE(browsers.back());
  }

  // One batch: round r holds one push per user, each user's pushes numbered in order.
  v1::PushBatchRequest request;
  for (int r = 0; r < kRounds; ++r) {
    for (int u = 0; u < kUsers; ++u) {
      *request.add_pushes() = TextPush({}, {absl::StrCat("user", u)}, absl::StrCat(u, ":", r));
    }
  }
  v1::PushBatchResponse response;
  ASSERT_TRUE(bridge.api().PushBatch(CallContext().get(), request, &response).ok());
  ASSERT_EQ(response.results_size(), kUsers * kRounds);
  for (const v1::PushBatchResult& result : response.results()) {
    EXPECT_EQ(result.error_code(), 0u);
    EXPECT_EQ(result.response().matched(), 1u);
    EXPECT_EQ(result.response().queued(), 1u);
  }

  for (int u = 0; u < kUsers; ++u) {
    std::vector<std::string> expected;
    for (int r = 0; r < kRounds; ++r) expected.push_back(absl::StrCat(u, ":", r));
    EXPECT_EQ(NextTexts(*browsers[u], kRounds), expected) << "user" << u;
  }
}

TEST(PushBatchMetricsTest, TheCallCountsOnceAndEachTakenPushCountsItsFanout) {
  TestBridge bridge;
  auto alice = bridge.ConnectUser("alice");
  ASSERT_TRUE(alice);
  v1::PushBatchResponse response;
  ASSERT_TRUE(bridge.api()
                  .PushBatch(CallContext().get(),
                             Batch({TextPush({}, {"alice"}, "a"), TextPush({""}, {}, "refused"),
                                    TextPush({}, {"nobody"}, "b")}),
                             &response)
                  .ok());

  PrometheusText m = ScrapeMetrics(bridge.admin_port());
  EXPECT_EQ(m.Value("wsbridge_grpc_calls_total", {{"grpc_service", "wsbridge.v1.Bridge"},
                                                  {"grpc_method", "PushBatch"},
                                                  {"grpc_code", "OK"}}),
            1);
  // Two pushes were taken (fan-out 1 and 0); the refused one never reached the hub.
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_count"), 2);
  EXPECT_EQ(m.Value("wsbridge_fanout_sessions_sum"), 1);
  EXPECT_THAT(NextTexts(*alice, 1), ElementsAre("a"));
}

}  // namespace
}  // namespace wsbridge::testing
