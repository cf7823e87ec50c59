// InterruptWatcher: turns SIGINT and SIGTERM into a callback run on a thread of its own, so the
// commands that run until interrupted (events, ticker) can cancel their call and exit 0 with
// every printed line complete, instead of dying mid-write in a signal handler.
//
// Construct it first thing in main, before any other thread exists: it blocks both signals in
// the calling thread, and every thread created later (gRPC's included) inherits that mask, so
// only the watcher's sigwait() ever receives them. With no callback set, an interrupt ends the
// process at once with 130, as an unwatched Ctrl-C would; a second interrupt always does.
//
// Thread-safety: OnInterrupt() and interrupted() may be called from any thread. The callback runs
// under the watcher's mutex, so once OnInterrupt(nullptr) returns it is not running.
#pragma once

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace wsbridge::cli {

class InterruptWatcher {
 public:
  InterruptWatcher();
  ~InterruptWatcher();
  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;

  // Sets (or with nullptr clears) what the first interrupt does. If an interrupt came already,
  // `callback` runs at once on the caller's thread.
  void OnInterrupt(std::function<void()> callback);
  bool interrupted() const;

 private:
  void Watch();

  mutable absl::Mutex mutex_;
  std::function<void()> callback_ ABSL_GUARDED_BY(mutex_);
  bool interrupted_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace wsbridge::cli
