// Owning pointers for the C handles that token code gets from libjwt and OpenSSL: each frees its
// handle with the library's own function when it goes. Shared by the verifier (auth/) and the
// tests' token issuer, so both free exactly the same way.
//
// Thread-safety: plain unique_ptrs; one owner each.
#pragma once

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

namespace wsbridge::auth {

struct JwtDeleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

// Strings returned by libjwt 1.10 (jwt_encode_str, jwt_get_grants_json, jwt_get_headers_json)
// come from malloc.
struct MallocStringDeleter {
  void operator()(char* text) const { std::free(text); }
};
using MallocStringPtr = std::unique_ptr<char, MallocStringDeleter>;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

}  // namespace wsbridge::auth
