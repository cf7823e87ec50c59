#include "api/api_key_check.h"
#include "absl/strings/string_view.h"

#include <string_view>

#include <openssl/crypto.h>

#include "absl/strings/match.h"

namespace wsbridge {

absl::Status ApiKeyCheck::Check(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
  if (key_.empty()) return absl::OkStatus();
  absl::string_view presented;
  bool found = false;
  if (auto it = metadata.find("x-api-key"); it != metadata.end()) {
    presented = absl::string_view(it->second.data(), it->second.size());
    found = true;
  } else if (auto auth = metadata.find("authorization"); auth != metadata.end()) {
    absl::string_view value(auth->second.data(), auth->second.size());
    constexpr absl::string_view kBearer = "Bearer ";
    if (!absl::StartsWithIgnoreCase(value, kBearer)) {
      return absl::UnauthenticatedError(
          "authorization metadata must be \"Bearer <api key>\" (or send x-api-key)");
    }
    presented = value.substr(kBearer.size());
    found = true;
  }
  if (!found) {
    return absl::UnauthenticatedError(
        "missing API key: send metadata \"authorization: Bearer <key>\" or \"x-api-key: <key>\"");
  }
  if (presented.size() != key_.size() ||
      CRYPTO_memcmp(presented.data(), key_.data(), key_.size()) != 0) {
    return absl::UnauthenticatedError("wrong API key");
  }
  return absl::OkStatus();
}

}  // namespace wsbridge
