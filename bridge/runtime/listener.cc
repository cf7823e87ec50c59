#include "runtime/listener.h"

#include <unistd.h>

#include <chrono>
#include <utility>

#include <boost/asio/socket_base.hpp>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace wsbridge {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;

Listener::Listener(IoThread& thread, AcceptHandler on_accept)
    : thread_(thread),
      acceptor_(thread.Make<tcp::acceptor>()),
      retry_timer_(thread.Make<asio::steady_timer>()),
      on_accept_(std::move(on_accept)) {}

absl::StatusOr<std::shared_ptr<Listener>> Listener::Create(IoThread& thread, tcp::endpoint endpoint,
                                                           PortSharing sharing,
                                                           AcceptHandler on_accept) {
  auto listener = std::make_shared<Listener>(thread, std::move(on_accept));
  boost::system::error_code ec;
  tcp::acceptor& acceptor = listener->acceptor_;
  auto fail = [&](absl::string_view step) {
    return absl::UnavailableError(absl::StrCat("cannot ", step, " ", endpoint.address().to_string(),
                                               ":", endpoint.port(), ": ", ec.message()));
  };
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  if (sharing == PortSharing::kFirstOfGroup && endpoint.port() != 0) {
    // SO_REUSEPORT would let us join another process's group on this port and silently split
    // its traffic; a plain bind first proves the port is free.
    tcp::acceptor probe = thread.Make<tcp::acceptor>();
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec) return fail("bind");
  }
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  if (sharing != PortSharing::kExclusive) {
    acceptor.set_option(reuse_port(true), ec);
    if (ec) return fail("configure");
  }
  acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  listener->port_ = acceptor.local_endpoint(ec).port();
  if (ec) return fail("read the port of");
  return listener;
}

void Listener::Start() {
  // Accepting from now on: the socket listens since Create(), so the kernel queues connections
  // until the posted accept takes them.
  accepting_.store(true, std::memory_order_relaxed);
  thread_.Post([self = shared_from_this()] { self->DoAccept(); });
}

void Listener::Stop() {
  thread_.Post([self = shared_from_this()] {
    self->accepting_.store(false, std::memory_order_relaxed);
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
}

void Listener::DoAccept() {
  WSBRIDGE_ASSERT_ON(thread_);
  // The new socket lives on the acceptor's thread, this one.
  acceptor_.async_accept(
      [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
          // Out of descriptors and the like: back off briefly instead of spinning; the
          // condition may pass as connections end.
          self->OnAcceptFailed(ec);
          return self->RetryAcceptLater();
        }
        if (self->failed_accepts_ != 0) self->OnAcceptSucceeded();
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        self->on_accept_(std::move(socket));
        self->DoAccept();
      });
}

void Listener::OnAcceptFailed(const boost::system::error_code& ec) {
  // Every 1200th retry (a minute at 50 ms) reminds that the burst goes on.
  constexpr uint64_t kRetriesBetweenReminders = 1200;
  accepting_.store(false, std::memory_order_relaxed);
  last_error_.store(ec.value(), std::memory_order_relaxed);
  // A listener hovering at the limit could start a burst every retry; a burst that begins within
  // this long of the last one logged is not logged (nor its end).
  constexpr auto kQuietAfterLoggedBurst = std::chrono::seconds(10);
  if (failed_accepts_++ == 0) {
    failing_since_ = std::chrono::steady_clock::now();
    burst_logged_ = failing_since_ - last_logged_burst_ >= kQuietAfterLoggedBurst;
    if (burst_logged_) {
      last_logged_burst_ = failing_since_;
      spdlog::warn("accept on port {} failed: {}; not accepting, retrying every 50 ms", port_,
                   ec.message());
    }
  } else if (failed_accepts_ % kRetriesBetweenReminders == 0) {
    spdlog::warn("accept on port {} still failing after {} attempts: {}", port_, failed_accepts_,
                 ec.message());
  }
}

void Listener::OnAcceptSucceeded() {
  if (failed_accepts_ == 0) return;
  const auto seconds = std::chrono::duration_cast<std::chrono::duration<double>>(
      std::chrono::steady_clock::now() - failing_since_);
  if (burst_logged_) {
    spdlog::info("accepting on port {} again after {} failed attempts over {:.1f}s", port_,
                 failed_accepts_, seconds.count());
  }
  failed_accepts_ = 0;
  last_error_.store(0, std::memory_order_relaxed);
  accepting_.store(true, std::memory_order_relaxed);
}

void Listener::RetryAcceptLater() {
  retry_timer_.expires_after(std::chrono::milliseconds(50));
  retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || !self->acceptor_.is_open()) return;
    // If a descriptor can be had again, the listener can accept again, whether or not a
    // connection is waiting to prove it (the one whose accept failed may be gone). Without a
    // waiting connection nothing else would ever clear the not-accepting mark.
    if (const int probe = ::dup(self->acceptor_.native_handle()); probe >= 0) {
      ::close(probe);
      self->OnAcceptSucceeded();
    }
    self->DoAccept();
  });
}

}  // namespace wsbridge
