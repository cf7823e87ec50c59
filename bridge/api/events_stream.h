// EventsStream: one Events RPC, a gRPC server-streaming reactor fed by one EventBus
// subscription. It takes events from the bus in batches (one bus lock per batch, not per event)
// and writes them one gRPC message each, back to back from OnWriteDone, so a stream that is
// behind catches up without contending for the bus mutex with Publish at every event. When the
// bus has nothing it arms a wake and the next event wakes it; while a write is in flight (a
// stalled peer's flow-control window is full) the bus does not touch it at all. It
// ends with OK when the node drains (after the last closed event), RESOURCE_EXHAUSTED when it
// fell too far behind (never a silent skip) or when the node serves --max_events_streams
// already, and releases its subscription (and its queued events) as soon as the client cancels.
//
// Thread-safety: gRPC calls the reactions on its threads and the bus calls the wake callback on
// I/O threads; a mutex in the shared Pump state serializes them.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "events/event_bus.h"
#include "metrics/call_metrics.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

// Parses and checks an EventsRequest: INVALID_ARGUMENT naming the field for an unknown or
// unspecified kind or a bad group name.
absl::StatusOr<EventBus::SubscriptionOptions> ValidateEvents(const v1::EventsRequest& request);

class EventsStream final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  // Starts streaming; when `admitted` is not OK, or subscribing fails, finishes with that status.
  // The reactor deletes itself when gRPC is done with it. `metrics` counts the events written;
  // it outlives the reactor.
  static EventsStream* Start(EventBus& bus, metrics::CallMetrics& metrics,
                             const v1::EventsRequest& request, absl::Status admitted);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Shared with the bus's wake callback, which may outlive the reactor.
  struct Pump {
    absl::Mutex mutex;
    EventsStream* stream ABSL_GUARDED_BY(mutex) = nullptr;
  };

  EventsStream(EventBus& bus, metrics::CallMetrics& metrics);
  void Begin(const v1::EventsRequest& request, absl::Status admitted);
  // Writes the next event unless one is in flight. Takes the bus's mutex inside: lock order
  // pump mutex, then bus mutex (docs/architecture.md, "Locks").
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pump_->mutex);
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pump_->mutex);

  EventBus& bus_;
  metrics::CallMetrics& metrics_;
  std::shared_ptr<Pump> pump_;
  std::shared_ptr<EventBus::Subscription> subscription_;
  // At most this many events, and (beyond the first) this many bytes, per batch: enough to
  // amortize the bus lock, small enough that a batch held here is a small part of the bounds.
  static constexpr size_t kBatchEvents = 64;
  static constexpr uint64_t kBatchBytes = 256 * 1024;

  std::vector<EventPtr> batch_ ABSL_GUARDED_BY(pump_->mutex);  // taken from the bus, to write
  size_t next_in_batch_ ABSL_GUARDED_BY(pump_->mutex) = 0;     // batch_[next_in_batch_ - 1]
                                                               // is in flight while writing_
  bool writing_ ABSL_GUARDED_BY(pump_->mutex) = false;
  bool finished_ ABSL_GUARDED_BY(pump_->mutex) = false;
};

}  // namespace wsbridge
