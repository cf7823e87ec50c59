// EventPublisher: the SessionEventSink of a node: turns each session report into a
// wsbridge.v1.Event (session id, user id and the kind's fields) and publishes it on the EventBus,
// which stamps and routes it to the Events streams.
//
// Thread-safety: stateless apart from the bus; safe from any thread (the bus is).
#pragma once

#include "events/event_bus.h"
#include "events/session_event_sink.h"

namespace wsbridge {

class EventPublisher final : public SessionEventSink {
 public:
  // REQUIRES: `bus` outlives the publisher.
  explicit EventPublisher(EventBus& bus) : bus_(bus) {}

  void Opened(const SessionIdentity& session, std::string_view remote_address,
              std::span<const std::string> topics,
              const std::map<std::string, std::string>& metadata) override;
  void Message(const SessionIdentity& session, bool text, std::string_view data) override;
  void Error(const SessionIdentity& session, SessionErrorCode code, std::string detail) override;
  void Closed(const SessionIdentity& session, uint16_t code, std::string_view reason,
              CloseInitiator initiator) override;

 private:
  EventBus& bus_;
};

}  // namespace wsbridge
