#include "ws/liveness_sweeper.h"

#include <algorithm>

#include "ws/session.h"

namespace wsbridge {
namespace {

// A quarter of the shortest interval it has to notice, between 20 ms and 1 s.
std::chrono::steady_clock::duration SweepPeriod(const SessionOptions& options) {
  absl::Duration shortest = absl::Seconds(4);
  for (absl::Duration d : {options.idle_timeout, options.ping_interval, options.write_timeout}) {
    if (d > absl::ZeroDuration()) shortest = std::min(shortest, d);
  }
  const absl::Duration period = std::clamp(shortest / 4, absl::Milliseconds(20), absl::Seconds(1));
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(period));
}

}  // namespace

LivenessSweeper::LivenessSweeper(SessionContext& context)
    : context_(context),
      timer_(context.thread.Make<boost::asio::steady_timer>()),
      period_(SweepPeriod(context.options)) {}

void LivenessSweeper::Start() {
  context_.thread.Post([self = shared_from_this()] { self->Tick(); });
}

void LivenessSweeper::Stop() {
  context_.thread.Post([self = shared_from_this()] {
    self->stopped_ = true;
    self->timer_.cancel();
  });
}

void LivenessSweeper::Sweep() {
  WSBRIDGE_ASSERT_ON(context_.thread);
  const Clock::TimePoint now = context_.clock.Now();
  // CheckLiveness never removes a session from the list synchronously (a dropped session
  // leaves it from its Finish, in a later handler), so the walk is stable.
  const std::vector<Session*>& sessions = context_.live_sessions;
  for (size_t i = 0; i < sessions.size(); ++i) sessions[i]->CheckLiveness(now);
}

void LivenessSweeper::Tick() {
  if (stopped_) return;
  Sweep();
  timer_.expires_after(period_);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->Tick();
  });
}

}  // namespace wsbridge
