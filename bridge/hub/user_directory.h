// UserDirectory: which I/O threads hold sessions of each user, node-wide. A Push addressed only to
// users is then posted to the threads that hold those users' sessions instead of to every thread:
// one wake-up instead of N for a user on one thread, none at all for a user who is offline (the
// common case of a notification service). It counts sessions per (user, thread); anonymous
// sessions are not counted (they cannot be addressed by user).
//
// Consistency: a session is counted right after it enters its thread's RoutingIndex and uncounted
// right before it leaves, both on that thread. So a Push that finds a thread here is posted after
// the registration (the thread runs its posts in order) and finds the session unless it has left
// meanwhile, exactly as if the Push had been posted to every thread.
//
// Thread-safety: every method may be called from any thread (one mutex, held for a hash lookup).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace wsbridge {

class UserDirectory {
 public:
  explicit UserDirectory(size_t threads) : threads_(threads) {}
  UserDirectory(const UserDirectory&) = delete;
  UserDirectory& operator=(const UserDirectory&) = delete;

  // One more / one fewer session of `user_id` on `thread`. Empty user ids are ignored.
  // REQUIRES: thread < threads; Remove matches an earlier Add.
  void Add(absl::string_view user_id, size_t thread);
  void Remove(absl::string_view user_id, size_t thread);

  // The threads holding at least one session of any of `user_ids`, ascending, each once.
  std::vector<size_t> ThreadsOf(const std::vector<std::string>& user_ids) const;

  // Users with at least one session on this node.
  size_t user_count() const;

 private:
  const size_t threads_;
  mutable absl::Mutex mutex_;
  // user -> sessions on each thread (threads_ entries).
  absl::flat_hash_map<std::string, std::vector<uint32_t>> sessions_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace wsbridge
