// Listener: one accepting socket on one I/O thread. Every I/O thread gets its own Listener on the
// same address and port (SO_REUSEPORT), so the kernel spreads new connections over the threads
// and a connection is accepted on the thread that will own it: no hand-off, no lock.
//
// Thread-safety: Create() and port() from any thread; Start()/Stop() post to the owning thread.
// `on_accept` runs on the owning thread with the new socket.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "absl/status/statusor.h"
#include "runtime/io_thread.h"

namespace wsbridge {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  using AcceptHandler = std::function<void(boost::asio::ip::tcp::socket)>;

  // Binds and listens. Port 0 picks a free port; read it back with port() and give it to the
  // listeners of the other threads. UNAVAILABLE naming the address when binding fails.
  static absl::StatusOr<std::shared_ptr<Listener>> Create(IoThread& thread,
                                                          boost::asio::ip::tcp::endpoint endpoint,
                                                          AcceptHandler on_accept);

  uint16_t port() const { return port_; }
  void Start();
  void Stop();

  Listener(IoThread& thread, AcceptHandler on_accept);  // use Create()

 private:
  void DoAccept();

  IoThread& thread_;
  boost::asio::ip::tcp::acceptor acceptor_;  // owned by thread_
  AcceptHandler on_accept_;
  uint16_t port_ = 0;
};

}  // namespace wsbridge
