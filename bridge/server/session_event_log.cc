#include "server/session_event_log.h"

#include <utility>

#include "runtime/structured_log.h"

namespace wsbridge {
namespace {

const char* ErrorName(SessionErrorCode code) {
  switch (code) {
    case SessionErrorCode::kSlowConsumer:
      return "slow_consumer";
    case SessionErrorCode::kMessageTooLarge:
      return "message_too_large";
    case SessionErrorCode::kProtocolError:
      return "protocol_error";
    case SessionErrorCode::kRateLimited:
      return "rate_limited";
    case SessionErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

}  // namespace

void SessionEventLog::Opened(const SessionIdentity& session, std::string_view remote_address,
                             std::span<const std::string> topics,
                             const std::map<std::string, std::string>& metadata) {
  LogEvent(spdlog::level::info, "session opened",
           {{"session_id", session.session_id},
            {"user_id", session.user_id},
            {"remote_address", remote_address}});
  next_.Opened(session, remote_address, topics, metadata);
}

void SessionEventLog::Message(const SessionIdentity& session, bool text, std::string_view data) {
  next_.Message(session, text, data);  // the payload is the browser's: never logged
}

void SessionEventLog::Error(const SessionIdentity& session, SessionErrorCode code,
                            std::string detail) {
  LogEvent(spdlog::level::info, "session error",
           {{"session_id", session.session_id},
            {"user_id", session.user_id},
            {"error", ErrorName(code)},
            {"detail", detail}});
  next_.Error(session, code, std::move(detail));
}

void SessionEventLog::Closed(const SessionIdentity& session, uint16_t code, std::string_view reason,
                             CloseInitiator initiator) {
  const std::string_view logged_reason = initiator == CloseInitiator::kClient ? "" : reason;
  LogEvent(spdlog::level::info, "session closed",
           {{"session_id", session.session_id},
            {"user_id", session.user_id},
            {"code", code},
            {"initiator", InitiatorName(initiator)},
            {"reason", logged_reason}});
  next_.Closed(session, code, reason, initiator);
}

}  // namespace wsbridge
