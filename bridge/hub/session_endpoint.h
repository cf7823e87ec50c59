// SessionEndpoint: what the routing layer may ask of one live session. The WebSocket session
// (ws/session.h) implements it; unit tests implement it with plain recorders.
//
// Thread-safety: every method is called only on the I/O thread that owns the session.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/strings/string_view.h"
#include "broker/types.h"

namespace wsbridge {

enum class DeliveryOutcome : uint8_t {
  kQueued,   // accepted into the send queue
  kDropped,  // refused: the queue is full (the session then closes itself as a slow consumer) or
             // the session is already closing
};

class SessionEndpoint {
 public:
  virtual ~SessionEndpoint() = default;

  // Appends the payload to the send queue (no copy of its bytes) and starts a write if idle.
  virtual DeliveryOutcome Deliver(const PayloadPtr& payload) = 0;

  // Sends a close frame with `code` and `reason` after the messages already queued.
  virtual void Close(uint16_t code, absl::string_view reason) = 0;

  virtual SessionCounters Counters() const = 0;

  // Whether its `opened` event was reported (ListSessions lists only these, so that a listing
  // and the event sequence agree: a session registers before its upgrade completes and reports
  // `opened` in a later step). A session reports `opened` in the same step that makes this true,
  // and unregisters in the same step that reports `closed`. Endpoints without events: true.
  virtual bool Announced() const { return true; }
};

}  // namespace wsbridge
