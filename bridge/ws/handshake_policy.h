// HandshakePolicy: decides, from an HTTP upgrade request, whether a browser may open a session
// and as whom: token (query `token` or `Authorization: Bearer`), anonymous mode, the topics it
// asks for (`?topics=a,b`, public topics only) and its Origin. Beside it, the RFC rules on the
// request's head that come first (CheckRequestHead: Host, single WebSocket fields, no body) and
// the request-target forms the port accepts (OriginFormTarget). Pure logic: no sockets, so every
// rule is unit-tested directly. The HTTP layer (ws/http_handshake.h) turns a rejection into the
// HTTP answer before any upgrade.
//
// Thread-safety: immutable after construction; Decide() is const and safe from any thread. The
// free functions are pure.
#pragma once

#include <cstddef>
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
  absl::string_view target;  // origin-form request target, e.g. "/ws?token=...&topics=a,b"
  // Authorization header value, empty when absent. Only the Bearer scheme is a token source:
  // other schemes (a browser may resend cached Basic credentials) are ignored.
  absl::string_view authorization;
  absl::string_view origin;  // Origin header value, empty when absent
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

// What the HTTP layer parsed of a request's head, for the rules CheckRequestHead applies.
// Counts are of header field lines (a field sent twice counts 2).
struct RequestHead {
  unsigned http_version = 11;  // 10 for HTTP/1.0, 11 for HTTP/1.1
  std::size_t host_fields = 0;
  std::size_t websocket_key_fields = 0;
  std::size_t websocket_version_fields = 0;
  std::optional<uint64_t> content_length;  // as the parser read it; nullopt when absent
  std::size_t transfer_encoding_fields = 0;
  absl::string_view transfer_encoding;  // the first Transfer-Encoding value
};

// The RFC rules on a request's head that hold before anything else is looked at, for every
// request on the WebSocket port: one Host on HTTP/1.1 and never two (RFC 9112 section 3.2,
// RFC 6455 section 4.2.1), Sec-WebSocket-Key and Sec-WebSocket-Version at most once (RFC 6455
// section 11.3), and no body. The port never reads a body (an upgrade has none): a declared one
// (Content-Length other than 0, any Transfer-Encoding, including codings the parser does not know
// and would otherwise take as "no body") is refused here, from the head alone. nullopt: the head
// may go on; otherwise a 400 naming the rule.
std::optional<HandshakeRejection> CheckRequestHead(const RequestHead& head);

// The origin form ("/ws?token=...") of a request target. An origin-form target is returned as
// it is; an absolute-form one ("http://host:8080/ws?token=...", which RFC 9112 section 3.2.2
// says a server must accept) becomes its path and query, an empty path being "/". nullopt for
// the forms that name no path (authority form "host:443", asterisk form "*") and for anything
// else.
std::optional<std::string> OriginFormTarget(absl::string_view target);

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
