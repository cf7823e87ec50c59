#include "ws/coalescing_sweeper.h"

#include <utility>

#include <boost/asio/steady_timer.hpp>

#include "ws/session.h"

namespace wsbridge {

void CoalescingSweeper::Watch(IoThread& thread, std::weak_ptr<Session> session,
                              std::chrono::steady_clock::duration period) {
  WSBRIDGE_ASSERT_ON(thread);
  thread_ = &thread;
  period_ = period;
  watched_.push_back(std::move(session));
  if (!armed_) Arm();
}

void CoalescingSweeper::Arm() {
  armed_ = true;
  // A timer per tick, owned by its own handler: the sweeper (in the thread's SessionContext)
  // then never outlives the io_context with a timer of it still registered there.
  auto timer = std::make_shared<boost::asio::steady_timer>(
      thread_->Make<boost::asio::steady_timer>(period_));
  timer->async_wait([this, timer](boost::system::error_code ec) {
    armed_ = false;
    if (ec) return;
    Sweep();
    if (!watched_.empty()) Arm();
  });
}

void CoalescingSweeper::Sweep() {
  size_t kept = 0;
  for (size_t i = 0; i < watched_.size(); ++i) {
    std::shared_ptr<Session> session = watched_[i].lock();
    if (session == nullptr || !session->SweepCoalescing()) continue;
    if (kept != i) watched_[kept] = std::move(watched_[i]);
    ++kept;
  }
  watched_.resize(kept);
  if (watched_.capacity() > 1024 && watched_.size() < watched_.capacity() / 4) {
    watched_.shrink_to_fit();
  }
}

}  // namespace wsbridge
