// HandshakePolicy: decides, from an HTTP upgrade request, whether a browser may open a session
// and as whom: token (query `token` or `Authorization: Bearer`), anonymous mode, the topics it
// asks for (`?topics=a,b`, public topics only) and its Origin. Pure logic: no sockets, so every
// rule is unit-tested directly. The HTTP layer (ws/http_handshake.h) turns a rejection into the
// HTTP answer before any upgrade.
//
// Thread-safety: immutable after construction; Decide() is const and safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auth/token_verifier.h"
#include "config/config.h"

namespace wsbridge {

struct UpgradeRequest {
  absl::string_view target;         // request target, e.g. "/ws?token=...&topics=a,b"
  absl::string_view authorization;  // Authorization header value, empty when absent
  absl::string_view origin;         // Origin header value, empty when absent
};

struct AdmittedSession {
  std::string user_id;              // empty: anonymous
  std::vector<std::string> topics;  // sorted, unique
  std::map<std::string, std::string> metadata;
};

struct HandshakeRejection {
  unsigned http_status;  // 400, 401 or 403
  std::string message;   // sent as the response body
};

using HandshakeDecision = std::variant<AdmittedSession, HandshakeRejection>;

class HandshakePolicy {
 public:
  // Reads allow_anonymous, public_topics, allowed_origins and max_topics_per_session of
  // `options` (the node's config.admission). `verifier` may be null or disabled: then only
  // anonymous sessions can be admitted. REQUIRES: `options` and `verifier` outlive the policy.
  HandshakePolicy(const AdmissionOptions& options, const auth::TokenVerifier* verifier);

  HandshakeDecision Decide(const UpgradeRequest& request, absl::Time now) const;

 private:
  const AdmissionOptions& options_;
  const absl::flat_hash_set<std::string> public_topics_;
  const auth::TokenVerifier* const verifier_;
};

// Value of the first query parameter `name` in `target` ("/p?a=1&b=2"), percent-decoded ('+' is a
// space); nullopt when absent; INVALID_ARGUMENT when its percent-encoding is malformed.
absl::StatusOr<std::optional<std::string>> QueryParameter(absl::string_view target,
                                                          absl::string_view name);

}  // namespace wsbridge
