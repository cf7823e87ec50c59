// Bad input from browsers and from things that are not browsers: each gets a clear, specific
// answer, and the bridge keeps serving everyone else.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/raw_ws_client.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sends raw bytes to the WebSocket port and returns everything the bridge answers until it
// closes the connection ("" if it is still open after 5 s).
std::string RawExchange(uint16_t port, const std::string& bytes) {
  RawWsClient socket(port);
  if (!bytes.empty()) socket.Write(bytes);
  return socket.ReadToEnd().value_or("");
}

// Pushes a message to a healthy bystander and checks it arrives: the bridge is still serving.
void ExpectStillServing(TestBridge& bridge, WsClient& bystander) {
  v1::PushRequest push;
  push.add_session_ids(bystander.session_id());
  push.mutable_message()->set_text("still here");
  v1::PushResponse response;
  ASSERT_TRUE(bridge.api().Push(CallContext().get(), push, &response).ok());
  auto message = bystander.NextMessage();
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data, "still here");
}

class BadInputTest : public ::testing::Test {
 protected:
  TestBridge bridge_{[](Config& config) {
    config.session.max_message_bytes = 64 * 1024;
    config.session.handshake_timeout = absl::Seconds(1);
  }};
};

TEST_F(BadInputTest, FrameOverTheLimitClosesThatSessionWith1009) {
  auto bystander = bridge_.ConnectAnonymous();
  auto sender = bridge_.ConnectAnonymous();
  ASSERT_TRUE(bystander && sender);
  sender->SendBinary(std::string(64 * 1024 + 1, 'x'));
  auto close = sender->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1009);
  ExpectStillServing(bridge_, *bystander);
}

TEST_F(BadInputTest, InvalidUtf8TextClosesThatSessionWith1007) {
  auto bystander = bridge_.ConnectAnonymous();
  auto sender = bridge_.ConnectAnonymous();
  ASSERT_TRUE(bystander && sender);
  sender->SendText(std::string("bad \xc3\x28 utf8"));
  auto close = sender->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, 1007);
  ExpectStillServing(bridge_, *bystander);
}

TEST_F(BadInputTest, GarbageInsteadOfHttpGets400) {
  auto bystander = bridge_.ConnectAnonymous();
  ASSERT_TRUE(bystander);
  std::string answer = RawExchange(bridge_.ws_port(), "\x16\x03\x01 this is not http\r\n\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400"));
  ExpectStillServing(bridge_, *bystander);
}

TEST_F(BadInputTest, OversizedRequestHeadersGet400) {
  std::string request =
      "GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(32 * 1024, 'a') + "\r\n\r\n";
  EXPECT_THAT(RawExchange(bridge_.ws_port(), request), StartsWith("HTTP/1.1 400"));
}

TEST_F(BadInputTest, SilentConnectionIsDroppedAfterTheHandshakeTimeout) {
  auto bystander = bridge_.ConnectAnonymous();
  ASSERT_TRUE(bystander);
  const absl::Time start = absl::Now();
  std::string answer = RawExchange(bridge_.ws_port(), "");
  EXPECT_EQ(answer, "");
  EXPECT_LT(absl::Now() - start, absl::Seconds(4)) << "not dropped by the 1 s handshake timeout";
  ExpectStillServing(bridge_, *bystander);
}

TEST_F(BadInputTest, VanishedBrowserIsForgotten) {
  auto vanished = bridge_.ConnectUser("ghost");
  ASSERT_TRUE(vanished);
  vanished->Abort();
  v1::ListSessionsRequest request;
  request.set_user_id("ghost");
  EXPECT_TRUE(Eventually([&] {
    v1::ListSessionsResponse response;
    return bridge_.api().ListSessions(CallContext().get(), request, &response).ok() &&
           response.sessions().empty();
  }));
}

// --- Ping floods --------------------------------------------------------------------------------

// Upgrades `client` anonymously and returns its session id ("" on failure).
std::string UpgradeRaw(RawWsClient& client) {
  client.Write(UpgradeRequest());
  auto head = client.ReadHttpHead();
  if (!head || !head->starts_with("HTTP/1.1 101 ")) return "";
  return HeaderValue(*head, "X-Wsbridge-Session-Id");
}

v1::SessionStats StatsOf(TestBridge& bridge, const std::string& session_id) {
  v1::GetSessionRequest request;
  request.set_session_id(session_id);
  v1::Session session;
  EXPECT_TRUE(bridge.api().GetSession(CallContext().get(), request, &session).ok());
  return session.stats();
}

TEST(PingFloodTest, AClientThatPingsWithoutReadingCostsTheBridgeAtMostOnePong) {
  // No rate limit, so that only the pong bound is at work: 100,000 pings of 100 bytes from a
  // client that reads nothing used to queue a pong for each.
  TestBridge bridge([](Config& config) { config.session.client_messages_per_second = 0; });
  auto bystander = bridge.ConnectAnonymous();
  ASSERT_TRUE(bystander);
  RawWsClient flooder(bridge.ws_port(), /*receive_buffer_bytes=*/4096);
  const std::string id = UpgradeRaw(flooder);
  ASSERT_FALSE(id.empty());

  std::string pings;
  for (int i = 0; i < 1000; ++i) pings += ClientFrame(kPing, std::string(100, 'p'));
  for (int round = 0; round < 100; ++round) flooder.Write(pings);
  // A message behind the pings: once it is counted, every ping before it was handled.
  flooder.Write(ClientFrame(kText, "done"));
  ASSERT_TRUE(Eventually([&] { return StatsOf(bridge, id).messages_received() == 1; }));

  const v1::SessionStats stats = StatsOf(bridge, id);
  EXPECT_LE(stats.queued_messages(), 2u) << "one pong partly written, one waiting at most";
  EXPECT_LE(stats.queued_bytes(), 200u);
  ExpectStillServing(bridge, *bystander);
}

TEST(PingFloodTest, PingsPastTheDefaultInboundRateCloseTheSessionWith1008) {
  TestBridge bridge;  // the default rate: 100 per second, bursts of 200
  auto bystander = bridge.ConnectAnonymous();
  ASSERT_TRUE(bystander);
  RawWsClient flooder(bridge.ws_port());
  ASSERT_FALSE(UpgradeRaw(flooder).empty());

  std::string pings;
  for (int i = 0; i < 1000; ++i) pings += ClientFrame(kPing, "p" + std::to_string(i));
  flooder.Write(pings);

  int pongs = 0;
  std::optional<ServerFrame> frame;
  while ((frame = flooder.ReadFrame()) && frame->opcode == kPong) ++pongs;
  ASSERT_TRUE(frame.has_value()) << "no close after " << pongs << " pongs";
  ASSERT_EQ(frame->opcode, kClose);
  ASSERT_GE(frame->payload.size(), 2u);
  EXPECT_EQ(frame->payload.substr(0, 2), CloseBody(1008, ""));
  EXPECT_LE(pongs, 201) << "pings past the rate were answered";
  ExpectStillServing(bridge, *bystander);
}

}  // namespace
}  // namespace wsbridge::testing
