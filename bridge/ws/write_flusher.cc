#include "ws/write_flusher.h"

#include <algorithm>
#include <utility>

#include "ws/session.h"

namespace wsbridge {

void WriteFlusher::Schedule(IoThread& thread, std::shared_ptr<Session> session) {
  WSBRIDGE_ASSERT_ON(thread);
  pending_.push_back(std::move(session));
  if (posted_) return;
  posted_ = true;
  thread_ = &thread;
  // The flusher lives in the thread's SessionContext, which outlives every handler of the thread.
  thread.Post([this] { Run(); });
}

void WriteFlusher::Run() {
  WSBRIDGE_ASSERT_ON(*thread_);
  posted_ = false;
  if (next_ == running_.size()) {
    running_.clear();
    next_ = 0;
    running_.swap(pending_);
  }
  const size_t end = std::min(running_.size(), next_ + kSessionsPerRun);
  for (; next_ < end; ++next_) {
    const std::shared_ptr<Session> session = std::move(running_[next_]);
    session->Flush();
  }
  if (next_ < running_.size() || !pending_.empty()) {
    // Let the deliveries queued meanwhile run first: the sessions not flushed yet then write
    // those messages in the same write as the earlier ones.
    posted_ = true;
    thread_->Post([this] { Run(); });
    return;
  }
  running_.clear();
  next_ = 0;
  // Keep no large vectors after a burst.
  if (running_.capacity() > 4 * kSessionsPerRun) {
    std::vector<std::shared_ptr<Session>>().swap(running_);
  }
  if (pending_.capacity() > 4 * kSessionsPerRun) {
    std::vector<std::shared_ptr<Session>>().swap(pending_);
  }
}

}  // namespace wsbridge
