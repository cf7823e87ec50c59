// The browser side of the handshake: who may open a session, and the HTTP answer (before any
// upgrade) for everyone who may not.
#include <cstdio>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "support/test_bridge.h"

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
  HttpAnswer not_bearer = Upgrade(bridge.ws_port(), "/ws", {{"Authorization", "Basic dTpw"}});
  EXPECT_EQ(not_bearer.status, 401u);
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
  EVP_PKEY* key = EVP_EC_gen("P-256");
  ASSERT_NE(key, nullptr);
  BIO* public_bio = BIO_new(BIO_s_mem());
  BIO* private_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(public_bio, key);
  PEM_write_bio_PrivateKey(private_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  auto bio_text = [](BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<size_t>(size));
  };
  const std::string public_pem = bio_text(public_bio);
  const std::string private_pem = bio_text(private_bio);
  BIO_free(public_bio);
  BIO_free(private_bio);
  EVP_PKEY_free(key);
  const std::string key_path = ::testing::TempDir() + "/es256-public.pem";
  std::ofstream(key_path) << public_pem;

  TestBridge bridge([&](Config& config) {
    config.admission.jwt_secret.clear();
    config.admission.jwt_public_key = key_path;
    config.admission.allow_anonymous = false;
  });
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grant(jwt, "sub", "es-user");
  jwt_add_grant_int(jwt, "exp", absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  jwt_set_alg(jwt, JWT_ALG_ES256, reinterpret_cast<const unsigned char*>(private_pem.data()),
              static_cast<int>(private_pem.size()));
  char* token = jwt_encode_str(jwt);
  ASSERT_NE(token, nullptr);
  const std::string es_token = token;
  free(token);
  jwt_free(jwt);

  EXPECT_EQ(Upgrade(bridge.ws_port(), "/ws?token=" + es_token).status, 101u);
  // An HS256 token is refused: that algorithm is not configured.
  TokenSpec hs;
  hs.user_id = "hs-user";
  EXPECT_EQ(Upgrade(bridge.ws_port(), "/ws?token=" + MakeToken(hs)).status, 401u);
  std::remove(key_path.c_str());
}

}  // namespace
}  // namespace wsbridge::testing
