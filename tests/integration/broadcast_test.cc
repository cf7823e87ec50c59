// Broadcast, Subscribe and Unsubscribe: topics as a backend service uses them, and what happens
// to a browser that stops reading (slow consumer) while everyone else keeps receiving.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

v1::BroadcastRequest ToTopics(std::vector<std::string> topics, const std::string& text) {
  v1::BroadcastRequest request;
  for (auto& topic : topics) request.add_topics(topic);
  request.mutable_message()->set_text(text);
  return request;
}

class BroadcastTest : public ::testing::Test {
 protected:
  v1::BroadcastResponse Broadcast(const v1::BroadcastRequest& request) {
    v1::BroadcastResponse response;
    grpc::Status status = bridge_.api().Broadcast(CallContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  uint32_t Subscribe(std::vector<std::string> session_ids, std::vector<std::string> user_ids,
                     std::vector<std::string> topics) {
    v1::SubscribeRequest request;
    for (auto& id : session_ids) request.add_session_ids(id);
    for (auto& id : user_ids) request.add_user_ids(id);
    for (auto& topic : topics) request.add_topics(topic);
    v1::SubscribeResponse response;
    grpc::Status status = bridge_.api().Subscribe(CallContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.sessions();
  }
  TestBridge bridge_;
};

TEST_F(BroadcastTest, TopicBroadcastReachesSubscribersOnly) {
  auto reader1 = bridge_.ConnectAnonymous("topics=news");
  auto reader2 = bridge_.ConnectUser("ann", "topics=news,lobby");
  auto outsider = bridge_.ConnectUser("bea", "topics=lobby");
  ASSERT_TRUE(reader1 && reader2 && outsider);

  auto response = Broadcast(ToTopics({"news"}, "headline"));

  EXPECT_EQ(response.matched(), 2u);
  EXPECT_EQ(response.queued(), 2u);
  EXPECT_EQ(reader1->NextMessage()->data, "headline");
  EXPECT_EQ(reader2->NextMessage()->data, "headline");
  EXPECT_FALSE(outsider->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(BroadcastTest, SessionInSeveralNamedTopicsGetsTheMessageOnce) {
  auto both = bridge_.ConnectAnonymous("topics=news,lobby");
  ASSERT_TRUE(both);
  auto response = Broadcast(ToTopics({"news", "lobby"}, "once"));
  EXPECT_EQ(response.matched(), 1u);
  EXPECT_EQ(both->NextMessage()->data, "once");
  EXPECT_FALSE(both->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(BroadcastTest, AllSessionsMinusExcludedOnes) {
  auto sender = bridge_.ConnectUser("cy");
  auto a = bridge_.ConnectAnonymous();
  auto b = bridge_.ConnectUser("dee", "topics=lobby");
  ASSERT_TRUE(sender && a && b);

  v1::BroadcastRequest request;
  request.set_all_sessions(true);
  request.add_exclude_session_ids(sender->session_id());
  request.mutable_message()->set_binary(std::string("\x01\x02", 2));
  auto response = Broadcast(request);

  EXPECT_EQ(response.matched(), 2u);
  auto to_a = a->NextMessage();
  ASSERT_TRUE(to_a.has_value());
  EXPECT_TRUE(to_a->binary);
  EXPECT_EQ(to_a->data, std::string("\x01\x02", 2));
  EXPECT_TRUE(b->NextMessage().has_value());
  EXPECT_FALSE(sender->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(BroadcastTest, TopicWithNoSubscribersMatchesNothing) {
  auto response = Broadcast(ToTopics({"empty-topic"}, "into the void"));
  EXPECT_EQ(response.matched(), 0u);
  EXPECT_EQ(response.queued(), 0u);
}

TEST_F(BroadcastTest, SubscribeBySessionAndByUserThenUnsubscribe) {
  auto by_id = bridge_.ConnectAnonymous();
  auto user_tab1 = bridge_.ConnectUser("eve");
  auto user_tab2 = bridge_.ConnectUser("eve");
  ASSERT_TRUE(by_id && user_tab1 && user_tab2);

  EXPECT_EQ(Subscribe({by_id->session_id()}, {"eve"}, {"private-room"}), 3u);
  auto response = Broadcast(ToTopics({"private-room"}, "welcome"));
  EXPECT_EQ(response.matched(), 3u);
  EXPECT_EQ(by_id->NextMessage()->data, "welcome");
  EXPECT_EQ(user_tab1->NextMessage()->data, "welcome");
  EXPECT_EQ(user_tab2->NextMessage()->data, "welcome");

  v1::UnsubscribeRequest unsubscribe;
  unsubscribe.add_user_ids("eve");
  unsubscribe.add_topics("private-room");
  v1::UnsubscribeResponse unsubscribed;
  ASSERT_TRUE(bridge_.api().Unsubscribe(CallContext().get(), unsubscribe, &unsubscribed).ok());
  EXPECT_EQ(unsubscribed.sessions(), 2u);

  response = Broadcast(ToTopics({"private-room"}, "only the anonymous one"));
  EXPECT_EQ(response.matched(), 1u);
  EXPECT_EQ(by_id->NextMessage()->data, "only the anonymous one");
  EXPECT_FALSE(user_tab1->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(BroadcastTest, SubscribeToUnknownTargetsCountsNothing) {
  EXPECT_EQ(Subscribe({"nope"}, {"nobody"}, {"t"}), 0u);
}

TEST_F(BroadcastTest, InvalidRequestsNameTheField) {
  v1::BroadcastResponse response;
  v1::BroadcastRequest neither;
  neither.mutable_message()->set_text("x");
  grpc::Status status = bridge_.api().Broadcast(CallContext().get(), neither, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("topics or all_sessions"));

  v1::BroadcastRequest both = ToTopics({"news"}, "x");
  both.set_all_sessions(true);
  status = bridge_.api().Broadcast(CallContext().get(), both, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("topics and all_sessions"));

  status = bridge_.api().Broadcast(CallContext().get(), ToTopics({"news", ""}, "x"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("topics[1]"));

  v1::SubscribeRequest no_topics;
  no_topics.add_user_ids("u");
  v1::SubscribeResponse subscribed;
  status = bridge_.api().Subscribe(CallContext().get(), no_topics, &subscribed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("topics"));
}

class SlowConsumerTest : public ::testing::Test {
 protected:
  TestBridge bridge_{[](Config& config) {
    config.session.send_queue.max_bytes = 256 * 1024;
    config.session.send_queue.max_messages = 1024;
  }};
};

TEST_F(SlowConsumerTest, BrowserThatStopsReadingIsClosedWith1013WhileOthersKeepReceiving) {
  auto healthy = bridge_.ConnectUser("healthy", "topics=news");
  auto stalled = bridge_.ConnectUser("stalled", "topics=news", /*start_reading=*/false);
  ASSERT_TRUE(healthy && stalled);

  // Broadcast until the stalled browser's socket buffers and send queue are full.
  const std::string chunk(32 * 1024, 'z');
  int sent = 0;
  bool dropped = false;
  for (; sent < 5000 && !dropped; ++sent) {
    v1::BroadcastResponse response;
    auto request = ToTopics({"news"}, chunk + std::to_string(sent));
    ASSERT_TRUE(bridge_.api().Broadcast(CallContext().get(), request, &response).ok());
    ASSERT_EQ(response.matched(), 2u);
    dropped = response.dropped() == 1;
    if (!dropped) {
      ASSERT_EQ(response.queued(), 2u);
    }
  }
  ASSERT_TRUE(dropped) << "the stalled browser never filled its queue";

  // The stalled browser reads again: it finds what made it out, then a 1013 close.
  stalled->StartReading();
  auto close = stalled->WaitClosed(absl::Seconds(10));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1013);
  EXPECT_EQ(close->reason, "slow consumer");

  // The healthy browser got every message, in order.
  for (int i = 0; i < sent; ++i) {
    auto message = healthy->NextMessage();
    ASSERT_TRUE(message.has_value()) << "healthy browser missed message " << i;
    ASSERT_EQ(message->data, chunk + std::to_string(i));
  }
  // And it keeps receiving after the stalled one is gone (the bridge ends the session once
  // the close handshake completes, a moment after the browser saw the close frame).
  ASSERT_TRUE(Eventually([&] {
    v1::ListSessionsRequest request;
    request.set_user_id("stalled");
    v1::ListSessionsResponse response;
    return bridge_.api().ListSessions(CallContext().get(), request, &response).ok() &&
           response.sessions().empty();
  }));
  v1::BroadcastResponse after;
  ASSERT_TRUE(
      bridge_.api().Broadcast(CallContext().get(), ToTopics({"news"}, "after"), &after).ok());
  EXPECT_EQ(after.matched(), 1u);
  auto message = healthy->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data, "after");
}

}  // namespace
}  // namespace wsbridge::testing
