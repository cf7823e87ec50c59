// Subscribe past --max_topics_per_session: the caller is told which session was refused and why
// (FAILED_PRECONDITION naming the flag and the limit), the refused session keeps its topics, and
// the other sessions of the same call are subscribed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::SubscribeRequest SubscribeSessions(std::vector<std::string> session_ids,
                                       std::vector<std::string> topics) {
  v1::SubscribeRequest request;
  for (auto& id : session_ids) request.add_session_ids(id);
  for (auto& topic : topics) request.add_topics(topic);
  return request;
}

std::vector<std::string> TopicsOf(TestBridge& bridge, const std::string& session_id) {
  v1::GetSessionRequest request;
  request.set_session_id(session_id);
  v1::Session session;
  grpc::Status status = bridge.api().GetSession(CallContext().get(), request, &session);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return {session.topics().begin(), session.topics().end()};
}

class SubscribeLimitTest : public ::testing::Test {
 protected:
  TestBridge bridge_{[](Config& config) { config.admission.max_topics_per_session = 2; }};
};

TEST_F(SubscribeLimitTest, ASessionAtTheLimitIsRefusedByNameAndTheOthersAreSubscribed) {
  auto full = bridge_.ConnectAnonymous("topics=news,lobby");  // at the limit of 2
  auto roomy = bridge_.ConnectAnonymous("topics=news");
  ASSERT_TRUE(full && roomy);

  v1::SubscribeResponse response;
  grpc::Status status = bridge_.api().Subscribe(
      CallContext().get(), SubscribeSessions({full->session_id(), roomy->session_id()}, {"sports"}),
      &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("--max_topics_per_session"));
  EXPECT_THAT(status.error_message(), HasSubstr("limit of 2"));
  EXPECT_THAT(status.error_message(), HasSubstr("session " + full->session_id() + " has 2 topics"));
  EXPECT_THAT(status.error_message(), HasSubstr("1 of 2 selected sessions were refused"));
  EXPECT_THAT(status.error_message(), HasSubstr("1 were subscribed"));
  EXPECT_THAT(TopicsOf(bridge_, full->session_id()), ElementsAre("lobby", "news"));
  EXPECT_THAT(TopicsOf(bridge_, roomy->session_id()), ElementsAre("news", "sports"));

  // What the refusal means to browsers: only the subscribed session hears the new topic.
  v1::BroadcastRequest broadcast;
  broadcast.add_topics("sports");
  broadcast.mutable_message()->set_text("goal");
  v1::BroadcastResponse delivered;
  ASSERT_TRUE(bridge_.api().Broadcast(CallContext().get(), broadcast, &delivered).ok());
  EXPECT_EQ(delivered.matched(), 1u);
  EXPECT_EQ(roomy->NextMessage()->data, "goal");
  EXPECT_FALSE(full->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(SubscribeLimitTest, TopicsTheSessionAlreadyHasDoNotCountAgainstTheLimit) {
  auto full = bridge_.ConnectAnonymous("topics=news,lobby");
  ASSERT_TRUE(full);

  v1::SubscribeResponse response;
  grpc::Status status = bridge_.api().Subscribe(
      CallContext().get(), SubscribeSessions({full->session_id()}, {"news", "lobby", "news"}),
      &response);

  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.sessions(), 1u);
  EXPECT_THAT(TopicsOf(bridge_, full->session_id()), ElementsAre("lobby", "news"));
}

TEST_F(SubscribeLimitTest, OneNewTopicOverTheLimitIsRefusedEvenBesideTopicsItHas) {
  auto full = bridge_.ConnectAnonymous("topics=news,lobby");
  ASSERT_TRUE(full);

  v1::SubscribeResponse response;
  grpc::Status status = bridge_.api().Subscribe(
      CallContext().get(), SubscribeSessions({full->session_id()}, {"news", "sports"}), &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("would have 3, over the limit of 2"));
  EXPECT_THAT(status.error_message(), HasSubstr("0 were subscribed"));
  EXPECT_THAT(TopicsOf(bridge_, full->session_id()), ElementsAre("lobby", "news"));
}

TEST_F(SubscribeLimitTest, UnsubscribingMakesRoomAgain) {
  auto full = bridge_.ConnectAnonymous("topics=news,lobby");
  ASSERT_TRUE(full);
  v1::UnsubscribeRequest leave;
  leave.add_session_ids(full->session_id());
  leave.add_topics("lobby");
  v1::UnsubscribeResponse left;
  ASSERT_TRUE(bridge_.api().Unsubscribe(CallContext().get(), leave, &left).ok());

  v1::SubscribeResponse response;
  grpc::Status status = bridge_.api().Subscribe(
      CallContext().get(), SubscribeSessions({full->session_id()}, {"sports"}), &response);

  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.sessions(), 1u);
  EXPECT_THAT(TopicsOf(bridge_, full->session_id()), ElementsAre("news", "sports"));
}

}  // namespace
}  // namespace wsbridge::testing
