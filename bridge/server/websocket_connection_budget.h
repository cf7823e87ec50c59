// WebSocketConnectionBudget: the cap on WebSocket connections (sessions plus handshakes under
// way) that keeps the node's descriptor reserve free (server/descriptor_budget.h). The listener's
// accept handler asks TryStartHandshake() for each accepted socket; a refused one is answered
// with AnswerOverBudget() (503 on plain ws, closed at once), an admitted one holds a
// HandshakeTicket until its HttpHandshake object is destroyed (by then the socket is closed or
// belongs to a Session, which the ConnectionLimiter counts). A handshake that upgrades is briefly
// counted twice, as a handshake and as a session: the error is on the safe side.
//
// Refusals come in bursts (a flood of connections); they are logged once when a burst starts,
// then at most once a minute while it lasts, and once when a connection is admitted again, with
// the number refused meanwhile. Never one line per connection.
//
// Thread-safety: every method is safe from any thread (the I/O threads' accept handlers share
// one budget). Admission costs one atomic add and the limiter's session count.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hub/connection_limiter.h"

namespace wsbridge {

class WebSocketConnectionBudget {
 public:
  // `cap`: sessions + handshakes allowed. `sessions` outlives the budget.
  WebSocketConnectionBudget(uint64_t cap, const ConnectionLimiter& sessions)
      : cap_(cap), sessions_(sessions) {}
  WebSocketConnectionBudget(const WebSocketConnectionBudget&) = delete;
  WebSocketConnectionBudget& operator=(const WebSocketConnectionBudget&) = delete;

  // One handshake's place in the budget; given back when destroyed.
  class HandshakeTicket {
   public:
    explicit HandshakeTicket(WebSocketConnectionBudget& budget) : budget_(budget) {}
    ~HandshakeTicket() { budget_.pending_.fetch_sub(1, std::memory_order_relaxed); }
    HandshakeTicket(const HandshakeTicket&) = delete;
    HandshakeTicket& operator=(const HandshakeTicket&) = delete;

   private:
    WebSocketConnectionBudget& budget_;
  };

  // A ticket for one more handshake, or null (and the refusal counted and logged as above) when
  // sessions + handshakes have reached the cap.
  std::unique_ptr<HandshakeTicket> TryStartHandshake();

  uint64_t cap() const { return cap_; }
  uint64_t pending_handshakes() const { return pending_.load(std::memory_order_relaxed); }
  uint64_t refused_total() const { return refused_total_.load(std::memory_order_relaxed); }

 private:
  void NoteRefusal(uint64_t sessions, uint64_t pending);
  void NoteAdmittedAfterRefusals();

  const uint64_t cap_;
  const ConnectionLimiter& sessions_;
  std::atomic<uint64_t> pending_{0};
  std::atomic<uint64_t> refused_total_{0};
  std::atomic<bool> refusing_{false};  // a burst of refusals is under way (fast-path check)
  absl::Mutex log_mutex_;
  uint64_t refused_in_burst_ ABSL_GUARDED_BY(log_mutex_) = 0;
  uint64_t refused_since_log_ ABSL_GUARDED_BY(log_mutex_) = 0;
  absl::Time burst_started_ ABSL_GUARDED_BY(log_mutex_);
  absl::Time last_log_ ABSL_GUARDED_BY(log_mutex_);
};

// What a connection refused by the budget is told.
enum class OverBudgetAnswer {
  // Plain ws: a 503 the browser can read.
  kHttp503,
  // wss: nothing. A plaintext 503 is garbage to a TLS client, and a TLS handshake to say it
  // properly is the CPU a node at its limit should not spend: the connection is just closed.
  kCloseOnly,
};

// Answers a connection refused by the budget: the answer (a 503 fits in an empty send buffer, so
// the non-blocking write does not wait), whatever request bytes already arrived read away (so
// closing does not reset the connection under the answer), then closed. Costs the descriptor for
// no longer than these calls. On the socket's thread.
void AnswerOverBudget(boost::asio::ip::tcp::socket& socket, OverBudgetAnswer answer);

}  // namespace wsbridge
