// EventPublisher: the SessionEventSink of a node: turns each session report into a
// wsbridge.v1.Event (session id, user id and the kind's fields) and publishes it on an
// EventOutlet: the EventBus on a single node (it stamps and routes the event to the Events
// streams), the SessionLog in cluster mode (it appends the event to the cluster's event log).
//
// Thread-safety: stateless apart from the outlet; safe from any thread (the outlet is).
#pragma once

#include "events/event_outlet.h"
#include "events/session_event_sink.h"

namespace wsbridge {

class EventPublisher final : public SessionEventSink {
 public:
  // REQUIRES: `outlet` outlives the publisher.
  explicit EventPublisher(EventOutlet& outlet) : outlet_(outlet) {}

  void Opened(const SessionIdentity& session, std::string_view remote_address,
              std::span<const std::string> topics,
              const std::map<std::string, std::string>& metadata) override;
  void Message(const SessionIdentity& session, bool text, std::string_view data) override;
  void Error(const SessionIdentity& session, SessionErrorCode code, std::string detail) override;
  void Closed(const SessionIdentity& session, uint16_t code, std::string_view reason,
              CloseInitiator initiator) override;

 private:
  EventOutlet& outlet_;
};

}  // namespace wsbridge
