// wsbridge_bench_floor: the "physical floor" of the benchmarks. A minimal WebSocket fan-out server
// with no bridge logic (no auth, no limits, no per-session policy), serving the same HTTP surface
// as nginx+nchan so the same publisher and load generator drive both:
//   GET  /sub/<channel> + WebSocket upgrade   subscribe this socket to <channel>
//   POST /pub/<channel> with a body           send the body as one text message to every
//                                             subscriber; answered 201 once the frame is posted
//                                             to the I/O threads (not after delivery)
//   anything else                             404
// A published body becomes one WebSocket frame, built once and shared read-only by every
// subscriber; a subscriber's queued frames leave in one gathered write.
//
// Threads: main parses flags, starts the I/O threads, prints the port and waits for SIGTERM or
// SIGINT. Each I/O thread (FloorThread) owns an io_context, its own acceptor on the shared port
// (SO_REUSEPORT: the kernel spreads connections over the threads), every connection it accepted,
// and the channel map of its subscribers. The only cross-thread traffic is one post per thread
// per published frame; frames are immutable, so their bytes need no synchronization.
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "absl/strings/str_cat.h"
#include "bench_flags.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

using wsbridge::bench::AsAbsl;
using wsbridge::bench::BlockTerminationSignals;
using wsbridge::bench::FlagVerdict;
using wsbridge::bench::HelpRequested;
using wsbridge::bench::ParseNameValueArgs;
using wsbridge::bench::ParseNumber;

// Everything the command line sets.
struct FloorConfig {
  // Address the listeners bind to.
  std::string bind = "127.0.0.1";
  // Port to listen on; 0 = let the OS pick one (printed on stdout).
  uint16_t port = 0;
  // I/O threads; default one per core.
  uint32_t threads = std::max(1u, std::thread::hardware_concurrency());
};

constexpr std::string_view kUsage =
    "usage: wsbridge_bench_floor [--port=0] [--bind=127.0.0.1] [--threads=<cores>]\n";
constexpr std::string_view kSubscribePrefix = "/sub/";
constexpr std::string_view kPublishPrefix = "/pub/";
// Largest publish body accepted.
constexpr uint64_t kMaxPublishBytes = 64 << 20;
constexpr std::string_view kCreatedResponse = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kNotFoundResponse =
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

// One encoded WebSocket frame, shared read-only by every subscriber that sends it.
using SharedFrame = std::shared_ptr<const std::string>;

bool ParseFlags(int argc, char** argv, FloorConfig& config, std::string& error) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  return ParseNameValueArgs(
      args,
      [&config](std::string_view name, std::string_view value) {
        bool ok = true;
        if (name == "bind") {
          config.bind = value;
        } else if (name == "port") {
          ok = ParseNumber(value, config.port);
        } else if (name == "threads") {
          ok = ParseNumber(value, config.threads) && config.threads > 0 && config.threads <= 1024;
        } else {
          return FlagVerdict::kUnknown;
        }
        return ok ? FlagVerdict::kTaken : FlagVerdict::kBadValue;
      },
      error);
}

// A server-to-client unmasked text frame (FIN set) carrying `payload`.
std::string EncodeTextFrame(std::string_view payload) {
  std::string frame;
  frame.reserve(payload.size() + 10);
  frame.push_back(static_cast<char>(0x81));
  const uint64_t size = payload.size();
  if (size < 126) {
    frame.push_back(static_cast<char>(size));
  } else if (size <= 0xFFFF) {
    frame.push_back(static_cast<char>(126));
    for (int shift = 8; shift >= 0; shift -= 8) frame.push_back(static_cast<char>(size >> shift));
  } else {
    frame.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<char>(size >> shift));
  }
  frame.append(payload);
  return frame;
}

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455 GUID)).
std::string WebSocketAccept(std::string_view key) {
  const std::string keyed = absl::StrCat(AsAbsl(key), "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  EVP_Digest(keyed.data(), keyed.size(), digest.data(), &digest_size, EVP_sha1(), nullptr);
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> encoded{};
  const int encoded_size = EVP_EncodeBlock(encoded.data(), digest.data(), digest_size);
  return std::string(reinterpret_cast<const char*>(encoded.data()), encoded_size);
}

class FloorThread;

// All I/O threads of the server, so a publish can reach each of them.
// Thread-safety: the vector is built before the threads start and never changes afterwards.
using FloorThreads = std::vector<std::unique_ptr<FloorThread>>;

// One subscribed WebSocket: sends the 101 answer, then queued frames; reads and discards what
// the client sends until EOF or error, then leaves its channel and closes.
// Thread-safety: owned by one FloorThread; every call on that thread.
class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  Subscriber(FloorThread& thread, tcp::socket socket, std::string channel)
      : thread_(thread), socket_(std::move(socket)), channel_(std::move(channel)) {}

  // Queues the 101 answer, joins the channel and starts reading.
  void Start(std::string handshake_response);
  // Queues `frame` behind the frames already waiting; writes when no write is in flight.
  void Send(SharedFrame frame);

  const std::string& channel() const { return channel_; }
  // Position in the channel's subscriber vector, kept by FloorThread for O(1) removal.
  size_t slot = 0;

 private:
  void WriteQueued();
  void OnWrite(const boost::system::error_code& ec);
  void ReadAndDiscard();
  void Close();

  FloorThread& thread_;
  tcp::socket socket_;
  const std::string channel_;
  std::vector<SharedFrame> queued_;
  std::vector<SharedFrame> in_flight_;  // keeps the frames of the write in flight alive
  std::vector<asio::const_buffer> gather_;
  std::array<char, 256> discard_{};
  bool writing_ = false;
  bool joined_ = false;
};

// One I/O thread: its io_context, its acceptor on the shared port, and the subscribers of each
// channel among the connections it accepted.
// Thread-safety: Post() and StopAndJoin() from any thread; the rest on this thread only.
class FloorThread {
 public:
  explicit FloorThread(const FloorThreads& all_threads) : all_threads_(all_threads) {}
  FloorThread(const FloorThread&) = delete;
  FloorThread& operator=(const FloorThread&) = delete;

  // Opens the acceptor on `endpoint` with SO_REUSEPORT; returns the bound port.
  uint16_t Listen(const tcp::endpoint& endpoint);
  void Start() {
    asio::post(io_, [this] { Accept(); });
    thread_ = std::thread([this] { io_.run(); });
  }
  void StopAndJoin() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    channels_.clear();
  }

  template <typename Handler>
  void Post(Handler&& handler) {
    asio::post(io_, std::forward<Handler>(handler));
  }

  // Sends `frame` to every subscriber of `channel` on this thread.
  void Deliver(const std::string& channel, const SharedFrame& frame) {
    auto found = channels_.find(channel);
    if (found == channels_.end()) return;
    for (const auto& subscriber : found->second) subscriber->Send(frame);
  }
  // Posts `frame` to every I/O thread for delivery to `channel`.
  void Publish(const std::string& channel, SharedFrame frame) {
    for (const auto& thread : all_threads_) {
      thread->Post([target = thread.get(), channel, frame] { target->Deliver(channel, frame); });
    }
  }

  void Join(const std::shared_ptr<Subscriber>& subscriber) {
    auto& subscribers = channels_[subscriber->channel()];
    subscriber->slot = subscribers.size();
    subscribers.push_back(subscriber);
  }
  void Leave(const Subscriber& subscriber) {
    auto found = channels_.find(subscriber.channel());
    if (found == channels_.end()) return;
    auto& subscribers = found->second;
    const size_t slot = subscriber.slot;
    if (slot >= subscribers.size() || subscribers[slot].get() != &subscriber) return;
    subscribers[slot] = std::move(subscribers.back());
    subscribers[slot]->slot = slot;
    subscribers.pop_back();
    if (subscribers.empty()) channels_.erase(found);
  }

  asio::io_context& context() { return io_; }

 private:
  void Accept();

  const FloorThreads& all_threads_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  tcp::acceptor acceptor_{io_};
  std::unordered_map<std::string, std::vector<std::shared_ptr<Subscriber>>> channels_;
  std::thread thread_;
};

// One accepted connection until it becomes a subscriber: reads HTTP requests one after the other
// (keep-alive), publishing POST /pub/<channel> bodies and answering 201 or 404.
// Thread-safety: owned by one FloorThread; every call on that thread.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(FloorThread& thread, tcp::socket socket)
      : thread_(thread), socket_(std::move(socket)) {}

  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(kMaxPublishBytes);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                       self->OnRequest(ec);
                     });
  }

 private:
  void OnRequest(const boost::system::error_code& ec) {
    if (ec) return;  // EOF or a broken request: dropping the connection is answer enough
    const http::request<http::string_body>& request = parser_->get();
    const std::string_view target = request.target();
    if (request.method() == http::verb::post && target.starts_with(kPublishPrefix) &&
        target.size() > kPublishPrefix.size()) {
      thread_.Publish(std::string(target.substr(kPublishPrefix.size())),
                      std::make_shared<const std::string>(EncodeTextFrame(request.body())));
      return Answer(kCreatedResponse, request.keep_alive());
    }
    if (request.method() == http::verb::get && target.starts_with(kSubscribePrefix) &&
        target.size() > kSubscribePrefix.size() && beast::websocket::is_upgrade(request)) {
      const auto key = request.find(http::field::sec_websocket_key);
      if (key != request.end()) return Subscribe(target, key->value());
    }
    Answer(kNotFoundResponse, request.keep_alive());
  }

  void Answer(std::string_view response, bool keep_alive) {
    asio::async_write(
        socket_, asio::buffer(response),
        [self = shared_from_this(), keep_alive](const boost::system::error_code& ec, size_t) {
          if (ec) return;
          if (keep_alive) return self->ReadRequest();
          boost::system::error_code ignored;
          self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
        });
  }

  void Subscribe(std::string_view target, std::string_view key) {
    std::string response = absl::StrCat(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ",
        WebSocketAccept(key), "\r\n\r\n");
    auto subscriber = std::make_shared<Subscriber>(
        thread_, std::move(socket_), std::string(target.substr(kSubscribePrefix.size())));
    subscriber->Start(std::move(response));
  }

  FloorThread& thread_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

void Subscriber::Start(std::string handshake_response) {
  queued_.push_back(std::make_shared<const std::string>(std::move(handshake_response)));
  thread_.Join(shared_from_this());
  joined_ = true;
  WriteQueued();
  ReadAndDiscard();
}

void Subscriber::Send(SharedFrame frame) {
  queued_.push_back(std::move(frame));
  if (!writing_) WriteQueued();
}

void Subscriber::WriteQueued() {
  writing_ = true;
  in_flight_.swap(queued_);
  gather_.clear();
  for (const SharedFrame& frame : in_flight_) gather_.push_back(asio::buffer(*frame));
  asio::async_write(socket_, gather_,
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->OnWrite(ec);
                    });
}

void Subscriber::OnWrite(const boost::system::error_code& ec) {
  in_flight_.clear();
  writing_ = false;
  if (ec) return Close();
  if (!queued_.empty()) WriteQueued();
}

void Subscriber::ReadAndDiscard() {
  socket_.async_read_some(asio::buffer(discard_),
                          [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                            if (ec) return self->Close();
                            self->ReadAndDiscard();
                          });
}

void Subscriber::Close() {
  if (joined_) {
    joined_ = false;
    thread_.Leave(*this);  // may drop the channel's reference; handlers still hold one
  }
  queued_.clear();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

uint16_t FloorThread::Listen(const tcp::endpoint& endpoint) {
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.set_option(reuse_port(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint().port();
}

void FloorThread::Accept() {
  acceptor_.async_accept(io_, [this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<HttpConnection>(*this, std::move(socket))->ReadRequest();
    }
    Accept();  // errors such as EMFILE: keep accepting, the condition may pass
  });
}

}  // namespace

int main(int argc, char** argv) {
  FloorConfig config;
  std::string error;
  if (HelpRequested(argc, argv)) {
    std::cout << kUsage;
    return 0;
  }
  if (!ParseFlags(argc, argv, config, error)) {
    std::cerr << "floor: " << error << "\n" << kUsage;
    return 2;
  }

  // Block the termination signals in every thread (threads inherit the mask); main waits.
  const sigset_t signals = BlockTerminationSignals();
  std::signal(SIGPIPE, SIG_IGN);

  FloorThreads threads;
  for (uint32_t i = 0; i < config.threads; ++i) {
    threads.push_back(std::make_unique<FloorThread>(threads));
  }
  uint16_t port = config.port;
  try {
    const auto address = asio::ip::make_address(config.bind);
    // The first acceptor settles the port (when 0 was asked for); the others join it.
    for (auto& thread : threads) port = thread->Listen(tcp::endpoint(address, port));
  } catch (const boost::system::system_error& listen_error) {
    std::cerr << "floor: cannot listen on " << config.bind << ":" << config.port << ": "
              << listen_error.what() << "\n";
    return 1;
  }
  for (auto& thread : threads) thread->Start();
  std::cout << "floor listening port=" << port << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  for (auto& thread : threads) thread->StopAndJoin();
  return 0;
}
