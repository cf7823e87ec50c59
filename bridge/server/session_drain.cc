#include "server/session_drain.h"

#include <algorithm>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "runtime/structured_log.h"
#include "spdlog/spdlog.h"

namespace wsbridge {
namespace {
// How long the controlling thread waits for one step to run on every I/O thread. A step is one
// pass over each shard; a thread that takes longer than this is stuck, and the drain goes on
// (the wait for sessions to end is bounded separately).
constexpr absl::Duration kStepWait = absl::Seconds(5);

int64_t Millis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }
}  // namespace

uint64_t DrainReport::asked() const {
  uint64_t total = 0;
  for (const Batch& batch : batches) total += batch.closed;
  return total;
}

uint32_t DrainReport::largest_batch() const {
  uint32_t largest = 0;
  for (const Batch& batch : batches) largest = std::max(largest, batch.closed);
  return largest;
}

size_t DrainReport::batches_that_closed() const {
  return static_cast<size_t>(std::count_if(batches.begin(), batches.end(),
                                           [](const Batch& batch) { return batch.closed > 0; }));
}

DrainReport DrainSessions(Hub& hub, const ConnectionLimiter& sessions,
                          std::shared_ptr<const DrainSchedule> schedule, uint16_t code,
                          const std::string& reason) {
  const absl::Time start = absl::Now();
  DrainReport report;
  report.planned_steps = schedule->steps();
  report.batches.reserve(schedule->steps());
  size_t next = 0;
  while (next < schedule->steps()) {
    // SleepFor may wake early by the clock's granularity: loop until the step is due.
    for (absl::Duration until_due = start + schedule->StartOf(next) - absl::Now();
         until_due > absl::ZeroDuration();
         until_due = start + schedule->StartOf(next) - absl::Now()) {
      absl::SleepFor(until_due);
    }
    const absl::Duration began = absl::Now() - start;
    const size_t step = std::max(next, schedule->StepAt(began));
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
    DrainReport::Batch& batch = report.batches.emplace_back();
    batch.step = step;
    batch.due = schedule->StartOf(step);
    batch.began = began;
    batch.finished = outcome->done.WaitForNotificationWithTimeout(kStepWait);
    if (batch.finished) {
      batch.closed = outcome->closed;
    } else {
      spdlog::warn("drain: step {} of {} did not finish on every I/O thread within {}", step + 1,
                   schedule->steps(), absl::FormatDuration(kStepWait));
    }
    LogEvent(spdlog::level::debug, "drain step",
             {{"step", step + 1},
              {"steps", schedule->steps()},
              {"due_ms", Millis(batch.due)},
              {"late_ms", Millis(batch.began - batch.due)},
              {"closed", batch.closed}});
    next = step + 1;
    if (sessions.sessions() == 0) break;  // all gone: no step left has anything to close
  }
  LogEvent(spdlog::level::info, "drain done",
           {{"sessions_asked", report.asked()},
            {"batches", report.batches_that_closed()},
            {"largest_batch", report.largest_batch()},
            {"steps_run", report.batches.size()},
            {"steps", report.planned_steps},
            {"spread_ms", Millis(absl::Now() - start)}});
  return report;
}

}  // namespace wsbridge
