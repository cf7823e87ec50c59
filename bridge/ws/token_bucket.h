// TokenBucket: the inbound message rate limit of one session: `rate` messages per second on
// average, with bursts of up to `burst`. Pure arithmetic over the times it is given.
//
// Thread-safety: none; owned by the session's I/O thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace wsbridge {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // rate 0 disables the limit. burst 0 means `rate`.
  TokenBucket(uint32_t rate, uint32_t burst, Clock::time_point now)
      : rate_(rate), burst_(burst == 0 ? rate : burst), tokens_(burst_), last_(now) {}

  // Takes one token if there is one.
  bool TryTake(Clock::time_point now) {
    if (rate_ == 0) return true;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min<double>(burst_, tokens_ + elapsed * rate_);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  uint32_t rate_;
  uint32_t burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace wsbridge
