// SessionEventSink: where a session reports what happens to it, in plain types: it opened, the
// browser sent a message, something went wrong, it closed. The events side implements it
// (events/event_publisher.h turns each report into a wsbridge.v1.Event on the EventBus); tests
// implement it with recorders. Sessions thus never build protobufs, and "exactly one Opened,
// then exactly one Closed" can be checked against a fake.
//
// Contract for a session: Opened at most once; Message and Error only after Opened; Closed
// exactly once after Opened and never without it.
//
// Thread-safety: called on the session's I/O thread; an implementation shared by several
// threads must be safe to call from all of them.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace wsbridge {

// Which session a report is about.
struct SessionIdentity {
  std::string_view session_id;
  std::string_view user_id;  // empty for anonymous sessions
};

// Why a session reports an error (mirrors wsbridge.v1.ErrorCode).
enum class SessionErrorCode : uint8_t {
  kSlowConsumer,
  kMessageTooLarge,
  kProtocolError,
  kRateLimited,
  kInternal,
};

// Who ended a session (mirrors wsbridge.v1.Initiator).
enum class CloseInitiator : uint8_t {
  kClient,     // the browser sent the first close frame
  kServer,     // we did: Disconnect, drain, slow consumer, protocol or policy failure
  kTransport,  // the TCP connection ended or went silent without a close handshake
};

// The initiator as logs name it: "client", "server" or "transport".
constexpr const char* InitiatorName(CloseInitiator initiator) {
  switch (initiator) {
    case CloseInitiator::kClient:
      return "client";
    case CloseInitiator::kServer:
      return "server";
    case CloseInitiator::kTransport:
      return "transport";
  }
  return "unknown";
}

class SessionEventSink {
 public:
  virtual ~SessionEventSink() = default;

  // The upgrade is done and the session is routable.
  virtual void Opened(const SessionIdentity& session, std::string_view remote_address,
                      std::span<const std::string> topics,
                      const std::map<std::string, std::string>& metadata) = 0;
  // A message from the browser; `text` tells a text message from a binary one.
  virtual void Message(const SessionIdentity& session, bool text, std::string_view data) = 0;
  virtual void Error(const SessionIdentity& session, SessionErrorCode code, std::string detail) = 0;
  virtual void Closed(const SessionIdentity& session, uint16_t code, std::string_view reason,
                      CloseInitiator initiator) = 0;
};

}  // namespace wsbridge
