#include "api/events_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "api/grpc_status.h"
#include "common/names.h"

namespace wsbridge {

absl::StatusOr<EventBus::SubscriptionOptions> ValidateEvents(const v1::EventsRequest& request) {
  EventBus::SubscriptionOptions options;
  if (request.kinds_size() > 0) {
    options.kinds = 0;
    for (int i = 0; i < request.kinds_size(); ++i) {
      const int kind = request.kinds(i);
      if (kind <= v1::EVENT_KIND_UNSPECIFIED || kind > v1::EVENT_KIND_ERROR) {
        return absl::InvalidArgumentError(
            absl::StrCat("kinds[", i, "]: ", kind,
                         " is not an event kind (use OPENED, MESSAGE, CLOSED, ERROR)"));
      }
      options.kinds |= 1u << kind;
    }
  }
  if (!request.group().empty()) {
    if (auto status = ValidateId("group", request.group()); !status.ok()) return status;
  }
  options.group = request.group();
  options.start_after_sequence = request.start_after_sequence();
  return options;
}

EventsStream::EventsStream(EventBus& bus, metrics::CallMetrics& metrics)
    : bus_(bus), metrics_(metrics), pump_(std::make_shared<Pump>()) {}

EventsStream* EventsStream::Start(EventBus& bus, metrics::CallMetrics& metrics,
                                  const v1::EventsRequest& request, absl::Status admitted) {
  auto* stream = new EventsStream(bus, metrics);
  stream->Begin(request, std::move(admitted));
  return stream;
}

void EventsStream::Begin(const v1::EventsRequest& request, absl::Status admitted) {
  absl::MutexLock lock(&pump_->mutex);
  pump_->stream = this;
  if (!admitted.ok()) return FinishLocked(ToGrpcStatus(admitted));
  auto options = ValidateEvents(request);
  if (!options.ok()) return FinishLocked(ToGrpcStatus(options.status()));
  auto subscription = bus_.Subscribe(std::move(*options), [pump = pump_] {
    absl::MutexLock wake_lock(&pump->mutex);
    if (pump->stream != nullptr) pump->stream->PumpLocked();
  });
  if (!subscription.ok()) return FinishLocked(ToGrpcStatus(subscription.status()));
  subscription_ = std::move(*subscription);
  PumpLocked();
}

void EventsStream::PumpLocked() {
  if (writing_ || finished_) return;
  if (next_in_batch_ == batch_.size()) {
    batch_.clear();
    next_in_batch_ = 0;
    switch (bus_.PullBatch(*subscription_, kBatchEvents, kBatchBytes, batch_)) {
      case EventBus::PullOutcome::kEvent:
        break;
      case EventBus::PullOutcome::kNone:
        return;  // the bus wakes us on the next event
      case EventBus::PullOutcome::kOverflowed:
        return FinishLocked(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            "this Events stream fell too far behind (--events_stream_buffer, "
            "--events_stream_buffer_bytes) and was ended so that no event is skipped silently; "
            "reconnect with start_after_sequence set to the last sequence processed"));
      case EventBus::PullOutcome::kClosed:
        return FinishLocked(grpc::Status::OK);  // the node drained; every event was delivered
    }
  }
  // One message per write, without the buffer hint: with a single write outstanding (all the
  // callback API allows) a hinted write is not completed until a later unhinted one, so the
  // stream stalled for good when we tried it.
  writing_ = true;
  StartWrite(batch_[next_in_batch_++].get());
}

void EventsStream::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  Finish(status);
}

void EventsStream::OnWriteDone(bool ok) {
  absl::MutexLock lock(&pump_->mutex);
  writing_ = false;
  batch_[next_in_batch_ - 1].reset();  // written: no longer ours to hold
  if (!ok) return FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
  metrics_.CountEventsDelivered(1);
  PumpLocked();
}

void EventsStream::OnCancel() {
  {
    absl::MutexLock lock(&pump_->mutex);
    FinishLocked(grpc::Status::CANCELLED);
  }
  // Release the queued events and the group share now, not when gRPC gets to OnDone.
  if (subscription_ != nullptr) bus_.Unsubscribe(subscription_);
}

void EventsStream::OnDone() {
  {
    absl::MutexLock lock(&pump_->mutex);
    pump_->stream = nullptr;
  }
  if (subscription_ != nullptr) bus_.Unsubscribe(subscription_);
  delete this;
}

}  // namespace wsbridge
