// DecideUpgrade: what the WebSocket port answers to a request head, and in which order its rules
// apply. Each test starts from the head a browser sends for a good upgrade and breaks one or two
// rules: a request that breaks two gets the answer of the one that comes first.
#include "ws/upgrade_decision.h"

#include <string>
#include <string_view>
#include <variant>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/verb.hpp>

#include "absl/time/time.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ws/handshake_policy.h"

namespace wsbridge {
namespace {

namespace http = boost::beast::http;
using ::testing::HasSubstr;

constexpr char kRfcKey[] = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 section 1.3

class UpgradeDecisionTest : public ::testing::Test {
 protected:
  UpgradeDecisionTest() {
    options_.allow_anonymous = true;
    options_.public_topics = {"news"};
    options_.allowed_origins = {"https://app.example"};
    request_ = GoodUpgrade("/ws?topics=news");
  }

  static http::request<http::empty_body> GoodUpgrade(std::string_view target) {
    http::request<http::empty_body> request(http::verb::get, target, 11);
    request.set(http::field::host, "bridge.example");
    request.set(http::field::upgrade, "websocket");
    request.set(http::field::connection, "Upgrade");
    request.set(http::field::sec_websocket_key, kRfcKey);
    request.set(http::field::sec_websocket_version, "13");
    request.set(http::field::origin, "https://app.example");
    return request;
  }

  UpgradeDecision Decide(std::optional<uint64_t> content_length = std::nullopt) const {
    const HandshakePolicy policy(options_, nullptr);
    return DecideUpgrade(request_, content_length,
                         UpgradeSituation{.ws_path = "/ws",
                                          .static_files = static_files_,
                                          .draining = draining_,
                                          .policy = policy,
                                          .now = absl::FromUnixSeconds(1'700'000'000)});
  }

  // The refusal; a test failure (and a default refusal) if the request was not refused.
  UpgradeRefusal Refusal(std::optional<uint64_t> content_length = std::nullopt) const {
    const UpgradeDecision decision = Decide(content_length);
    const auto* refusal = std::get_if<UpgradeRefusal>(&decision);
    if (refusal == nullptr) {
      ADD_FAILURE() << "not refused";
      return {};
    }
    return *refusal;
  }

  AdmissionOptions options_;
  http::request<http::empty_body> request_;
  bool static_files_ = false;
  bool draining_ = false;
};

TEST_F(UpgradeDecisionTest, AGoodUpgradeIsAdmittedWithItsTopics) {
  const UpgradeDecision decision = Decide();
  ASSERT_TRUE(std::holds_alternative<AdmittedSession>(decision));
  EXPECT_EQ(std::get<AdmittedSession>(decision).user_id, "");
  EXPECT_THAT(std::get<AdmittedSession>(decision).topics, ::testing::ElementsAre("news"));
}

TEST_F(UpgradeDecisionTest, TheHeadRulesComeFirstAndSayWhatBodyWasDeclared) {
  // No Host, and the wrong path, and not an upgrade: the head rule answers.
  request_ = http::request<http::empty_body>(http::verb::get, "/elsewhere", 11);
  UpgradeRefusal refusal = Refusal();
  EXPECT_EQ(refusal.http_status, 400u);
  EXPECT_THAT(refusal.message, HasSubstr("Host"));
  EXPECT_EQ(refusal.declared_body_bytes, 0u);

  request_ = GoodUpgrade("/ws");
  refusal = Refusal(/*content_length=*/10);
  EXPECT_EQ(refusal.http_status, 400u);
  EXPECT_EQ(refusal.declared_body_bytes, 10u);

  request_ = GoodUpgrade("/ws");
  request_.set(http::field::transfer_encoding, "chunked");
  refusal = Refusal();
  EXPECT_EQ(refusal.http_status, 400u);
  EXPECT_EQ(refusal.declared_body_bytes, UpgradeRefusal::kUnknownLength);
}

TEST_F(UpgradeDecisionTest, ATargetElsewhereIs404OrAStaticFileForAPlainRequest) {
  request_ = GoodUpgrade("/other");
  EXPECT_EQ(Refusal().http_status, 404u);
  request_ = GoodUpgrade("*");  // asterisk form: no path
  EXPECT_EQ(Refusal().http_status, 404u);

  static_files_ = true;
  request_ = GoodUpgrade("/other");  // an upgrade elsewhere is still not a file
  EXPECT_EQ(Refusal().http_status, 404u);
  request_ =
      http::request<http::empty_body>(http::verb::get, "http://bridge.example/app.js?v=2", 11);
  request_.set(http::field::host, "bridge.example");
  const UpgradeDecision decision = Decide();
  ASSERT_TRUE(std::holds_alternative<StaticFileRequest>(decision));
  EXPECT_EQ(std::get<StaticFileRequest>(decision).target, "/app.js?v=2");
}

TEST_F(UpgradeDecisionTest, AtTheWebSocketPathOnlyAVersion13UpgradeWithAGoodKeyGoesOn) {
  static_files_ = true;  // the WebSocket path is never a file
  request_.erase(http::field::upgrade);
  UpgradeRefusal refusal = Refusal();
  EXPECT_EQ(refusal.http_status, 426u);
  EXPECT_THAT(refusal.message, HasSubstr("connect with ws://host/ws"));

  request_ = GoodUpgrade("/ws");
  request_.set(http::field::sec_websocket_version, "8");
  request_.set(http::field::sec_websocket_key, "short");  // the version is looked at first
  EXPECT_EQ(Refusal().http_status, 426u);

  request_.set(http::field::sec_websocket_version, "13");
  refusal = Refusal();
  EXPECT_EQ(refusal.http_status, 400u);
  EXPECT_THAT(refusal.message, HasSubstr("Sec-WebSocket-Key"));
}

TEST_F(UpgradeDecisionTest, DrainingAnswers503AfterTheProtocolRulesAndBeforeThePolicy) {
  draining_ = true;
  EXPECT_EQ(Refusal().http_status, 503u);
  // A malformed key is still a 400: the request is wrong on any node.
  request_.set(http::field::sec_websocket_key, "short");
  EXPECT_EQ(Refusal().http_status, 400u);
  // An origin the policy refuses gets 503: another node may admit the browser.
  request_ = GoodUpgrade("/ws");
  request_.set(http::field::origin, "https://evil.example");
  EXPECT_EQ(Refusal().http_status, 503u);
  draining_ = false;
  EXPECT_EQ(Refusal().http_status, 403u);
}

}  // namespace
}  // namespace wsbridge
