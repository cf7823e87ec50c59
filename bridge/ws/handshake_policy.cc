#include "ws/handshake_policy.h"
#include "absl/strings/string_view.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/names.h"

namespace wsbridge {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) {
        return absl::InvalidArgumentError("truncated percent-encoding");
      }
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("bad percent-encoding");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

HandshakeRejection Reject(unsigned status, std::string message) {
  return HandshakeRejection{status, std::move(message)};
}

}  // namespace

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
    auto decoded = PercentDecode(pair.substr(equals + 1));
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

  // The token: Authorization header first, then the `token` query parameter.
  std::optional<std::string> token;
  if (!request.authorization.empty()) {
    constexpr absl::string_view kBearer = "bearer ";
    if (request.authorization.size() <= kBearer.size() ||
        !absl::StartsWithIgnoreCase(request.authorization, kBearer)) {
      return Reject(401, "Authorization header must be \"Bearer <token>\"");
    }
    token = std::string(absl::StripAsciiWhitespace(request.authorization.substr(kBearer.size())));
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
    return Reject(401, "missing token: pass ?token=<JWT> or an Authorization: Bearer header");
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
