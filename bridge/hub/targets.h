// Plain descriptions of whom an API call addresses, already validated (api/request_validator.h).
//
// Thread-safety: plain values; shared read-only (behind shared_ptr<const ...>) across I/O threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wsbridge {

// Sessions named by id and/or every session of the named users (Push, Subscribe, Disconnect).
struct SessionSelector {
  std::vector<std::string> session_ids;
  std::vector<std::string> user_ids;
};

// Whom one message goes to: a Push (selector) or a Broadcast (topics or all sessions).
struct DeliveryTargets {
  SessionSelector selector;
  std::vector<std::string> topics;
  bool all_sessions = false;
  std::vector<std::string> exclude_session_ids;
};

// What was done with one message. `unknown_session_ids` lists the entries of
// `selector.session_ids` that named no online session.
struct DeliveryCounts {
  uint32_t matched = 0;
  uint32_t queued = 0;
  uint32_t dropped = 0;
  std::vector<std::string> unknown_session_ids;
};

// What a session is, as GetSession / ListSessions describe it.
struct SessionInfo {
  std::string id;
  std::string user_id;  // empty for anonymous sessions
  std::string remote_address;
  absl::Time connected_at;
  std::map<std::string, std::string> metadata;
};

}  // namespace wsbridge
