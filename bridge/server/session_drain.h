// DrainSessions: the part of a node's drain that closes its sessions, spread over the drain
// window by a DrainSchedule (hub/drain_schedule.h) so that browsers do not all reconnect at
// once. Each step is one Hub::CloseDrainStep: a step of the node order, so every delivery
// accepted before it reaches its sessions first, and each close frame leaves behind what was
// queued for that session. A step that comes late (a loaded machine) is not replayed: the
// schedule's share for the step now due makes up for the ones missed.
//
// What the drain did is returned as a DrainReport, one batch per step that ran: which step of
// the schedule it ran as, when it was due and when it began, how many sessions it asked to
// close. That record depends on the schedule and on the count of sessions, not on how fast the
// machine is (a slow machine shows as steps folded into later ones), so it is what proves the
// spread: operators read it in the "drain step" (debug) and "drain done" (info) log lines,
// tests through BridgeServer::drain_report().
//
// Thread-safety: blocks the calling (controlling) thread for the spread of the schedule; the
// hub's threads do the closing. A DrainReport is a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hub/connection_limiter.h"
#include "hub/drain_schedule.h"
#include "hub/hub.h"

namespace wsbridge {

struct DrainReport {
  // One step of the schedule that ran (Hub::CloseDrainStep was called for it).
  struct Batch {
    size_t step = 0;        // the schedule's step it ran as
    absl::Duration due;     // DrainSchedule::StartOf(step)
    absl::Duration began;   // since the drain began; never before `due`
    uint32_t closed = 0;    // sessions asked to close
    bool finished = false;  // every I/O thread ran it within the wait
  };

  size_t planned_steps = 0;    // DrainSchedule::steps()
  std::vector<Batch> batches;  // in the order they ran; a step folded into a later one is absent

  // Sessions asked to close, over every batch.
  uint64_t asked() const;
  // The most sessions one batch asked to close; 0 when none did.
  uint32_t largest_batch() const;
  // Batches that asked at least one session to close.
  size_t batches_that_closed() const;
};

// Runs the steps of `schedule` against `hub`, each at its time from now (never earlier),
// waiting for each to be done (at most a few seconds) before the next, and stops early once
// `sessions` counts none (admitted handshakes included). Logs each step at debug level and the
// totals at info.
DrainReport DrainSessions(Hub& hub, const ConnectionLimiter& sessions,
                          std::shared_ptr<const DrainSchedule> schedule, uint16_t code,
                          const std::string& reason);

}  // namespace wsbridge
