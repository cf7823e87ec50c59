// The upgrade request to the letter of RFC 6455 and RFC 9112, written by hand over a raw socket:
// what a browser library never sends (no Host, a key twice, a body) is refused with 400 naming the
// rule, before any upgrade and without reading a body; what a proxy or an unusual client may send
// (an absolute-form target, cached Basic credentials beside a token) is served like the plain
// request.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "support/raw_ws_client.h"
#include "support/test_bridge.h"
#include "support/token_issuer.h"

namespace wsbridge::testing {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The header lines of a well-formed upgrade request; tests add, drop or repeat lines.
std::vector<std::string> UpgradeFields() {
  return {"Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
          absl::StrCat("Sec-WebSocket-Key: ", kRfcKey), "Sec-WebSocket-Version: 13"};
}

std::string Head(const std::string& target, const std::vector<std::string>& fields) {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\n", absl::StrJoin(fields, "\r\n"), "\r\n\r\n");
}

// Sends `bytes` and returns everything the bridge answers up to its close ("" if it closes
// without a word; a test failure if it keeps the connection open).
std::string Exchange(uint16_t port, std::string_view bytes) {
  RawWsClient socket(port);
  socket.Write(bytes);
  std::optional<std::string> answer = socket.ReadToEnd(absl::Seconds(5));
  EXPECT_TRUE(answer.has_value()) << "the bridge kept the connection open";
  return answer.value_or("");
}

// The status line and head of the bridge's answer to `bytes` (its 101, or its refusal).
std::string HeadOfAnswer(uint16_t port, std::string_view bytes) {
  RawWsClient socket(port);
  socket.Write(bytes);
  return socket.ReadHttpHead().value_or("");
}

class UpgradeRequestTest : public ::testing::Test {
 protected:
  TestBridge bridge_;  // anonymous sessions allowed, public topics news and lobby
};

TEST_F(UpgradeRequestTest, TheWellFormedRequestOfTheseTestsIsUpgraded) {
  EXPECT_THAT(HeadOfAnswer(bridge_.ws_port(), Head("/ws", UpgradeFields())),
              StartsWith("HTTP/1.1 101 "));
}

TEST_F(UpgradeRequestTest, ARequestWithoutHostIs400) {
  std::vector<std::string> fields = UpgradeFields();
  fields.erase(fields.begin());
  const std::string answer = Exchange(bridge_.ws_port(), Head("/ws", fields));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(answer, HasSubstr("missing Host header"));
}

TEST_F(UpgradeRequestTest, TwoHostFieldsAre400) {
  std::vector<std::string> fields = UpgradeFields();
  fields.push_back("Host: elsewhere.example");
  const std::string answer = Exchange(bridge_.ws_port(), Head("/ws", fields));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(answer, HasSubstr("Host header appears 2 times"));
}

TEST_F(UpgradeRequestTest, TheWebSocketKeyOrVersionSentTwiceIs400) {
  std::vector<std::string> keys = UpgradeFields();
  keys.push_back(absl::StrCat("Sec-WebSocket-Key: ", kRfcKey));
  std::string answer = Exchange(bridge_.ws_port(), Head("/ws", keys));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(answer, HasSubstr("Sec-WebSocket-Key appears 2 times"));

  std::vector<std::string> versions = UpgradeFields();
  versions.push_back("Sec-WebSocket-Version: 13");
  answer = Exchange(bridge_.ws_port(), Head("/ws", versions));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(answer, HasSubstr("Sec-WebSocket-Version appears 2 times"));
}

TEST_F(UpgradeRequestTest, AnUnknownTransferEncodingIs400) {
  std::vector<std::string> fields = UpgradeFields();
  fields.push_back("Transfer-Encoding: gzip");
  const std::string answer = Exchange(bridge_.ws_port(), Head("/ws", fields));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(answer, HasSubstr("unknown Transfer-Encoding \"gzip\""));
}

// The answer comes from the head alone: the bridge neither waits for the declared megabyte (the
// client never sends it) nor sets memory aside for it.
TEST_F(UpgradeRequestTest, ADeclaredBodyIsRefusedFromTheHeadWithoutWaitingForIt) {
  std::vector<std::string> fields = UpgradeFields();
  fields.push_back("Content-Length: 1048576");
  const std::string answer = Exchange(bridge_.ws_port(), Head("/ws", fields));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(answer, EndsWith("a WebSocket upgrade has no body (Content-Length: 1048576)\n"));
}

// A client that sends its body right behind the head still reads the refusal: the bridge does not
// reset the connection over bytes it left unread.
TEST_F(UpgradeRequestTest, ABodySentBehindTheHeadStillGetsTheRefusal) {
  constexpr size_t kBodyBytes = 256 * 1024;
  std::vector<std::string> fields = UpgradeFields();
  fields.push_back(absl::StrCat("Content-Length: ", kBodyBytes));
  const std::string answer =
      Exchange(bridge_.ws_port(), Head("/ws", fields) + std::string(kBodyBytes, 'b'));
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(answer, HasSubstr("a WebSocket upgrade has no body"));
}

TEST_F(UpgradeRequestTest, AChunkedBodyIs400) {
  std::vector<std::string> fields = UpgradeFields();
  fields.push_back("Transfer-Encoding: chunked");
  const std::string answer = Exchange(bridge_.ws_port(), Head("/ws", fields) + "5\r\nhello\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(answer, HasSubstr("a WebSocket upgrade has no body (Transfer-Encoding: chunked)"));
}

TEST_F(UpgradeRequestTest, AZeroContentLengthIsNoBody) {
  std::vector<std::string> fields = UpgradeFields();
  fields.push_back("Content-Length: 0");
  EXPECT_THAT(HeadOfAnswer(bridge_.ws_port(), Head("/ws", fields)), StartsWith("HTTP/1.1 101 "));
}

TEST(UpgradeRequestTargetTest, AnAbsoluteFormTargetIsServedLikeItsPathAndQuery) {
  TestBridge bridge([](Config& config) { config.admission.allow_anonymous = false; });
  TokenSpec spec;
  spec.user_id = "via-proxy";
  const std::string target =
      absl::StrCat("http://127.0.0.1:", bridge.ws_port(), "/ws?token=", MakeToken(spec));
  RawWsClient browser(bridge.ws_port());  // stays connected while its session is looked up
  browser.Write(Head(target, UpgradeFields()));
  const std::string head = browser.ReadHttpHead().value_or("");
  ASSERT_THAT(head, StartsWith("HTTP/1.1 101 "));

  v1::GetSessionRequest request;
  request.set_session_id(HeaderValue(head, "X-Wsbridge-Session-Id"));
  v1::Session session;
  ASSERT_TRUE(bridge.api().GetSession(CallContext().get(), request, &session).ok());
  EXPECT_EQ(session.user_id(), "via-proxy");

  // Its path is matched like the origin form's.
  const std::string elsewhere = absl::StrCat("http://127.0.0.1:", bridge.ws_port(), "/other");
  EXPECT_THAT(Exchange(bridge.ws_port(), Head(elsewhere, UpgradeFields())),
              StartsWith("HTTP/1.1 404 "));
}

TEST(UpgradeRequestAuthorizationTest, BasicCredentialsAreIgnoredBesideAQueryToken) {
  TestBridge bridge([](Config& config) { config.admission.allow_anonymous = false; });
  TokenSpec spec;
  spec.user_id = "user-42";
  std::vector<std::string> fields = UpgradeFields();
  fields.push_back("Authorization: Basic dXNlcjpwYXNz");
  EXPECT_THAT(HeadOfAnswer(bridge.ws_port(), Head("/ws?token=" + MakeToken(spec), fields)),
              StartsWith("HTTP/1.1 101 "));

  // Without a token, they do not stand in for one.
  const std::string refused = Exchange(bridge.ws_port(), Head("/ws", fields));
  EXPECT_THAT(refused, StartsWith("HTTP/1.1 401 "));
  EXPECT_THAT(refused, HasSubstr("Basic scheme is ignored"));
}

TEST_F(UpgradeRequestTest, BasicCredentialsAreIgnoredWhereAnonymousSessionsAreAllowed) {
  std::vector<std::string> fields = UpgradeFields();
  fields.push_back("Authorization: Basic dXNlcjpwYXNz");
  EXPECT_THAT(HeadOfAnswer(bridge_.ws_port(), Head("/ws", fields)), StartsWith("HTTP/1.1 101 "));
}

}  // namespace
}  // namespace wsbridge::testing
