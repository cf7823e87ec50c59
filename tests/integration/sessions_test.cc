// GetSession, ListSessions and Disconnect: what a backend service sees of the browsers, and how
// it ends their sessions.
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

class SessionsTest : public ::testing::Test {
 protected:
  std::vector<v1::Session> ListAll(const std::string& user_id, const std::string& topic,
                                   int page_size, int* pages) {
    std::vector<v1::Session> all;
    std::string token;
    *pages = 0;
    do {
      v1::ListSessionsRequest request;
      request.set_user_id(user_id);
      request.set_topic(topic);
      request.set_page_size(page_size);
      request.set_page_token(token);
      v1::ListSessionsResponse response;
      grpc::Status status = bridge_.api().ListSessions(CallContext().get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      ++*pages;
      EXPECT_LE(response.sessions_size(), page_size);
      all.insert(all.end(), response.sessions().begin(), response.sessions().end());
      token = response.next_page_token();
    } while (!token.empty() && *pages < 100);
    return all;
  }

  TestBridge bridge_;
};

TEST_F(SessionsTest, GetSessionDescribesTheBrowser) {
  const absl::Time before = absl::Now() - absl::Seconds(1);
  TokenSpec spec;
  spec.user_id = "frank";
  spec.topics = {"orders"};
  spec.meta = {{"plan", "pro"}, {"locale", "de"}};
  auto browser = WsClient::Connect(bridge_.ws_port(), "/ws?topics=news&token=" + MakeToken(spec));
  ASSERT_TRUE(browser);
  v1::PushRequest push;
  push.add_session_ids(browser->session_id());
  push.mutable_message()->set_text("12345");
  v1::PushResponse pushed;
  ASSERT_TRUE(bridge_.api().Push(CallContext().get(), push, &pushed).ok());
  ASSERT_TRUE(browser->NextMessage().has_value());
  browser->SendText("from the browser");

  v1::GetSessionRequest request;
  request.set_session_id(browser->session_id());
  v1::Session session;
  ASSERT_TRUE(Eventually([&] {
    session.Clear();
    return bridge_.api().GetSession(CallContext().get(), request, &session).ok() &&
           session.stats().messages_received() == 1;
  }));

  EXPECT_EQ(session.session_id(), browser->session_id());
  EXPECT_EQ(session.user_id(), "frank");
  EXPECT_THAT(session.topics(), ElementsAre("news", "orders"));
  EXPECT_THAT(session.metadata(), UnorderedElementsAre(Pair("plan", "pro"), Pair("locale", "de")));
  EXPECT_THAT(session.remote_address(), StartsWith("127.0.0.1:"));
  const absl::Time connected = absl::FromUnixNanos(
      google::protobuf::util::TimeUtil::TimestampToNanoseconds(session.connected_at()));
  EXPECT_GE(connected, before);
  EXPECT_LE(connected, absl::Now());
  EXPECT_EQ(session.stats().messages_sent(), 1u);
  EXPECT_EQ(session.stats().bytes_sent(), 5u);
  EXPECT_EQ(session.stats().messages_received(), 1u);
  EXPECT_EQ(session.stats().bytes_received(), 16u);
  EXPECT_EQ(session.stats().queued_messages(), 0u);
  EXPECT_EQ(session.stats().queued_bytes(), 0u);
}

TEST_F(SessionsTest, GetSessionOfUnknownIdIsNotFoundAndEmptyIdInvalid) {
  v1::GetSessionRequest request;
  request.set_session_id("does-not-exist");
  v1::Session session;
  grpc::Status status = bridge_.api().GetSession(CallContext().get(), request, &session);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("does-not-exist"));

  request.set_session_id("");
  status = bridge_.api().GetSession(CallContext().get(), request, &session);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("session_id"));
}

TEST_F(SessionsTest, ListSessionsPagesThroughAUsersSessionsInIdOrderWithoutGapsOrRepeats) {
  std::vector<std::unique_ptr<WsClient>> browsers;
  std::set<std::string> expected;
  for (int i = 0; i < 23; ++i) {
    browsers.push_back(bridge_.ConnectUser("paged-user"));
    ASSERT_TRUE(browsers.back());
    expected.insert(browsers.back()->session_id());
  }
  for (int i = 0; i < 5; ++i) browsers.push_back(bridge_.ConnectUser("someone-else"));

  int pages = 0;
  auto listed = ListAll("paged-user", "", 5, &pages);

  EXPECT_EQ(pages, 5);
  ASSERT_EQ(listed.size(), 23u);
  std::set<std::string> seen;
  for (size_t i = 0; i < listed.size(); ++i) {
    EXPECT_EQ(listed[i].user_id(), "paged-user");
    if (i > 0) {
      EXPECT_LT(listed[i - 1].session_id(), listed[i].session_id());
    }
    seen.insert(listed[i].session_id());
  }
  EXPECT_EQ(seen, expected);
}

TEST_F(SessionsTest, ListSessionsByTopicAndAll) {
  std::vector<std::unique_ptr<WsClient>> browsers;
  for (int i = 0; i < 7; ++i) browsers.push_back(bridge_.ConnectAnonymous("topics=lobby"));
  for (int i = 0; i < 4; ++i) browsers.push_back(bridge_.ConnectAnonymous("topics=news"));
  browsers.push_back(bridge_.ConnectUser("lobby-user", "topics=lobby,news"));

  int pages = 0;
  auto lobby = ListAll("", "lobby", 3, &pages);
  EXPECT_EQ(lobby.size(), 8u);
  EXPECT_EQ(pages, 3);
  for (const auto& session : lobby) EXPECT_THAT(session.topics(), ::testing::Contains("lobby"));

  auto everyone = ListAll("", "", 1000, &pages);
  EXPECT_EQ(everyone.size(), 12u);
  EXPECT_EQ(pages, 1);

  auto both = ListAll("lobby-user", "news", 10, &pages);
  ASSERT_EQ(both.size(), 1u);
  EXPECT_EQ(both[0].user_id(), "lobby-user");
}

TEST_F(SessionsTest, ListSessionsRejectsBadPageTokenAndNegativeSize) {
  v1::ListSessionsRequest request;
  request.set_page_token("not-a-token!");
  v1::ListSessionsResponse response;
  grpc::Status status = bridge_.api().ListSessions(CallContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_token"));

  request.Clear();
  request.set_page_size(-1);
  status = bridge_.api().ListSessions(CallContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_size"));
}

TEST_F(SessionsTest, DisconnectClosesWithTheGivenCodeAndReasonAfterQueuedMessages) {
  auto browser = bridge_.ConnectUser("gus");
  auto bystander = bridge_.ConnectUser("hal");
  ASSERT_TRUE(browser && bystander);
  v1::PushRequest push;
  push.add_user_ids("gus");
  push.mutable_message()->set_text("last words");
  v1::PushResponse pushed;
  ASSERT_TRUE(bridge_.api().Push(CallContext().get(), push, &pushed).ok());

  v1::DisconnectRequest request;
  request.add_user_ids("gus");
  request.set_code(4001);
  request.set_reason("account suspended");
  v1::DisconnectResponse response;
  ASSERT_TRUE(bridge_.api().Disconnect(CallContext().get(), request, &response).ok());
  EXPECT_EQ(response.sessions(), 1u);

  auto message = browser->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data, "last words");
  auto close = browser->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 4001);
  EXPECT_EQ(close->reason, "account suspended");

  // Gone from every listing; the bystander is untouched.
  int pages = 0;
  EXPECT_TRUE(Eventually([&] { return ListAll("gus", "", 10, &pages).empty(); }));
  EXPECT_FALSE(bystander->WaitClosed(absl::Milliseconds(100)).has_value());
}

TEST_F(SessionsTest, DisconnectDefaultsTo1000) {
  auto browser = bridge_.ConnectAnonymous();
  ASSERT_TRUE(browser);
  v1::DisconnectRequest request;
  request.add_session_ids(browser->session_id());
  v1::DisconnectResponse response;
  ASSERT_TRUE(bridge_.api().Disconnect(CallContext().get(), request, &response).ok());
  EXPECT_EQ(response.sessions(), 1u);
  auto close = browser->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1000);
}

TEST_F(SessionsTest, DisconnectRejectsBadCodesAndLongReasons) {
  v1::DisconnectResponse response;
  for (uint32_t code : {999u, 1001u, 1011u, 2999u, 5000u}) {
    v1::DisconnectRequest request;
    request.add_user_ids("x");
    request.set_code(code);
    grpc::Status status = bridge_.api().Disconnect(CallContext().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << code;
    EXPECT_THAT(status.error_message(), HasSubstr("code")) << code;
  }
  v1::DisconnectRequest request;
  request.add_user_ids("x");
  request.set_reason(std::string(124, 'r'));
  grpc::Status status = bridge_.api().Disconnect(CallContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("reason"));
}

}  // namespace
}  // namespace wsbridge::testing
