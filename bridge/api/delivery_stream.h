// DeliveryStreamReactor: one PushStream or BroadcastStream RPC, the publisher fast path. It reads
// requests one after another, validates each and hands it to the Broker at once (so messages keep
// request order), and writes each answer when it and every earlier answer are ready (so responses
// keep request order). A publisher can thus keep many calls in flight without losing their order,
// which unary calls cannot promise; on the I/O threads, messages that arrive together leave each
// socket together.
//
// Backpressure: the answers a stream holds (accepted requests not yet answered, answers waiting
// for the caller to read them, the answer being written) are bounded in number (kMaxInFlight)
// and in bytes (kMaxPendingAnswerBytes). A request is charged, when it is read, the most its
// answer can take (a PushResponse may echo every session id as unknown); once answered, the
// answer's real size. Past either bound the stream stops reading requests until the caller reads
// answers, which pushes back on the publisher through gRPC flow control. The requests already
// accepted still deliver and are answered; other streams and calls never wait on this one. A
// stream can hold at most kMaxPendingAnswerBytes plus one answer, and one answer is bounded by
// the request caps (api/request_validator.h): 10,000 ids of at most 256 bytes.
//
// Thread-safety: gRPC calls the reactions; Broker completions arrive on I/O threads; one mutex
// guards the pending answers and the read/write state. A request is validated (and its payload
// copied) before that mutex is taken: only one read is in flight at a time, so request_ and
// requests_read_ belong to OnReadDone alone, and an I/O thread reporting an answer never waits
// behind the validation of a large message.
#pragma once

#include <atomic>
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
#include "metrics/call_metrics.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

// The answer bytes that this node's delivery streams hold for their callers, kept for the tests
// and for operators: the sum over open streams now, and the most one stream ever held.
//
// Thread-safety: atomics; any thread.
class DeliveryStreamGauge {
 public:
  uint64_t pending_answer_bytes() const { return pending_answer_bytes_.load(); }
  uint64_t largest_stream_answer_bytes() const { return largest_stream_answer_bytes_.load(); }

  // A stream's holding went up by `added` bytes, to `stream_total`.
  void Grew(uint64_t added, uint64_t stream_total);
  void Shrank(uint64_t removed) { pending_answer_bytes_.fetch_sub(removed); }

 private:
  std::atomic<uint64_t> pending_answer_bytes_{0};
  std::atomic<uint64_t> largest_stream_answer_bytes_{0};
};

// Request/Response: v1::PushRequest/PushResponse or v1::BroadcastRequest/BroadcastResponse
// (explicitly instantiated in delivery_stream.cc).
template <class Request, class Response>
class DeliveryStreamReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  static constexpr size_t kMaxInFlight = 1024;
  static constexpr uint64_t kMaxPendingAnswerBytes = 1 << 20;

  // Finishes at once with `admitted` when it is not OK. Deletes itself when gRPC is done.
  // `max_message_bytes`: the node's config.session.max_message_bytes. `metrics` gets the
  // fan-out of each request. REQUIRES: `broker`, `gauge` and `metrics` outlive the reactor.
  DeliveryStreamReactor(Broker& broker, DeliveryStreamGauge& gauge, metrics::CallMetrics& metrics,
                        uint64_t max_message_bytes, absl::Status admitted);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  struct Slot {
    bool ready = false;
    Response response;
    // Charged to answer_bytes_: the most the answer can take until it is ready, then its size.
    uint64_t bytes = 0;
  };

  void OnAnswered(std::shared_ptr<Slot> slot, DeliveryCounts counts);
  // Writes the oldest answer if it is ready and no write is in flight, resumes reading when
  // there is room, and finishes when the client is done and every answer is out.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  Broker& broker_;
  DeliveryStreamGauge& gauge_;
  metrics::CallMetrics& metrics_;
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
  // The bytes charged for the slots in pending_ and writing_.
  uint64_t answer_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
};

using PushStreamReactor = DeliveryStreamReactor<v1::PushRequest, v1::PushResponse>;
using BroadcastStreamReactor = DeliveryStreamReactor<v1::BroadcastRequest, v1::BroadcastResponse>;

}  // namespace wsbridge
