// Push: a backend service sends to sessions by id and to every session of a user; each browser
// receives exactly the pushed bytes, in order, once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

class PushTest : public ::testing::Test {
 protected:
  grpc::Status Push(const v1::PushRequest& request, v1::PushResponse* response) {
    return bridge_.api().Push(CallContext().get(), request, response);
  }
  TestBridge bridge_;
};

TEST_F(PushTest, PushToSessionIdDeliversExactlyTheTextToThatBrowserOnly) {
  auto alice = bridge_.ConnectUser("alice");
  auto bob = bridge_.ConnectUser("bob");
  ASSERT_TRUE(alice && bob);

  v1::PushResponse response;
  ASSERT_TRUE(Push(TextPush({alice->session_id()}, {}, "hello alice"), &response).ok());

  EXPECT_EQ(response.matched(), 1u);
  EXPECT_EQ(response.queued(), 1u);
  EXPECT_EQ(response.dropped(), 0u);
  EXPECT_TRUE(response.unknown_session_ids().empty());
  auto message = alice->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_FALSE(message->binary);
  EXPECT_EQ(message->data, "hello alice");
  EXPECT_FALSE(bob->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(PushTest, PushToUserReachesEverySessionOfThatUser) {
  auto tab1 = bridge_.ConnectUser("carol");
  auto tab2 = bridge_.ConnectUser("carol");
  auto other = bridge_.ConnectUser("dave");
  ASSERT_TRUE(tab1 && tab2 && other);

  v1::PushResponse response;
  ASSERT_TRUE(Push(TextPush({}, {"carol"}, "to all of carol's tabs"), &response).ok());

  EXPECT_EQ(response.matched(), 2u);
  EXPECT_EQ(response.queued(), 2u);
  EXPECT_EQ(tab1->NextMessage()->data, "to all of carol's tabs");
  EXPECT_EQ(tab2->NextMessage()->data, "to all of carol's tabs");
  EXPECT_FALSE(other->NextMessage(absl::Milliseconds(200)).has_value());
}

TEST_F(PushTest, BinaryStaysBinaryAndTextStaysText) {
  auto browser = bridge_.ConnectUser("erin");
  ASSERT_TRUE(browser);
  const std::string bytes("\x00\xff\x01binary\x80", 10);

  v1::PushRequest binary;
  binary.add_session_ids(browser->session_id());
  binary.mutable_message()->set_binary(bytes);
  v1::PushResponse response;
  ASSERT_TRUE(Push(binary, &response).ok());
  ASSERT_TRUE(Push(TextPush({browser->session_id()}, {}, "héllo ✓"), &response).ok());

  auto first = browser->NextMessage();
  auto second = browser->NextMessage();
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->binary);
  EXPECT_EQ(first->data, bytes);
  EXPECT_FALSE(second->binary);
  EXPECT_EQ(second->data, "héllo ✓");
}

TEST_F(PushTest, EmptyTextIsDeliveredAsAnEmptyTextFrame) {
  auto browser = bridge_.ConnectUser("fay");
  ASSERT_TRUE(browser);
  v1::PushResponse response;
  ASSERT_TRUE(Push(TextPush({browser->session_id()}, {}, ""), &response).ok());
  auto message = browser->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_FALSE(message->binary);
  EXPECT_EQ(message->data, "");
}

TEST_F(PushTest, ThousandSequentialPushesArriveInOrder) {
  auto browser = bridge_.ConnectUser("gina");
  ASSERT_TRUE(browser);
  constexpr int kPushes = 1000;
  for (int i = 0; i < kPushes; ++i) {
    v1::PushResponse response;
    // Alternate between addressing by session and by user: both paths keep the order.
    auto request = i % 2 == 0 ? TextPush({browser->session_id()}, {}, std::to_string(i))
                              : TextPush({}, {"gina"}, std::to_string(i));
    ASSERT_TRUE(Push(request, &response).ok());
    ASSERT_EQ(response.queued(), 1u);
  }
  for (int i = 0; i < kPushes; ++i) {
    auto message = browser->NextMessage();
    ASSERT_TRUE(message.has_value()) << "message " << i << " missing";
    ASSERT_EQ(message->data, std::to_string(i));
  }
}

TEST_F(PushTest, SessionNamedAndReachedThroughItsUserIsCountedAndDeliveredOnce) {
  auto browser = bridge_.ConnectUser("hank");
  auto second_tab = bridge_.ConnectUser("hank");
  ASSERT_TRUE(browser && second_tab);

  v1::PushResponse response;
  ASSERT_TRUE(
      Push(TextPush({browser->session_id(), browser->session_id()}, {"hank", "hank"}, "once"),
           &response)
          .ok());

  EXPECT_EQ(response.matched(), 2u);
  EXPECT_EQ(response.queued(), 2u);
  EXPECT_EQ(browser->NextMessage()->data, "once");
  EXPECT_EQ(second_tab->NextMessage()->data, "once");
  EXPECT_FALSE(browser->NextMessage(absl::Milliseconds(200)).has_value());
  EXPECT_FALSE(second_tab->NextMessage(absl::Milliseconds(50)).has_value());
}

TEST_F(PushTest, UnknownSessionIdsAreReportedAndTheKnownOnesStillDelivered) {
  auto browser = bridge_.ConnectUser("ivy");
  ASSERT_TRUE(browser);

  v1::PushResponse response;
  ASSERT_TRUE(
      Push(TextPush({"no-such-session", browser->session_id(), "gone-too"}, {"nobody"}, "hi"),
           &response)
          .ok());

  EXPECT_EQ(response.matched(), 1u);
  EXPECT_THAT(response.unknown_session_ids(), ElementsAre("no-such-session", "gone-too"));
  EXPECT_EQ(browser->NextMessage()->data, "hi");
}

TEST_F(PushTest, ClosedSessionBecomesUnknown) {
  auto browser = bridge_.ConnectUser("jack");
  ASSERT_TRUE(browser);
  const std::string id = browser->session_id();
  browser->Close(1000, "bye");
  ASSERT_TRUE(browser->WaitClosed().has_value());

  ASSERT_TRUE(Eventually([&] {
    v1::PushResponse response;
    return Push(TextPush({id}, {}, "too late"), &response).ok() && response.matched() == 0 &&
           response.unknown_session_ids_size() == 1;
  }));
}

TEST_F(PushTest, InvalidRequestsAreRejectedNamingTheField) {
  v1::PushResponse response;
  grpc::Status no_target = Push(TextPush({}, {}, "x"), &response);
  EXPECT_EQ(no_target.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(no_target.error_message(), HasSubstr("session_ids or user_ids"));

  v1::PushRequest no_message;
  no_message.add_user_ids("u");
  grpc::Status missing = Push(no_message, &response);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(missing.error_message(), HasSubstr("message"));

  grpc::Status empty_id = Push(TextPush({"s1", ""}, {}, "x"), &response);
  EXPECT_EQ(empty_id.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(empty_id.error_message(), HasSubstr("session_ids[1]"));

  grpc::Status empty_user = Push(TextPush({}, {""}, "x"), &response);
  EXPECT_EQ(empty_user.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(empty_user.error_message(), HasSubstr("user_ids[0]"));
}

TEST_F(PushTest, OversizedMessageIsRejectedAndTheBridgeKeepsServing) {
  auto browser = bridge_.ConnectUser("kim");
  ASSERT_TRUE(browser);
  v1::PushResponse response;
  grpc::Status too_big =
      Push(TextPush({browser->session_id()}, {}, std::string((1 << 20) + 1, 'x')), &response);
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_big.error_message(), HasSubstr("message: 1048577 bytes"));

  const std::string exactly_max(1 << 20, 'y');
  ASSERT_TRUE(Push(TextPush({browser->session_id()}, {}, exactly_max), &response).ok());
  auto message = browser->NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data.size(), exactly_max.size());
}

}  // namespace
}  // namespace wsbridge::testing
