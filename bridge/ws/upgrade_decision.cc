#include "ws/upgrade_decision.h"

#include <utility>

#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "ws/frame_codec.h"

namespace wsbridge {
namespace {

namespace http = boost::beast::http;

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

UpgradeRefusal Refuse(unsigned status, std::string message) {
  UpgradeRefusal refusal;
  refusal.http_status = status;
  refusal.message = std::move(message);
  return refusal;
}

}  // namespace

UpgradeDecision DecideUpgrade(const http::request_header<>& request,
                              std::optional<uint64_t> content_length,
                              const UpgradeSituation& situation) {
  RequestHead head;
  head.http_version = request.version();
  head.host_fields = request.count(http::field::host);
  head.websocket_key_fields = request.count(http::field::sec_websocket_key);
  head.websocket_version_fields = request.count(http::field::sec_websocket_version);
  head.content_length = content_length;
  head.transfer_encoding_fields = request.count(http::field::transfer_encoding);
  head.transfer_encoding = ToAbsl(request[http::field::transfer_encoding]);
  if (std::optional<HandshakeRejection> rejection = CheckRequestHead(head)) {
    UpgradeRefusal refusal = Refuse(rejection->http_status, std::move(rejection->message));
    if (head.transfer_encoding_fields > 0) {
      refusal.declared_body_bytes = UpgradeRefusal::kUnknownLength;
    } else {
      refusal.declared_body_bytes = head.content_length.value_or(0);
    }
    return refusal;
  }

  std::optional<std::string> target = OriginFormTarget(ToAbsl(request.target()));
  if (!target.has_value()) return Refuse(404, "not found");
  const std::string_view path = std::string_view(*target).substr(0, target->find('?'));
  if (path != situation.ws_path) {
    if (situation.static_files && !boost::beast::websocket::is_upgrade(request)) {
      return StaticFileRequest{std::move(*target)};
    }
    return Refuse(404, "not found");
  }
  if (!boost::beast::websocket::is_upgrade(request)) {
    return Refuse(426, absl::StrCat("this endpoint speaks WebSocket: connect with ws://host",
                                    ToAbsl(situation.ws_path)));
  }
  if (request[http::field::sec_websocket_version] != "13") {
    return Refuse(426, "unsupported WebSocket version: this server speaks version 13");
  }
  if (!ws::IsValidClientKey(request[http::field::sec_websocket_key])) {
    return Refuse(400, "missing or malformed Sec-WebSocket-Key");
  }
  if (situation.draining) return Refuse(503, "draining: connect to another node");

  UpgradeRequest upgrade;
  upgrade.target = *target;
  upgrade.authorization = ToAbsl(request[http::field::authorization]);
  upgrade.origin = ToAbsl(request[http::field::origin]);
  HandshakeDecision decision = situation.policy.Decide(upgrade, situation.now);
  if (auto* rejection = std::get_if<HandshakeRejection>(&decision)) {
    return Refuse(rejection->http_status, std::move(rejection->message));
  }
  return std::get<AdmittedSession>(std::move(decision));
}

}  // namespace wsbridge
