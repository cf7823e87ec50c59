#include "api/delivery_stream.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/grpc_status.h"

namespace wsbridge {

namespace {

absl::StatusOr<ValidatedDelivery> Validate(const v1::PushRequest& request,
                                           uint64_t max_message_bytes) {
  return ValidatePush(request, max_message_bytes);
}
absl::StatusOr<ValidatedDelivery> Validate(const v1::BroadcastRequest& request,
                                           uint64_t max_message_bytes) {
  return ValidateBroadcast(request, max_message_bytes);
}

void AddUnknownIds(DeliveryCounts& counts, v1::PushResponse& response) {
  for (std::string& id : counts.unknown_session_ids)
    response.add_unknown_session_ids(std::move(id));
}
void AddUnknownIds(DeliveryCounts& /*counts*/, v1::BroadcastResponse& /*response*/) {}

// The three counts at their widest: a tag byte and a 5-byte varint each.
constexpr uint64_t kCountsBytes = 3 * (1 + 5);

// The most the answer to a valid `request` can take on the wire. A PushResponse may list every
// named session id as unknown: a tag byte, a length varint (2 bytes for ids of up to 256 bytes,
// common/names.h) and the id.
uint64_t AnswerBoundBytes(const v1::PushRequest& request) {
  uint64_t bytes = kCountsBytes;
  for (const std::string& id : request.session_ids()) bytes += 1 + 2 + id.size();
  return bytes;
}
uint64_t AnswerBoundBytes(const v1::BroadcastRequest& /*request*/) { return kCountsBytes; }

}  // namespace

void DeliveryStreamGauge::Grew(uint64_t added, uint64_t stream_total) {
  pending_answer_bytes_.fetch_add(added);
  uint64_t largest = largest_stream_answer_bytes_.load();
  while (stream_total > largest &&
         !largest_stream_answer_bytes_.compare_exchange_weak(largest, stream_total)) {
  }
}

template <class Request, class Response>
DeliveryStreamReactor<Request, Response>::DeliveryStreamReactor(Broker& broker,
                                                                DeliveryStreamGauge& gauge,
                                                                metrics::CallMetrics& metrics,
                                                                uint64_t max_message_bytes,
                                                                absl::Status admitted)
    : broker_(broker), gauge_(gauge), metrics_(metrics), max_message_bytes_(max_message_bytes) {
  absl::MutexLock lock(&mutex_);
  if (!admitted.ok()) {
    FinishLocked(ToGrpcStatus(admitted));
    return;
  }
  reading_ = true;
  this->StartRead(&request_);
}

template <class Request, class Response>
void DeliveryStreamReactor<Request, Response>::OnReadDone(bool ok) {
  // Validation, and the copy of the payload it makes, run before the mutex is taken, so Broker
  // completions on I/O threads (OnAnswered) and write completions never wait behind it. That is
  // safe because only one read is in flight at a time: reading_ stays true until this request is
  // handed to the Broker, so no other thread starts the next read (or touches request_) before
  // this request is handed over, and deliveries reach the Broker in read order.
  std::optional<absl::StatusOr<ValidatedDelivery>> validated;
  uint64_t answer_bound = 0;
  if (ok) {
    ++requests_read_;
    validated = Validate(request_, max_message_bytes_);
    if (validated->ok()) answer_bound = AnswerBoundBytes(request_);
  }
  ValidatedDelivery delivery;
  std::shared_ptr<Slot> slot;
  {
    absl::MutexLock lock(&mutex_);
    if (!ok) {
      reading_ = false;
      reads_done_ = true;  // the publisher closed its side (or went away)
      return PumpLocked();
    }
    if (finish_status_.has_value()) {
      reading_ = false;
      return PumpLocked();
    }
    if (!validated->ok()) {
      reading_ = false;
      return FinishLocked(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("request ", requests_read_, ": ", validated->status().message())));
    }
    delivery = *std::move(*validated);
    slot = std::make_shared<Slot>();
    slot->bytes = answer_bound;
    answer_bytes_ += answer_bound;
    gauge_.Grew(answer_bound, answer_bytes_);
    pending_.push_back(slot);
    ++outstanding_answers_;
  }
  // Deliveries are handed over in read order, so messages keep the order of the requests.
  broker_.Deliver(std::move(delivery.targets), std::move(delivery.payload),
                  [this, slot](DeliveryCounts counts) { OnAnswered(slot, std::move(counts)); });
  absl::MutexLock lock(&mutex_);
  reading_ = false;
  PumpLocked();
}

template <class Request, class Response>
void DeliveryStreamReactor<Request, Response>::OnAnswered(std::shared_ptr<Slot> slot,
                                                          DeliveryCounts counts) {
  absl::MutexLock lock(&mutex_);
  if (!counts.failure.empty()) {
    // The broker could not carry this request out (cluster mode without Redis): the answers
    // before it still go out, then the stream ends with UNAVAILABLE naming the request.
    pending_.erase(std::find(pending_.begin(), pending_.end(), slot));
    answer_bytes_ -= slot->bytes;
    gauge_.Shrank(slot->bytes);
    --outstanding_answers_;
    return FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, counts.failure));
  }
  metrics_.ObserveFanout(counts.matched);
  slot->response.set_matched(counts.matched);
  slot->response.set_queued(counts.queued);
  slot->response.set_dropped(counts.dropped);
  AddUnknownIds(counts, slot->response);
  // The real size is at most the bound charged when the request was read.
  const uint64_t bytes = std::min<uint64_t>(slot->response.ByteSizeLong(), slot->bytes);
  answer_bytes_ -= slot->bytes - bytes;
  gauge_.Shrank(slot->bytes - bytes);
  slot->bytes = bytes;
  slot->ready = true;
  --outstanding_answers_;
  PumpLocked();
}

template <class Request, class Response>
void DeliveryStreamReactor<Request, Response>::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mutex_);
  answer_bytes_ -= writing_->bytes;
  gauge_.Shrank(writing_->bytes);
  writing_.reset();
  if (!ok) {
    write_failed_ = true;  // the publisher is gone: its remaining answers cannot be sent
    return FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
  }
  PumpLocked();
}

template <class Request, class Response>
void DeliveryStreamReactor<Request, Response>::PumpLocked() {
  if (writing_ == nullptr && !write_failed_ && !pending_.empty() && pending_.front()->ready) {
    writing_ = std::move(pending_.front());
    pending_.pop_front();
    this->StartWrite(&writing_->response);
  }
  if (finish_status_.has_value()) {
    // The answers of the requests before the one that ended the stream still go out first.
    const bool flushed = pending_.empty() || write_failed_;
    if (!finish_called_ && !reading_ && outstanding_answers_ == 0 && writing_ == nullptr &&
        flushed) {
      finish_called_ = true;
      this->Finish(*finish_status_);
    }
    return;
  }
  if (!reading_ && !reads_done_ && pending_.size() < kMaxInFlight &&
      answer_bytes_ < kMaxPendingAnswerBytes) {
    reading_ = true;
    this->StartRead(&request_);
  }
  if (reads_done_ && pending_.empty() && writing_ == nullptr) FinishLocked(grpc::Status::OK);
}

template <class Request, class Response>
void DeliveryStreamReactor<Request, Response>::FinishLocked(grpc::Status status) {
  if (finish_status_.has_value()) return;
  finish_status_ = std::move(status);
  PumpLocked();
}

template <class Request, class Response>
void DeliveryStreamReactor<Request, Response>::OnDone() {
  {
    // Answers never written (the caller went away) stop counting with the stream.
    absl::MutexLock lock(&mutex_);
    gauge_.Shrank(answer_bytes_);
  }
  delete this;
}

template class DeliveryStreamReactor<v1::PushRequest, v1::PushResponse>;
template class DeliveryStreamReactor<v1::BroadcastRequest, v1::BroadcastResponse>;

}  // namespace wsbridge
