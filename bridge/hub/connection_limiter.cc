#include "hub/connection_limiter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace wsbridge {

SessionSlot& SessionSlot::operator=(SessionSlot&& other) noexcept {
  if (this != &other) {
    Release();
    limiter_ = std::exchange(other.limiter_, nullptr);
    user_ = std::exchange(other.user_, nullptr);
    thread_ = other.thread_;
  }
  return *this;
}

void SessionSlot::Release() {
  if (limiter_ == nullptr) return;
  std::exchange(limiter_, nullptr)->Release(std::exchange(user_, nullptr), thread_);
}

absl::StatusOr<SessionSlot> ConnectionLimiter::TryAdmit(absl::string_view user_id, size_t thread) {
  absl::MutexLock lock(&mutex_);
  if (max_sessions_ != 0 && sessions_ >= max_sessions_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("session limit reached (max_sessions=", max_sessions_, ")"));
  }
  SessionSlot::UserCounts* user = nullptr;
  if (!user_id.empty()) {
    auto it = users_.find(user_id);
    if (it != users_.end() && max_sessions_per_user_ != 0 &&
        it->second.total >= max_sessions_per_user_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "per-user session limit reached (max_sessions_per_user=", max_sessions_per_user_, ")"));
    }
    if (it == users_.end()) {
      it = users_.try_emplace(user_id).first;
      it->second.user_id = &it->first;
      it->second.per_thread.assign(threads_, 0);
    }
    user = &it->second;
    ++user->total;
    ++user->per_thread[thread];
  }
  ++sessions_;
  return SessionSlot(this, user, static_cast<uint32_t>(thread));
}

void ConnectionLimiter::Release(SessionSlot::UserCounts* user, uint32_t thread) {
  absl::MutexLock lock(&mutex_);
  --sessions_;
  if (user == nullptr) return;
  --user->per_thread[thread];
  if (--user->total == 0) users_.erase(users_.find(*user->user_id));
}

std::vector<size_t> ConnectionLimiter::ThreadsOf(const std::vector<std::string>& user_ids) const {
  std::vector<bool> holds(threads_, false);
  {
    absl::MutexLock lock(&mutex_);
    for (const std::string& user_id : user_ids) {
      auto it = users_.find(user_id);
      if (it == users_.end()) continue;
      for (size_t i = 0; i < threads_; ++i) holds[i] = holds[i] || it->second.per_thread[i] != 0;
    }
  }
  std::vector<size_t> threads;
  for (size_t i = 0; i < threads_; ++i) {
    if (holds[i]) threads.push_back(i);
  }
  return threads;
}

uint32_t ConnectionLimiter::sessions() const {
  absl::MutexLock lock(&mutex_);
  return sessions_;
}

bool ConnectionLimiter::AwaitNoSessions(absl::Time deadline) const {
  absl::MutexLock lock(&mutex_);
  const auto none_left = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return sessions_ == 0; };
  return mutex_.AwaitWithDeadline(absl::Condition(&none_left), deadline);
}

size_t ConnectionLimiter::user_count() const {
  absl::MutexLock lock(&mutex_);
  return users_.size();
}

}  // namespace wsbridge
