// EventPublisher: what an Events stream receives for each report of a session. Each test makes
// one report through the publisher into a real EventBus and reads the one wsbridge.v1.Event a
// subscriber gets.
#include "events/event_publisher.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "events/event_bus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class EventPublisherTest : public ::testing::Test {
 protected:
  EventPublisherTest() : bus_(EventOptions(), "node-a", /*first_sequence=*/1), publisher_(bus_) {
    auto subscription = bus_.Subscribe({}, [] {});
    EXPECT_TRUE(subscription.ok());
    subscription_ = *subscription;
  }

  // The next event the subscriber gets; fails the test when there is none.
  v1::Event Next() {
    EventBus::Pulled pulled = bus_.Pull(*subscription_);
    EXPECT_EQ(pulled.outcome, EventBus::PullOutcome::kEvent);
    return pulled.event ? *pulled.event : v1::Event();
  }

  static constexpr SessionIdentity kAlice{"s1", "alice"};

  EventBus bus_;
  EventPublisher publisher_;
  std::shared_ptr<EventBus::Subscription> subscription_;
};

TEST_F(EventPublisherTest, OpenedCarriesTheSessionItsAddressTopicsAndMetadata) {
  const std::vector<std::string> topics = {"news", "sports"};
  publisher_.Opened(kAlice, "198.51.100.7:40000", topics, {{"plan", "pro"}});

  const v1::Event event = Next();
  EXPECT_EQ(event.session_id(), "s1");
  EXPECT_EQ(event.user_id(), "alice");
  EXPECT_EQ(event.node_id(), "node-a");
  ASSERT_TRUE(event.has_opened());
  EXPECT_EQ(event.opened().remote_address(), "198.51.100.7:40000");
  EXPECT_THAT(event.opened().topics(), ElementsAre("news", "sports"));
  EXPECT_THAT(event.opened().metadata(), UnorderedElementsAre(Pair("plan", "pro")));
}

TEST_F(EventPublisherTest, MessagesKeepTextAndBinaryApart) {
  publisher_.Message(kAlice, true, "hello");
  publisher_.Message(kAlice, false, std::string("\x00\x01", 2));

  const v1::Event text = Next();
  ASSERT_TRUE(text.has_message());
  EXPECT_EQ(text.message().message().text(), "hello");
  const v1::Event binary = Next();
  ASSERT_TRUE(binary.has_message());
  EXPECT_EQ(binary.message().message().binary(), std::string("\x00\x01", 2));
}

TEST_F(EventPublisherTest, ErrorCodesMapOneToOne) {
  const std::map<SessionErrorCode, v1::ErrorCode> expected = {
      {SessionErrorCode::kSlowConsumer, v1::ERROR_CODE_SLOW_CONSUMER},
      {SessionErrorCode::kMessageTooLarge, v1::ERROR_CODE_MESSAGE_TOO_LARGE},
      {SessionErrorCode::kProtocolError, v1::ERROR_CODE_PROTOCOL_ERROR},
      {SessionErrorCode::kRateLimited, v1::ERROR_CODE_RATE_LIMITED},
      {SessionErrorCode::kInternal, v1::ERROR_CODE_INTERNAL},
  };
  for (const auto& [code, proto] : expected) {
    publisher_.Error(kAlice, code, "why");
    const v1::Event event = Next();
    ASSERT_TRUE(event.has_error());
    EXPECT_EQ(event.error().code(), proto);
    EXPECT_EQ(event.error().detail(), "why");
  }
}

TEST_F(EventPublisherTest, ClosedCarriesCodeReasonAndInitiator) {
  publisher_.Closed(kAlice, 4000, "bye", CloseInitiator::kServer);
  publisher_.Closed(kAlice, 1000, "", CloseInitiator::kClient);
  publisher_.Closed(kAlice, 1006, "End of file", CloseInitiator::kTransport);

  const v1::Event server = Next();
  ASSERT_TRUE(server.has_closed());
  EXPECT_EQ(server.closed().code(), 4000u);
  EXPECT_EQ(server.closed().reason(), "bye");
  EXPECT_EQ(server.closed().initiator(), v1::INITIATOR_SERVER);
  EXPECT_EQ(Next().closed().initiator(), v1::INITIATOR_CLIENT);
  const v1::Event transport = Next();
  EXPECT_EQ(transport.closed().initiator(), v1::INITIATOR_TRANSPORT);
  EXPECT_EQ(transport.closed().code(), 1006u);
}

}  // namespace
}  // namespace wsbridge
