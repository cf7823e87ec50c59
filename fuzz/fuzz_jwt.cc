// Fuzz target: auth::TokenVerifier, the check of every token a browser presents.
//
// Two verifiers, both with the HS256 secret, one with the RSA public key (RS256) and one with
// the EC P-256 key (ES256). The first input byte says what the rest is:
//   bits 0-1  0 or 3: a token as a browser sends it, verified as it is;
//             1: the claims (any bytes, usually JSON): the target wraps them in the header
//                {"alg":"HS256","typ":"JWT"} and signs them with the secret, so the fuzzer
//                reaches the claim checks behind a valid signature;
//             2: a header and claims separated by the first NUL byte (any bytes each), signed
//                with the secret whatever `alg` the header names (algorithm confusion);
//   bit 2     verify with the ES256 verifier instead of the RS256 one.
// Nothing may crash, leak or hit undefined behaviour; any failure must be UNAUTHENTICATED with
// a message; a success must have a non-empty user and an expiry after "now".
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "auth/token_verifier.h"
#include "compact_jws.h"
#include "fuzz_keys.h"
#include "invariant.h"

namespace wsbridge::fuzz {
namespace {

constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

std::unique_ptr<auth::TokenVerifier> MakeVerifier(const char* public_key_pem) {
  auto verifier =
      auth::TokenVerifier::Create({.hs256_secret = kHs256Secret, .public_key_pem = public_key_pem});
  Invariant(verifier.ok(), "the fuzz keys do not make a verifier");
  return std::move(*verifier);
}

struct Verifiers {
  std::unique_ptr<auth::TokenVerifier> rs256 = MakeVerifier(kRsaPublicPem);
  std::unique_ptr<auth::TokenVerifier> es256 = MakeVerifier(kEcPublicPem);
};

void CheckVerdict(const absl::StatusOr<auth::VerifiedToken>& verdict) {
  if (!verdict.ok()) {
    Invariant(verdict.status().code() == absl::StatusCode::kUnauthenticated,
              "a refusal other than UNAUTHENTICATED");
    Invariant(!verdict.status().message().empty(), "a refusal without a message");
    return;
  }
  Invariant(!verdict->user_id.empty(), "a verified token without a user");
  Invariant(!verdict->expires_at.has_value() ||
                *verdict->expires_at > absl::FromUnixSeconds(kNowUnixSeconds),
            "an expired token verified");
}

}  // namespace
}  // namespace wsbridge::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsbridge::fuzz;
  static const Verifiers* const verifiers = new Verifiers();
  if (size < 1) return -1;
  const uint8_t options = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string token;
  switch (options & 0x3) {
    case 1:
      token = SignHs256(kHs256Header, rest, kHs256Secret);
      break;
    case 2: {
      const size_t nul = rest.find('\0');
      if (nul == std::string_view::npos) return -1;
      token = SignHs256(rest.substr(0, nul), rest.substr(nul + 1), kHs256Secret);
      break;
    }
    default:
      token = std::string(rest);
      break;
  }
  const wsbridge::auth::TokenVerifier& verifier =
      (options & 0x4) != 0 ? *verifiers->es256 : *verifiers->rs256;
  const auto verdict = verifier.Verify(token, absl::FromUnixSeconds(kNowUnixSeconds));
  if (Verbose()) {
    std::fprintf(stderr, "verdict: %s\n",
                 verdict.ok() ? ("user " + verdict->user_id).c_str()
                              : std::string(verdict.status().message()).c_str());
  }
  CheckVerdict(verdict);
  return 0;
}
