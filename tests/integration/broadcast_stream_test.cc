// BroadcastStream: the ordered publisher fast path for topics. Many broadcasts on one stream,
// answered in request order and delivered to every subscriber in request order, with a clear end
// for a bad request.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

v1::BroadcastRequest Numbered(const std::string& topic, int i) {
  v1::BroadcastRequest request;
  request.add_topics(topic);
  request.mutable_message()->set_text(std::to_string(i));
  return request;
}

TEST(BroadcastStreamTest, ThousandsOfBroadcastsReachEverySubscriberInRequestOrder) {
  // Room for the whole burst: this test is about order, not about slow consumers.
  TestBridge bridge([](Config& config) { config.session.send_queue.max_messages = 10000; });
  auto first = bridge.ConnectAnonymous("topics=news");
  auto second = bridge.ConnectUser("ann", "topics=news,lobby");
  auto outsider = bridge.ConnectUser("bea", "topics=lobby");
  ASSERT_TRUE(first && second && outsider);
  auto context = CallContext();
  auto stream = bridge.api().BroadcastStream(context.get());

  // Written all at once, without waiting for answers: more than the bridge keeps in flight.
  constexpr int kBroadcasts = 3000;
  std::thread writer([&] {
    for (int i = 0; i < kBroadcasts; ++i) ASSERT_TRUE(stream->Write(Numbered("news", i)));
    stream->WritesDone();
  });
  v1::BroadcastResponse response;
  int answered = 0;
  while (stream->Read(&response)) {
    ASSERT_EQ(response.matched(), 2u) << answered;
    ASSERT_EQ(response.queued(), 2u) << answered;
    ++answered;
  }
  writer.join();
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(answered, kBroadcasts);
  for (WsClient* browser : {first.get(), second.get()}) {
    for (int i = 0; i < kBroadcasts; ++i) {
      auto message = browser->NextMessage();
      ASSERT_TRUE(message.has_value()) << i;
      ASSERT_EQ(message->data, std::to_string(i));
    }
  }
  EXPECT_FALSE(outsider->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST(BroadcastStreamTest, InvalidRequestEndsTheStreamNamingItsPosition) {
  TestBridge bridge;
  auto browser = bridge.ConnectAnonymous("topics=news");
  ASSERT_TRUE(browser);
  auto context = CallContext();
  auto stream = bridge.api().BroadcastStream(context.get());
  ASSERT_TRUE(stream->Write(Numbered("news", 0)));
  ASSERT_TRUE(stream->Write(Numbered("news", 1)));
  v1::BroadcastRequest no_audience;  // neither topics nor all_sessions
  no_audience.mutable_message()->set_text("never");
  stream->Write(no_audience);
  stream->WritesDone();
  v1::BroadcastResponse response;
  int answered = 0;
  while (stream->Read(&response)) ++answered;
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("request 3: "));
  EXPECT_EQ(answered, 2);
  EXPECT_EQ(browser->NextMessage()->data, "0");
  EXPECT_EQ(browser->NextMessage()->data, "1");
  EXPECT_FALSE(browser->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST(BroadcastStreamTest, RequiresTheApiKey) {
  TestBridge bridge([](Config& config) { config.api.api_key = "k"; });
  auto context = CallContext();
  auto stream = bridge.api().BroadcastStream(context.get());
  stream->WritesDone();
  v1::BroadcastResponse response;
  while (stream->Read(&response)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace wsbridge::testing
