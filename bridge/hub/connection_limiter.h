// ConnectionLimiter: admits or refuses a new session against the node-wide session limit and the
// per-user limit, before the WebSocket upgrade (a refusal becomes HTTP 429).
//
// Thread-safety: safe to call from any thread; one mutex, held for O(1) work per connect and
// disconnect only (never on the message path).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace wsbridge {

class ConnectionLimiter {
 public:
  // 0 means unlimited.
  ConnectionLimiter(uint32_t max_sessions, uint32_t max_sessions_per_user)
      : max_sessions_(max_sessions), max_sessions_per_user_(max_sessions_per_user) {}

  // Counts one more session of `user_id` (empty: anonymous, only the total applies), or returns
  // RESOURCE_EXHAUSTED naming the limit that refused it.
  absl::Status TryAcquire(absl::string_view user_id);
  // REQUIRES: a successful TryAcquire for the same user that was not released yet.
  void Release(absl::string_view user_id);

  uint32_t sessions() const;

 private:
  const uint32_t max_sessions_;
  const uint32_t max_sessions_per_user_;
  mutable absl::Mutex mutex_;
  uint32_t sessions_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::flat_hash_map<std::string, uint32_t> per_user_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace wsbridge
