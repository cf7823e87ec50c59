// HandshakePolicy: may this browser open a session, and as whom. Each test builds the upgrade
// request a browser would send (target with ?token= and ?topics=, Authorization and Origin
// headers) and checks either the HTTP status and message the browser gets back, or the user,
// topics and metadata the admitted session starts with.
#include "ws/handshake_policy.h"

#include <jwt.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auth/token_verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/token_issuer.h"

namespace wsbridge {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using testing::SignToken;

constexpr std::string_view kSecret = "handshake-test-secret-of-at-least-32-bytes";
const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
constexpr int64_t kNowSeconds = 1'700'000'000;

// A token for `user` valid for an hour, with extra claims appended (",\"topics\":[...]").
std::string TokenFor(absl::string_view user, absl::string_view extra_claims = "") {
  return SignToken(
      absl::StrCat(R"({"sub":")", user, R"(","exp":)", kNowSeconds + 3600, extra_claims, "}"),
      JWT_ALG_HS256, kSecret);
}

class HandshakePolicyTest : public ::testing::Test {
 protected:
  HandshakePolicyTest() {
    absl::StatusOr<std::unique_ptr<auth::TokenVerifier>> verifier =
        auth::TokenVerifier::Create({std::string(kSecret), ""});
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    if (verifier.ok()) verifier_ = std::move(*verifier);
  }

  HandshakeDecision Decide(absl::string_view target, absl::string_view authorization = "",
                           absl::string_view origin = "") const {
    const HandshakePolicy policy(options_, verifier_.get());
    return policy.Decide(UpgradeRequest{target, authorization, origin}, kNow);
  }

  AdmissionOptions options_;
  std::unique_ptr<auth::TokenVerifier> verifier_;
};

// The session the browser was admitted as; fails the test if it was rejected.
AdmittedSession Admitted(const HandshakeDecision& decision) {
  if (const auto* rejection = std::get_if<HandshakeRejection>(&decision)) {
    ADD_FAILURE() << "rejected with " << rejection->http_status << ": " << rejection->message;
    return {};
  }
  return std::get<AdmittedSession>(decision);
}

void ExpectRejected(const HandshakeDecision& decision, unsigned http_status,
                    absl::string_view message_part) {
  const auto* rejection = std::get_if<HandshakeRejection>(&decision);
  ASSERT_NE(rejection, nullptr) << "admitted, expected HTTP " << http_status;
  EXPECT_EQ(rejection->http_status, http_status) << rejection->message;
  EXPECT_THAT(rejection->message, HasSubstr(std::string(message_part)));
}

// --- Who the browser is -----------------------------------------------------------------------

TEST_F(HandshakePolicyTest, NoTokenIsRefusedWith401WhenAnonymousSessionsAreNotAllowed) {
  ExpectRejected(Decide("/ws"), 401, "missing token");
  ExpectRejected(Decide("/ws?topics=lobby"), 401, "missing token");
}

TEST_F(HandshakePolicyTest, NoTokenIsAdmittedAsAnonymousWhenAllowed) {
  options_.allow_anonymous = true;

  const AdmittedSession session = Admitted(Decide("/ws"));

  EXPECT_EQ(session.user_id, "");
  EXPECT_THAT(session.topics, IsEmpty());
  EXPECT_THAT(session.metadata, IsEmpty());
}

TEST_F(HandshakePolicyTest, ATokenInTheQueryAdmitsTheBrowserAsItsSubject) {
  const AdmittedSession session = Admitted(Decide("/ws?token=" + TokenFor("user-42")));
  EXPECT_EQ(session.user_id, "user-42");
  EXPECT_THAT(session.topics, IsEmpty());
}

TEST_F(HandshakePolicyTest, ATokenAmongOtherQueryParametersIsFound) {
  const AdmittedSession session =
      Admitted(Decide("/ws?v=2&token=" + TokenFor("user-42") + "&lang=en#ignored"));
  EXPECT_EQ(session.user_id, "user-42");
}

TEST_F(HandshakePolicyTest, ATokenInAnAuthorizationBearerHeaderAdmitsTheBrowser) {
  EXPECT_EQ(Admitted(Decide("/ws", "Bearer " + TokenFor("user-42"))).user_id, "user-42");
  // The scheme name is case-insensitive (RFC 7235).
  EXPECT_EQ(Admitted(Decide("/ws", "bearer " + TokenFor("user-42"))).user_id, "user-42");
  EXPECT_EQ(Admitted(Decide("/ws", "BEARER  " + TokenFor("user-42") + " ")).user_id, "user-42");
}

TEST_F(HandshakePolicyTest, TheAuthorizationHeaderWinsOverTheQueryToken) {
  const std::string header_token = TokenFor("from-header");
  const std::string query_token = TokenFor("from-query");

  EXPECT_EQ(Admitted(Decide("/ws?token=" + query_token, "Bearer " + header_token)).user_id,
            "from-header");
  // A bad header token is not rescued by a good query token.
  ExpectRejected(Decide("/ws?token=" + query_token, "Bearer not.a.token"), 401, "");
}

TEST_F(HandshakePolicyTest, AnAuthorizationHeaderOfAnotherSchemeIsIgnored) {
  // Browsers resend cached Basic credentials on their own: they are not a token source.
  const std::string token = TokenFor("user-42");
  EXPECT_EQ(Admitted(Decide("/ws?token=" + token, "Basic dXNlcjpwYXNz")).user_id, "user-42");
  EXPECT_EQ(Admitted(Decide("/ws?token=" + token, "Token " + token)).user_id, "user-42");
  // "Bearer<token>" without the space is a scheme of another name.
  EXPECT_EQ(Admitted(Decide("/ws?token=" + token, "Bearer" + token)).user_id, "user-42");

  // Without a token, the request is judged as if the header were absent.
  ExpectRejected(Decide("/ws", "Basic dXNlcjpwYXNz"), 401,
                 "missing token: pass ?token=<JWT> or an Authorization: Bearer header (the "
                 "Authorization header's Basic scheme is ignored)");
  options_.allow_anonymous = true;
  EXPECT_EQ(Admitted(Decide("/ws", "Basic dXNlcjpwYXNz")).user_id, "");
}

TEST_F(HandshakePolicyTest, ABearerHeaderWithoutATokenIsRefusedWith401) {
  ExpectRejected(Decide("/ws", "Bearer"), 401, "Bearer <token>");
  ExpectRejected(Decide("/ws", "Bearer "), 401, "Bearer <token>");
  // Even where the query has one: the header said Bearer and carried nothing.
  ExpectRejected(Decide("/ws?token=" + TokenFor("u"), "bearer"), 401, "token is empty");
}

TEST_F(HandshakePolicyTest, AnEmptyBearerTokenIsRefusedWith401) {
  ExpectRejected(Decide("/ws", "Bearer    "), 401, "token is empty");
  ExpectRejected(Decide("/ws?token="), 401, "token is empty");
  ExpectRejected(Decide("/ws?token"), 401, "token is empty");
}

TEST_F(HandshakePolicyTest, ABadTokenIsRefusedWith401AndTheVerifiersReason) {
  ExpectRejected(Decide("/ws?token=garbage"), 401, "malformed token");
  ExpectRejected(Decide("/ws?token=" +
                        SignToken(R"({"sub":"u"})", JWT_ALG_HS256, "some-other-secret-32-bytes!!")),
                 401, "signature");
  ExpectRejected(
      Decide("/ws?token=" + SignToken(absl::StrCat(R"({"sub":"u","exp":)", kNowSeconds, "}"),
                                      JWT_ALG_HS256, kSecret)),
      401, "expired");
  ExpectRejected(Decide("/ws?token=" + SignToken(R"({"exp":9999999999})", JWT_ALG_HS256, kSecret)),
                 401, "'sub'");
}

TEST_F(HandshakePolicyTest, ABadTokenIsNotAdmittedAsAnonymousEvenWhenAnonymousIsAllowed) {
  options_.allow_anonymous = true;
  ExpectRejected(Decide("/ws?token=garbage"), 401, "malformed token");
  ExpectRejected(Decide("/ws", "Bearer garbage"), 401, "malformed token");
}

TEST_F(HandshakePolicyTest, ATokenIsRefusedWhenTheBridgeHasNoTokenKey) {
  const HandshakePolicy without_verifier(options_, nullptr);
  const HandshakeDecision no_verifier =
      without_verifier.Decide(UpgradeRequest{"/ws?token=" + TokenFor("u"), "", ""}, kNow);
  ExpectRejected(no_verifier, 401, "no token key");

  absl::StatusOr<std::unique_ptr<auth::TokenVerifier>> disabled =
      auth::TokenVerifier::Create({"", ""});
  ASSERT_TRUE(disabled.ok()) << disabled.status();
  const HandshakePolicy with_disabled(options_, disabled->get());
  const std::string header = "Bearer " + TokenFor("u");
  ExpectRejected(with_disabled.Decide(UpgradeRequest{"/ws", header, ""}, kNow), 401,
                 "no token key");
}

TEST_F(HandshakePolicyTest, WithoutATokenKeyAnonymousSessionsAreStillAdmitted) {
  options_.allow_anonymous = true;
  options_.public_topics = {"lobby"};
  const HandshakePolicy policy(options_, nullptr);

  const AdmittedSession session =
      Admitted(policy.Decide(UpgradeRequest{"/ws?topics=lobby", "", ""}, kNow));

  EXPECT_EQ(session.user_id, "");
  EXPECT_THAT(session.topics, ElementsAre("lobby"));
}

// --- Claims that land in the session ----------------------------------------------------------

TEST_F(HandshakePolicyTest, TokenTopicsAndMetaLandInTheSessionWithTopicsSortedAndUnique) {
  const std::string token =
      TokenFor("user-42", R"(,"topics":["news","chat/room-1","news","alerts"],)"
                          R"("meta":{"plan":"pro","region":"eu"})");

  const AdmittedSession session = Admitted(Decide("/ws?token=" + token));

  EXPECT_EQ(session.user_id, "user-42");
  EXPECT_THAT(session.topics, ElementsAre("alerts", "chat/room-1", "news"));
  EXPECT_THAT(session.metadata, ElementsAre(Pair("plan", "pro"), Pair("region", "eu")));
}

TEST_F(HandshakePolicyTest, TokenTopicsNeedNotBePublic) {
  options_.public_topics = {"lobby"};
  const AdmittedSession session =
      Admitted(Decide("/ws?token=" + TokenFor("u", R"(,"topics":["private/u"])")));
  EXPECT_THAT(session.topics, ElementsAre("private/u"));
}

TEST_F(HandshakePolicyTest, AnInvalidTopicInTheTokenIsRefusedWith401) {
  ExpectRejected(Decide("/ws?token=" + TokenFor("u", R"(,"topics":["ok",""])")), 401,
                 "token claim topics: empty topic");
  ExpectRejected(Decide("/ws?token=" + TokenFor("u", R"(,"topics":["a\u0001b"])")), 401,
                 "token claim topics: topic contains a control character");
  const std::string too_long(257, 't');
  ExpectRejected(
      Decide("/ws?token=" + TokenFor("u", absl::StrCat(R"(,"topics":[")", too_long, R"("])"))), 401,
      "token claim topics: topic is 257 bytes, the limit is 256");
}

// --- Topics the browser asks for --------------------------------------------------------------

TEST_F(HandshakePolicyTest, PublicTopicsAreAcceptedSortedAndUnique) {
  options_.allow_anonymous = true;
  options_.public_topics = {"lobby", "news", "weather"};

  const AdmittedSession session = Admitted(Decide("/ws?topics=news,lobby,news"));

  EXPECT_THAT(session.topics, ElementsAre("lobby", "news"));
}

TEST_F(HandshakePolicyTest, RequestedPublicTopicsJoinTheTokenTopics) {
  options_.public_topics = {"lobby", "news"};
  const std::string token = TokenFor("u", R"(,"topics":["news","private/u"])");

  const AdmittedSession session = Admitted(Decide("/ws?token=" + token + "&topics=lobby,news"));

  EXPECT_THAT(session.topics, ElementsAre("lobby", "news", "private/u"));
}

TEST_F(HandshakePolicyTest, ATopicThatIsNotPublicIsRefusedWith403NamingIt) {
  options_.allow_anonymous = true;
  options_.public_topics = {"lobby"};

  ExpectRejected(Decide("/ws?topics=lobby,admin"), 403,
                 "topic not allowed: admin is not a public topic");
  // Holding a token does not let the browser pick non-public topics itself.
  ExpectRejected(Decide("/ws?topics=admin&token=" + TokenFor("u")), 403, "admin");
}

TEST_F(HandshakePolicyTest, AnEmptyTopicsParameterAsksForNothing) {
  options_.allow_anonymous = true;
  EXPECT_THAT(Admitted(Decide("/ws?topics=")).topics, IsEmpty());
  EXPECT_THAT(Admitted(Decide("/ws?topics")).topics, IsEmpty());
}

TEST_F(HandshakePolicyTest, AnEmptyTopicInTheListIsRefusedWith400) {
  options_.allow_anonymous = true;
  options_.public_topics = {"a", "b"};
  ExpectRejected(Decide("/ws?topics=a,,b"), 400, "topics: empty topic");
  ExpectRejected(Decide("/ws?topics=a,"), 400, "topics: empty topic");
}

TEST_F(HandshakePolicyTest, RequestedTopicsArePercentDecoded) {
  options_.allow_anonymous = true;
  options_.public_topics = {"chat/room 1", "news"};

  const AdmittedSession session = Admitted(Decide("/ws?topics=chat%2Froom+1,n%65ws"));

  EXPECT_THAT(session.topics, ElementsAre("chat/room 1", "news"));
}

TEST_F(HandshakePolicyTest, MalformedPercentEncodingIsRefusedWith400) {
  options_.allow_anonymous = true;
  options_.public_topics = {"lobby"};
  ExpectRejected(Decide("/ws?topics=lob%zzby"), 400,
                 "query parameter topics: bad percent-encoding");
  ExpectRejected(Decide("/ws?topics=lobby%4"), 400,
                 "query parameter topics: truncated percent-encoding");
  ExpectRejected(Decide("/ws?token=abc%"), 400, "query parameter token: truncated");
}

TEST_F(HandshakePolicyTest, MoreTopicsThanTheLimitAreRefusedWith403) {
  options_.max_topics_per_session = 2;
  const std::string token = TokenFor("u", R"(,"topics":["a","b","c"])");

  ExpectRejected(Decide("/ws?token=" + token), 403, "too many topics: 3 (limit 2)");
}

TEST_F(HandshakePolicyTest, TheTopicLimitCountsTokenAndRequestedTopicsTogether) {
  options_.max_topics_per_session = 2;
  options_.public_topics = {"lobby"};
  const std::string token = TokenFor("u", R"(,"topics":["a","b"])");

  ExpectRejected(Decide("/ws?topics=lobby&token=" + token), 403, "too many topics: 3 (limit 2)");
}

TEST_F(HandshakePolicyTest, TheTopicLimitCountsDistinctTopics) {
  options_.max_topics_per_session = 2;
  options_.public_topics = {"a"};
  const std::string token = TokenFor("u", R"(,"topics":["a","b","a"])");

  EXPECT_THAT(Admitted(Decide("/ws?topics=a,a&token=" + token)).topics, ElementsAre("a", "b"));
}

// --- Origin -------------------------------------------------------------------------------------

TEST_F(HandshakePolicyTest, AnAllowedOriginIsAdmitted) {
  options_.allow_anonymous = true;
  options_.allowed_origins = {"https://app.example.com", "https://admin.example.com"};
  EXPECT_EQ(Admitted(Decide("/ws", "", "https://admin.example.com")).user_id, "");
}

TEST_F(HandshakePolicyTest, AnOriginNotOnTheAllowListIsRefusedWith403NamingIt) {
  options_.allow_anonymous = true;
  options_.allowed_origins = {"https://app.example.com"};

  ExpectRejected(Decide("/ws", "", "https://evil.example.com"), 403,
                 "origin not allowed: https://evil.example.com");
  // Exact match only.
  ExpectRejected(Decide("/ws", "", "https://app.example.com.evil.net"), 403, "origin not allowed");
  ExpectRejected(Decide("/ws", "", "http://app.example.com"), 403, "origin not allowed");
}

TEST_F(HandshakePolicyTest, TheOriginIsCheckedBeforeTheToken) {
  options_.allowed_origins = {"https://app.example.com"};
  ExpectRejected(Decide("/ws", "", "https://evil.example.com"), 403, "origin not allowed");
  ExpectRejected(Decide("/ws?token=" + TokenFor("u"), "", "https://evil.example.com"), 403,
                 "origin not allowed");
}

TEST_F(HandshakePolicyTest, ARequestWithoutAnOriginIsAdmittedDespiteTheAllowList) {
  // Non-browser clients send no Origin; the allow-list protects browsers only.
  options_.allowed_origins = {"https://app.example.com"};
  EXPECT_EQ(Admitted(Decide("/ws?token=" + TokenFor("u"), "", "")).user_id, "u");
}

TEST_F(HandshakePolicyTest, AnEmptyAllowListAdmitsAnyOrigin) {
  EXPECT_EQ(Admitted(Decide("/ws?token=" + TokenFor("u"), "", "https://anywhere.example")).user_id,
            "u");
}

// --- The request head (CheckRequestHead) ---------------------------------------------------------

// The head of a well-formed upgrade request: one Host, one key, one version, no body.
RequestHead GoodHead() {
  RequestHead head;
  head.host_fields = 1;
  head.websocket_key_fields = 1;
  head.websocket_version_fields = 1;
  return head;
}

void ExpectHeadRejected(const RequestHead& head, absl::string_view message) {
  const std::optional<HandshakeRejection> rejection = CheckRequestHead(head);
  ASSERT_TRUE(rejection.has_value()) << "accepted, expected 400: " << message;
  EXPECT_EQ(rejection->http_status, 400u);
  EXPECT_EQ(rejection->message, message);
}

TEST(CheckRequestHeadTest, AWellFormedUpgradeHeadGoesOn) {
  EXPECT_EQ(CheckRequestHead(GoodHead()), std::nullopt);
  RequestHead zero_length = GoodHead();
  zero_length.content_length = 0;  // declares no body
  EXPECT_EQ(CheckRequestHead(zero_length), std::nullopt);
}

TEST(CheckRequestHeadTest, AnHttp11RequestWithoutHostIs400) {
  RequestHead head = GoodHead();
  head.host_fields = 0;
  ExpectHeadRejected(head,
                     "missing Host header: an HTTP/1.1 request carries one (RFC 9112 section 3.2)");
  head.http_version = 10;  // HTTP/1.0 had no Host; it is turned away later as no upgrade
  EXPECT_EQ(CheckRequestHead(head), std::nullopt);
}

TEST(CheckRequestHeadTest, TwoHostFieldsAre400) {
  RequestHead head = GoodHead();
  head.host_fields = 2;
  ExpectHeadRejected(head,
                     "Host header appears 2 times: a request carries one (RFC 9112 section 3.2)");
}

TEST(CheckRequestHeadTest, TheWebSocketKeyOrVersionTwiceIs400) {
  RequestHead keys = GoodHead();
  keys.websocket_key_fields = 2;
  ExpectHeadRejected(
      keys, "Sec-WebSocket-Key appears 2 times: it may appear once (RFC 6455 section 11.3.1)");
  RequestHead versions = GoodHead();
  versions.websocket_version_fields = 3;
  ExpectHeadRejected(
      versions,
      "Sec-WebSocket-Version appears 3 times: it may appear once (RFC 6455 section 11.3.5)");
}

TEST(CheckRequestHeadTest, ADeclaredBodyIs400) {
  RequestHead sized = GoodHead();
  sized.content_length = 1 << 20;
  ExpectHeadRejected(sized, "a WebSocket upgrade has no body (Content-Length: 1048576)");

  RequestHead chunked = GoodHead();
  chunked.transfer_encoding_fields = 1;
  chunked.transfer_encoding = "gzip, Chunked";
  ExpectHeadRejected(chunked, "a WebSocket upgrade has no body (Transfer-Encoding: gzip, Chunked)");
}

TEST(CheckRequestHeadTest, AnUnknownTransferEncodingIs400NamingIt) {
  for (absl::string_view coding : {"gzip", "chunked, gzip", "identity", ""}) {
    RequestHead head = GoodHead();
    head.transfer_encoding_fields = 1;
    head.transfer_encoding = coding;
    ExpectHeadRejected(head, absl::StrCat("unknown Transfer-Encoding \"", coding,
                                          "\": a WebSocket upgrade has no body"));
  }
}

// --- OriginFormTarget ----------------------------------------------------------------------------

TEST(OriginFormTargetTest, AnOriginFormTargetIsItself) {
  EXPECT_EQ(OriginFormTarget("/ws"), "/ws");
  EXPECT_EQ(OriginFormTarget("/ws?token=abc&topics=a,b"), "/ws?token=abc&topics=a,b");
}

TEST(OriginFormTargetTest, AnAbsoluteFormTargetBecomesItsPathAndQuery) {
  EXPECT_EQ(OriginFormTarget("http://host:8080/ws?token=abc"), "/ws?token=abc");
  EXPECT_EQ(OriginFormTarget("HTTP://host/ws"), "/ws");
  EXPECT_EQ(OriginFormTarget("ws://[::1]:8080/ws?topics=a"), "/ws?topics=a");
  EXPECT_EQ(OriginFormTarget("https://user@host/a/b?c=%2F"), "/a/b?c=%2F");
  // An empty path is "/".
  EXPECT_EQ(OriginFormTarget("http://host:8080"), "/");
  EXPECT_EQ(OriginFormTarget("http://host?x=1"), "/?x=1");
}

TEST(OriginFormTargetTest, FormsWithoutAPathAreNullopt) {
  EXPECT_EQ(OriginFormTarget("*"), std::nullopt);
  EXPECT_EQ(OriginFormTarget("host:443"), std::nullopt);  // authority form
  EXPECT_EQ(OriginFormTarget(""), std::nullopt);
  EXPECT_EQ(OriginFormTarget("ws"), std::nullopt);
  EXPECT_EQ(OriginFormTarget(":8080/ws"), std::nullopt);
  EXPECT_EQ(OriginFormTarget("1http://host/ws"), std::nullopt);
}

// --- QueryParameter ------------------------------------------------------------------------------

std::optional<std::string> Param(absl::string_view target, absl::string_view name) {
  absl::StatusOr<std::optional<std::string>> value = QueryParameter(target, name);
  EXPECT_TRUE(value.ok()) << value.status();
  return value.ok() ? *value : std::nullopt;
}

TEST(QueryParameterTest, AbsentParametersAreNullopt) {
  EXPECT_EQ(Param("/ws", "token"), std::nullopt);
  EXPECT_EQ(Param("/ws?", "token"), std::nullopt);
  EXPECT_EQ(Param("/ws?topics=a", "token"), std::nullopt);
  EXPECT_EQ(Param("/ws?tokens=a&atoken=b", "token"), std::nullopt);
  EXPECT_EQ(Param("/ws?a=1#token=a", "token"), std::nullopt);
}

TEST(QueryParameterTest, ReturnsTheFirstValueOfTheParameter) {
  EXPECT_EQ(Param("/ws?token=abc", "token"), "abc");
  EXPECT_EQ(Param("/ws?a=1&token=abc&b=2", "token"), "abc");
  EXPECT_EQ(Param("/ws?token=first&token=second", "token"), "first");
  EXPECT_EQ(Param("/ws?token=abc#fragment", "token"), "abc");
  EXPECT_EQ(Param("/ws?token=a=b", "token"), "a=b");
}

TEST(QueryParameterTest, AParameterWithoutAValueIsEmpty) {
  EXPECT_EQ(Param("/ws?token", "token"), "");
  EXPECT_EQ(Param("/ws?token=", "token"), "");
  EXPECT_EQ(Param("/ws?a&token&b", "token"), "");
}

TEST(QueryParameterTest, ValuesArePercentDecodedAndPlusIsASpace) {
  EXPECT_EQ(Param("/ws?q=a%2Cb%2cc", "q"), "a,b,c");
  EXPECT_EQ(Param("/ws?q=hello+world%21", "q"), "hello world!");
  EXPECT_EQ(Param("/ws?q=%2B", "q"), "+");
  EXPECT_EQ(Param("/ws?q=%25", "q"), "%");
  EXPECT_EQ(Param("/ws?q=%E2%82%AC", "q"), "\xE2\x82\xAC");
}

TEST(QueryParameterTest, MalformedPercentEncodingIsInvalidArgumentNamingTheParameter) {
  for (absl::string_view target : {"/ws?q=%", "/ws?q=%4", "/ws?q=abc%", "/ws?q=%g0", "/ws?q=%0g"}) {
    const absl::StatusOr<std::optional<std::string>> value = QueryParameter(target, "q");
    ASSERT_FALSE(value.ok()) << target;
    EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument) << target;
    EXPECT_THAT(std::string(value.status().message()), ::testing::StartsWith("query parameter q: "))
        << target;
  }
}

TEST(QueryParameterTest, MalformedEncodingElsewhereDoesNotMatter) {
  EXPECT_EQ(Param("/ws?other=%zz&q=ok", "q"), "ok");
}

}  // namespace
}  // namespace wsbridge
