// ApiKeyCheck: the gRPC API's shared-secret check. A call must carry the key as
// `authorization: Bearer <key>` or `x-api-key: <key>` metadata; an empty configured key turns
// the check off. Compared in constant time.
//
// Thread-safety: immutable; Check() is safe from any thread.
#pragma once

#include <string>

#include <grpcpp/server_context.h>

#include "absl/status/status.h"

namespace wsbridge {

class ApiKeyCheck {
 public:
  explicit ApiKeyCheck(std::string key) : key_(std::move(key)) {}

  bool enabled() const { return !key_.empty(); }
  // OK, or UNAUTHENTICATED saying what is missing or wrong.
  absl::Status Check(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const;

 private:
  const std::string key_;
};

}  // namespace wsbridge
