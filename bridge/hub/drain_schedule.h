// DrainSchedule: when a draining node closes which share of its sessions. Closing every session
// at once sends every browser back at the same instant, and they all reconnect to the remaining
// nodes in one herd; so the drain window is cut into steps (every `step_interval`) and each step
// closes an even share of the sessions not yet asked to close: the pending count divided by the
// steps left, rounded up, so a step that runs late or finds sessions gone on their own is made
// up by the next ones, and the last step takes whatever remains.
//
// The steps end before the window does, leaving room for the close handshakes (and for a
// browser that does not answer, or cannot take what is queued for it, to reach its close
// deadline): `close_margin` = min(close_timeout, window / 2) is kept free at the end. A window of
// zero, or one shorter than a step, is a single step that closes everything at once.
//
// Pure arithmetic on durations and counts: no clock, no sessions (hub.h applies it per shard,
// server/session_drain.h drives the steps in time).
//
// Thread-safety: immutable after construction; safe to share between threads.
#pragma once

#include <cstddef>

#include "absl/time/time.h"

namespace wsbridge {

class DrainSchedule {
 public:
  static constexpr absl::Duration kDefaultStepInterval = absl::Milliseconds(100);

  // `window`: the whole drain (--drain_seconds); `close_timeout`: how long one close handshake
  // may take (SessionOptions::close_timeout). REQUIRES: step_interval > 0.
  DrainSchedule(absl::Duration window, absl::Duration close_timeout,
                absl::Duration step_interval = kDefaultStepInterval);

  // Number of steps; at least 1.
  size_t steps() const { return steps_; }
  // When step `step` is due, from the start of the drain. StartOf(0) is zero; the last step is
  // due at window - close_margin at the latest.
  absl::Duration StartOf(size_t step) const;
  // The step due at `elapsed` since the start: the last one whose start has passed (the first
  // for a negative `elapsed`, the last one past the end).
  size_t StepAt(absl::Duration elapsed) const;
  // How many of `pending` sessions (not yet asked to close) step `step` closes: an even share of
  // them over the steps left, rounded up; all of them at the last step (or past it).
  size_t ShareAt(size_t step, size_t pending) const;

  absl::Duration close_margin() const { return close_margin_; }

 private:
  absl::Duration step_interval_;
  absl::Duration close_margin_;
  size_t steps_ = 1;
};

}  // namespace wsbridge
