// Listener: one accepting socket on one I/O thread. Every I/O thread gets its own Listener on the
// same address and port (SO_REUSEPORT), so the kernel spreads new connections over the threads
// and a connection is accepted on the thread that will own it: no hand-off, no lock.
//
// A failed accept (out of descriptors: EMFILE/ENFILE, or out of memory) never ends the listener:
// it marks itself not accepting, retries every 50 ms, and is accepting again once an accept
// succeeds. Readiness (/readyz) reports a listener that is not accepting. Such failures come in
// bursts, so they are logged once when one starts (then once a minute while it lasts) and once
// when it ends, with the count: never one line per retry; and a burst that starts within 10 s of
// the last one logged is not logged at all (a listener hovering at the limit).
//
// Thread-safety: Create(), port(), accepting() and last_error() from any thread; Start()/Stop()
// post to the owning thread. `on_accept` runs on the owning thread with the new socket.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/status/statusor.h"
#include "runtime/io_thread.h"

namespace wsbridge {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  using AcceptHandler = std::function<void(boost::asio::ip::tcp::socket)>;

  enum class PortSharing {
    kExclusive,     // the only socket on this port
    kFirstOfGroup,  // first of the threads' SO_REUSEPORT group: fails if anyone holds the port
    kJoinGroup,     // a further thread joining the group (same port, same process)
  };

  // Binds and listens. Port 0 picks a free port; read it back with port() and give it to the
  // listeners of the other threads. UNAVAILABLE naming the address when binding fails; in
  // particular a port that another process holds is never silently shared.
  static absl::StatusOr<std::shared_ptr<Listener>> Create(IoThread& thread,
                                                          boost::asio::ip::tcp::endpoint endpoint,
                                                          PortSharing sharing,
                                                          AcceptHandler on_accept);

  uint16_t port() const { return port_; }
  // False while accepts fail (see above), and before Start() and after Stop().
  bool accepting() const { return accepting_.load(std::memory_order_relaxed); }
  // The error of the last failed accept, 0 if none failed since the last success.
  int last_error() const { return last_error_.load(std::memory_order_relaxed); }
  void Start();
  void Stop();

  Listener(IoThread& thread, AcceptHandler on_accept);  // use Create()

 private:
  void DoAccept();
  void OnAcceptFailed(const boost::system::error_code& ec);
  // Ends a burst of failures: an accept succeeded, or a descriptor can be had again.
  void OnAcceptSucceeded();
  void RetryAcceptLater();

  IoThread& thread_;
  boost::asio::ip::tcp::acceptor acceptor_;  // owned by thread_
  boost::asio::steady_timer retry_timer_;    // owned by thread_: backoff after accept errors
  AcceptHandler on_accept_;
  uint16_t port_ = 0;
  std::atomic<bool> accepting_{false};
  std::atomic<int> last_error_{0};
  uint64_t failed_accepts_ = 0;  // owned by thread_: in the current burst of failures
  std::chrono::steady_clock::time_point failing_since_;  // owned by thread_
  // Owned by thread_: whether the current burst was logged, and when the last logged one began.
  bool burst_logged_ = false;
  std::chrono::steady_clock::time_point last_logged_burst_;
};

}  // namespace wsbridge
