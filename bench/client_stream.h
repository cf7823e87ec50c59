// ClientStream: the load generator's connection under Beast's websocket::stream, plain TCP or TLS
// (wss). With an SSL_CTX it speaks TLS over its socket with OpenSSL directly: SSL_read, SSL_write
// and SSL_connect on the socket's descriptor, waiting for readiness with async_wait when OpenSSL
// wants bytes moved. So an idle TLS connection costs OpenSSL's own state (the context sets
// SSL_MODE_RELEASE_BUFFERS) and no buffer of ours: 32.6 KiB per client against 5.3 KiB plain, as
// measured in docs/benchmarks.md. asio::ssl::stream would add two 17 KiB buffers and a 2 x 17 KiB
// BIO pair to every connection, and one load generator process holds up to 15k idle sessions.
// Without a context every call goes straight to the socket.
//
// It is an AsyncStream (get_executor, async_read_some, async_write_some); next_layer() is the
// socket, so beast::get_lowest_layer finds it; async_teardown (found by argument-dependent lookup)
// sends close_notify when the socket takes it, then tears the TCP connection down as Beast does.
//
// Thread-safety: none; used on the one thread that runs its io_context. REQUIRES: at most one
// read and one write in flight at a time (Beast's websocket stream keeps to that).
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace wsbridge::bench {

// A socket bound to its io_context's concrete executor: the default (type-erased any_io_executor)
// costs a copy and destroy of the erased executor on every read completion.
using ClientSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// A client TLS context for load generation: TLS 1.2 or 1.3, no certificate verification (the
// benchmark's server has a throw-away self-signed certificate), buffers released while idle.
// Null when OpenSSL cannot make one.
std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> MakeBenchClientTlsContext();

namespace client_stream_detail {

// One OpenSSL call retried until it succeeds or fails: `call(ssl, bytes)` returns what
// SSL_read_ex/SSL_write_ex/SSL_connect return. Between attempts it waits for the socket to become
// readable or writable, as SSL_get_error asks. The first attempt is posted rather than made in the
// initiating function: OpenSSL may answer a read from bytes it already holds, and completing
// inside async_read_some would let Beast's read loop recurse once per buffered message.
template <typename Call>
struct TlsCallOp {
  SSL* ssl;
  ClientSocket& socket;
  Call call;
  bool started = false;

  template <typename Self>
  void operator()(Self& self, boost::system::error_code ec = {}) {
    if (!started) {
      started = true;
      return boost::asio::post(socket.get_executor(), std::move(self));
    }
    if (ec) return self.complete(ec, 0);
    size_t bytes = 0;
    ERR_clear_error();
    const int result = call(ssl, bytes);
    if (result == 1) return self.complete({}, bytes);
    switch (SSL_get_error(ssl, result)) {
      case SSL_ERROR_WANT_READ:
        return socket.async_wait(ClientSocket::wait_read, std::move(self));
      case SSL_ERROR_WANT_WRITE:
        return socket.async_wait(ClientSocket::wait_write, std::move(self));
      case SSL_ERROR_ZERO_RETURN:  // close_notify
        return self.complete(boost::asio::error::eof, 0);
      default:
        if (const unsigned long error = ERR_get_error(); error != 0) {
          return self.complete(boost::system::error_code(static_cast<int>(error),
                                                         boost::asio::error::get_ssl_category()),
                               0);
        }
        return self.complete(boost::asio::error::eof, 0);  // the peer went away
    }
  }
};

// The first non-empty buffer of a sequence (an empty one when all are): a read or write_some may
// move fewer bytes than asked, so one buffer per OpenSSL call is enough.
template <typename Buffer, typename Sequence>
Buffer FirstBuffer(const Sequence& buffers) {
  for (auto it = boost::asio::buffer_sequence_begin(buffers);
       it != boost::asio::buffer_sequence_end(buffers); ++it) {
    Buffer buffer(*it);
    if (buffer.size() > 0) return buffer;
  }
  return Buffer();
}

}  // namespace client_stream_detail

class ClientStream {
 public:
  using executor_type = boost::asio::io_context::executor_type;
  using next_layer_type = ClientSocket;

  // `tls`: null for plain TCP; otherwise the connection speaks TLS with an SSL made from it. The
  // context must outlive the stream.
  ClientStream(const executor_type& executor, SSL_CTX* tls)
      : socket_(executor), ssl_(tls ? SSL_new(tls) : nullptr, &SSL_free) {}
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  ClientSocket& next_layer() { return socket_; }
  const ClientSocket& next_layer() const { return socket_; }

  // After the TCP connect: the TLS handshake; without TLS, completes (posted) at once.
  // Handler: void(boost::system::error_code).
  template <typename Handler>
  void AsyncTlsHandshake(Handler handler) {
    if (!ssl_) {
      boost::asio::post(socket_.get_executor(),
                        [handler = std::move(handler)]() mutable { handler({}); });
      return;
    }
    SSL_set_fd(ssl_.get(), socket_.native_handle());
    SSL_set_connect_state(ssl_.get());
    StartTlsCall([handler = std::move(handler)](boost::system::error_code ec,
                                                size_t) mutable { handler(ec); },
                 [](SSL* ssl, size_t&) { return SSL_connect(ssl); });
  }

  template <typename MutableBufferSequence, typename Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const MutableBufferSequence& sequence) {
          if (!ssl_) return socket_.async_read_some(sequence, std::move(handler));
          const auto buffer =
              client_stream_detail::FirstBuffer<boost::asio::mutable_buffer>(sequence);
          auto call = [buffer](SSL* ssl, size_t& bytes) {
            return buffer.size() == 0 ? 1 : SSL_read_ex(ssl, buffer.data(), buffer.size(), &bytes);
          };
          StartTlsCall(std::move(handler), call);
        },
        token, buffers);
  }

  template <typename ConstBufferSequence, typename Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const ConstBufferSequence& sequence) {
          if (!ssl_) return socket_.async_write_some(sequence, std::move(handler));
          const auto buffer =
              client_stream_detail::FirstBuffer<boost::asio::const_buffer>(sequence);
          auto call = [buffer](SSL* ssl, size_t& bytes) {
            return buffer.size() == 0 ? 1 : SSL_write_ex(ssl, buffer.data(), buffer.size(), &bytes);
          };
          StartTlsCall(std::move(handler), call);
        },
        token, buffers);
  }

  // Sends close_notify if the socket takes it now; never waits for the peer's.
  void ShutdownTls() {
    if (ssl_ && SSL_is_init_finished(ssl_.get())) {
      ERR_clear_error();
      SSL_shutdown(ssl_.get());
    }
  }

 private:
  template <typename Handler, typename Call>
  void StartTlsCall(Handler handler, Call call) {
    boost::asio::async_compose<Handler, void(boost::system::error_code, size_t)>(
        client_stream_detail::TlsCallOp<Call>{ssl_.get(), socket_, std::move(call)}, handler,
        socket_);
  }

  ClientSocket socket_;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
};

// Beast's websocket close ends with teardown of the next layer, found by argument-dependent lookup.
inline void teardown(boost::beast::role_type role, ClientStream& stream,
                     boost::system::error_code& ec) {
  stream.ShutdownTls();
  boost::beast::websocket::teardown(role, stream.next_layer(), ec);
}

template <typename TeardownHandler>
void async_teardown(boost::beast::role_type role, ClientStream& stream, TeardownHandler&& handler) {
  stream.ShutdownTls();
  boost::beast::websocket::async_teardown(role, stream.next_layer(),
                                          std::forward<TeardownHandler>(handler));
}

}  // namespace wsbridge::bench
