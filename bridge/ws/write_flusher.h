// WriteFlusher: gathers the sessions of one I/O thread that have frames to write and writes them
// all in one handler that runs after the work already queued on the thread. A Broadcast only
// appends its payload to each session's queue; when several Broadcasts are queued on the thread,
// their frames leave each socket in ONE gathered write, which is what keeps the syscalls per
// delivery low under fan-out. With no backlog the flush runs right after the call, so latency
// stays that of a direct write.
//
// A flush of many sessions runs in slices of kSessionsPerRun, each slice a handler of its own:
// a broadcast that reaches the thread meanwhile is queued on the sessions still waiting for their
// slice, and those write both messages at once. Under load, batches thus grow by themselves.
//
// Thread-safety: none; one per I/O thread, used only there.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "runtime/io_thread.h"

namespace wsbridge {

class Session;

class WriteFlusher {
 public:
  // Runs session->Flush() once, from a handler posted to `thread` (at most one such handler is
  // pending at a time, whatever the number of sessions).
  void Schedule(IoThread& thread, std::shared_ptr<Session> session);

 private:
  static constexpr size_t kSessionsPerRun = 256;

  void Run();

  IoThread* thread_ = nullptr;
  std::vector<std::shared_ptr<Session>> pending_;  // scheduled since the current pass began
  std::vector<std::shared_ptr<Session>> running_;  // the current pass, flushed from next_ on
  size_t next_ = 0;
  bool posted_ = false;
};

}  // namespace wsbridge
