#include "ws/handshake_policy.h"
#include "absl/strings/string_view.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/names.h"
#include "common/percent_decoding.h"

namespace wsbridge {
namespace {

HandshakeRejection Reject(unsigned status, std::string message) {
  return HandshakeRejection{status, std::move(message)};
}

bool IsSchemeChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// The last transfer coding of a Transfer-Encoding value ("gzip, chunked" -> "chunked").
absl::string_view LastCoding(absl::string_view value) {
  const size_t comma = value.rfind(',');
  if (comma != absl::string_view::npos) value = value.substr(comma + 1);
  return absl::StripAsciiWhitespace(value);
}

}  // namespace

std::optional<HandshakeRejection> CheckRequestHead(const RequestHead& head) {
  if (head.host_fields == 0 && head.http_version >= 11) {
    return Reject(400,
                  "missing Host header: an HTTP/1.1 request carries one (RFC 9112 section 3.2)");
  }
  if (head.host_fields > 1) {
    return Reject(400, absl::StrCat("Host header appears ", head.host_fields,
                                    " times: a request carries one (RFC 9112 section 3.2)"));
  }
  if (head.websocket_key_fields > 1) {
    return Reject(400, absl::StrCat("Sec-WebSocket-Key appears ", head.websocket_key_fields,
                                    " times: it may appear once (RFC 6455 section 11.3.1)"));
  }
  if (head.websocket_version_fields > 1) {
    return Reject(400, absl::StrCat("Sec-WebSocket-Version appears ", head.websocket_version_fields,
                                    " times: it may appear once (RFC 6455 section 11.3.5)"));
  }
  if (head.transfer_encoding_fields > 0) {
    // The parser frames a request only by a final "chunked"; any other coding it would take as
    // "no body" and leave the body's bytes to be read as the next thing on the connection.
    if (!absl::EqualsIgnoreCase(LastCoding(head.transfer_encoding), "chunked")) {
      return Reject(400, absl::StrCat("unknown Transfer-Encoding \"", head.transfer_encoding,
                                      "\": a WebSocket upgrade has no body"));
    }
    return Reject(400, absl::StrCat("a WebSocket upgrade has no body (Transfer-Encoding: ",
                                    head.transfer_encoding, ")"));
  }
  if (head.content_length.value_or(0) != 0) {
    return Reject(400, absl::StrCat("a WebSocket upgrade has no body (Content-Length: ",
                                    *head.content_length, ")"));
  }
  return std::nullopt;
}

std::optional<std::string> OriginFormTarget(absl::string_view target) {
  if (absl::StartsWith(target, "/")) return std::string(target);
  // absolute-URI (RFC 3986 section 4.3): scheme ":" "//" authority path-abempty [ "?" query ].
  const size_t colon = target.find(':');
  if (colon == 0 || colon == absl::string_view::npos ||
      !absl::ascii_isalpha(static_cast<unsigned char>(target[0])) ||
      !std::all_of(target.begin(), target.begin() + colon, IsSchemeChar)) {
    return std::nullopt;
  }
  absl::string_view rest = target.substr(colon + 1);
  if (!absl::ConsumePrefix(&rest, "//")) return std::nullopt;
  const size_t authority_end = rest.find_first_of("/?#");
  if (authority_end == absl::string_view::npos) return std::string("/");
  rest = rest.substr(authority_end);
  if (absl::StartsWith(rest, "/")) return std::string(rest);
  return absl::StrCat("/", rest);  // an empty path is "/" (RFC 9110 section 4.2.3)
}

absl::StatusOr<std::optional<std::string>> QueryParameter(absl::string_view target,
                                                          absl::string_view name) {
  const size_t question = target.find('?');
  if (question == absl::string_view::npos) return std::nullopt;
  absl::string_view query = target.substr(question + 1);
  const size_t fragment = query.find('#');
  if (fragment != absl::string_view::npos) query = query.substr(0, fragment);
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    const size_t equals = pair.find('=');
    absl::string_view key = pair.substr(0, equals);
    if (key != name) continue;
    if (equals == absl::string_view::npos) return std::string();
    auto decoded = PercentDecode(pair.substr(equals + 1), PlusSign::kSpace);
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", name, ": ", decoded.status().message()));
    }
    return std::optional<std::string>(std::move(*decoded));
  }
  return std::nullopt;
}

HandshakePolicy::HandshakePolicy(const AdmissionOptions& options,
                                 const auth::TokenVerifier* verifier)
    : options_(options),
      public_topics_(options_.public_topics.begin(), options_.public_topics.end()),
      verifier_(verifier) {}

HandshakeDecision HandshakePolicy::Decide(const UpgradeRequest& request, absl::Time now) const {
  if (!options_.allowed_origins.empty() && !request.origin.empty() &&
      std::find(options_.allowed_origins.begin(), options_.allowed_origins.end(), request.origin) ==
          options_.allowed_origins.end()) {
    return Reject(403, absl::StrCat("origin not allowed: ", request.origin));
  }

  // The token: an Authorization Bearer header first, then the `token` query parameter. Other
  // schemes are not ours to judge: a browser resends cached Basic credentials for the site on
  // its own, and that must not cost the page a session its ?token= or anonymity would give it.
  std::optional<std::string> token;
  const absl::string_view authorization = absl::StripAsciiWhitespace(request.authorization);
  const size_t scheme_end = authorization.find_first_of(" \t");
  const absl::string_view scheme = authorization.substr(0, scheme_end);
  const bool other_scheme = !authorization.empty() && !absl::EqualsIgnoreCase(scheme, "bearer");
  if (!authorization.empty() && !other_scheme) {
    const absl::string_view credentials =
        scheme_end == absl::string_view::npos
            ? absl::string_view()
            : absl::StripAsciiWhitespace(authorization.substr(scheme_end));
    if (credentials.empty()) {
      return Reject(401, "the Authorization header's token is empty: send \"Bearer <token>\"");
    }
    token = std::string(credentials);
  } else {
    auto from_query = QueryParameter(request.target, "token");
    if (!from_query.ok()) return Reject(400, std::string(from_query.status().message()));
    token = std::move(*from_query);
  }

  AdmittedSession admitted;
  if (token.has_value()) {
    if (verifier_ == nullptr || !verifier_->enabled()) {
      return Reject(401, "token given but no token key is configured on the bridge");
    }
    auto verified = verifier_->Verify(std::string_view(*token), now);
    if (!verified.ok()) return Reject(401, std::string(verified.status().message()));
    admitted.user_id = std::move(verified->user_id);
    admitted.topics = std::move(verified->topics);
    admitted.metadata = std::move(verified->metadata);
  } else if (!options_.allow_anonymous) {
    return Reject(401, absl::StrCat("missing token: pass ?token=<JWT> or an Authorization: Bearer "
                                    "header",
                                    other_scheme ? absl::StrCat(" (the Authorization header's ",
                                                                scheme, " scheme is ignored)")
                                                 : ""));
  }

  // Topics the browser asks for itself: public ones only.
  auto requested = QueryParameter(request.target, "topics");
  if (!requested.ok()) return Reject(400, std::string(requested.status().message()));
  if (requested->has_value() && !(*requested)->empty()) {
    for (absl::string_view topic : absl::StrSplit(**requested, ',')) {
      if (auto valid = ValidateTopic("topics", topic); !valid.ok()) {
        return Reject(400, std::string(valid.message()));
      }
      if (!public_topics_.contains(topic)) {
        return Reject(403, absl::StrCat("topic not allowed: ", topic, " is not a public topic"));
      }
      admitted.topics.emplace_back(topic);
    }
  }
  for (const std::string& topic : admitted.topics) {
    if (auto valid = ValidateTopic("topics", topic); !valid.ok()) {
      return Reject(401, absl::StrCat("token claim ", valid.message()));
    }
  }
  std::sort(admitted.topics.begin(), admitted.topics.end());
  admitted.topics.erase(std::unique(admitted.topics.begin(), admitted.topics.end()),
                        admitted.topics.end());
  if (admitted.topics.size() > options_.max_topics_per_session) {
    return Reject(403, absl::StrCat("too many topics: ", admitted.topics.size(), " (limit ",
                                    options_.max_topics_per_session, ")"));
  }
  return admitted;
}

}  // namespace wsbridge
