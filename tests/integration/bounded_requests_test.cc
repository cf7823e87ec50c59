// Bounded requests and answers: a call may name at most 10,000 ids, and a PushStream whose caller
// stops reading its answers holds a bounded number of answer bytes (it stops reading further
// requests instead), while another publisher's pushes keep reaching browsers.
#include <atomic>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "api/delivery_stream.h"
#include "api/request_validator.h"
#include "common/names.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

// A stub on a connection of its own, so its flow control is its own too.
std::unique_ptr<v1::Bridge::Stub> OwnChannelStub(TestBridge& bridge) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1::Bridge::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", bridge.grpc_port()), grpc::InsecureChannelCredentials(), args));
}

// A push to `session_id` that also names kMaxIdsPerRequest - 1 sessions that do not exist, so
// its answer echoes them all: about 240 KB of answer for each request.
v1::PushRequest PushWithManyUnknownIds(const std::string& session_id, int i) {
  v1::PushRequest request;
  request.add_session_ids(session_id);
  for (size_t k = 1; k < kMaxIdsPerRequest; ++k) {
    request.add_session_ids(absl::StrCat("no-such-session-", i, "-", k));
  }
  request.mutable_message()->set_text(absl::StrCat("stuck-", i));
  return request;
}

v1::PushRequest PushText(const std::string& session_id, const std::string& text) {
  v1::PushRequest request;
  request.add_session_ids(session_id);
  request.mutable_message()->set_text(text);
  return request;
}

TEST(BoundedRequestsTest, APushNamingMoreThanTenThousandIdsIsRefusedNamingTheLimit) {
  TestBridge bridge;
  v1::PushRequest request = PushText("s", "x");
  for (size_t k = 0; k < kMaxIdsPerRequest; ++k) request.add_user_ids(absl::StrCat("user-", k));
  v1::PushResponse response;
  grpc::Status status = bridge.api().Push(CallContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("session_ids and user_ids: 10001 ids is over the limit of 10000"));
}

TEST(BoundedRequestsTest, TheLargestAllowedPushFitsUnderGrpcsDefaultReceiveLimit) {
  // 10,000 ids of 256 bytes and a 1 MiB message: about 3.6 MB, under the 4 MiB that
  // server/bridge_server.cc lets gRPC receive with the default --max_message_bytes.
  TestBridge bridge;
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);
  v1::PushRequest request = PushText(browser->session_id(), std::string(1 << 20, 'x'));
  for (size_t k = 1; k < kMaxIdsPerRequest; ++k) {
    std::string id = absl::StrCat("unknown-", k, "-");
    id.resize(kMaxIdBytes, 'i');
    request.add_session_ids(std::move(id));
  }
  v1::PushResponse response;
  grpc::Status status = bridge.api().Push(CallContext().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.queued(), 1u);
  EXPECT_EQ(static_cast<size_t>(response.unknown_session_ids_size()), kMaxIdsPerRequest - 1);
  EXPECT_EQ(browser->NextMessage()->data.size(), size_t{1} << 20);
}

TEST(BoundedRequestsTest, AStreamedRequestOverTheIdLimitEndsTheStreamNamingItsPosition) {
  TestBridge bridge;
  auto context = CallContext();
  auto stream = bridge.api().PushStream(context.get());
  v1::PushRequest request = PushText("s", "x");
  for (size_t k = 0; k < kMaxIdsPerRequest; ++k) request.add_session_ids(absl::StrCat("s-", k));
  stream->Write(request);
  stream->WritesDone();
  v1::PushResponse response;
  while (stream->Read(&response)) {
  }
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("request 1: session_ids and user_ids: 10001 ids"));
}

TEST(BoundedRequestsTest, ABroadcastNamingMoreThanAThousandTopicsIsRefusedNamingTheLimit) {
  TestBridge bridge;
  v1::BroadcastRequest request;
  for (size_t k = 0; k <= kMaxTopicsPerRequest; ++k) request.add_topics(absl::StrCat("t-", k));
  request.mutable_message()->set_text("x");
  v1::BroadcastResponse response;
  grpc::Status status = bridge.api().Broadcast(CallContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("topics: 1001 topics is over the limit of 1000"));
}

TEST(BoundedRequestsTest, AStreamWhoseCallerNeverReadsHoldsBoundedAnswersAndStallsNoOne) {
  // Room for every message the stuck stream may deliver: this test is not about slow browsers.
  TestBridge bridge([](Config& config) { config.session.send_queue.max_bytes = 64 << 20; });
  auto target = bridge.ConnectUser("target");
  auto other = bridge.ConnectUser("other");
  ASSERT_TRUE(target && other);
  const DeliveryStreamGauge& gauge = bridge.server().api_service().delivery_streams();

  // A publisher that writes big-answer pushes and never reads an answer. Unbounded, the bridge
  // would read all of them and hold every answer (about 48 MB).
  auto stuck_stub = OwnChannelStub(bridge);
  grpc::ClientContext stuck_context;  // no deadline: cancelled at the end of the test
  auto stuck = stuck_stub->PushStream(&stuck_context);
  constexpr int kStuckRequests = 200;
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kStuckRequests; ++i) {
      if (!stuck->Write(PushWithManyUnknownIds(target->session_id(), i))) return;
      ++written;
    }
  });

  // The bridge fills the stream's answer budget, then stops reading its requests.
  EXPECT_TRUE(Eventually(
      [&] {
        return gauge.largest_stream_answer_bytes() >= PushStreamReactor::kMaxPendingAnswerBytes;
      },
      absl::Seconds(30)))
      << "largest: " << gauge.largest_stream_answer_bytes();

  // Another publisher, unary and streamed, is not held up: its pushes reach the other browser.
  for (int i = 0; i < 20; ++i) {
    v1::PushResponse response;
    grpc::Status status =
        bridge.api().Push(CallContext().get(), PushText(other->session_id(), "unary"), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.queued(), 1u);
    auto message = other->NextMessage();
    ASSERT_TRUE(message.has_value()) << i;
    EXPECT_EQ(message->data, "unary");
  }
  {
    auto context = CallContext();
    auto stream = bridge.api().PushStream(context.get());
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(stream->Write(PushText(other->session_id(), "streamed")));
    stream->WritesDone();
    v1::PushResponse response;
    int answered = 0;
    while (stream->Read(&response)) ++answered;
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(answered, 20);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(other->NextMessage()->data, "streamed") << i;
  }

  // The stuck stream's accepted requests were delivered, in order.
  for (int i = 0; i < 4; ++i) {
    auto message = target->NextMessage();
    ASSERT_TRUE(message.has_value()) << i;
    EXPECT_EQ(message->data, absl::StrCat("stuck-", i));
  }

  // Bounded: the budget plus the one answer that crossed it, far from the 48 MB unbounded.
  const uint64_t one_answer =
      PushWithManyUnknownIds(target->session_id(), kStuckRequests).session_ids_size() * (3 + 32) +
      18;
  EXPECT_LE(gauge.largest_stream_answer_bytes(),
            PushStreamReactor::kMaxPendingAnswerBytes + one_answer);
  EXPECT_LT(written.load(), kStuckRequests) << "the publisher was never pushed back";

  // When the caller goes away, what the stream held is released.
  stuck_context.TryCancel();
  writer.join();
  v1::PushResponse ignored;
  while (stuck->Read(&ignored)) {
  }
  EXPECT_EQ(stuck->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] { return gauge.pending_answer_bytes() == 0; }))
      << gauge.pending_answer_bytes();
}

}  // namespace
}  // namespace wsbridge::testing
