// Transport: the byte stream of one connection on the WebSocket port: plain TCP, or TLS over it
// (--ws_tls_cert). HttpHandshake and Session speak through it and never ask which.
//
// It is used the reactor way, as Session always used its socket: wait until the socket is
// readable (or writable), then read or write without blocking until it would block. The plain
// transport is the socket itself. The TLS one runs OpenSSL on the socket: SSL_read reads the
// socket directly (no buffer of ours), and SSL_write encrypts into a memory BIO whose ciphertext
// the transport then writes to the socket. So a write that the socket takes only in part never
// has to be retried with the same plaintext (OpenSSL's rule for SSL_write), and the FrameWriter
// stays free to discard what it has not handed over. The price: with TLS, bytes that WriteSome
// took may still wait as ciphertext in user space (has_pending_output()) until the socket takes
// them; FlushPendingOutput() writes them, and WriteSome writes them before taking more.
//
// Memory: a plain transport is the socket and one null pointer. A TLS one adds OpenSSL's SSL
// object, whose record buffers are given back while idle (SSL_MODE_RELEASE_BUFFERS), and
// ciphertext only while the socket is full.
//
// For the HTTP phase it is also an Asio AsyncReadStream and AsyncWriteStream, so Beast reads the
// request and writes the answer over either. async_write_some completes only once the ciphertext
// of what it took is on the wire, so a shutdown after the answer loses nothing.
//
// Thread-safety: none; owned by the I/O thread of its socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include "ws/tls_context.h"

namespace wsbridge::ws {

class Transport {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using error_code = boost::system::error_code;

  enum class HandshakeStep : uint8_t {
    kDone,       // the TLS handshake is complete: application bytes may flow
    kWantRead,   // wait until the socket is readable, then call Handshake() again
    kWantWrite,  // wait until the socket is writable, then call Handshake() again
    kFailed,     // see the error code
  };

  // Plain TCP.
  explicit Transport(boost::asio::ip::tcp::socket socket);
  // TLS, server side, with `context` (ws/tls_context.h). Handshake() must complete before
  // anything is read or written.
  Transport(boost::asio::ip::tcp::socket socket, const SslContextPtr& context);
  Transport(Transport&&) noexcept;
  Transport& operator=(Transport&&) noexcept;
  ~Transport();

  bool is_tls() const { return tls_ != nullptr; }
  boost::asio::ip::tcp::socket& socket() { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }

  // TLS only: one non-blocking step of the server side of the TLS handshake.
  HandshakeStep Handshake(error_code& ec);

  // Reads what is there into `buffer` without blocking; would_block when nothing is. End of
  // stream (TLS: close_notify, or the peer closing without one) is asio::error::eof.
  size_t ReadSome(boost::asio::mutable_buffer buffer, error_code& ec) {
    // The plain path is the socket call, inline: no slower than before the seam.
    if (tls_ == nullptr) return socket_.read_some(buffer, ec);
    return TlsReadSome(buffer, ec);
  }
  // Takes a prefix of `buffers` without blocking (a ws::ByteSink's contract): would_block when it
  // takes nothing now. With TLS, what it took may in part wait as ciphertext (see above).
  size_t WriteSome(std::span<const boost::asio::const_buffer> buffers, error_code& ec) {
    if (tls_ == nullptr) return socket_.write_some(buffers, ec);
    return TlsWriteSome(buffers, ec);
  }
  // TLS: ciphertext taken but not yet on the wire. Always false for plain TCP.
  bool has_pending_output() const { return tls_ != nullptr && TlsHasPendingOutput(); }
  // Writes pending ciphertext without blocking. True when none is left; else false, with
  // would_block (wait until writable) or the error.
  bool FlushPendingOutput(error_code& ec) {
    if (tls_ == nullptr) {
      ec.clear();
      return true;
    }
    return TlsFlushPendingOutput(ec);
  }

  // Calls `handler(error_code)` once a read may make progress: the socket is readable, or (TLS)
  // OpenSSL already holds decrypted bytes that no read has taken.
  template <class Handler>
  void AsyncWaitReadable(Handler&& handler);
  // Calls `handler(error_code)` once the socket is writable.
  template <class Handler>
  void AsyncWaitWritable(Handler&& handler) {
    socket_.async_wait(boost::asio::ip::tcp::socket::wait_write, std::forward<Handler>(handler));
  }

  // Ends our direction: TLS sends close_notify first (the socket's own shutdown follows once
  // the ciphertext before it is on the wire).
  void ShutdownSend(error_code& ec);
  // Closes the socket; pending waits complete with operation_aborted.
  void Close(error_code& ec) { socket_.close(ec); }

  // Asio AsyncReadStream / AsyncWriteStream (the HTTP phase).
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token);
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token);

 private:
  struct Tls;

  static bool WouldBlock(const error_code& ec) {
    return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
  }
  bool HasBufferedPlaintext() const;
  size_t TlsReadSome(boost::asio::mutable_buffer buffer, error_code& ec);
  size_t TlsWriteSome(std::span<const boost::asio::const_buffer> buffers, error_code& ec);
  bool TlsHasPendingOutput() const;
  bool TlsFlushPendingOutput(error_code& ec);
  // Completes `handler` with (ec, bytes): posted when `immediate` (Asio's rule: never from
  // inside the initiating call), else called at once (we are in a completion already).
  template <class Handler>
  void Complete(Handler handler, bool immediate, error_code ec, size_t bytes);
  template <class Handler>
  void ReadWhenReady(boost::asio::mutable_buffer buffer, Handler handler, bool immediate);
  template <class Handler>
  void WriteWhenReady(std::vector<boost::asio::const_buffer> buffers, size_t taken, Handler handler,
                      bool immediate);

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<Tls> tls_;  // null: plain TCP
};

// ---- Templates ----

template <class Handler>
void Transport::AsyncWaitReadable(Handler&& handler) {
  if (tls_ != nullptr && HasBufferedPlaintext()) {
    boost::asio::post(socket_.get_executor(), [handler = std::forward<Handler>(handler)]() mutable {
      handler(error_code());
    });
    return;
  }
  socket_.async_wait(boost::asio::ip::tcp::socket::wait_read, std::forward<Handler>(handler));
}

template <class Handler>
void Transport::Complete(Handler handler, bool immediate, error_code ec, size_t bytes) {
  if (!immediate) return handler(ec, bytes);
  auto executor = boost::asio::get_associated_executor(handler, socket_.get_executor());
  boost::asio::post(executor,
                    [handler = std::move(handler), ec, bytes]() mutable { handler(ec, bytes); });
}

template <class Handler>
void Transport::ReadWhenReady(boost::asio::mutable_buffer buffer, Handler handler, bool immediate) {
  error_code ec;
  const size_t bytes = buffer.size() == 0 ? 0 : ReadSome(buffer, ec);
  if (!WouldBlock(ec)) return Complete(std::move(handler), immediate, ec, bytes);
  AsyncWaitReadable([this, buffer, handler = std::move(handler)](error_code wait) mutable {
    if (wait) return handler(wait, 0);
    ReadWhenReady(buffer, std::move(handler), false);
  });
}

template <class Handler>
void Transport::WriteWhenReady(std::vector<boost::asio::const_buffer> buffers, size_t taken,
                               Handler handler, bool immediate) {
  error_code ec;
  if (taken == 0) {
    taken = WriteSome(buffers, ec);
    if (WouldBlock(ec)) taken = 0;
  } else {
    FlushPendingOutput(ec);
  }
  if (ec && !WouldBlock(ec)) return Complete(std::move(handler), immediate, ec, 0);
  if (taken > 0 && !has_pending_output()) {
    return Complete(std::move(handler), immediate, error_code(), taken);
  }
  AsyncWaitWritable([this, buffers = std::move(buffers), taken,
                     handler = std::move(handler)](error_code wait) mutable {
    if (wait) return handler(wait, 0);
    WriteWhenReady(std::move(buffers), taken, std::move(handler), false);
  });
}

template <class MutableBufferSequence, class Token>
auto Transport::async_read_some(const MutableBufferSequence& buffers, Token&& token) {
  return boost::asio::async_initiate<Token, void(error_code, size_t)>(
      [this](auto handler, const MutableBufferSequence& sequence) {
        // A read may fill less than offered: the first non-empty buffer is enough.
        boost::asio::mutable_buffer first;
        for (auto it = boost::asio::buffer_sequence_begin(sequence);
             it != boost::asio::buffer_sequence_end(sequence); ++it) {
          first = boost::asio::mutable_buffer(*it);
          if (first.size() != 0) break;
        }
        ReadWhenReady(first, std::move(handler), true);
      },
      token, buffers);
}

template <class ConstBufferSequence, class Token>
auto Transport::async_write_some(const ConstBufferSequence& buffers, Token&& token) {
  return boost::asio::async_initiate<Token, void(error_code, size_t)>(
      [this](auto handler, const ConstBufferSequence& sequence) {
        std::vector<boost::asio::const_buffer> gathered;
        for (auto it = boost::asio::buffer_sequence_begin(sequence);
             it != boost::asio::buffer_sequence_end(sequence); ++it) {
          const boost::asio::const_buffer buffer(*it);
          if (buffer.size() != 0) gathered.push_back(buffer);
        }
        if (gathered.empty()) return Complete(std::move(handler), true, error_code(), 0);
        WriteWhenReady(std::move(gathered), 0, std::move(handler), true);
      },
      token, buffers);
}

}  // namespace wsbridge::ws
