#include "hub/connection_limiter.h"
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"

namespace wsbridge {

absl::Status ConnectionLimiter::TryAcquire(absl::string_view user_id) {
  absl::MutexLock lock(&mutex_);
  if (max_sessions_ != 0 && sessions_ >= max_sessions_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("session limit reached (max_sessions=", max_sessions_, ")"));
  }
  if (!user_id.empty()) {
    uint32_t& mine = per_user_[user_id];
    if (max_sessions_per_user_ != 0 && mine >= max_sessions_per_user_) {
      if (mine == 0) per_user_.erase(user_id);
      return absl::ResourceExhaustedError(absl::StrCat(
          "per-user session limit reached (max_sessions_per_user=", max_sessions_per_user_, ")"));
    }
    ++mine;
  }
  ++sessions_;
  return absl::OkStatus();
}

void ConnectionLimiter::Release(absl::string_view user_id) {
  absl::MutexLock lock(&mutex_);
  --sessions_;
  if (user_id.empty()) return;
  auto it = per_user_.find(user_id);
  if (it != per_user_.end() && --it->second == 0) per_user_.erase(it);
}

uint32_t ConnectionLimiter::sessions() const {
  absl::MutexLock lock(&mutex_);
  return sessions_;
}

}  // namespace wsbridge
