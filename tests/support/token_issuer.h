// What the service that issues browser tokens holds and does, for tests: key pairs generated with
// OpenSSL (as the PEM texts an issuer and the bridge would be configured with), and JWTs signed
// with libjwt from a JSON claims object, HS256 with a secret or RS256/ES256 (and their
// siblings) with a private key.
//
// Failures are reported to the running test (EXPECT) and give empty results.
//
// Thread-safety: plain functions; safe from any thread.
#pragma once

#include <jwt.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace wsbridge::testing {

struct KeyPair {
  std::string public_pem;   // SubjectPublicKeyInfo ("BEGIN PUBLIC KEY")
  std::string private_pem;  // PKCS#8 ("BEGIN PRIVATE KEY")
};

KeyPair GenerateRsaKeyPair(size_t bits);
// `curve` as OpenSSL names it: "P-256", "P-384".
KeyPair GenerateEcKeyPair(const char* curve);
KeyPair GenerateEd25519KeyPair();

// Signs `claims_json` (a JSON object) with `alg`: `key` is the HMAC secret for HS*, the private
// key PEM otherwise.
std::string SignToken(std::string_view claims_json, jwt_alg_t alg, std::string_view key);

}  // namespace wsbridge::testing
