#include "server/session_drain.h"

#include <algorithm>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace wsbridge {
namespace {
// How long the controlling thread waits for one step to run on every I/O thread. A step is one
// pass over each shard; a thread that takes longer than this is stuck, and the drain goes on
// (the wait for sessions to end is bounded separately).
constexpr absl::Duration kStepWait = absl::Seconds(5);
}  // namespace

uint64_t DrainSessions(Hub& hub, const ConnectionLimiter& sessions,
                       std::shared_ptr<const DrainSchedule> schedule, uint16_t code,
                       const std::string& reason) {
  const absl::Time start = absl::Now();
  uint64_t asked = 0;
  size_t next = 0;
  while (next < schedule->steps()) {
    const absl::Duration until_due = start + schedule->StartOf(next) - absl::Now();
    if (until_due > absl::ZeroDuration()) absl::SleepFor(until_due);
    const size_t step = std::max(next, schedule->StepAt(absl::Now() - start));
    // Shared: a step that outlives kStepWait still has somewhere to report.
    struct Outcome {
      absl::Notification done;
      uint32_t closed = 0;
    };
    auto outcome = std::make_shared<Outcome>();
    hub.CloseDrainStep(schedule, step, code, reason, [outcome](uint32_t closed) {
      outcome->closed = closed;
      outcome->done.Notify();
    });
    if (outcome->done.WaitForNotificationWithTimeout(kStepWait)) {
      asked += outcome->closed;
    } else {
      spdlog::warn("drain: step {} of {} did not finish on every I/O thread within {}", step + 1,
                   schedule->steps(), absl::FormatDuration(kStepWait));
    }
    next = step + 1;
    if (sessions.sessions() == 0) break;  // all gone: no step left has anything to close
  }
  return asked;
}

}  // namespace wsbridge
