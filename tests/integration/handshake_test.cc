// The browser side of the handshake: who may open a session, and the HTTP answer (before any
// upgrade) for everyone who may not.
#include <cstdio>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "support/test_bridge.h"
#include "support/token_issuer.h"

namespace wsbridge::testing {
namespace {

using ::testing::HasSubstr;

HttpAnswer Upgrade(uint16_t port, const std::string& target,
                   const WsClient::Headers& headers = {}) {
  HttpAnswer answer;
  auto client = WsClient::Connect(port, target, headers, &answer);
  return answer;
}

TEST(HandshakeTest, ValidTokenInQueryOrBearerHeaderOpensASessionForItsSubject) {
  TestBridge bridge([](Config& config) { config.admission.allow_anonymous = false; });
  TokenSpec spec;
  spec.user_id = "user-42";
  auto by_query = WsClient::Connect(bridge.ws_port(), "/ws?token=" + MakeToken(spec));
  auto by_header =
      WsClient::Connect(bridge.ws_port(), "/ws", {{"Authorization", "Bearer " + MakeToken(spec)}});
  ASSERT_TRUE(by_query && by_header);

  for (const WsClient* browser : {by_query.get(), by_header.get()}) {
    v1::GetSessionRequest request;
    request.set_session_id(browser->session_id());
    v1::Session session;
    ASSERT_TRUE(bridge.api().GetSession(CallContext().get(), request, &session).ok());
    EXPECT_EQ(session.user_id(), "user-42");
  }
}

TEST(HandshakeTest, MissingTokenIs401UnlessAnonymousIsAllowed) {
  TestBridge strict([](Config& config) { config.admission.allow_anonymous = false; });
  HttpAnswer refused = Upgrade(strict.ws_port(), "/ws");
  EXPECT_EQ(refused.status, 401u);
  EXPECT_THAT(refused.body, HasSubstr("missing token"));

  TestBridge relaxed;  // anonymous allowed
  auto anonymous = relaxed.ConnectAnonymous();
  ASSERT_TRUE(anonymous);
  v1::GetSessionRequest request;
  request.set_session_id(anonymous->session_id());
  v1::Session session;
  ASSERT_TRUE(relaxed.api().GetSession(CallContext().get(), request, &session).ok());
  EXPECT_EQ(session.user_id(), "");
}

TEST(HandshakeTest, BadTokensAre401WithTheReason) {
  TestBridge bridge;  // anonymous sessions allowed: a bad token is refused all the same
  TokenSpec wrong_secret;
  wrong_secret.user_id = "mallory";
  wrong_secret.secret = "some-other-secret-some-other-secret";
  TokenSpec expired;
  expired.user_id = "late";
  expired.expires_in = -absl::Minutes(5);
  TokenSpec no_subject;
  const std::string unsigned_token = absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})") +
                                     "." + absl::WebSafeBase64Escape(R"({"sub":"root"})") + ".";

  struct Case {
    std::string name;
    std::string token;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {"bad signature", MakeToken(wrong_secret), "signature"},
           {"expired", MakeToken(expired), "expired"},
           {"no sub", MakeToken(no_subject), "sub"},
           {"alg none", unsigned_token, "none"},
           {"garbage", "not.a.jwt", ""},
       }) {
    HttpAnswer answer = Upgrade(bridge.ws_port(), "/ws?token=" + c.token);
    EXPECT_EQ(answer.status, 401u) << c.name;
    EXPECT_THAT(absl::AsciiStrToLower(answer.body), HasSubstr(c.reason)) << c.name;
  }
  HttpAnswer empty_bearer = Upgrade(bridge.ws_port(), "/ws", {{"Authorization", "Bearer"}});
  EXPECT_EQ(empty_bearer.status, 401u);
  EXPECT_THAT(empty_bearer.body, HasSubstr("token is empty"));
}

TEST(HandshakeTest, TopicsThatAreNotPublicAre403) {
  TestBridge bridge;
  EXPECT_EQ(Upgrade(bridge.ws_port(), "/ws?topics=news,lobby").status, 101u);
  HttpAnswer refused = Upgrade(bridge.ws_port(), "/ws?topics=news,admin");
  EXPECT_EQ(refused.status, 403u);
  EXPECT_THAT(refused.body, HasSubstr("admin"));
}

TEST(HandshakeTest, OriginOutsideTheAllowListIs403) {
  TestBridge bridge(
      [](Config& config) { config.admission.allowed_origins = {"https://app.example"}; });
  EXPECT_EQ(Upgrade(bridge.ws_port(), "/ws", {{"Origin", "https://app.example"}}).status, 101u);
  HttpAnswer refused = Upgrade(bridge.ws_port(), "/ws", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(refused.status, 403u);
  EXPECT_THAT(refused.body, HasSubstr("origin"));
}

TEST(HandshakeTest, ConnectionLimitsAre429) {
  TestBridge bridge([](Config& config) {
    config.admission.max_sessions = 3;
    config.admission.max_sessions_per_user = 2;
  });
  auto a1 = bridge.ConnectUser("a");
  auto a2 = bridge.ConnectUser("a");
  ASSERT_TRUE(a1 && a2);
  TokenSpec a;
  a.user_id = "a";
  HttpAnswer per_user = Upgrade(bridge.ws_port(), "/ws?token=" + MakeToken(a));
  EXPECT_EQ(per_user.status, 429u);
  EXPECT_THAT(per_user.body, HasSubstr("max_sessions_per_user"));

  auto b = bridge.ConnectUser("b");
  ASSERT_TRUE(b);
  HttpAnswer total = Upgrade(bridge.ws_port(), "/ws");
  EXPECT_EQ(total.status, 429u);
  EXPECT_THAT(total.body, HasSubstr("max_sessions"));

  // A slot frees when a session ends.
  a1->Close(1000, "");
  ASSERT_TRUE(a1->WaitClosed().has_value());
  EXPECT_TRUE(Eventually([&] { return Upgrade(bridge.ws_port(), "/ws").status == 101u; }));
}

TEST(HandshakeTest, WrongPathIs404AndPlainHttpIs426) {
  TestBridge bridge;
  EXPECT_EQ(Upgrade(bridge.ws_port(), "/elsewhere").status, 404u);
  EXPECT_EQ(HttpGet(bridge.ws_port(), "/ws").status, 426u);
  EXPECT_EQ(HttpGet(bridge.ws_port(), "/").status, 404u);
}

TEST(HandshakeTest, CustomWsPathIsHonoured) {
  TestBridge bridge([](Config& config) { config.listeners.ws_path = "/realtime"; });
  EXPECT_EQ(Upgrade(bridge.ws_port(), "/realtime").status, 101u);
  EXPECT_EQ(Upgrade(bridge.ws_port(), "/ws").status, 404u);
}

TEST(HandshakeTest, NewConnectionsDuringDrainAre503) {
  TestBridge bridge([](Config& config) { config.session.close_timeout = absl::Seconds(3); });
  // A browser that does not answer the close handshake keeps the drain going for a while.
  auto stubborn = bridge.ConnectUser("stubborn", "", /*start_reading=*/false);
  ASSERT_TRUE(stubborn);
  std::thread drain([&] { bridge.server().Shutdown(absl::Seconds(3)); });
  EXPECT_TRUE(Eventually([&] { return Upgrade(bridge.ws_port(), "/ws").status == 503u; }));
  drain.join();
}

// ES256 end to end: the bridge verifies with a public key file; the browser's token is signed
// with the matching private key.
TEST(HandshakeTest, Es256TokenVerifiedWithPublicKeyFile) {
  const KeyPair key = GenerateEcKeyPair("P-256");
  ASSERT_FALSE(key.public_pem.empty());
  const std::string key_path = ::testing::TempDir() + "/es256-public.pem";
  std::ofstream(key_path) << key.public_pem;

  TestBridge bridge([&](Config& config) {
    config.admission.jwt_secret.clear();
    config.admission.jwt_public_key = key_path;
    config.admission.allow_anonymous = false;
  });
  const std::string es_token =
      SignToken(absl::StrCat(R"({"sub":"es-user","exp":)",
                             absl::ToUnixSeconds(absl::Now() + absl::Hours(1)), "}"),
                JWT_ALG_ES256, key.private_pem);
  ASSERT_FALSE(es_token.empty());

  EXPECT_EQ(Upgrade(bridge.ws_port(), "/ws?token=" + es_token).status, 101u);
  // An HS256 token is refused: that algorithm is not configured.
  TokenSpec hs;
  hs.user_id = "hs-user";
  EXPECT_EQ(Upgrade(bridge.ws_port(), "/ws?token=" + MakeToken(hs)).status, 401u);
  std::remove(key_path.c_str());
}

}  // namespace
}  // namespace wsbridge::testing
