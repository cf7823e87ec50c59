// SessionEventLog: a SessionEventSink that writes one log line per session lifecycle report and
// forwards every report, unchanged, to the sink it wraps (the node's EventPublisher). So the log
// and the Events streams see the same sessions, from the one place sessions report to.
//
// The lines, all at info (--log_level=warn silences them), with structured fields
// (runtime/structured_log.h):
//   session opened   session_id, user_id, remote_address
//   session error    session_id, user_id, error, detail
//   session closed   session_id, user_id, code, initiator (client, server, transport), and the
//                    reason when it is ours (server) or the transport's; a browser's own close
//                    reason is its words, and is not logged.
// Never logged: message payloads (Message is only forwarded), tokens, metadata, topics.
//
// Thread-safety: as the wrapped sink; called on the sessions' I/O threads. Stateless.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "events/session_event_sink.h"

namespace wsbridge {

class SessionEventLog final : public SessionEventSink {
 public:
  // REQUIRES: `next` outlives this sink.
  explicit SessionEventLog(SessionEventSink& next) : next_(next) {}

  void Opened(const SessionIdentity& session, std::string_view remote_address,
              std::span<const std::string> topics,
              const std::map<std::string, std::string>& metadata) override;
  void Message(const SessionIdentity& session, bool text, std::string_view data) override;
  void Error(const SessionIdentity& session, SessionErrorCode code, std::string detail) override;
  void Closed(const SessionIdentity& session, uint16_t code, std::string_view reason,
              CloseInitiator initiator) override;

 private:
  SessionEventSink& next_;
};

}  // namespace wsbridge
