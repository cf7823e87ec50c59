#include "support/token_issuer.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>

#include "auth/owned_handles.h"
#include "gtest/gtest.h"

namespace wsbridge::testing {
namespace {

using auth::BioPtr;
using auth::EvpPkeyPtr;
using auth::JwtPtr;
using auth::MallocStringPtr;

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

KeyPair ToPem(EvpPkeyPtr key) {
  EXPECT_NE(key, nullptr) << "key generation failed";
  if (key == nullptr) return {};
  const BioPtr public_bio(BIO_new(BIO_s_mem()));
  const BioPtr private_bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PUBKEY(public_bio.get(), key.get()), 1);
  EXPECT_EQ(
      PEM_write_bio_PrivateKey(private_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
      1);
  return KeyPair{BioContents(public_bio.get()), BioContents(private_bio.get())};
}

}  // namespace

KeyPair GenerateRsaKeyPair(size_t bits) {
  return ToPem(EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)));
}

KeyPair GenerateEcKeyPair(const char* curve) {
  return ToPem(EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)));
}

KeyPair GenerateEd25519KeyPair() {
  return ToPem(EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")));
}

std::string SignToken(std::string_view claims_json, jwt_alg_t alg, std::string_view key) {
  jwt_t* raw = nullptr;
  EXPECT_EQ(jwt_new(&raw), 0);
  const JwtPtr jwt(raw);
  if (jwt == nullptr) return "";
  EXPECT_EQ(jwt_add_grants_json(jwt.get(), std::string(claims_json).c_str()), 0) << claims_json;
  EXPECT_EQ(jwt_set_alg(jwt.get(), alg, reinterpret_cast<const unsigned char*>(key.data()),
                        static_cast<int>(key.size())),
            0);
  const MallocStringPtr encoded(jwt_encode_str(jwt.get()));
  EXPECT_NE(encoded, nullptr);
  return encoded == nullptr ? std::string() : std::string(encoded.get());
}

}  // namespace wsbridge::testing
