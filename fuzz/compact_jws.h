// Compact JWS tokens (RFC 7515 section 7.1) built from raw bytes, for the JWT fuzz target and the
// seed generator: the header and payload are taken as they are (not necessarily JSON), so a fuzzer
// can reach the claim checks that sit behind a valid signature.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace wsbridge::fuzz {

// Unpadded base64url.
std::string Base64Url(std::string_view bytes);

// base64url(header) "." base64url(payload) "." base64url(HMAC-SHA256 of the first two parts with
// `secret`), whatever `alg` the header names.
std::string SignHs256(std::string_view header, std::string_view payload, std::string_view secret);

}  // namespace wsbridge::fuzz
