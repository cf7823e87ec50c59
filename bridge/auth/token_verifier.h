// TokenVerifier: verifies the JWTs that browsers present when they open a WebSocket connection.
//
// Thread-safety: immutable after Create; Verify is const and may be called concurrently from any
// thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wsbridge::auth {

struct TokenVerifierOptions {
  // Shared secret for HS256 tokens; empty disables HS256.
  std::string hs256_secret;
  // PEM text (not a path) of an RSA public key (enables RS256) or an EC P-256 public key
  // (enables ES256); empty disables both.
  std::string public_key_pem;
};

struct VerifiedToken {
  std::string user_id;                          // the `sub` claim, non-empty
  std::vector<std::string> topics;              // optional `topics` claim (array of strings)
  std::map<std::string, std::string> metadata;  // optional `meta` claim (object of strings)
  std::optional<absl::Time> expires_at;         // `exp`, when present
};

// TokenVerifier checks a compact-serialized JWT (HS256, RS256 or ES256) against the keys it was
// created with and turns its claims into a VerifiedToken. The token's header `alg` selects the
// key, and only a configured algorithm is accepted: HS256 is only ever checked with
// `hs256_secret`, RS256/ES256 only with `public_key_pem`, and `alg: none` is always refused.
// Signatures are checked by libjwt on OpenSSL; `exp` and `nbf` are checked here against `now`.
//
// Thread safety: a TokenVerifier is immutable after Create. Verify is const and safe to call
// concurrently from any number of threads without external locking.
class TokenVerifier {
 public:
  // INVALID_ARGUMENT naming the problem if the PEM does not parse, or is neither RSA nor EC P-256.
  // RSA keys shorter than 2048 bits are refused as well.
  static absl::StatusOr<std::unique_ptr<TokenVerifier>> Create(TokenVerifierOptions options);

  // True when at least one algorithm is configured.
  bool enabled() const;

  // The algorithms accepted, e.g. {"HS256"} or {"RS256"} (for messages and logs).
  std::vector<std::string> algorithms() const;

  // UNAUTHENTICATED with a specific, human-readable message on any failure: empty, oversized or
  // malformed token; `alg: none`; an algorithm that is not configured; an unsupported `typ` or a
  // `crit` header; a bad signature; `exp <= now`; `nbf > now`; a missing, empty or non-string
  // `sub`; a `topics` claim that is not an array of strings; a `meta` claim that is not an object
  // of strings. Messages are safe to show to the client: they never contain key material.
  absl::StatusOr<VerifiedToken> Verify(std::string_view token, absl::Time now) const;

 private:
  TokenVerifier(std::string hs256_secret, std::string public_key_pem,
                std::string public_key_algorithm);

  // Empty when HS256 is disabled.
  const std::string hs256_secret_;
  // Empty when RS256/ES256 are disabled.
  const std::string public_key_pem_;
  // "RS256" or "ES256" according to the type of public_key_pem_; empty without a public key.
  const std::string public_key_algorithm_;
};

}  // namespace wsbridge::auth
