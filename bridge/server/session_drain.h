// DrainSessions: the part of a node's drain that closes its sessions, spread over the drain
// window by a DrainSchedule (hub/drain_schedule.h) so that browsers do not all reconnect at
// once. Each step is one Hub::CloseDrainStep: a step of the node order, so every delivery
// accepted before it reaches its sessions first, and each close frame leaves behind what was
// queued for that session. A step that comes late (a loaded machine) is not replayed: the
// schedule's share for the step now due makes up for the ones missed.
//
// Thread-safety: blocks the calling (controlling) thread for the spread of the schedule; the
// hub's threads do the closing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hub/connection_limiter.h"
#include "hub/drain_schedule.h"
#include "hub/hub.h"

namespace wsbridge {

// Runs the steps of `schedule` against `hub`, each at its time from now, waiting for each to be
// done (at most a few seconds) before the next, and stops early once `sessions` counts none
// (admitted handshakes included). Returns the number of sessions asked to close.
uint64_t DrainSessions(Hub& hub, const ConnectionLimiter& sessions,
                       std::shared_ptr<const DrainSchedule> schedule, uint16_t code,
                       const std::string& reason);

}  // namespace wsbridge
