// PushStreamReactor: one PushStream RPC, the publisher fast path. It reads Push requests one
// after another, validates each and hands it to the Broker at once (so messages keep request
// order), and writes each answer when it and every earlier answer are ready (so responses keep
// request order). At most kMaxInFlight requests wait for their answer; past that it stops
// reading until answers drain, which pushes back on the publisher through gRPC flow control.
//
// Thread-safety: gRPC calls the reactions; Broker completions arrive on I/O threads; one mutex
// guards the pending answers and the read/write state.
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

class PushStreamReactor final : public grpc::ServerBidiReactor<v1::PushRequest, v1::PushResponse> {
 public:
  static constexpr size_t kMaxInFlight = 1024;

  // Finishes at once with `admitted` when it is not OK. Deletes itself when gRPC is done.
  PushStreamReactor(Broker& broker, ApiLimits limits, absl::Status admitted);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  struct Slot {
    bool ready = false;
    v1::PushResponse response;
  };

  void OnAnswered(std::shared_ptr<Slot> slot, DeliveryCounts counts);
  // Writes the oldest answer if it is ready and no write is in flight, resumes reading when
  // there is room, and finishes when the client is done and every answer is out.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  Broker& broker_;
  const ApiLimits limits_;
  v1::PushRequest request_;  // filled by the read in flight
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

}  // namespace wsbridge
