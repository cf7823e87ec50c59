// DeliveryStreamReactor: one PushStream or BroadcastStream RPC, the publisher fast path. It reads
// requests one after another, validates each and hands it to the Broker at once (so messages keep
// request order), and writes each answer when it and every earlier answer are ready (so responses
// keep request order). A publisher can thus keep many calls in flight without losing their order,
// which unary calls cannot promise; on the I/O threads, messages that arrive together leave each
// socket together. At most kMaxInFlight requests wait for their answer; past that it stops
// reading until answers drain, which pushes back on the publisher through gRPC flow control.
//
// Thread-safety: gRPC calls the reactions; Broker completions arrive on I/O threads; one mutex
// guards the pending answers and the read/write state. A request is validated (and its payload
// copied) before that mutex is taken: only one read is in flight at a time, so request_ and
// requests_read_ belong to OnReadDone alone, and an I/O thread reporting an answer never waits
// behind the validation of a large message.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "api/request_validator.h"
#include "broker/broker.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

// Request/Response: v1::PushRequest/PushResponse or v1::BroadcastRequest/BroadcastResponse
// (explicitly instantiated in delivery_stream.cc).
template <class Request, class Response>
class DeliveryStreamReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  static constexpr size_t kMaxInFlight = 1024;

  // Finishes at once with `admitted` when it is not OK. Deletes itself when gRPC is done.
  // `max_message_bytes`: the node's config.session.max_message_bytes.
  DeliveryStreamReactor(Broker& broker, uint64_t max_message_bytes, absl::Status admitted);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  struct Slot {
    bool ready = false;
    Response response;
  };

  void OnAnswered(std::shared_ptr<Slot> slot, DeliveryCounts counts);
  // Writes the oldest answer if it is ready and no write is in flight, resumes reading when
  // there is room, and finishes when the client is done and every answer is out.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  Broker& broker_;
  const uint64_t max_message_bytes_;
  // Touched only by the read in flight and its OnReadDone (one at a time), so not guarded.
  Request request_;  // filled by the read in flight
  uint64_t requests_read_ = 0;

  absl::Mutex mutex_;
  std::deque<std::shared_ptr<Slot>> pending_ ABSL_GUARDED_BY(mutex_);  // in request order
  std::shared_ptr<Slot> writing_ ABSL_GUARDED_BY(mutex_);
  bool reading_ ABSL_GUARDED_BY(mutex_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mutex_) = false;
  // Finish waits until no Broker completion is outstanding, since those refer to this reactor.
  std::optional<grpc::Status> finish_status_ ABSL_GUARDED_BY(mutex_);
  bool finish_called_ ABSL_GUARDED_BY(mutex_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mutex_) = false;
  size_t outstanding_answers_ ABSL_GUARDED_BY(mutex_) = 0;
};

using PushStreamReactor = DeliveryStreamReactor<v1::PushRequest, v1::PushResponse>;
using BroadcastStreamReactor = DeliveryStreamReactor<v1::BroadcastRequest, v1::BroadcastResponse>;

}  // namespace wsbridge
