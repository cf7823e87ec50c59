#include "server/websocket_connection_budget.h"

#include <sys/socket.h>

#include <string_view>

#include "spdlog/spdlog.h"

namespace wsbridge {
namespace {

// While a burst lasts, how often it is mentioned again.
constexpr absl::Duration kBurstReminder = absl::Minutes(1);

constexpr std::string_view kOverBudgetAnswer =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Server: wsbridge\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 48\r\n"
    "Retry-After: 5\r\n"
    "Connection: close\r\n"
    "\r\n"
    "server at its connection limit: try again later\n";

}  // namespace

std::unique_ptr<WebSocketConnectionBudget::HandshakeTicket>
WebSocketConnectionBudget::TryStartHandshake() {
  // Reserve first, then check: two threads racing for the last place cannot both get it.
  const uint64_t pending = pending_.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t sessions = sessions_.sessions();
  if (sessions + pending > cap_) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    NoteRefusal(sessions, pending - 1);
    return nullptr;
  }
  if (refusing_.load(std::memory_order_relaxed)) NoteAdmittedAfterRefusals();
  return std::make_unique<HandshakeTicket>(*this);
}

void WebSocketConnectionBudget::NoteRefusal(uint64_t sessions, uint64_t pending) {
  refused_total_.fetch_add(1, std::memory_order_relaxed);
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&log_mutex_);
  ++refused_in_burst_;
  ++refused_since_log_;
  if (!refusing_.exchange(true, std::memory_order_relaxed)) {
    burst_started_ = last_log_ = now;
    refused_since_log_ = 0;
    spdlog::warn(
        "refusing WebSocket connections with 503: at the descriptor budget of {} connections "
        "({} sessions, {} handshakes under way); the rest of the descriptor limit is kept for "
        "gRPC and the admin port (--fd_reserve). Logged once per burst.",
        cap_, sessions, pending);
  } else if (now - last_log_ >= kBurstReminder) {
    spdlog::warn(
        "still refusing WebSocket connections at the descriptor budget of {}: {} refused "
        "in the last {}",
        cap_, refused_since_log_, absl::FormatDuration(now - last_log_));
    last_log_ = now;
    refused_since_log_ = 0;
  }
}

void WebSocketConnectionBudget::NoteAdmittedAfterRefusals() {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&log_mutex_);
  if (!refusing_.exchange(false, std::memory_order_relaxed)) return;
  spdlog::info("accepting WebSocket connections again: {} were refused with 503 over {}",
               refused_in_burst_, absl::FormatDuration(now - burst_started_));
  refused_in_burst_ = 0;
  refused_since_log_ = 0;
}

void AnswerOverBudget(boost::asio::ip::tcp::socket& socket, OverBudgetAnswer answer) {
  const int fd = socket.native_handle();
  // Best effort throughout: the peer may be gone, and nothing here may block the I/O thread.
  if (answer == OverBudgetAnswer::kHttp503) {
    [[maybe_unused]] const ssize_t written =
        ::send(fd, kOverBudgetAnswer.data(), kOverBudgetAnswer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  ::shutdown(fd, SHUT_WR);
  char discard[4096];
  for (int i = 0; i < 4 && ::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0; ++i) {
  }
  boost::system::error_code ignored;
  socket.close(ignored);
}

}  // namespace wsbridge
