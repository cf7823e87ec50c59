#include "ws/write_flusher.h"

#include <utility>

#include "ws/session.h"

namespace wsbridge {

void WriteFlusher::Schedule(IoThread& thread, std::shared_ptr<Session> session) {
  pending_.push_back(std::move(session));
  if (posted_) return;
  posted_ = true;
  // The flusher lives in the thread's SessionContext, which outlives every handler of the thread.
  thread.Post([this] { Run(); });
}

void WriteFlusher::Run() {
  posted_ = false;
  running_.swap(pending_);
  for (const std::shared_ptr<Session>& session : running_) session->Flush();
  running_.clear();
  // Keep no large vector after a burst.
  if (running_.capacity() > 4096) std::vector<std::shared_ptr<Session>>().swap(running_);
}

}  // namespace wsbridge
