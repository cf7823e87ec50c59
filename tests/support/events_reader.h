// EventsReader: one Events stream read in the background, as a backend service would consume
// it; the test takes events from it with timeouts and finally checks how the stream ended.
//
// Thread-safety: the public methods are for the test's thread; a reader thread fills the queue.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::testing {

class EventsReader {
 public:
  // Starts the stream. With `start_reading` false the stream is opened but nothing is read
  // until StartReading(), to play a consumer that cannot keep up.
  EventsReader(v1::Bridge::Stub& stub, v1::EventsRequest request, bool start_reading = true);
  ~EventsReader();  // cancels the stream if still open

  // The next event, or nullopt after `timeout` or once the stream ended and nothing is left.
  std::optional<v1::Event> Next(absl::Duration timeout = absl::Seconds(5));
  // Events until `done(events so far)` holds; nullopt-free: returns what it has at the timeout.
  std::vector<v1::Event> ReadUntil(const std::function<bool(const std::vector<v1::Event>&)>& done,
                                   absl::Duration timeout = absl::Seconds(10));
  // Waits for the stream to end and returns its status (nullopt if still open at the timeout).
  std::optional<grpc::Status> WaitEnded(absl::Duration timeout = absl::Seconds(10));
  void StartReading();
  void Cancel();

 private:
  void ReadLoop();

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader_;
  std::thread thread_;
  mutable absl::Mutex mutex_;
  std::deque<v1::Event> events_ ABSL_GUARDED_BY(mutex_);
  std::optional<grpc::Status> ended_ ABSL_GUARDED_BY(mutex_);
};

// Collects the events of one session, in order, from a list.
std::vector<v1::Event> EventsOf(const std::vector<v1::Event>& events,
                                const std::string& session_id);

}  // namespace wsbridge::testing
