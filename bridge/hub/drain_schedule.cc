#include "hub/drain_schedule.h"

#include <algorithm>
#include <cstdint>

namespace wsbridge {

DrainSchedule::DrainSchedule(absl::Duration window, absl::Duration close_timeout,
                             absl::Duration step_interval)
    : step_interval_(step_interval) {
  window = std::max(window, absl::ZeroDuration());
  close_margin_ = std::clamp(close_timeout, absl::ZeroDuration(), window / 2);
  const absl::Duration spread = window - close_margin_;
  // Steps at 0, interval, 2 * interval, ... up to the end of the spread.
  absl::Duration remainder;
  steps_ = 1 + static_cast<size_t>(absl::IDivDuration(spread, step_interval_, &remainder));
}

absl::Duration DrainSchedule::StartOf(size_t step) const {
  return step_interval_ * static_cast<int64_t>(std::min(step, steps_ - 1));
}

size_t DrainSchedule::StepAt(absl::Duration elapsed) const {
  if (elapsed <= absl::ZeroDuration()) return 0;
  absl::Duration remainder;
  const int64_t passed = absl::IDivDuration(elapsed, step_interval_, &remainder);
  return std::min(static_cast<size_t>(passed), steps_ - 1);
}

size_t DrainSchedule::ShareAt(size_t step, size_t pending) const {
  if (step + 1 >= steps_) return pending;
  const size_t steps_left = steps_ - step;
  return (pending + steps_left - 1) / steps_left;
}

}  // namespace wsbridge
