// LivenessSweeper: keeps the sessions of one I/O thread honest about being alive. On a short
// tick it asks each open session to check itself: a browser silent for --ping_interval gets a
// protocol ping; one silent past --idle_timeout (no data, no pong) is dropped and reported with
// initiator TRANSPORT; one whose current write has stalled past --write_timeout is closed as a
// slow consumer (1013), even if its queue never filled. One timer per thread instead of one per
// session keeps idle sessions small. The time each sweep acts on is the context's Clock, so tests
// drive Sweep() with a fake one; only the tick period is real time.
//
// Thread-safety: Start/Stop post to the owning thread; the sweep runs there.
#pragma once

#include <memory>

#include <boost/asio/steady_timer.hpp>

#include "ws/session_context.h"

namespace wsbridge {

class LivenessSweeper : public std::enable_shared_from_this<LivenessSweeper> {
 public:
  // REQUIRES: context outlives the sweeper's last tick (Stop, then stop the thread).
  explicit LivenessSweeper(SessionContext& context);

  void Start();
  void Stop();

  // Checks every open session of the thread once, at the context clock's now. Tick calls it;
  // tests call it directly. REQUIRES: on the context's thread.
  void Sweep();

 private:
  void Tick();

  SessionContext& context_;
  boost::asio::steady_timer timer_;  // owned by context_.thread
  std::chrono::steady_clock::duration period_;
  bool stopped_ = false;
};

}  // namespace wsbridge
