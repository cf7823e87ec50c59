#include "hub/user_directory.h"

namespace wsbridge {

void UserDirectory::Add(absl::string_view user_id, size_t thread) {
  if (user_id.empty()) return;
  absl::MutexLock lock(&mutex_);
  std::vector<uint32_t>& counts = sessions_[user_id];
  if (counts.empty()) counts.assign(threads_, 0);
  ++counts[thread];
}

void UserDirectory::Remove(absl::string_view user_id, size_t thread) {
  if (user_id.empty()) return;
  absl::MutexLock lock(&mutex_);
  auto it = sessions_.find(user_id);
  if (it == sessions_.end() || it->second[thread] == 0) return;
  --it->second[thread];
  for (uint32_t count : it->second) {
    if (count != 0) return;
  }
  sessions_.erase(it);
}

std::vector<size_t> UserDirectory::ThreadsOf(const std::vector<std::string>& user_ids) const {
  std::vector<bool> holds(threads_, false);
  {
    absl::MutexLock lock(&mutex_);
    for (const std::string& user_id : user_ids) {
      auto it = sessions_.find(user_id);
      if (it == sessions_.end()) continue;
      for (size_t i = 0; i < threads_; ++i) holds[i] = holds[i] || it->second[i] != 0;
    }
  }
  std::vector<size_t> threads;
  for (size_t i = 0; i < threads_; ++i) {
    if (holds[i]) threads.push_back(i);
  }
  return threads;
}

size_t UserDirectory::user_count() const {
  absl::MutexLock lock(&mutex_);
  return sessions_.size();
}

}  // namespace wsbridge
