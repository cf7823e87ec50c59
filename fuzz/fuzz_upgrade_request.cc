// Fuzz target: an upgrade request, from its bytes to the answer the WebSocket port gives.
//
// The input is what a client sends first on the port. It is parsed as HttpHandshake parses it
// (a Beast request_parser<empty_body>, head only, from a buffer of at most 16 KiB), then decided
// by DecideUpgrade (ws/upgrade_decision.h), the function HttpHandshake::OnRead calls, so the
// checks run in the port's own order: CheckRequestHead, OriginFormTarget and the path, the
// Upgrade and Sec-WebSocket-* fields, and HandshakePolicy (origin, Authorization: Bearer,
// ?token=, ?topics=), under two policies that differ only in allow_anonymous, with an HS256
// secret, allowed origins and public topics (not draining, no static files, no connection
// limit). Nothing may crash, leak or hit undefined behaviour, and the answer must be one the port
// documents; an admitted session must satisfy what HandshakePolicy promises (sorted unique valid
// topics, within the limit, a user only with a token).
//
// A request with Sec-WebSocket-Extensions also goes through the permessage-deflate negotiation
// as HttpHandshake::NegotiateCompression runs it (every field of that name joined with ", ",
// then NegotiateDeflate). The handshake negotiates only for a request it upgrades; the parser is
// pure and cannot change the answer, so here it runs on every request whose head parses, which
// lets the fuzzer reach it without a valid key and token. An accepted agreement must have its
// window bits in 8..15 (15 when the offer did not name server_max_window_bits), and the answer
// built from it must be a printable header value that reads back as the same agreement.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auth/token_verifier.h"
#include "common/names.h"
#include "config/config.h"
#include "fuzz_keys.h"
#include "invariant.h"
#include "ws/handshake_policy.h"
#include "ws/permessage_deflate.h"
#include "ws/upgrade_decision.h"

namespace wsbridge::fuzz {
namespace {

namespace http = boost::beast::http;

constexpr std::size_t kMaxRequestBytes = 16 * 1024;  // HttpHandshake's buffer limit
constexpr std::string_view kWsPath = "/ws";
constexpr unsigned kNoAnswer = 0;  // the head is incomplete: the port waits (handshake timeout)
constexpr unsigned kUpgraded = 101;

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

AdmissionOptions MakeAdmission(bool allow_anonymous) {
  AdmissionOptions options;
  options.jwt_secret = kHs256Secret;
  options.allow_anonymous = allow_anonymous;
  options.public_topics = {"news", "sports", "weather"};
  options.allowed_origins = {"https://app.example", "http://localhost:3000"};
  options.max_topics_per_session = 4;
  return options;
}

// What the fuzz target checks against, built once.
struct Environment {
  Environment()
      : verifier(
            *auth::TokenVerifier::Create({.hs256_secret = kHs256Secret, .public_key_pem = ""})),
        anonymous_admission(MakeAdmission(true)),
        token_admission(MakeAdmission(false)),
        anonymous_policy(anonymous_admission, verifier.get()),
        token_policy(token_admission, verifier.get()) {}

  std::unique_ptr<auth::TokenVerifier> verifier;
  AdmissionOptions anonymous_admission;
  AdmissionOptions token_admission;
  HandshakePolicy anonymous_policy;
  HandshakePolicy token_policy;
};

void CheckAdmitted(const AdmittedSession& admitted, const AdmissionOptions& options,
                   const UpgradeRequest& upgrade) {
  Invariant(std::is_sorted(admitted.topics.begin(), admitted.topics.end()), "topics not sorted");
  Invariant(
      std::adjacent_find(admitted.topics.begin(), admitted.topics.end()) == admitted.topics.end(),
      "a topic twice");
  Invariant(admitted.topics.size() <= options.max_topics_per_session, "too many topics admitted");
  for (const std::string& topic : admitted.topics) {
    Invariant(ValidateTopic("topics", topic).ok(), "an invalid topic admitted");
  }
  Invariant(admitted.user_id.empty() || !upgrade.authorization.empty() ||
                absl::StrContains(upgrade.target, "token"),
            "a user without a token");
  Invariant(!admitted.user_id.empty() || options.allow_anonymous, "anonymous without the mode");
  Invariant(upgrade.origin.empty() ||
                std::find(options.allowed_origins.begin(), options.allowed_origins.end(),
                          upgrade.origin) != options.allowed_origins.end(),
            "an origin that is not allowed");
}

// Runs the permessage-deflate negotiation on the request's Sec-WebSocket-Extensions fields, if
// any, and checks the agreement and the answer header it gives.
void CheckDeflateNegotiation(const http::request<http::empty_body>& request) {
  const auto [first, last] = request.equal_range(http::field::sec_websocket_extensions);
  if (first == last) return;
  std::string offers;
  for (auto field = first; field != last; ++field) {
    if (!offers.empty()) offers.append(", ");
    offers.append(field->value());
  }
  const std::optional<ws::DeflateAgreement> agreement = ws::NegotiateDeflate(offers);
  if (Verbose()) {
    std::fprintf(
        stderr, "deflate: %s\n",
        agreement.has_value() ? ws::DeflateResponseHeader(*agreement).c_str() : "declined");
  }
  if (!agreement.has_value()) return;
  Invariant(absl::AsciiStrToLower(offers).find("permessage-deflate") != std::string::npos,
            "deflate agreed without a permessage-deflate offer");
  Invariant(agreement->server_max_window_bits >= 8 && agreement->server_max_window_bits <= 15,
            "server_max_window_bits outside 8..15");
  Invariant(agreement->server_window_requested ||
                agreement->server_max_window_bits == ws::kDeflateWindowBits,
            "a window below 15 that the offer did not ask for");
  const std::string answer = ws::DeflateResponseHeader(*agreement);
  Invariant(!answer.empty() && std::all_of(answer.begin(), answer.end(),
                                           [](char c) { return c >= 0x20 && c < 0x7f; }),
            "a Sec-WebSocket-Extensions answer that is not a printable field value");
  // The answer uses only parameters an offer may carry, so it must read back as itself.
  const std::optional<ws::DeflateAgreement> again = ws::NegotiateDeflate(answer);
  Invariant(again.has_value() &&
                again->server_max_window_bits == agreement->server_max_window_bits &&
                again->server_window_requested == agreement->server_window_requested,
            "the Sec-WebSocket-Extensions answer does not read back as the agreement");
}

// The port's answer to `bytes` under `policy`, as HttpHandshake::OnRead gives it (not draining,
// no connection limit). `negotiate_deflate`: also check the permessage-deflate negotiation, which
// depends on neither policy, so one of the two calls per input does it.
unsigned Answer(std::string_view bytes, const HandshakePolicy& policy,
                const AdmissionOptions& options, bool negotiate_deflate) {
  http::request_parser<http::empty_body> parser;
  boost::beast::error_code ec;
  const std::string_view buffered = bytes.substr(0, kMaxRequestBytes);
  std::size_t used = 0;
  while (!parser.is_header_done()) {
    const std::size_t consumed =
        parser.put(boost::asio::buffer(buffered.data() + used, buffered.size() - used), ec);
    used += consumed;
    if (ec == http::error::need_more) {
      if (consumed > 0) continue;
      // The head does not fit in the buffer: Beast reports buffer_overflow, answered with 400;
      // otherwise the port waits for more.
      return bytes.size() >= kMaxRequestBytes ? 400 : kNoAnswer;
    }
    if (ec) {
      Invariant(ec.category() == make_error_code(http::error::bad_target).category(),
                "a parse error outside Beast's HTTP category");
      return 400;
    }
  }

  const auto& request = parser.get();
  if (negotiate_deflate) CheckDeflateNegotiation(request);
  const std::optional<std::string> target = OriginFormTarget(ToAbsl(request.target()));
  if (target.has_value()) {
    Invariant(!target->empty() && target->front() == '/', "an origin form not starting with '/'");
  }

  std::optional<uint64_t> content_length;  // Beast gives a boost::optional
  if (auto length = parser.content_length()) content_length = *length;
  UpgradeDecision decision =
      DecideUpgrade(request, content_length,
                    UpgradeSituation{.ws_path = kWsPath,
                                     .static_files = false,
                                     .draining = false,
                                     .policy = policy,
                                     .now = absl::FromUnixSeconds(kNowUnixSeconds)});
  if (const auto* refusal = std::get_if<UpgradeRefusal>(&decision)) {
    const unsigned status = refusal->http_status;
    Invariant(status == 400 || status == 401 || status == 403 || status == 404 || status == 426,
              "a refusal other than 400, 401, 403, 404 or 426");
    Invariant(!refusal->message.empty(), "a refusal without a message");
    Invariant(refusal->declared_body_bytes == 0 || status == 400,
              "a declared body refused other than with 400");
    return status;
  }
  Invariant(!std::holds_alternative<StaticFileRequest>(decision),
            "a static file without --static_dir");
  Invariant(target.has_value(), "admitted without an origin-form target");
  UpgradeRequest upgrade;
  upgrade.target = *target;
  upgrade.authorization = ToAbsl(request[http::field::authorization]);
  upgrade.origin = ToAbsl(request[http::field::origin]);
  CheckAdmitted(std::get<AdmittedSession>(decision), options, upgrade);
  return kUpgraded;
}

}  // namespace
}  // namespace wsbridge::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsbridge::fuzz;
  static const Environment* const environment = new Environment();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const unsigned anonymous =
      Answer(bytes, environment->anonymous_policy, environment->anonymous_admission,
             /*negotiate_deflate=*/true);
  const unsigned token = Answer(bytes, environment->token_policy, environment->token_admission,
                                /*negotiate_deflate=*/false);
  if (Verbose()) std::fprintf(stderr, "answer: %u anonymous, %u token only\n", anonymous, token);
  // Only a request without a token can tell the two policies apart: the token-only one refuses it
  // with 401 where the anonymous one upgrades or judges its topics.
  Invariant(anonymous == token ||
                (token == 401 && (anonymous == kUpgraded || anonymous == 400 || anonymous == 403)),
            "allow_anonymous changed more than the answer to a request without a token");
  return 0;
}
