// wsbridge_bench_loadgen: opens many WebSocket clients against one server (the bridge, the floor
// server, nginx+nchan), measures how fast the handshakes go, then checks the order of and times
// every benchmark message (bench_payload.h) each client receives. The clients only read: Beast
// answers the server's pings; they never send data, pings or close frames of their own.
//
// Output protocol (stdout, one line each, flushed; parsed by the benchmark driver):
//   READY {json}   once every connection has either completed its handshake or given up
//   RESULT {json}  at the end
// With --deflate=true every client offers permessage-deflate (Beast's), as browsers do. RESULT
// reports "wire_bytes": the bytes the kernel received on the clients' sockets after their
// handshakes (frames as sent, compressed or not), so a driver can divide by "received".
// With --tls=true every client speaks wss: TLS (client_stream.h; the server's certificate is not
// verified) under the WebSocket handshake; "wire_bytes" then counts TLS records.
// Progress goes to stderr once a second. Exit code: 0 on success, 1 when a connection failed or
// (with --expect > 0) did not receive every message in order, 2 on a bad command line.
//
// Threads: the main thread parses flags, waits for the end condition (poll on a signalfd, stdin
// and a wake-up eventfd) and prints. Each of --threads I/O threads owns an io_context, the clients
// it connected and their counters; main reads those counters only after the I/O threads have been
// joined. The few values main needs while the run is going (progress, end condition, handshake
// timing) are atomics in RunState.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "bench_flags.h"
#include "bench_payload.h"
#include "client_stream.h"
#include "tcp_bytes.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using wsbridge::bench::AsAbsl;
using wsbridge::bench::BlockTerminationSignals;
using wsbridge::bench::ClientStream;
using wsbridge::bench::FlagVerdict;
using wsbridge::bench::MonotonicNanos;
using wsbridge::bench::ParseNameValueArgs;
using wsbridge::bench::ParseNumber;

// Everything the command line sets. Defaults are the ones documented in kUsage.
struct LoadgenConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Request target with every "{i}" replaced by the connection's global index. Empty when
  // paths_file is used.
  std::string path_template;
  // File with one request target per line; line g is for the connection with global index g.
  std::string paths_file;
  uint64_t connections = 0;
  // Global index of this process's first connection (to run several processes side by side).
  uint64_t index_offset = 0;
  uint32_t threads = 1;
  // Connection attempts (TCP connect + WebSocket handshake) in flight at once, over all threads.
  uint32_t connect_concurrency = 200;
  // Messages each connection expects (seq 0..expect-1). 0 = hold the connections idle until stdin
  // reaches EOF or SIGTERM/SIGINT arrives.
  uint64_t expect = 0;
  // With expect > 0: finish when no message has arrived for this long after READY.
  double timeout_seconds = 60;
  // Offer permessage-deflate (and use it when the server accepts).
  bool deflate = false;
  // Speak TLS (wss) under the WebSocket handshake.
  bool tls = false;
};

constexpr std::string_view kUsage =
    "usage: wsbridge_bench_loadgen --port=N (--path_template=T | --paths_file=F) --connections=N\n"
    "  [--host=127.0.0.1] [--index_offset=0] [--threads=1] [--connect_concurrency=200]\n"
    "  [--expect=0] [--timeout=60] [--send_pings=false] [--deflate=false]\n"
    "  [--tls=false]\n";

// Retries after the first failed connection attempt, and the deadline of one attempt (TCP connect
// plus handshake).
constexpr int kConnectRetries = 3;
constexpr auto kAttemptDeadline = std::chrono::seconds(15);
constexpr auto kFirstRetryBackoff = std::chrono::milliseconds(100);
// Connection failures described on stderr; the rest are only counted.
constexpr uint64_t kFailuresToDescribe = 5;
// Close code recorded when a connection ends without a close frame (RFC 6455 "abnormal closure").
constexpr int kAbnormalCloseCode = 1006;

// Fills `config` from `--name=value` arguments. On failure returns false with `error` set.
bool ParseFlags(const std::vector<std::string_view>& args, LoadgenConfig& config,
                std::string& error) {
  const bool parsed = ParseNameValueArgs(
      args,
      [&config](std::string_view name, std::string_view value) {
        bool ok = true;
        if (name == "host") {
          config.host = value;
          ok = !value.empty();
        } else if (name == "port") {
          ok = ParseNumber(value, config.port) && config.port != 0;
        } else if (name == "path_template") {
          config.path_template = value;
          ok = !value.empty();
        } else if (name == "paths_file") {
          config.paths_file = value;
          ok = !value.empty();
        } else if (name == "connections") {
          ok = ParseNumber(value, config.connections) && config.connections > 0;
        } else if (name == "index_offset") {
          ok = ParseNumber(value, config.index_offset);
        } else if (name == "threads") {
          ok = ParseNumber(value, config.threads) && config.threads > 0 && config.threads <= 256;
        } else if (name == "connect_concurrency") {
          ok = ParseNumber(value, config.connect_concurrency) && config.connect_concurrency > 0;
        } else if (name == "expect") {
          ok = ParseNumber(value, config.expect);
        } else if (name == "timeout") {
          ok = ParseNumber(value, config.timeout_seconds) && config.timeout_seconds > 0;
        } else if (name == "deflate") {
          ok = value == "true" || value == "false";
          config.deflate = value == "true";
        } else if (name == "tls") {
          ok = value == "true" || value == "false";
          config.tls = value == "true";
        } else if (name == "send_pings") {
          ok = value == "false";  // The clients never send pings; only "false" describes that.
        } else {
          return FlagVerdict::kUnknown;
        }
        return ok ? FlagVerdict::kTaken : FlagVerdict::kBadValue;
      },
      error);
  if (!parsed) return false;
  if (config.port == 0) error = "--port is required";
  if (config.connections == 0) error = "--connections is required";
  if (config.path_template.empty() == config.paths_file.empty()) {
    error = "exactly one of --path_template and --paths_file is required";
  }
  return error.empty();
}

// The request targets of this process's connections, indexed by local index.
// Thread-safety: immutable after construction; read from every I/O thread.
class TargetList {
 public:
  static std::optional<TargetList> Load(const LoadgenConfig& config, std::string& error) {
    TargetList list;
    list.index_offset_ = config.index_offset;
    list.template_ = config.path_template;
    if (config.paths_file.empty()) return list;
    std::ifstream file(config.paths_file);
    if (!file) {
      error = absl::StrCat("cannot open --paths_file ", config.paths_file);
      return std::nullopt;
    }
    std::string line;
    for (uint64_t line_index = 0; std::getline(file, line); ++line_index) {
      if (line_index < config.index_offset) continue;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      list.paths_.push_back(line);
      if (list.paths_.size() == config.connections) break;
    }
    if (list.paths_.size() < config.connections) {
      error = absl::StrCat(config.paths_file, " has fewer than ",
                           config.index_offset + config.connections, " lines");
      return std::nullopt;
    }
    return list;
  }

  std::string TargetOf(uint64_t local_index) const {
    if (!paths_.empty()) return paths_[local_index];
    return absl::StrReplaceAll(template_, {{"{i}", absl::StrCat(index_offset_ + local_index)}});
  }

 private:
  uint64_t index_offset_ = 0;
  std::string template_;
  std::vector<std::string> paths_;
};

// Log-linear histogram of latencies at 1 µs resolution: exact below 128 µs, then 64 buckets per
// power of two (at most 1/64 = 1.6% relative width) up to about 19 hours; larger values land in
// the last bucket. Fixed memory (~16 KiB), no per-sample storage.
// Thread-safety: none; each I/O thread records into its own, merged after the threads end.
class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kBucketCount, 0) {}

  void Record(int64_t nanos) {
    if (nanos < 0) nanos = 0;
    ++counts_[BucketOf(static_cast<uint64_t>(nanos) / 1000)];
    ++count_;
    sum_nanos_ += static_cast<uint64_t>(nanos);
    max_nanos_ = std::max(max_nanos_, static_cast<uint64_t>(nanos));
  }

  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_nanos_ += other.sum_nanos_;
    max_nanos_ = std::max(max_nanos_, other.max_nanos_);
  }

  // The highest value (µs) equivalent to the sample at `fraction` (0..1] of the distribution,
  // capped at the maximum; 0 without samples.
  double PercentileMicros(double fraction) const {
    if (count_ == 0) return 0;
    const auto rank = std::max<uint64_t>(
        1, static_cast<uint64_t>(fraction * static_cast<double>(count_) + 0.999999));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBucketCount; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(static_cast<double>(HighestMicrosOf(i)), MaxMicros());
    }
    return MaxMicros();
  }
  double MaxMicros() const { return static_cast<double>(max_nanos_) / 1000.0; }
  double MeanMicros() const {
    return count_ == 0 ? 0 : static_cast<double>(sum_nanos_) / 1000.0 / static_cast<double>(count_);
  }

 private:
  static constexpr int kSubBucketBits = 6;                      // 64 buckets per octave
  static constexpr uint64_t kLinearEnd = 2u << kSubBucketBits;  // exact below 128 µs
  static constexpr int kOctaves = 30;                           // up to 2^36 µs
  static constexpr size_t kBucketCount = kLinearEnd + kOctaves * (kLinearEnd / 2);

  static size_t BucketOf(uint64_t micros) {
    if (micros < kLinearEnd) return micros;
    const int shift =
        std::min(static_cast<int>(std::bit_width(micros)) - (kSubBucketBits + 1), kOctaves);
    const uint64_t mantissa = std::min(micros >> shift, kLinearEnd - 1);  // in [64, 128)
    return kLinearEnd + (shift - 1) * (kLinearEnd / 2) + (mantissa - kLinearEnd / 2);
  }
  static uint64_t HighestMicrosOf(size_t bucket) {
    if (bucket < kLinearEnd) return bucket;
    const size_t shift = (bucket - kLinearEnd) / (kLinearEnd / 2) + 1;
    const uint64_t mantissa = (bucket - kLinearEnd) % (kLinearEnd / 2) + kLinearEnd / 2;
    return ((mantissa + 1) << shift) - 1;
  }

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_nanos_ = 0;
  uint64_t max_nanos_ = 0;
};

// What one I/O thread's clients received. Thread-safety: owned by one I/O thread while it runs.
struct ReceiveStats {
  uint64_t received = 0;
  uint64_t duplicates = 0;
  uint64_t gaps = 0;
  uint64_t missing = 0;
  uint64_t unparsed = 0;
  uint64_t beyond_expected = 0;  // messages with seq >= --expect
  uint64_t closed_early = 0;
  std::map<int, uint64_t> close_codes;
  int64_t first_receive_ns = std::numeric_limits<int64_t>::max();
  int64_t last_receive_ns = 0;
  LatencyHistogram latency;

  void Merge(const ReceiveStats& other) {
    received += other.received;
    duplicates += other.duplicates;
    gaps += other.gaps;
    missing += other.missing;
    unparsed += other.unparsed;
    beyond_expected += other.beyond_expected;
    closed_early += other.closed_early;
    for (const auto& [code, count] : other.close_codes) close_codes[code] += count;
    first_receive_ns = std::min(first_receive_ns, other.first_receive_ns);
    last_receive_ns = std::max(last_receive_ns, other.last_receive_ns);
    latency.Merge(other.latency);
  }
};

// State shared by all I/O threads and main for one run: the configuration, the queue of
// connections still to open (an index counter), and the counters main watches.
// Thread-safety: the const members are immutable; the rest are atomics, safe from any thread.
// The TLS context is shared by every I/O thread's SSL_new (OpenSSL allows that).
class RunState {
 public:
  // `tls_context`: null for plain WebSocket; it must outlive the run.
  RunState(const LoadgenConfig& config, TargetList targets, tcp::endpoint server,
           SSL_CTX* tls_context)
      : config_(config),
        targets_(std::move(targets)),
        server_(server),
        tls_context_(tls_context),
        host_header_(absl::StrCat(config.host, ":", config.port)),
        wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~RunState() { close(wake_fd_); }
  RunState(const RunState&) = delete;
  RunState& operator=(const RunState&) = delete;

  const LoadgenConfig& config() const { return config_; }
  const TargetList& targets() const { return targets_; }
  const tcp::endpoint& server() const { return server_; }
  SSL_CTX* tls_context() const { return tls_context_; }
  const std::string& host_header() const { return host_header_; }
  // Readable (poll) after WakeMain(); main drains it.
  int wake_fd() const { return wake_fd_; }

  // The local index of the next connection to open, or nullopt when none is left.
  std::optional<uint64_t> TakeNextConnection() {
    const uint64_t index = next_connection_.fetch_add(1, std::memory_order_relaxed);
    if (index >= config_.connections) return std::nullopt;
    return index;
  }

  void OnConnectStarted(int64_t now_ns) {
    int64_t first = first_connect_start_ns_.load(std::memory_order_relaxed);
    while (now_ns < first && !first_connect_start_ns_.compare_exchange_weak(first, now_ns)) {
    }
  }
  void OnConnected(int64_t now_ns) {
    int64_t last = last_handshake_done_ns_.load(std::memory_order_relaxed);
    while (now_ns > last && !last_handshake_done_ns_.compare_exchange_weak(last, now_ns)) {
    }
    connected_.fetch_add(1);
    CountConnectOutcome();
  }
  void OnConnectFailed(std::string_view target, const boost::system::error_code& ec) {
    if (failed_.fetch_add(1) < kFailuresToDescribe) {
      std::cerr << absl::StrCat("loadgen: connection to ", AsAbsl(target), " failed after ",
                                kConnectRetries + 1, " attempts: ", ec.message(), "\n");
    }
    CountConnectOutcome();
    OnConnectionFinished();
  }
  // A connection has nothing more to receive: it got its last message, was closed, or failed.
  void OnConnectionFinished() {
    if (finished_connections_.fetch_add(1) + 1 == config_.connections) WakeMain();
  }

  bool AllConnectAttemptsDone() const {
    return connected_.load() + failed_.load() == config_.connections;
  }
  bool AllConnectionsFinished() const {
    return finished_connections_.load() == config_.connections;
  }
  uint64_t UnfinishedConnections() const {
    return config_.connections - finished_connections_.load();
  }
  uint64_t connected() const { return connected_.load(); }
  uint64_t failed() const { return failed_.load(); }
  // Seconds from the first connect start to the last completed handshake.
  double HandshakeSeconds() const {
    const int64_t first = first_connect_start_ns_.load();
    const int64_t last = last_handshake_done_ns_.load();
    return last > first ? static_cast<double>(last - first) / 1e9 : 0;
  }

 private:
  void CountConnectOutcome() {
    if (connect_outcomes_.fetch_add(1) + 1 == config_.connections) WakeMain();
  }
  void WakeMain() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t written = write(wake_fd_, &one, sizeof(one));
  }

  const LoadgenConfig config_;
  const TargetList targets_;
  const tcp::endpoint server_;
  SSL_CTX* const tls_context_;
  const std::string host_header_;
  const int wake_fd_;
  std::atomic<uint64_t> next_connection_{0};
  std::atomic<uint64_t> connected_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> connect_outcomes_{0};
  std::atomic<uint64_t> finished_connections_{0};
  std::atomic<int64_t> first_connect_start_ns_{std::numeric_limits<int64_t>::max()};
  std::atomic<int64_t> last_handshake_done_ns_{0};
};

class ClientThread;

// One WebSocket client: connects (with retries), then reads messages until the run ends, checking
// each against the sequence it expects. Its handlers capture `this`: it lives as long as its
// ClientThread, which stops its io_context before destroying it.
// Thread-safety: touched only by its ClientThread's I/O thread (and by main after the join).
class BenchClient {
 public:
  BenchClient(ClientThread& thread, uint64_t local_index)
      : thread_(thread), local_index_(local_index) {}
  BenchClient(const BenchClient&) = delete;
  BenchClient& operator=(const BenchClient&) = delete;

  void Connect() { StartAttempt(); }

  // Received every expected message, in order, with nothing duplicated or missing. With
  // --expect=0: still connected.
  bool Complete(uint64_t expect) const {
    if (expect == 0) return state_ == State::kOpen;
    return next_seq_ == expect && received_ == expect && !flawed_;
  }
  // Expected messages after the last one that arrived (0 for a connection that never opened).
  uint64_t MissingAtEnd(uint64_t expect) const {
    return state_ != State::kFailed && next_seq_ < expect ? expect - next_seq_ : 0;
  }
  // Bytes received on the socket since the handshake completed (0 when it is closed).
  uint64_t WireBytesSinceOpen() {
    if (!ws_ || !beast::get_lowest_layer(*ws_).is_open()) return 0;
    const uint64_t now =
        wsbridge::bench::TcpBytesReceived(beast::get_lowest_layer(*ws_).native_handle());
    return now > wire_bytes_at_open_ ? now - wire_bytes_at_open_ : 0;
  }

 private:
  enum class State : uint8_t { kConnecting, kOpen, kClosed, kFailed };

  void StartAttempt();
  void OnAttemptDeadline(int attempt, const boost::system::error_code& ec);
  void OnConnect(const boost::system::error_code& ec);
  void OnTlsHandshake(const boost::system::error_code& ec);
  void OnHandshake(const boost::system::error_code& ec);
  void OnAttemptFailed(const boost::system::error_code& ec);
  void ReadNext();
  void OnRead(const boost::system::error_code& ec);
  void OnMessage(std::string_view text, int64_t now_ns);
  void OnClosed(const boost::system::error_code& ec);
  void MarkFinished();

  ClientThread& thread_;
  const uint64_t local_index_;
  std::optional<websocket::stream<ClientStream>> ws_;
  beast::flat_buffer buffer_;
  // Attempt deadline, then retry backoff; only exists while connecting.
  std::unique_ptr<asio::steady_timer> connect_timer_;
  uint64_t next_seq_ = 0;
  uint64_t received_ = 0;
  uint64_t wire_bytes_at_open_ = 0;  // the socket's received bytes once the handshake was done
  int attempts_ = 0;
  State state_ = State::kConnecting;
  bool flawed_ = false;    // saw a duplicate, gap or message beyond --expect
  bool finished_ = false;  // counted in RunState::OnConnectionFinished
};

// One I/O thread with its io_context and the clients it opened. It runs `slots` connection
// attempts at a time, each slot taking the next connection from RunState when its attempt ends.
// Thread-safety: Start/StopAndJoin from main; stats(), clients after StopAndJoin; the rest on the
// I/O thread.
class ClientThread {
 public:
  ClientThread(RunState& run, uint32_t slots) : run_(run), slots_(slots) {}
  ClientThread(const ClientThread&) = delete;
  ClientThread& operator=(const ClientThread&) = delete;

  void Start() {
    for (uint32_t i = 0; i < slots_; ++i) asio::post(io_, [this] { StartNextConnection(); });
    thread_ = std::thread([this] { io_.run(); });
  }
  void StopAndJoin() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // A slot is free: open the next connection, if any is left.
  void StartNextConnection() {
    const std::optional<uint64_t> index = run_.TakeNextConnection();
    if (!index) return;
    clients_.emplace_back(*this, *index).Connect();
  }

  void NoteReceived(int64_t now_ns) {
    received_progress_.store(stats_.received, std::memory_order_relaxed);
    last_receive_progress_ns_.store(now_ns, std::memory_order_relaxed);
  }
  uint64_t received_progress() const { return received_progress_.load(std::memory_order_relaxed); }
  int64_t last_receive_ns() const {
    return last_receive_progress_ns_.load(std::memory_order_relaxed);
  }

  asio::io_context& context() { return io_; }
  RunState& run() { return run_; }
  ReceiveStats& stats() { return stats_; }
  std::deque<BenchClient>& clients() { return clients_; }

 private:
  RunState& run_;
  const uint32_t slots_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  ReceiveStats stats_;
  // Copies of stats_.received and the last receive time, for main's progress line and timeout.
  std::atomic<uint64_t> received_progress_{0};
  std::atomic<int64_t> last_receive_progress_ns_{0};
  std::deque<BenchClient> clients_;  // deque: stable addresses; destroyed before io_
  std::thread thread_;
};

void BenchClient::StartAttempt() {
  ++attempts_;
  RunState& run = thread_.run();
  ws_.emplace(thread_.context().get_executor(), run.tls_context());
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
  timeouts.keep_alive_pings = false;
  timeouts.idle_timeout = websocket::stream_base::none();
  ws_->set_option(timeouts);
  ws_->set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
    request.set(beast::http::field::user_agent, "wsbridge-bench");
  }));
  if (run.config().deflate) {
    websocket::permessage_deflate deflate;
    deflate.client_enable = true;
    ws_->set_option(deflate);
  }
  connect_timer_ = std::make_unique<asio::steady_timer>(thread_.context(), kAttemptDeadline);
  connect_timer_->async_wait([this, attempt = attempts_](const boost::system::error_code& ec) {
    OnAttemptDeadline(attempt, ec);
  });
  run.OnConnectStarted(MonotonicNanos());
  beast::get_lowest_layer(*ws_).async_connect(
      run.server(), [this](const boost::system::error_code& ec) { OnConnect(ec); });
}

void BenchClient::OnAttemptDeadline(int attempt, const boost::system::error_code& ec) {
  // A stale timer (an earlier attempt's, or one whose attempt already ended) does nothing.
  if (ec || attempt != attempts_ || state_ != State::kConnecting || !ws_) return;
  boost::system::error_code ignored;
  beast::get_lowest_layer(*ws_).close(ignored);  // fails the pending connect or handshake
}

void BenchClient::OnConnect(const boost::system::error_code& ec) {
  if (ec) return OnAttemptFailed(ec);
  ws_->next_layer().AsyncTlsHandshake(
      [this](const boost::system::error_code& tls_ec) { OnTlsHandshake(tls_ec); });
}

void BenchClient::OnTlsHandshake(const boost::system::error_code& ec) {
  if (ec) return OnAttemptFailed(ec);
  const std::string target = thread_.run().targets().TargetOf(local_index_);
  ws_->async_handshake(
      thread_.run().host_header(), target,
      [this](const boost::system::error_code& handshake_ec) { OnHandshake(handshake_ec); });
}

void BenchClient::OnHandshake(const boost::system::error_code& ec) {
  if (ec) return OnAttemptFailed(ec);
  connect_timer_.reset();
  state_ = State::kOpen;
  wire_bytes_at_open_ =
      wsbridge::bench::TcpBytesReceived(beast::get_lowest_layer(*ws_).native_handle());
  thread_.run().OnConnected(MonotonicNanos());
  thread_.StartNextConnection();
  ReadNext();
}

void BenchClient::OnAttemptFailed(const boost::system::error_code& ec) {
  ws_.reset();
  if (attempts_ <= kConnectRetries) {
    connect_timer_ = std::make_unique<asio::steady_timer>(
        thread_.context(), kFirstRetryBackoff * (1 << (attempts_ - 1)));
    connect_timer_->async_wait(
        [this, attempt = attempts_](const boost::system::error_code& wait_ec) {
          if (!wait_ec && attempt == attempts_) StartAttempt();
        });
    return;
  }
  connect_timer_.reset();
  state_ = State::kFailed;
  finished_ = true;
  thread_.run().OnConnectFailed(thread_.run().targets().TargetOf(local_index_), ec);
  thread_.StartNextConnection();
}

void BenchClient::ReadNext() {
  ws_->async_read(buffer_, [this](const boost::system::error_code& ec, size_t) { OnRead(ec); });
}

void BenchClient::OnRead(const boost::system::error_code& ec) {
  if (ec) return OnClosed(ec);
  const int64_t now_ns = MonotonicNanos();
  const auto data = buffer_.cdata();
  OnMessage(std::string_view(static_cast<const char*>(data.data()), data.size()), now_ns);
  buffer_.consume(buffer_.size());
  ReadNext();
}

void BenchClient::OnMessage(std::string_view text, int64_t now_ns) {
  ReceiveStats& stats = thread_.stats();
  ++stats.received;
  ++received_;
  stats.first_receive_ns = std::min(stats.first_receive_ns, now_ns);
  stats.last_receive_ns = now_ns;
  thread_.NoteReceived(now_ns);

  const auto payload = wsbridge::bench::ParseBenchPayload(text);
  if (!payload) {
    ++stats.unparsed;
    return;
  }
  stats.latency.Record(now_ns - payload->sent_ns);
  const uint64_t expect = thread_.run().config().expect;
  if (expect > 0 && payload->seq >= expect) {
    ++stats.beyond_expected;
    flawed_ = true;
  } else if (payload->seq == next_seq_) {
    ++next_seq_;
  } else if (payload->seq < next_seq_) {
    ++stats.duplicates;
    flawed_ = true;
  } else {
    ++stats.gaps;
    stats.missing += payload->seq - next_seq_;
    next_seq_ = payload->seq + 1;
    flawed_ = true;
  }
  if (expect > 0 && next_seq_ == expect) MarkFinished();
}

void BenchClient::OnClosed(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted) return;
  state_ = State::kClosed;
  if (finished_) return;  // a close after the last expected message is not early
  ReceiveStats& stats = thread_.stats();
  ++stats.closed_early;
  ++stats.close_codes[ec == websocket::error::closed ? static_cast<int>(ws_->reason().code)
                                                     : kAbnormalCloseCode];
  MarkFinished();
}

void BenchClient::MarkFinished() {
  if (finished_) return;
  finished_ = true;
  thread_.run().OnConnectionFinished();
}

std::string FormatDouble(double value) {
  std::array<char, 64> text{};
  std::snprintf(text.data(), text.size(), "%.3f", value);
  return text.data();
}

std::string HandshakeJson(const RunState& run) {
  const double seconds = run.HandshakeSeconds();
  const double rate = seconds > 0 ? static_cast<double>(run.connected()) / seconds : 0;
  return absl::StrCat("\"connected\":", run.connected(), ",\"failed\":", run.failed(),
                      ",\"handshake_seconds\":", FormatDouble(seconds),
                      ",\"handshakes_per_sec\":", FormatDouble(rate));
}

// What main tallies over the clients after the I/O threads end.
struct ClientTally {
  uint64_t complete = 0;
  uint64_t missing_at_end = 0;
  uint64_t wire_bytes = 0;
};

std::string ResultJson(const RunState& run, const ReceiveStats& stats, const ClientTally& tally) {
  const LoadgenConfig& config = run.config();
  const bool any = stats.received > 0;
  const int64_t first = any ? stats.first_receive_ns : 0;
  const int64_t last = any ? stats.last_receive_ns : 0;
  const double receive_seconds = static_cast<double>(last - first) / 1e9;
  const double rate =
      receive_seconds > 0 ? static_cast<double>(stats.received) / receive_seconds : 0;
  std::string close_codes = "{";
  for (const auto& [code, count] : stats.close_codes) {
    if (close_codes.size() > 1) close_codes += ',';
    absl::StrAppend(&close_codes, "\"", code, "\":", count);
  }
  close_codes += '}';
  const LatencyHistogram& latency = stats.latency;
  return absl::StrCat(
      "{\"connections\":", config.connections, ",", HandshakeJson(run),
      ",\"expected_per_connection\":", config.expect, ",\"received\":", stats.received,
      ",\"complete_connections\":", tally.complete, ",\"duplicates\":", stats.duplicates,
      ",\"gaps\":", stats.gaps, ",\"missing\":", stats.missing,
      ",\"missing_at_end\":", tally.missing_at_end, ",\"unparsed\":", stats.unparsed,
      ",\"beyond_expected\":", stats.beyond_expected, ",\"closed_early\":", stats.closed_early,
      ",\"close_codes\":", close_codes, ",\"first_receive_ns\":", first,
      ",\"last_receive_ns\":", last, ",\"receive_seconds\":", FormatDouble(receive_seconds),
      ",\"deliveries_per_sec\":", FormatDouble(rate), ",\"wire_bytes\":", tally.wire_bytes,
      ",\"latency_us\":{\"p50\":", FormatDouble(latency.PercentileMicros(0.5)),
      ",\"p90\":", FormatDouble(latency.PercentileMicros(0.9)),
      ",\"p99\":", FormatDouble(latency.PercentileMicros(0.99)),
      ",\"p999\":", FormatDouble(latency.PercentileMicros(0.999)),
      ",\"max\":", FormatDouble(latency.MaxMicros()),
      ",\"mean\":", FormatDouble(latency.MeanMicros()), "}}");
}

std::optional<tcp::endpoint> ResolveServer(const LoadgenConfig& config) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(config.host, ec);
  if (!ec) return tcp::endpoint(address, config.port);
  asio::io_context io;
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(config.host, std::to_string(config.port), ec);
  if (ec || results.empty()) return std::nullopt;
  return results.begin()->endpoint();
}

// The two waits of a run: for every connection attempt to end, then for the end of the run.
enum class Phase { kConnecting, kReceiving };

// Waits, printing progress every second, until the connection phase ends (phase kConnecting) or
// the run ends (kReceiving). Returns false when a termination signal arrived.
bool WaitFor(Phase phase, RunState& run, const std::vector<std::unique_ptr<ClientThread>>& threads,
             int signal_fd, bool& stdin_open) {
  const LoadgenConfig& config = run.config();
  const int64_t phase_start_ns = MonotonicNanos();
  int64_t next_progress_ns = phase_start_ns + 1'000'000'000;
  uint64_t last_received = 0;
  for (const auto& thread : threads) last_received += thread->received_progress();
  const bool watch_stdin = phase == Phase::kReceiving && config.expect == 0;
  for (;;) {
    if (phase == Phase::kConnecting && run.AllConnectAttemptsDone()) return true;
    if (phase == Phase::kReceiving) {
      if (config.expect == 0 && !stdin_open) return true;
      if (config.expect > 0 && run.AllConnectionsFinished()) return true;
      if (config.expect > 0) {
        int64_t last_activity_ns = phase_start_ns;
        for (const auto& thread : threads) {
          last_activity_ns = std::max(last_activity_ns, thread->last_receive_ns());
        }
        if (MonotonicNanos() - last_activity_ns > config.timeout_seconds * 1e9) {
          std::cerr << "loadgen: no message for " << config.timeout_seconds << "s; finishing with "
                    << run.UnfinishedConnections() << " connections still waiting\n";
          return true;
        }
      }
    }
    std::array<pollfd, 3> fds{};
    fds[0] = {signal_fd, POLLIN, 0};
    fds[1] = {run.wake_fd(), POLLIN, 0};
    fds[2] = {watch_stdin ? STDIN_FILENO : -1, POLLIN, 0};
    const int64_t wait_ms = std::max<int64_t>(0, (next_progress_ns - MonotonicNanos()) / 1'000'000);
    poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(wait_ms, 1000)) + 1);
    if (fds[0].revents & POLLIN) return false;
    if (fds[1].revents & POLLIN) {
      uint64_t drained = 0;
      [[maybe_unused]] ssize_t bytes = read(run.wake_fd(), &drained, sizeof(drained));
    }
    if (fds[2].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
      std::array<char, 4096> discard{};
      if ((fds[2].revents & POLLNVAL) || read(STDIN_FILENO, discard.data(), discard.size()) <= 0) {
        stdin_open = false;
      }
    }
    const int64_t now_ns = MonotonicNanos();
    if (now_ns >= next_progress_ns) {
      uint64_t received = 0;
      for (const auto& thread : threads) received += thread->received_progress();
      std::cerr << absl::StrCat("loadgen: connected ", run.connected(), "/", config.connections,
                                " received ", received, " (", received - last_received, "/s)\n");
      last_received = received;
      next_progress_ns += 1'000'000'000;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  LoadgenConfig config;
  std::string error;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  if (!ParseFlags(args, config, error)) {
    std::cerr << "loadgen: " << error << "\n" << kUsage;
    return 2;
  }
  std::optional<TargetList> targets = TargetList::Load(config, error);
  if (!targets) {
    std::cerr << "loadgen: " << error << "\n";
    return 2;
  }
  const std::optional<tcp::endpoint> server = ResolveServer(config);
  if (!server) {
    std::cerr << "loadgen: cannot resolve " << config.host << "\n";
    return 2;
  }

  // Termination signals are read from a signalfd by main; every thread inherits the block.
  const sigset_t signals = BlockTerminationSignals();
  std::signal(SIGPIPE, SIG_IGN);
  const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls_context(nullptr, &SSL_CTX_free);
  if (config.tls) {
    tls_context = wsbridge::bench::MakeBenchClientTlsContext();
    if (!tls_context) {
      std::cerr << "loadgen: cannot make a TLS context\n";
      return 2;
    }
  }
  RunState run(config, std::move(*targets), *server, tls_context.get());
  std::vector<std::unique_ptr<ClientThread>> threads;
  const uint32_t concurrency =
      static_cast<uint32_t>(std::min<uint64_t>(config.connect_concurrency, config.connections));
  for (uint32_t i = 0; i < config.threads; ++i) {
    // Share the connection slots out evenly; a thread may get none when slots < threads.
    const uint32_t slots = concurrency / config.threads + (i < concurrency % config.threads);
    threads.push_back(std::make_unique<ClientThread>(run, slots));
  }
  for (auto& thread : threads) thread->Start();

  bool stdin_open = true;
  bool interrupted = !WaitFor(Phase::kConnecting, run, threads, signal_fd, stdin_open);
  std::cout << "READY {" << HandshakeJson(run) << "}" << std::endl;
  if (!interrupted) interrupted = !WaitFor(Phase::kReceiving, run, threads, signal_fd, stdin_open);

  for (auto& thread : threads) thread->StopAndJoin();
  ReceiveStats total;
  ClientTally tally;
  for (const auto& thread : threads) {
    total.Merge(thread->stats());
    for (BenchClient& client : thread->clients()) {
      tally.complete += client.Complete(config.expect);
      tally.missing_at_end += client.MissingAtEnd(config.expect);
      tally.wire_bytes += client.WireBytesSinceOpen();
    }
  }
  std::cout << "RESULT " << ResultJson(run, total, tally) << std::endl;
  close(signal_fd);
  const bool success =
      run.failed() == 0 && (config.expect == 0 || tally.complete == config.connections);
  return success ? 0 : 1;
}
