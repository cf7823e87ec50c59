#include "auth/token_verifier.h"

#include <jwt.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/token_issuer.h"

namespace wsbridge::auth {
namespace {

using ::testing::ElementsAre;
using testing::GenerateEcKeyPair;
using testing::GenerateEd25519KeyPair;
using testing::GenerateRsaKeyPair;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::KeyPair;
using ::testing::Not;
using ::testing::Pair;
using testing::SignToken;

constexpr std::string_view kSecret = "an-hs256-secret-of-at-least-32-bytes!";
constexpr std::string_view kOtherSecret = "a-different-hs256-secret-of-32-bytes";

// Builds header.payload.signature by hand, for tokens no well-behaved library would produce.
std::string HandMadeToken(absl::string_view header_json, absl::string_view payload_json,
                          absl::string_view signature_part = "") {
  return absl::StrCat(absl::WebSafeBase64Escape(header_json), ".",
                      absl::WebSafeBase64Escape(payload_json), ".", signature_part);
}

std::string SignaturePart(std::string_view token) {
  return std::string(token.substr(token.rfind('.') + 1));
}

std::string PayloadPart(std::string_view token) {
  const size_t first = token.find('.');
  return std::string(token.substr(first + 1, token.rfind('.') - first - 1));
}

class TokenVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = std::make_unique<const KeyPair>(GenerateRsaKeyPair(2048));
    other_rsa_ = std::make_unique<const KeyPair>(GenerateRsaKeyPair(2048));
    ec_ = std::make_unique<const KeyPair>(GenerateEcKeyPair("P-256"));
    other_ec_ = std::make_unique<const KeyPair>(GenerateEcKeyPair("P-256"));
  }
  static void TearDownTestSuite() {
    rsa_.reset();
    other_rsa_.reset();
    ec_.reset();
    other_ec_.reset();
  }

  static std::unique_ptr<TokenVerifier> MakeVerifier(std::string hs256_secret,
                                                     std::string public_key_pem) {
    absl::StatusOr<std::unique_ptr<TokenVerifier>> verifier =
        TokenVerifier::Create({std::move(hs256_secret), std::move(public_key_pem)});
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    return verifier.ok() ? std::move(*verifier) : nullptr;
  }
  static std::unique_ptr<TokenVerifier> Hs256Verifier() {
    return MakeVerifier(std::string(kSecret), "");
  }
  static std::unique_ptr<TokenVerifier> Rs256Verifier() {
    return MakeVerifier("", rsa_->public_pem);
  }
  static std::unique_ptr<TokenVerifier> Es256Verifier() {
    return MakeVerifier("", ec_->public_pem);
  }

  // Asserts that `verifier` refuses `token` as UNAUTHENTICATED with a message containing `cause`,
  // and that the message does not leak the HS256 secret.
  static void ExpectRejected(const TokenVerifier& verifier, std::string_view token,
                             std::string_view cause) {
    const absl::StatusOr<VerifiedToken> verified = verifier.Verify(token, kNow);
    ASSERT_FALSE(verified.ok()) << "accepted: " << token;
    EXPECT_EQ(verified.status().code(), absl::StatusCode::kUnauthenticated) << verified.status();
    EXPECT_THAT(verified.status().message(), HasSubstr(cause)) << token;
    EXPECT_THAT(verified.status().message(), Not(HasSubstr(kSecret)));
    EXPECT_THAT(verified.status().message(), Not(HasSubstr("BEGIN")));
  }

  static inline const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
  static inline const int64_t kNowSeconds = 1'700'000'000;

  // Generated once for the suite: RSA key generation is the slow part of these tests.
  static inline std::unique_ptr<const KeyPair> rsa_;
  static inline std::unique_ptr<const KeyPair> other_rsa_;
  static inline std::unique_ptr<const KeyPair> ec_;
  static inline std::unique_ptr<const KeyPair> other_ec_;
};

std::string FullClaims(int64_t exp) {
  return absl::StrCat(R"({"sub":"user-42","topics":["news","chat/room-1"],)",
                      R"("meta":{"plan":"pro","region":"eu"},"exp":)", exp, "}");
}

void ExpectFullClaims(const absl::StatusOr<VerifiedToken>& verified, int64_t exp) {
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->user_id, "user-42");
  EXPECT_THAT(verified->topics, ElementsAre("news", "chat/room-1"));
  EXPECT_THAT(verified->metadata, ElementsAre(Pair("plan", "pro"), Pair("region", "eu")));
  ASSERT_TRUE(verified->expires_at.has_value());
  EXPECT_EQ(*verified->expires_at, absl::FromUnixSeconds(exp));
}

// --- Create, enabled(), algorithms() ----------------------------------------------------------

TEST_F(TokenVerifierTest, EnabledIsFalseForEmptyOptions) {
  const std::unique_ptr<TokenVerifier> verifier = MakeVerifier("", "");
  ASSERT_NE(verifier, nullptr);
  EXPECT_FALSE(verifier->enabled());
  EXPECT_THAT(verifier->algorithms(), IsEmpty());
  const std::string token = SignToken(R"({"sub":"u"})", JWT_ALG_HS256, kSecret);
  ExpectRejected(*verifier, token, "not configured");
}

TEST_F(TokenVerifierTest, AlgorithmsReflectTheConfiguredKeys) {
  EXPECT_THAT(Hs256Verifier()->algorithms(), ElementsAre("HS256"));
  EXPECT_THAT(Rs256Verifier()->algorithms(), ElementsAre("RS256"));
  EXPECT_THAT(Es256Verifier()->algorithms(), ElementsAre("ES256"));
  const std::unique_ptr<TokenVerifier> both = MakeVerifier(std::string(kSecret), ec_->public_pem);
  EXPECT_TRUE(both->enabled());
  EXPECT_THAT(both->algorithms(), ElementsAre("HS256", "ES256"));
}

TEST_F(TokenVerifierTest, CreateFailsOnGarbagePem) {
  const auto verifier = TokenVerifier::Create({"", "-----BEGIN PUBLIC KEY-----\nnot base64!\n"});
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(verifier.status().message(), HasSubstr("does not parse"));
}

TEST_F(TokenVerifierTest, CreateFailsOnPrivateKeyPem) {
  const auto verifier = TokenVerifier::Create({"", rsa_->private_pem});
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(verifier.status().message(), HasSubstr("does not parse"));
  EXPECT_THAT(verifier.status().message(), Not(HasSubstr("PRIVATE")));
}

TEST_F(TokenVerifierTest, CreateFailsOnEd25519Key) {
  const auto verifier = TokenVerifier::Create({"", GenerateEd25519KeyPair().public_pem});
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(verifier.status().message(), HasSubstr("ED25519 key"));
}

TEST_F(TokenVerifierTest, CreateFailsOnEcP384Key) {
  const auto verifier = TokenVerifier::Create({"", GenerateEcKeyPair("P-384").public_pem});
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(verifier.status().message(), HasSubstr("curve secp384r1"));
}

TEST_F(TokenVerifierTest, CreateFailsOnShortRsaKey) {
  const auto verifier = TokenVerifier::Create({"", GenerateRsaKeyPair(1024).public_pem});
  ASSERT_FALSE(verifier.ok());
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(verifier.status().message(), HasSubstr("1024-bit RSA key"));
}

// --- Accepted tokens ----------------------------------------------------------------------------

TEST_F(TokenVerifierTest, AcceptsHs256Token) {
  const int64_t exp = kNowSeconds + 3600;
  const std::string token = SignToken(FullClaims(exp), JWT_ALG_HS256, kSecret);
  ExpectFullClaims(Hs256Verifier()->Verify(token, kNow), exp);
}

TEST_F(TokenVerifierTest, AcceptsRs256Token) {
  const int64_t exp = kNowSeconds + 60;
  const std::string token = SignToken(FullClaims(exp), JWT_ALG_RS256, rsa_->private_pem);
  ExpectFullClaims(Rs256Verifier()->Verify(token, kNow), exp);
}

TEST_F(TokenVerifierTest, AcceptsEs256Token) {
  const int64_t exp = kNowSeconds + 1;
  const std::string token = SignToken(FullClaims(exp), JWT_ALG_ES256, ec_->private_pem);
  ExpectFullClaims(Es256Verifier()->Verify(token, kNow), exp);
}

TEST_F(TokenVerifierTest, AcceptsTokenWithOnlySub) {
  const std::string token = SignToken(R"({"sub":"only-sub"})", JWT_ALG_HS256, kSecret);
  const absl::StatusOr<VerifiedToken> verified = Hs256Verifier()->Verify(token, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->user_id, "only-sub");
  EXPECT_THAT(verified->topics, IsEmpty());
  EXPECT_THAT(verified->metadata, IsEmpty());
  EXPECT_FALSE(verified->expires_at.has_value());
}

TEST_F(TokenVerifierTest, AcceptsPastNbfAndEmptyTopicsAndMeta) {
  const std::string token =
      SignToken(absl::StrCat(R"({"sub":"u","topics":[],"meta":{},"nbf":)", kNowSeconds, "}"),
                JWT_ALG_HS256, kSecret);
  const absl::StatusOr<VerifiedToken> verified = Hs256Verifier()->Verify(token, kNow);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_THAT(verified->topics, IsEmpty());
  EXPECT_THAT(verified->metadata, IsEmpty());
}

TEST_F(TokenVerifierTest, WithBothKeysTheHeaderAlgChoosesTheKey) {
  const std::unique_ptr<TokenVerifier> both = MakeVerifier(std::string(kSecret), rsa_->public_pem);
  EXPECT_TRUE(both->Verify(SignToken(R"({"sub":"h"})", JWT_ALG_HS256, kSecret), kNow).ok());
  EXPECT_TRUE(
      both->Verify(SignToken(R"({"sub":"r"})", JWT_ALG_RS256, rsa_->private_pem), kNow).ok());
  ExpectRejected(*both, SignToken(R"({"sub":"e"})", JWT_ALG_ES256, ec_->private_pem),
                 "'ES256' is not allowed (accepted: HS256, RS256)");
}

TEST_F(TokenVerifierTest, VerifyIsSafeToCallConcurrently) {
  const std::unique_ptr<TokenVerifier> both = MakeVerifier(std::string(kSecret), ec_->public_pem);
  const std::string good_hs = SignToken(R"({"sub":"h"})", JWT_ALG_HS256, kSecret);
  const std::string good_es = SignToken(R"({"sub":"e"})", JWT_ALG_ES256, ec_->private_pem);
  const std::string bad_es = SignToken(R"({"sub":"e"})", JWT_ALG_ES256, other_ec_->private_pem);
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  for (size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (!both->Verify(good_hs, kNow).ok()) ++failures[t];
        if (!both->Verify(good_es, kNow).ok()) ++failures[t];
        if (both->Verify(bad_es, kNow).ok()) ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(failures, ::testing::Each(0));
}

// --- Rejections: shape
// ----------------------------------------------------------------------------

TEST_F(TokenVerifierTest, RejectsEmptyToken) {
  ExpectRejected(*Hs256Verifier(), "", "token is empty");
}

TEST_F(TokenVerifierTest, RejectsOversizedToken) {
  const std::string token = HandMadeToken(
      R"({"alg":"HS256"})", absl::StrCat(R"({"sub":")", std::string(20000, 'a'), "\"}"), "c2ln");
  ExpectRejected(*Hs256Verifier(), token, "too long");
}

TEST_F(TokenVerifierTest, RejectsMalformedTokens) {
  const std::unique_ptr<TokenVerifier> verifier = Hs256Verifier();
  const std::string good = SignToken(R"({"sub":"u"})", JWT_ALG_HS256, kSecret);
  const std::string header = good.substr(0, good.find('.'));
  const std::string payload = PayloadPart(good);
  const std::string signature = SignaturePart(good);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not-a-jwt", "three dot-separated parts"},
      {absl::StrCat(header, ".", payload), "three dot-separated parts"},
      {absl::StrCat(good, ".extra"), "three dot-separated parts"},
      {absl::StrCat(".", payload, ".", signature), "not base64url"},
      {absl::StrCat(header, "..", signature), "not base64url"},
      {absl::StrCat(header, "!.", payload, ".", signature), "not base64url"},
      {absl::StrCat(header, ".", payload, ".", signature, "="), "not base64url"},
      {absl::StrCat("A.", payload, ".", signature), "header is not base64url-encoded JSON"},
      {HandMadeToken("not json", R"({"sub":"u"})", signature), "header is not a JSON object"},
      {HandMadeToken(R"(["HS256"])", R"({"sub":"u"})", signature), "header is not a JSON object"},
      {HandMadeToken(R"({"typ":"JWT"})", R"({"sub":"u"})", signature),
       "header has no string 'alg'"},
      {HandMadeToken(R"({"alg":256})", R"({"sub":"u"})", signature), "header has no string 'alg'"},
      {HandMadeToken(R"({"alg":"HS256"})", "{sub:u}", signature), "payload is not a JSON object"},
      {HandMadeToken(R"({"alg":"HS256"})", R"(["u"])", signature), "payload is not a JSON object"},
      {HandMadeToken(R"({"alg":"HS256"})", R"({"sub":"u"})", ""), "signature is missing"},
  };
  for (const auto& [token, cause] : cases) {
    SCOPED_TRACE(token);
    ExpectRejected(*verifier, token, "malformed token");
    ExpectRejected(*verifier, token, cause);
  }
}

TEST_F(TokenVerifierTest, RejectsUnsupportedTyp) {
  ExpectRejected(*Hs256Verifier(),
                 HandMadeToken(R"({"alg":"HS256","typ":"at+jwt"})", R"({"sub":"u"})", "c2ln"),
                 "unsupported token type");
}

TEST_F(TokenVerifierTest, RejectsCritHeader) {
  ExpectRejected(
      *Hs256Verifier(),
      HandMadeToken(R"({"alg":"HS256","crit":["b64"],"b64":false})", R"({"sub":"u"})", "c2ln"),
      "critical");
}

// --- Rejections: algorithm ----------------------------------------------------------------------

TEST_F(TokenVerifierTest, RejectsAlgNone) {
  const std::unique_ptr<TokenVerifier> verifier =
      MakeVerifier(std::string(kSecret), rsa_->public_pem);
  ExpectRejected(*verifier, HandMadeToken(R"({"alg":"none","typ":"JWT"})", R"({"sub":"u"})"),
                 "alg 'none'");
  ExpectRejected(*verifier, HandMadeToken(R"({"alg":"None"})", R"({"sub":"u"})"), "alg 'none'");
  ExpectRejected(*verifier, HandMadeToken(R"({"alg":"NONE"})", R"({"sub":"u"})"), "alg 'none'");
}

TEST_F(TokenVerifierTest, RejectsAlgNoneEvenWithAValidLookingSignature) {
  // A real HS256 token whose header was swapped for alg none: payload and signature are genuine.
  const std::string good = SignToken(R"({"sub":"u"})", JWT_ALG_HS256, kSecret);
  const std::string forged = absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"none"})"), ".",
                                          PayloadPart(good), ".", SignaturePart(good));
  ExpectRejected(*Hs256Verifier(), forged, "alg 'none'");
}

TEST_F(TokenVerifierTest, RejectsRs256WhenOnlyHs256IsConfigured) {
  const std::string token = SignToken(R"({"sub":"u"})", JWT_ALG_RS256, rsa_->private_pem);
  ExpectRejected(*Hs256Verifier(), token, "'RS256' is not allowed (accepted: HS256)");
}

TEST_F(TokenVerifierTest, RejectsHs256WhenOnlyPublicKeyIsConfigured) {
  const std::string token = SignToken(R"({"sub":"u"})", JWT_ALG_HS256, kSecret);
  ExpectRejected(*Rs256Verifier(), token, "'HS256' is not allowed (accepted: RS256)");
}

TEST_F(TokenVerifierTest, RejectsKeyConfusionWithPublicKeyAsHmacSecret) {
  // The classic RS256->HS256 confusion: HMAC keyed with the (public) PEM text.
  const std::string forged = SignToken(R"({"sub":"admin"})", JWT_ALG_HS256, rsa_->public_pem);
  ExpectRejected(*Rs256Verifier(), forged, "'HS256' is not allowed");
  // With an HS256 secret configured too, HS256 is checked against that secret only.
  ExpectRejected(*MakeVerifier(std::string(kSecret), rsa_->public_pem), forged,
                 "signature is invalid");
}

TEST_F(TokenVerifierTest, RejectsAlgorithmsOtherThanTheConfiguredOnes) {
  const std::unique_ptr<TokenVerifier> hs = Hs256Verifier();
  ExpectRejected(*hs, SignToken(R"({"sub":"u"})", JWT_ALG_HS384, kSecret),
                 "'HS384' is not allowed");
  ExpectRejected(*hs, SignToken(R"({"sub":"u"})", JWT_ALG_HS512, kSecret),
                 "'HS512' is not allowed");
  const std::unique_ptr<TokenVerifier> rs = Rs256Verifier();
  ExpectRejected(*rs, SignToken(R"({"sub":"u"})", JWT_ALG_RS384, rsa_->private_pem),
                 "'RS384' is not allowed");
  ExpectRejected(*rs, SignToken(R"({"sub":"u"})", JWT_ALG_RS512, rsa_->private_pem),
                 "'RS512' is not allowed");
  ExpectRejected(*rs, HandMadeToken(R"({"alg":"PS256"})", R"({"sub":"u"})", "c2ln"),
                 "'PS256' is not allowed");
  ExpectRejected(*rs, SignToken(R"({"sub":"u"})", JWT_ALG_ES256, ec_->private_pem),
                 "'ES256' is not allowed (accepted: RS256)");
  const std::unique_ptr<TokenVerifier> es = Es256Verifier();
  ExpectRejected(*es, HandMadeToken(R"({"alg":"ES384"})", R"({"sub":"u"})", "c2ln"),
                 "'ES384' is not allowed");
  ExpectRejected(*es, SignToken(R"({"sub":"u"})", JWT_ALG_RS256, rsa_->private_pem),
                 "'RS256' is not allowed (accepted: ES256)");
  // Case matters: "hs256" is not HS256.
  ExpectRejected(*hs, HandMadeToken(R"({"alg":"hs256"})", R"({"sub":"u"})", "c2ln"),
                 "'hs256' is not allowed");
}

TEST_F(TokenVerifierTest, EscapesAndTruncatesAnEchoedAlgorithm) {
  const absl::StatusOr<VerifiedToken> verified = Hs256Verifier()->Verify(
      HandMadeToken(R"({"alg":"<script>\n0123456789012345678901234567890"})", R"({"sub":"u"})",
                    "c2ln"),
      kNow);
  ASSERT_FALSE(verified.ok());
  EXPECT_THAT(verified.status().message(), HasSubstr(R"('<script>\n01234567890...' is not)"));
}

// --- Rejections: signature ----------------------------------------------------------------------

TEST_F(TokenVerifierTest, RejectsHs256SignedWithAnotherSecret) {
  ExpectRejected(*Hs256Verifier(), SignToken(R"({"sub":"u"})", JWT_ALG_HS256, kOtherSecret),
                 "signature is invalid");
}

TEST_F(TokenVerifierTest, RejectsRs256SignedWithAnotherRsaKey) {
  ExpectRejected(*Rs256Verifier(),
                 SignToken(R"({"sub":"u"})", JWT_ALG_RS256, other_rsa_->private_pem),
                 "signature is invalid");
}

TEST_F(TokenVerifierTest, RejectsEs256SignedWithAnotherEcKey) {
  ExpectRejected(*Es256Verifier(),
                 SignToken(R"({"sub":"u"})", JWT_ALG_ES256, other_ec_->private_pem),
                 "signature is invalid");
}

TEST_F(TokenVerifierTest, RejectsTamperedPayload) {
  const std::string good = SignToken(R"({"sub":"alice"})", JWT_ALG_RS256, rsa_->private_pem);
  const std::string tampered =
      absl::StrCat(good.substr(0, good.find('.')), ".",
                   absl::WebSafeBase64Escape(R"({"sub":"admin"})"), ".", SignaturePart(good));
  ExpectRejected(*Rs256Verifier(), tampered, "signature is invalid");
}

TEST_F(TokenVerifierTest, RejectsGarbageSignature) {
  ExpectRejected(*Es256Verifier(), HandMadeToken(R"({"alg":"ES256"})", R"({"sub":"u"})", "c2ln"),
                 "signature is invalid");
}

// --- Rejections: time ---------------------------------------------------------------------------

TEST_F(TokenVerifierTest, RejectsExpiredToken) {
  const std::unique_ptr<TokenVerifier> verifier = Hs256Verifier();
  ExpectRejected(*verifier, SignToken(FullClaims(kNowSeconds - 1), JWT_ALG_HS256, kSecret),
                 "token has expired");
  // exp == now is already expired.
  ExpectRejected(*verifier, SignToken(FullClaims(kNowSeconds), JWT_ALG_HS256, kSecret),
                 "token has expired");
}

TEST_F(TokenVerifierTest, RejectsNonNumericExp) {
  ExpectRejected(*Hs256Verifier(),
                 SignToken(R"({"sub":"u","exp":"1999999999"})", JWT_ALG_HS256, kSecret),
                 "'exp' claim is not a number");
}

TEST_F(TokenVerifierTest, RejectsTokenNotValidYet) {
  const std::unique_ptr<TokenVerifier> verifier = Hs256Verifier();
  ExpectRejected(
      *verifier,
      SignToken(absl::StrCat(R"({"sub":"u","nbf":)", kNowSeconds + 1, "}"), JWT_ALG_HS256, kSecret),
      "'nbf' is in the future");
  ExpectRejected(*verifier, SignToken(R"({"sub":"u","nbf":true})", JWT_ALG_HS256, kSecret),
                 "'nbf' claim is not a number");
}

// --- Rejections: claims -------------------------------------------------------------------------

TEST_F(TokenVerifierTest, RejectsMissingSub) {
  ExpectRejected(*Hs256Verifier(), SignToken(R"({"topics":["a"]})", JWT_ALG_HS256, kSecret),
                 "no 'sub' claim");
}

TEST_F(TokenVerifierTest, RejectsEmptySub) {
  ExpectRejected(*Hs256Verifier(), SignToken(R"({"sub":""})", JWT_ALG_HS256, kSecret),
                 "'sub' claim is empty");
}

TEST_F(TokenVerifierTest, RejectsNonStringSub) {
  const std::unique_ptr<TokenVerifier> verifier = Hs256Verifier();
  ExpectRejected(*verifier, SignToken(R"({"sub":42})", JWT_ALG_HS256, kSecret),
                 "'sub' claim is not a string");
  ExpectRejected(*verifier, SignToken(R"({"sub":null})", JWT_ALG_HS256, kSecret),
                 "'sub' claim is not a string");
  ExpectRejected(*verifier, SignToken(R"({"sub":["u"]})", JWT_ALG_HS256, kSecret),
                 "'sub' claim is not a string");
}

TEST_F(TokenVerifierTest, RejectsTopicsThatAreNotAnArrayOfStrings) {
  const std::unique_ptr<TokenVerifier> verifier = Hs256Verifier();
  for (const absl::string_view topics :
       {R"("news")", R"(["news",7])", R"({"a":"b"})", "null", R"([["nested"]])"}) {
    SCOPED_TRACE(topics);
    ExpectRejected(
        *verifier,
        SignToken(absl::StrCat(R"({"sub":"u","topics":)", topics, "}"), JWT_ALG_HS256, kSecret),
        "'topics' claim must be an array of strings");
  }
}

TEST_F(TokenVerifierTest, RejectsMetaThatIsNotAnObjectOfStrings) {
  const std::unique_ptr<TokenVerifier> verifier = Hs256Verifier();
  for (const absl::string_view meta :
       {R"(["a"])", R"("plan=pro")", R"({"plan":1})", R"({"plan":{"tier":"pro"}})", "null"}) {
    SCOPED_TRACE(meta);
    ExpectRejected(
        *verifier,
        SignToken(absl::StrCat(R"({"sub":"u","meta":)", meta, "}"), JWT_ALG_HS256, kSecret),
        "'meta' claim must be an object whose values are strings");
  }
}

}  // namespace
}  // namespace wsbridge::auth
