// DecideUpgrade: what the WebSocket port does with a request once its head is read, before any
// byte of an answer: refuse it with an HTTP status and a reason, answer it from the static files,
// or admit a session (which the connection limits, stateful, may still refuse with 429). The
// order of the checks is part of the port's contract, because a request that breaks two rules
// gets the answer of the first:
//   1. the RFC rules on the head (CheckRequestHead: Host, single WebSocket fields, no body): 400;
//   2. the target: a form that names no path 404; a path other than ws_path 404, or, with
//      --static_dir, a static file when the request is not an upgrade;
//   3. an upgrade (426), of WebSocket version 13 (426), with a well-formed Sec-WebSocket-Key
//      (400);
//   4. draining: 503;
//   5. the HandshakePolicy (origin, token, topics): 400, 401 or 403, or the admitted session.
// HttpHandshake::OnRead (ws/http_handshake.h) acts on the decision; the fuzz target
// fuzz/fuzz_upgrade_request.cc runs the same function, so it fuzzes the port's real order.
//
// Pure: no sockets and no clock (the caller passes `now`). Thread-safety: safe from any thread
// as far as the policy is (HandshakePolicy::Decide is const and thread-safe).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/beast/http/message.hpp>

#include "absl/time/time.h"
#include "ws/handshake_policy.h"

namespace wsbridge {

// What the decision reads besides the request.
struct UpgradeSituation {
  std::string_view ws_path;   // the WebSocket endpoint, e.g. "/ws"
  bool static_files = false;  // --static_dir is set: plain requests elsewhere are files
  bool draining = false;      // the node refuses new sessions
  const HandshakePolicy& policy;
  absl::Time now;  // for the token's expiry
};

// An answer without an upgrade.
struct UpgradeRefusal {
  // A body length no Content-Length gives: a Transfer-Encoding declares a body of unknown size.
  static constexpr uint64_t kUnknownLength = std::numeric_limits<uint64_t>::max();

  unsigned http_status = 400;  // 400, 401, 403, 404, 426 or 503
  std::string message;         // the reason, for the answer's body; no trailing newline
  // The body the head declares and the port refused (0 when none), which may already be on its
  // way behind the head: the connection may read it away before closing.
  uint64_t declared_body_bytes = 0;
};

// A plain request (not an upgrade) for a path other than ws_path, with --static_dir set.
struct StaticFileRequest {
  std::string target;  // origin form, e.g. "/index.html?v=2"
};

using UpgradeDecision = std::variant<UpgradeRefusal, StaticFileRequest, AdmittedSession>;

// Decides on `request` (its head; the port never reads a body) in `situation`. `content_length`
// is what the HTTP parser read of Content-Length (nullopt when absent).
UpgradeDecision DecideUpgrade(const boost::beast::http::request_header<>& request,
                              std::optional<uint64_t> content_length,
                              const UpgradeSituation& situation);

}  // namespace wsbridge
