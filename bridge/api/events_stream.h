// EventsStream: one Events RPC, a gRPC server-streaming reactor fed by one EventBus
// subscription. It writes one event at a time: OnWriteDone pulls the next; when the queue is
// empty the bus wakes it on the next event. It ends with OK when the node drains (after the
// last closed event), RESOURCE_EXHAUSTED when it fell too far behind (never a silent skip),
// and releases its subscription (and its queued events) as soon as the client cancels.
//
// Thread-safety: gRPC calls the reactions on its threads and the bus calls the wake callback on
// I/O threads; a mutex in the shared Pump state serializes them.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "events/event_bus.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

// Parses and checks an EventsRequest: INVALID_ARGUMENT naming the field for an unknown or
// unspecified kind or a bad group name.
absl::StatusOr<EventBus::SubscriptionOptions> ValidateEvents(const v1::EventsRequest& request);

class EventsStream final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  // Starts streaming; when `admitted` is not OK, or subscribing fails, finishes with that status.
  // The reactor deletes itself when gRPC is done with it.
  static EventsStream* Start(EventBus& bus, const v1::EventsRequest& request,
                             absl::Status admitted);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Shared with the bus's wake callback, which may outlive the reactor.
  struct Pump {
    absl::Mutex mutex;
    EventsStream* stream ABSL_GUARDED_BY(mutex) = nullptr;
  };

  explicit EventsStream(EventBus& bus);
  void Begin(const v1::EventsRequest& request, absl::Status admitted);
  // Writes the next event unless one is in flight. Takes the bus's mutex inside: lock order
  // pump mutex, then bus mutex (docs/architecture.md, "Locks").
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pump_->mutex);
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pump_->mutex);

  EventBus& bus_;
  std::shared_ptr<Pump> pump_;
  std::shared_ptr<EventBus::Subscription> subscription_;
  EventPtr in_flight_ ABSL_GUARDED_BY(pump_->mutex);  // the event being written
  bool writing_ ABSL_GUARDED_BY(pump_->mutex) = false;
  bool finished_ ABSL_GUARDED_BY(pump_->mutex) = false;
};

}  // namespace wsbridge
