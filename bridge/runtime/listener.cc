#include "runtime/listener.h"

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
  thread_.Post([self = shared_from_this()] { self->DoAccept(); });
}

void Listener::Stop() {
  thread_.Post([self = shared_from_this()] {
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
          // condition may pass as sessions end.
          spdlog::warn("accept on port {} failed: {}", self->port_, ec.message());
          return self->RetryAcceptLater();
        }
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        self->on_accept_(std::move(socket));
        self->DoAccept();
      });
}

void Listener::RetryAcceptLater() {
  retry_timer_.expires_after(std::chrono::milliseconds(50));
  retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && self->acceptor_.is_open()) self->DoAccept();
  });
}

}  // namespace wsbridge
