// ConnectionLimiter: the node's one count of its sessions: how many in all and, for each user,
// how many on each I/O thread. From these counts it
//   - admits a new session against the node-wide and the per-user limit before the WebSocket
//     upgrade (a refusal becomes HTTP 429), handing out a SessionSlot that gives the place back
//     when it is destroyed or released (the session owns it, so no path can forget it), and
//   - tells a Push addressed only to users which threads hold those users' sessions, so it is
//     posted there instead of to every thread: one wake-up for a user on one thread, none at all
//     for a user who is offline (the common case of a notification service).
// Anonymous sessions count towards the total only (they cannot be addressed by user).
//
// Consistency with the routing index: a session is counted on its thread when it is admitted,
// before it enters that thread's RoutingIndex, and uncounted when its slot is released, after it
// left the index (both on that thread). So whenever a session is in an index, its thread is
// counted here; a Push that finds a thread here is posted after any registration it could have
// missed (the thread runs its posts in order) and finds the session unless it has left
// meanwhile, exactly as if the Push had been posted to every thread. A thread counted for a
// session still in its handshake costs one needless post at most.
//
// Thread-safety: every method (and SessionSlot's release) is safe from any thread; one mutex,
// held for O(1) work per connect and disconnect and for a hash lookup per user in ThreadsOf.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wsbridge {

class ConnectionLimiter;

// One admitted session's place under the limits. Move-only; gives the place back once, when
// released or destroyed. An empty slot (default-constructed or moved from) holds nothing.
class SessionSlot {
 public:
  SessionSlot() = default;
  SessionSlot(SessionSlot&& other) noexcept { *this = std::move(other); }
  SessionSlot& operator=(SessionSlot&& other) noexcept;
  SessionSlot(const SessionSlot&) = delete;
  SessionSlot& operator=(const SessionSlot&) = delete;
  ~SessionSlot() { Release(); }

  // Gives the place back now; idempotent.
  void Release();
  bool held() const { return limiter_ != nullptr; }

 private:
  friend class ConnectionLimiter;
  struct UserCounts;
  SessionSlot(ConnectionLimiter* limiter, UserCounts* user, uint32_t thread)
      : limiter_(limiter), user_(user), thread_(thread) {}

  ConnectionLimiter* limiter_ = nullptr;
  UserCounts* user_ = nullptr;  // the user's entry in the limiter; null for anonymous sessions
  uint32_t thread_ = 0;
};

// A user's sessions: in all, and on each thread. Guarded by the limiter's mutex.
struct SessionSlot::UserCounts {
  const std::string* user_id = nullptr;  // the map key, to erase the entry with its last session
  uint32_t total = 0;
  std::vector<uint32_t> per_thread;  // threads_ entries
};

class ConnectionLimiter {
 public:
  // `threads`: the node's I/O threads. Limits of 0 mean unlimited.
  ConnectionLimiter(size_t threads, uint32_t max_sessions, uint32_t max_sessions_per_user)
      : threads_(threads),
        max_sessions_(max_sessions),
        max_sessions_per_user_(max_sessions_per_user) {}
  ConnectionLimiter(const ConnectionLimiter&) = delete;
  ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

  // Counts one more session of `user_id` (empty: anonymous) on `thread`, or returns
  // RESOURCE_EXHAUSTED naming the limit that refused it. REQUIRES: thread < threads.
  absl::StatusOr<SessionSlot> TryAdmit(absl::string_view user_id, size_t thread);

  // The threads holding at least one session of any of `user_ids`, ascending, each once.
  std::vector<size_t> ThreadsOf(const std::vector<std::string>& user_ids) const;

  // Sessions admitted and not released.
  uint32_t sessions() const;
  // Blocks until every slot is released or `deadline` passes; true if none is left. For the
  // drain, which waits for the sessions it closed to finish.
  bool AwaitNoSessions(absl::Time deadline) const;
  // Users with at least one session on this node.
  size_t user_count() const;

 private:
  friend class SessionSlot;
  using Users = absl::node_hash_map<std::string, SessionSlot::UserCounts>;

  void Release(SessionSlot::UserCounts* user, uint32_t thread);

  const size_t threads_;
  const uint32_t max_sessions_;
  const uint32_t max_sessions_per_user_;
  mutable absl::Mutex mutex_;
  uint32_t sessions_ ABSL_GUARDED_BY(mutex_) = 0;
  // user -> their sessions. A node map: slots point at their user's entry, which stays put.
  Users users_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace wsbridge
