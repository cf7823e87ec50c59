// Clock: where a thread's sessions read the time for decisions that tests must control: when to
// ping, when a browser has been silent too long, when a write has stalled, how many messages the
// rate limit allows. The node uses SteadyClock; tests use a fake that they move by hand, so those
// decisions are unit tests without sleeps.
//
// Thread-safety: Now() may be called from any thread (SteadyClock is stateless).
#pragma once

#include <chrono>

namespace wsbridge {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The monotonic clock of the machine.
class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace wsbridge
