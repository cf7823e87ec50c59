// CoalescingSweeper: bounds how long the kernel holds the frames of one I/O thread's streaming
// sessions (ws/stream_coalescing.h). While at least one session of the thread coalesces, a
// timer runs every --coalesce_max_hold; each tick asks every watched session to check its
// socket: one that still streams sends what the kernel holds (if anything), one whose stream
// paused or that is closing goes back to sending at once and leaves the watch list. With no
// streaming session the timer is not armed, so idle threads cost nothing.
//
// Sessions are held weakly: a session that ends is dropped at the next tick.
//
// Thread-safety: none; one per I/O thread (in its SessionContext), used only there.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "runtime/io_thread.h"

namespace wsbridge {

class Session;

class CoalescingSweeper {
 public:
  // Adds `session` (which has just started coalescing) to the watch list and arms the tick if
  // it is not armed. REQUIRES: on `thread`, the same thread every call.
  void Watch(IoThread& thread, std::weak_ptr<Session> session,
             std::chrono::steady_clock::duration period);

  // One pass over the watch list now (the tick calls it; tests call it directly).
  void Sweep();

  size_t watched() const { return watched_.size(); }

 private:
  void Arm();

  IoThread* thread_ = nullptr;
  std::chrono::steady_clock::duration period_{};
  std::vector<std::weak_ptr<Session>> watched_;
  bool armed_ = false;
};

}  // namespace wsbridge
