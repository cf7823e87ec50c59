// PushStream: the publisher fast path. Many pushes on one stream, answered in request order,
// delivered in request order, with a clear end for a bad request.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::PushRequest Numbered(const std::string& session_id, int i) {
  v1::PushRequest request;
  request.add_session_ids(session_id);
  request.add_session_ids("missing-" + std::to_string(i));  // echoed back: shows the order
  request.mutable_message()->set_text(std::to_string(i));
  return request;
}

TEST(PushStreamTest, ThousandsOfPushesAnsweredAndDeliveredInRequestOrder) {
  // Room for the whole burst: this test is about order, not about slow consumers.
  TestBridge bridge([](Config& config) { config.session.send_queue.max_messages = 10000; });
  auto browser = bridge.ConnectUser("stream-target");
  ASSERT_TRUE(browser);
  auto context = CallContext();
  auto stream = bridge.api().PushStream(context.get());

  // Written all at once, without waiting for answers: more than the bridge keeps in flight, so
  // its read-side backpressure is exercised too.
  constexpr int kPushes = 5000;
  std::thread writer([&] {
    for (int i = 0; i < kPushes; ++i)
      ASSERT_TRUE(stream->Write(Numbered(browser->session_id(), i)));
    stream->WritesDone();
  });
  v1::PushResponse response;
  int answered = 0;
  while (stream->Read(&response)) {
    ASSERT_EQ(response.matched(), 1u);
    ASSERT_EQ(response.queued(), 1u);
    ASSERT_THAT(response.unknown_session_ids(), ElementsAre("missing-" + std::to_string(answered)));
    ++answered;
  }
  writer.join();
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(answered, kPushes);
  for (int i = 0; i < kPushes; ++i) {
    auto message = browser->NextMessage();
    ASSERT_TRUE(message.has_value()) << i;
    ASSERT_EQ(message->data, std::to_string(i));
  }
}

TEST(PushStreamTest, InvalidRequestEndsTheStreamNamingItsPosition) {
  TestBridge bridge;
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);
  auto context = CallContext();
  auto stream = bridge.api().PushStream(context.get());
  ASSERT_TRUE(stream->Write(Numbered(browser->session_id(), 0)));
  ASSERT_TRUE(stream->Write(Numbered(browser->session_id(), 1)));
  v1::PushRequest bad;
  bad.add_user_ids("");
  bad.mutable_message()->set_text("never");
  stream->Write(bad);
  stream->WritesDone();
  v1::PushResponse response;
  int answered = 0;
  while (stream->Read(&response)) ++answered;
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("request 3: user_ids[0]"));
  EXPECT_EQ(answered, 2);
  EXPECT_EQ(browser->NextMessage()->data, "0");
  EXPECT_EQ(browser->NextMessage()->data, "1");
  EXPECT_FALSE(browser->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST(PushStreamTest, RequiresTheApiKey) {
  TestBridge bridge([](Config& config) { config.api.api_key = "k"; });
  auto context = CallContext();
  auto stream = bridge.api().PushStream(context.get());
  stream->WritesDone();
  v1::PushResponse response;
  while (stream->Read(&response)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(PushStreamTest, EmptyStreamEndsOk) {
  TestBridge bridge;
  auto context = CallContext();
  auto stream = bridge.api().PushStream(context.get());
  stream->WritesDone();
  v1::PushResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace wsbridge::testing
