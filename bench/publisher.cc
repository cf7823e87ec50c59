// wsbridge_bench_publisher: publishes benchmark messages (bench_payload.h) as fast as it can or at
// a fixed rate, and prints what it achieved as one `RESULT {json}` line on stdout. It speaks to
// wsbridge over gRPC (Broadcast, Push, PushStream, BroadcastStream) or to an nchan-style HTTP
// publisher endpoint (`POST /pub/<channel>`, served by nginx+nchan and by wsbridge_bench_floor).
// bench/run.py drives it; run with --help for the flags.
//
// Streams and order. A stream is one topic (fan-out) or one user (unicast, --users=N). Call k goes
// to stream k % streams and carries seq k / streams, so each subscriber can check it sees 0, 1, 2,
// ... in order. Concurrent unary calls (or HTTP requests on different connections) may overtake
// each other, so call k is only started once call k - streams has been answered: a stream never has
// two calls in flight. With a single topic that means one call at a time whatever --in_flight says
// (strict order, the same as --in_flight=1). PushStream and BroadcastStream keep request order by
// themselves and are only limited by --in_flight: one topic is published in order with up to
// --in_flight requests un-answered.
//
// PushBatch (--mode=grpc-pushbatch): a request carries --batch consecutive calls (pushes), each
// answered in its place, and the node delivers a request's pushes in item order. Requests in flight
// hold disjoint users: with N users and batches of B, at most max(1, floor(N / B)) requests are in
// flight (and at most --in_flight), and a request starts only once every request before that
// window is answered. Any two requests in flight are then fewer than N pushes apart, so a user's
// next push is sent only after the request holding its previous one was answered (or sits in the
// same request, behind it): every subscriber still sees 0, 1, 2, ... in order.
//
// Pacing. With --rate=R, call k is not started before start + k/R (an absolute schedule): when the
// server falls behind, due calls go out as soon as the in-flight limit allows, so the latency the
// subscribers measure includes real queueing and the publisher never sends ahead of the schedule.
//
// Threads: the main thread prints progress; one thread polls the gRPC completion queue (or runs
// the Asio loop, for HTTP), answers calls and starts the next ones; a pacer thread starts calls
// that become due with --rate. The completion-queue API is used rather than the callback API
// because gRPC 1.51's callback API hands every event to a thread of its own pool: polling the
// queue ourselves saves a thread switch per event, which counts on a 2-core box shared with the
// server under test. CallScheduler is the one piece of shared state and has its own mutex; see
// each class for its contract.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "absl/synchronization/mutex.h"
#include "bench_payload.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// --- Configuration ------------------------------------------------------------------------------

enum class PublishMode {
  kGrpcBroadcast,
  kGrpcPush,
  kGrpcPushStream,
  kGrpcBroadcastStream,
  kGrpcPushBatch,
  kHttp
};

struct PublisherConfig {
  PublishMode mode = PublishMode::kGrpcBroadcast;
  std::string mode_name = "grpc-broadcast";
  std::string grpc_target = "127.0.0.1:50051";  // --target
  std::string http_address = "127.0.0.1:8080";  // --http, host:port
  std::string topic;                            // fan-out stream; exclusive with users
  uint64_t users = 0;                           // unicast streams u{i}, i = 0..users-1
  std::string user_template = "u{i}";
  uint64_t messages = 1000;       // total calls
  size_t size = 100;              // payload bytes
  Padding padding = Padding::kX;  // --payload: how the payload is padded to `size`
  uint64_t in_flight = 32;        // calls started and not yet answered, at most
  uint64_t batch = 100;           // --mode=grpc-pushbatch: pushes per request
  double rate = 0;                // calls per second; 0 = as fast as possible
  std::string api_key;            // sent as x-api-key metadata when non-empty
  int64_t expect_queued = -1;     // when >= 0, a gRPC answer with another `queued` counts as failed
  int channels = 1;               // gRPC channels (TCP connections) calls are spread over
  bool allow_reorder = false;     // drop the one-call-per-stream rule (subscribers may see gaps)
  double timeout_seconds =
      30;  // a gRPC call's deadline; the run stops after this long without answers
};

constexpr std::string_view kUsage = R"(Usage: wsbridge_bench_publisher --mode=MODE [--flag=value]...

Publishes benchmark messages ("<seq> <sent_ns> xxx...") and prints RESULT {json} on stdout.

  --mode=grpc-broadcast|grpc-push|grpc-pushstream|grpc-broadcaststream|grpc-pushbatch|http
  --target=HOST:PORT       gRPC address of wsbridge (default 127.0.0.1:50051)
  --http=HOST:PORT         nchan-style publisher for --mode=http (default 127.0.0.1:8080)
  --topic=T                fan-out: Broadcast to topic T (unary, or on one BroadcastStream), or
                           POST /pub/T
  --users=N                unicast: call k goes to user k % N with seq k / N
  --user_template=u{i}     user name; {i} = 0..N-1 (default u{i})
  --messages=M             total calls (default 1000)
  --size=BYTES             message size (default 100)
  --payload=x|json         padding of each message: 'x' repeated (default) or JSON rows that
                           compress like real data (for permessage-deflate runs)
  --in_flight=K            calls in flight at most (default 32); HTTP opens K connections. A
                           stream (topic or user) never has two calls in flight, so a single topic
                           is published strictly in order, one call at a time. PushStream and
                           BroadcastStream keep order by themselves: K requests un-answered.
  --batch=B                grpc-pushbatch: pushes per PushBatch request (default 100); --messages
                           counts pushes, --in_flight requests, and requests in flight hold
                           disjoint users (at most max(1, users / B) of them), so order holds
  --rate=R                 calls per second on an absolute schedule; 0 = as fast as possible
  --api_key=KEY            sent as x-api-key metadata
  --expect_queued=N        count a gRPC answer whose queued != N as failed (default: no check)
  --channels=N             gRPC channels to spread calls over (default 1)
  --allow_reorder=true     let a stream have up to --in_flight calls in flight: the server may
                           deliver them out of order (only to measure what ordering costs)
  --timeout=S              gRPC call deadline and stall limit in seconds (default 30)

Exit status: 0 when every call succeeded, 1 when any failed, 2 on bad flags.
)";

bool ParseUnsignedFlag(std::string_view text, uint64_t& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool ParseDoubleFlag(std::string_view text, double& out) {
  const std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size() && out >= 0;
}

// The config, or nullopt after printing the problem (or the usage, for --help) to stderr with
// `exit_code` set to what the process should return.
std::optional<PublisherConfig> ParseFlags(int argc, char** argv, int& exit_code) {
  exit_code = 2;
  PublisherConfig config;
  bool mode_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage.data(), stdout);
      exit_code = 0;
      return std::nullopt;
    }
    const size_t equals = arg.find('=');
    if (arg.substr(0, 2) != "--" || equals == std::string_view::npos) {
      std::fprintf(stderr, "publisher: expected --name=value, got \"%s\"\n", argv[i]);
      return std::nullopt;
    }
    const std::string_view name = arg.substr(2, equals - 2);
    const std::string_view value = arg.substr(equals + 1);
    uint64_t number = 0;
    bool valid = true;
    if (name == "mode") {
      mode_given = true;
      config.mode_name = std::string(value);
      if (value == "grpc-broadcast") {
        config.mode = PublishMode::kGrpcBroadcast;
      } else if (value == "grpc-push") {
        config.mode = PublishMode::kGrpcPush;
      } else if (value == "grpc-pushstream") {
        config.mode = PublishMode::kGrpcPushStream;
      } else if (value == "grpc-broadcaststream") {
        config.mode = PublishMode::kGrpcBroadcastStream;
      } else if (value == "grpc-pushbatch") {
        config.mode = PublishMode::kGrpcPushBatch;
      } else if (value == "http") {
        config.mode = PublishMode::kHttp;
      } else {
        valid = false;
      }
    } else if (name == "target") {
      config.grpc_target = std::string(value);
    } else if (name == "http") {
      config.http_address = std::string(value);
    } else if (name == "topic") {
      config.topic = std::string(value);
    } else if (name == "users") {
      valid = ParseUnsignedFlag(value, config.users);
    } else if (name == "user_template") {
      config.user_template = std::string(value);
    } else if (name == "messages") {
      valid = ParseUnsignedFlag(value, config.messages);
    } else if (name == "size") {
      valid = ParseUnsignedFlag(value, number);
      config.size = number;
    } else if (name == "payload") {
      valid = value == "x" || value == "json";
      config.padding = value == "json" ? Padding::kJson : Padding::kX;
    } else if (name == "in_flight") {
      valid = ParseUnsignedFlag(value, config.in_flight) && config.in_flight > 0;
    } else if (name == "batch") {
      valid = ParseUnsignedFlag(value, config.batch) && config.batch > 0;
    } else if (name == "rate") {
      valid = ParseDoubleFlag(value, config.rate);
    } else if (name == "api_key") {
      config.api_key = std::string(value);
    } else if (name == "expect_queued") {
      valid = ParseUnsignedFlag(value, number);
      config.expect_queued = static_cast<int64_t>(number);
    } else if (name == "allow_reorder") {
      valid = value == "true" || value == "false";
      config.allow_reorder = value == "true";
    } else if (name == "channels") {
      valid = ParseUnsignedFlag(value, number) && number > 0 && number <= 64;
      config.channels = static_cast<int>(number);
    } else if (name == "timeout") {
      valid = ParseDoubleFlag(value, config.timeout_seconds) && config.timeout_seconds > 0;
    } else {
      std::fprintf(stderr, "publisher: unknown flag --%.*s (see --help)\n",
                   static_cast<int>(name.size()), name.data());
      return std::nullopt;
    }
    if (!valid) {
      std::fprintf(stderr, "publisher: bad value for --%.*s: \"%.*s\"\n",
                   static_cast<int>(name.size()), name.data(), static_cast<int>(value.size()),
                   value.data());
      return std::nullopt;
    }
  }
  const char* problem = nullptr;
  const bool has_topic = !config.topic.empty();
  const bool has_users = config.users > 0;
  if (!mode_given) {
    problem = "--mode is required";
  } else if (has_topic == has_users) {
    problem = "give exactly one of --topic and --users";
  } else if ((config.mode == PublishMode::kGrpcBroadcast ||
              config.mode == PublishMode::kGrpcBroadcastStream) &&
             !has_topic) {
    problem = "--mode=grpc-broadcast and grpc-broadcaststream need --topic";
  } else if ((config.mode == PublishMode::kGrpcPush ||
              config.mode == PublishMode::kGrpcPushStream ||
              config.mode == PublishMode::kGrpcPushBatch) &&
             !has_users) {
    problem = "--mode=grpc-push, grpc-pushstream and grpc-pushbatch need --users";
  } else if (config.mode == PublishMode::kGrpcPushBatch && config.rate > 0) {
    problem = "--mode=grpc-pushbatch publishes as fast as it can: --rate is not supported";
  } else if (config.messages == 0) {
    problem = "--messages must be at least 1";
  }
  if (problem != nullptr) {
    std::fprintf(stderr, "publisher: %s\n", problem);
    return std::nullopt;
  }
  return config;
}

// --- Streams ------------------------------------------------------------------------------------

// BenchStreams: the topic or users calls cycle over. Immutable; safe to share.
class BenchStreams {
 public:
  explicit BenchStreams(const PublisherConfig& config) {
    if (config.users == 0) {
      names_.push_back(config.topic);
      return;
    }
    names_.reserve(config.users);
    for (uint64_t i = 0; i < config.users; ++i) {
      std::string name = config.user_template;
      const std::string index = std::to_string(i);
      for (size_t at = name.find("{i}"); at != std::string::npos; at = name.find("{i}", at)) {
        name.replace(at, 3, index);
        at += index.size();
      }
      names_.push_back(std::move(name));
    }
  }

  uint64_t count() const { return names_.size(); }
  const std::string& NameOf(uint64_t call) const { return names_[call % names_.size()]; }
  uint64_t SeqOf(uint64_t call) const { return call / names_.size(); }

 private:
  std::vector<std::string> names_;
};

// --- What happened to each call -----------------------------------------------------------------

// CallLog: send and answer times per call index, and running totals. A call's slots are written
// only by the thread that sends or answers it, and read after the run once CallScheduler (whose
// mutex orders them) says it is over; totals are atomics, readable at any time for progress.
class CallLog {
 public:
  struct Answer {
    bool ok = false;
    uint64_t matched = 0;
    uint64_t queued = 0;
    uint64_t dropped = 0;
  };

  explicit CallLog(uint64_t calls) : send_ns_(calls, 0), answer_ns_(calls, 0) {}

  void RecordSend(uint64_t call, int64_t now_ns) {
    send_ns_[call] = now_ns;
    sent_.fetch_add(1, std::memory_order_relaxed);
  }

  void RecordAnswer(uint64_t call, int64_t now_ns, const Answer& answer) {
    answer_ns_[call] = now_ns;
    (answer.ok ? ok_ : failed_).fetch_add(1, std::memory_order_relaxed);
    matched_.fetch_add(answer.matched, std::memory_order_relaxed);
    queued_.fetch_add(answer.queued, std::memory_order_relaxed);
    dropped_.fetch_add(answer.dropped, std::memory_order_relaxed);
  }

  // Keeps the first error text for the report. Any thread.
  void NoteError(std::string text) {
    std::lock_guard lock(error_mutex_);
    if (first_error_.empty()) first_error_ = std::move(text);
  }

  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  uint64_t ok() const { return ok_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  uint64_t matched() const { return matched_.load(std::memory_order_relaxed); }
  uint64_t queued() const { return queued_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::string first_error() {
    std::lock_guard lock(error_mutex_);
    return first_error_;
  }
  const std::vector<int64_t>& send_ns() const { return send_ns_; }
  const std::vector<int64_t>& answer_ns() const { return answer_ns_; }

 private:
  std::vector<int64_t> send_ns_;    // 0 = never sent
  std::vector<int64_t> answer_ns_;  // 0 = never answered
  std::atomic<uint64_t> sent_{0}, ok_{0}, failed_{0}, matched_{0}, queued_{0}, dropped_{0};
  std::mutex error_mutex_;
  std::string first_error_;
};

// --- Which call goes next -----------------------------------------------------------------------

// CallScheduler: hands out call indices 0..calls-1 in order to a transport's issue function while
// keeping three rules: at most `in_flight` calls unanswered (once that many are, it waits until
// `refill_batch` slots are free, so a stream transport gets its writes in bursts it can coalesce);
// call k waits until call k - order_window is answered (0 = no such rule); with a rate, call k
// waits until its slot on the absolute schedule. Answers come back through OnAnswered, which starts
// whatever may go next on the answering thread; a pacer thread starts calls that only waited for
// the clock.
//
// Thread-safety: all methods may be called from any thread; one mutex guards the state. The issue
// function is called without the mutex held, possibly from several threads at once (calls are
// handed out in index order, but two threads may race to start theirs).
class CallScheduler {
 public:
  struct Options {
    uint64_t calls = 0;
    uint64_t in_flight = 1;
    uint64_t refill_batch = 1;
    uint64_t order_window = 0;
    double rate = 0;  // calls per second; 0 = no schedule
  };
  using IssueFunction = std::function<void(uint64_t call)>;

  CallScheduler(Options options, IssueFunction issue)
      : options_(options), issue_(std::move(issue)), answered_flags_(options.calls, false) {}

  ~CallScheduler() {
    Abort();
    if (pacer_.joinable()) pacer_.join();
  }

  // Starts the clock (the schedule's origin), the pacer with a rate, and the first calls.
  void Start() {
    start_ns_ = MonotonicNanos();
    if (options_.rate > 0) pacer_ = std::thread([this] { PacerLoop(); });
    IssueReady();
  }

  // Once per started call, from any thread.
  void OnAnswered(uint64_t call) {
    {
      std::lock_guard lock(mutex_);
      --in_flight_;
      ++answered_;
      answered_flags_[call] = true;
      while (answered_prefix_ < options_.calls && answered_flags_[answered_prefix_]) {
        ++answered_prefix_;
      }
      if (FinishedLocked()) {
        changed_.notify_all();
        return;
      }
    }
    IssueReady();
  }

  // Starts no more calls; Finished() turns true. Calls in flight may still be answered.
  void Abort() {
    std::lock_guard lock(mutex_);
    aborted_ = true;
    changed_.notify_all();
  }

  // Waits until every call is answered or the run was aborted, or until `timeout` passes.
  bool WaitFinished(std::chrono::nanoseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return FinishedLocked(); });
  }

  // Waits until no call is in flight (after Abort, for transports whose calls end on their own).
  void WaitNoneInFlight() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return in_flight_ == 0; });
  }

  uint64_t answered() {
    std::lock_guard lock(mutex_);
    return answered_;
  }
  bool aborted() {
    std::lock_guard lock(mutex_);
    return aborted_;
  }
  int64_t start_ns() const { return start_ns_; }
  // When call k is due on the schedule (the start without a rate).
  int64_t DueNs(uint64_t call) const {
    if (options_.rate <= 0) return start_ns_;
    return start_ns_ + static_cast<int64_t>(static_cast<double>(call) * 1e9 / options_.rate);
  }

 private:
  bool FinishedLocked() const { return aborted_ || answered_ == options_.calls; }

  // True when the next call waits for an answer (not for the clock).
  bool BlockedLocked() {
    if (in_flight_ >= options_.in_flight) {
      window_full_ = true;
      return true;
    }
    if (window_full_) {
      if (in_flight_ + options_.refill_batch > options_.in_flight) return true;
      window_full_ = false;
    }
    return options_.order_window > 0 && next_call_ >= answered_prefix_ + options_.order_window;
  }

  // Starts calls while the rules allow, one at a time so the mutex is never held in issue_.
  void IssueReady() {
    for (;;) {
      uint64_t call = 0;
      {
        std::lock_guard lock(mutex_);
        if (aborted_ || next_call_ >= options_.calls || BlockedLocked()) return;
        if (options_.rate > 0 && DueNs(next_call_) > MonotonicNanos()) {
          changed_.notify_all();  // the pacer sleeps until it is due
          return;
        }
        call = next_call_++;
        ++in_flight_;
      }
      issue_(call);
    }
  }

  void PacerLoop() {
    std::unique_lock lock(mutex_);
    while (!aborted_ && next_call_ < options_.calls) {
      if (BlockedLocked()) {
        changed_.wait(lock);  // an answer either starts the call itself or wakes us
        continue;
      }
      const int64_t wait_ns = DueNs(next_call_) - MonotonicNanos();
      if (wait_ns > 0) {
        changed_.wait_for(lock, std::chrono::nanoseconds(wait_ns));
        continue;
      }
      lock.unlock();
      IssueReady();
      lock.lock();
    }
  }

  const Options options_;
  const IssueFunction issue_;
  int64_t start_ns_ = 0;
  std::thread pacer_;

  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t next_call_ = 0;
  uint64_t in_flight_ = 0;
  bool window_full_ = false;  // in_flight reached its limit; waiting for refill_batch free slots
  uint64_t answered_ = 0;
  uint64_t answered_prefix_ = 0;  // calls [0, answered_prefix_) are all answered
  std::vector<bool> answered_flags_;
  bool aborted_ = false;
};

// --- gRPC ---------------------------------------------------------------------------------------

// The answer to record for a finished gRPC call: OK status, and `queued` as --expect_queued says
// when that is set. Notes the first problem in `log`.
CallLog::Answer JudgeGrpcAnswer(const PublisherConfig& config, uint64_t call,
                                const grpc::Status& status, uint64_t matched, uint64_t queued,
                                uint64_t dropped, CallLog& log) {
  CallLog::Answer answer;
  if (!status.ok()) {
    log.NoteError("call " + std::to_string(call) + ": " + std::to_string(status.error_code()) +
                  " " + status.error_message());
    return answer;
  }
  answer.matched = matched;
  answer.queued = queued;
  answer.dropped = dropped;
  answer.ok = config.expect_queued < 0 || queued == static_cast<uint64_t>(config.expect_queued);
  if (!answer.ok) {
    log.NoteError("call " + std::to_string(call) + ": queued=" + std::to_string(queued) +
                  ", expected " + std::to_string(config.expect_queued));
  }
  return answer;
}

// --- gRPC unary: Broadcast and Push -------------------------------------------------------------

// UnaryGrpcPublisher: one Broadcast (topic) or Push (user) call per index, or with
// --mode=grpc-pushbatch one PushBatch per request index (its --batch pushes are the calls it
// holds), spread round-robin over a few channels, all completing on one completion queue that one
// thread polls. Each call has a deadline of --timeout, so every started call is answered
// eventually.
//
// Thread-safety: Issue may be called from any thread; answers are handled on the poll thread.
class UnaryGrpcPublisher {
 public:
  UnaryGrpcPublisher(const PublisherConfig& config, const BenchStreams& streams, CallLog& log,
                     const std::vector<std::shared_ptr<grpc::Channel>>& channels)
      : config_(config), streams_(streams), log_(log) {
    for (const auto& channel : channels) stubs_.push_back(v1::Bridge::NewStub(channel));
  }

  ~UnaryGrpcPublisher() { Shutdown(); }

  void set_scheduler(CallScheduler* scheduler) { scheduler_ = scheduler; }

  // Starts the thread that polls the completion queue (and with it the channels' sockets).
  void RunPollThread() {
    poll_thread_ = std::thread([this] {
      void* tag = nullptr;
      bool ok = false;
      while (queue_.Next(&tag, &ok)) static_cast<PendingCall*>(tag)->OnFinished();
    });
  }

  // REQUIRES: no call in flight.
  void Shutdown() {
    if (!poll_thread_.joinable()) return;
    queue_.Shutdown();
    poll_thread_.join();
  }

  void Issue(uint64_t call) {
    if (config_.mode == PublishMode::kGrpcPushBatch) return IssueBatch(call);
    const int64_t now_ns = MonotonicNanos();
    std::string text =
        MakeBenchPayload(streams_.SeqOf(call), now_ns, config_.size, config_.padding);
    v1::Bridge::Stub& stub = *stubs_[call % stubs_.size()];
    log_.RecordSend(call, now_ns);
    if (config_.mode == PublishMode::kGrpcBroadcast) {
      auto* rpc = new Rpc<v1::BroadcastRequest, v1::BroadcastResponse>(this, call);
      rpc->request.add_topics(streams_.NameOf(call));
      rpc->request.mutable_message()->set_text(std::move(text));
      rpc->Start(stub.PrepareAsyncBroadcast(&rpc->context, rpc->request, &queue_));
    } else {
      auto* rpc = new Rpc<v1::PushRequest, v1::PushResponse>(this, call);
      rpc->request.add_user_ids(streams_.NameOf(call));
      rpc->request.mutable_message()->set_text(std::move(text));
      rpc->Start(stub.PrepareAsyncPush(&rpc->context, rpc->request, &queue_));
    }
  }

 private:
  // A call in flight; its address is the completion queue tag. Deletes itself when finished.
  struct PendingCall {
    virtual ~PendingCall() = default;
    virtual void OnFinished() = 0;
  };

  template <typename Request, typename Response>
  struct Rpc final : PendingCall {
    Rpc(UnaryGrpcPublisher* owner_in, uint64_t call_in) : owner(owner_in), call(call_in) {
      context.set_deadline(
          std::chrono::system_clock::now() +
          std::chrono::milliseconds(static_cast<int64_t>(owner->config_.timeout_seconds * 1000)));
      if (!owner->config_.api_key.empty()) {
        context.AddMetadata("x-api-key", owner->config_.api_key);
      }
    }

    void Start(std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> started) {
      reader = std::move(started);
      reader->StartCall();
      reader->Finish(&response, &status, this);
    }

    void OnFinished() override {
      const std::unique_ptr<Rpc> owned(this);
      if constexpr (std::is_same_v<Response, v1::PushBatchResponse>) {
        owner->OnBatchDone(call, status, response);
      } else {
        owner->OnDone(call, status, response.matched(), response.queued(), response.dropped());
      }
    }

    UnaryGrpcPublisher* owner;
    uint64_t call;
    grpc::ClientContext context;
    Request request;
    Response response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
  };

  void OnDone(uint64_t call, const grpc::Status& status, uint64_t matched, uint64_t queued,
              uint64_t dropped) {
    log_.RecordAnswer(call, MonotonicNanos(),
                      JudgeGrpcAnswer(config_, call, status, matched, queued, dropped, log_));
    scheduler_->OnAnswered(call);
  }

  // The pushes (calls) PushBatch request `request` holds: [first, end).
  std::pair<uint64_t, uint64_t> PushesOf(uint64_t request) const {
    const uint64_t first = request * config_.batch;
    return {first, std::min(first + config_.batch, config_.messages)};
  }

  void IssueBatch(uint64_t request) {
    auto* rpc = new Rpc<v1::PushBatchRequest, v1::PushBatchResponse>(this, request);
    const auto [first, end] = PushesOf(request);
    rpc->request.mutable_pushes()->Reserve(static_cast<int>(end - first));
    const int64_t now_ns = MonotonicNanos();
    for (uint64_t call = first; call < end; ++call) {
      v1::PushRequest* push = rpc->request.add_pushes();
      push->add_user_ids(streams_.NameOf(call));
      push->mutable_message()->set_text(
          MakeBenchPayload(streams_.SeqOf(call), now_ns, config_.size, config_.padding));
      log_.RecordSend(call, now_ns);
    }
    rpc->Start(stubs_[request % stubs_.size()]->PrepareAsyncPushBatch(&rpc->context, rpc->request,
                                                                      &queue_));
  }

  // Each push of the request is judged as a Push would be: the call's status, else its own
  // result (an error in it fails that push), and --expect_queued.
  void OnBatchDone(uint64_t request, const grpc::Status& status,
                   const v1::PushBatchResponse& response) {
    const auto [first, end] = PushesOf(request);
    const int64_t now_ns = MonotonicNanos();
    if (status.ok() && static_cast<uint64_t>(response.results_size()) != end - first) {
      log_.NoteError("request " + std::to_string(request) + ": " +
                     std::to_string(response.results_size()) + " results for " +
                     std::to_string(end - first) + " pushes");
    }
    for (uint64_t call = first; call < end; ++call) {
      const int index = static_cast<int>(call - first);
      grpc::Status item_status = status;
      v1::PushResponse item;
      if (status.ok() && index >= response.results_size()) {
        item_status = grpc::Status(grpc::StatusCode::INTERNAL, "no result for this push");
      } else if (status.ok()) {
        const v1::PushBatchResult& result = response.results(index);
        if (result.error_code() != 0) {
          item_status = grpc::Status(static_cast<grpc::StatusCode>(result.error_code()),
                                     result.error_message());
        }
        item = result.response();
      }
      log_.RecordAnswer(call, now_ns,
                        JudgeGrpcAnswer(config_, call, item_status, item.matched(), item.queued(),
                                        item.dropped(), log_));
    }
    scheduler_->OnAnswered(request);
  }

  const PublisherConfig& config_;
  const BenchStreams& streams_;
  CallLog& log_;
  std::vector<std::unique_ptr<v1::Bridge::Stub>> stubs_;
  CallScheduler* scheduler_ = nullptr;
  grpc::CompletionQueue queue_;
  std::thread poll_thread_;
};

// --- gRPC PushStream and BroadcastStream ---------------------------------------------------------

// What differs between the two request streams: the RPC and how a call becomes a request (a Push
// to one user, or a Broadcast to one topic). Both answer each request with matched/queued/dropped.
struct PushStreamRpc {
  using Request = v1::PushRequest;
  using Response = v1::PushResponse;
  static constexpr const char* kName = "PushStream";

  static std::unique_ptr<grpc::ClientAsyncReaderWriter<Request, Response>> Open(
      v1::Bridge::Stub& stub, grpc::ClientContext* context, grpc::CompletionQueue* queue) {
    return stub.PrepareAsyncPushStream(context, queue);
  }
  static void Fill(const std::string& user, std::string text, Request& request) {
    request.add_user_ids(user);
    request.mutable_message()->set_text(std::move(text));
  }
};

struct BroadcastStreamRpc {
  using Request = v1::BroadcastRequest;
  using Response = v1::BroadcastResponse;
  static constexpr const char* kName = "BroadcastStream";

  static std::unique_ptr<grpc::ClientAsyncReaderWriter<Request, Response>> Open(
      v1::Bridge::Stub& stub, grpc::ClientContext* context, grpc::CompletionQueue* queue) {
    return stub.PrepareAsyncBroadcastStream(context, queue);
  }
  static void Fill(const std::string& topic, std::string text, Request& request) {
    request.add_topics(topic);
    request.mutable_message()->set_text(std::move(text));
  }
};

// RequestStreamPublisher<Rpc>: all calls as requests on one PushStream or BroadcastStream (Rpc is
// PushStreamRpc or BroadcastStreamRpc); answers arrive in request order, so the n-th answer
// belongs to call n. Issue only counts a call as startable; the writer builds
// and stamps each request when it writes it, one write at a time, and hints gRPC to coalesce a
// write when the next one is already waiting. After the last write it half-closes the stream.
// Uses a completion queue polled by one thread, so reads, writes and the socket work all happen
// there without handing events between threads.
//
// Thread-safety: Issue and Cancel from any thread. `mutex_` guards the write side; the read side
// is only touched on the poll thread.
template <typename Rpc>
class RequestStreamPublisher {
 public:
  RequestStreamPublisher(const PublisherConfig& config, const BenchStreams& streams, CallLog& log,
                         std::shared_ptr<grpc::Channel> channel)
      : config_(config), streams_(streams), log_(log), stub_(v1::Bridge::NewStub(channel)) {}

  ~RequestStreamPublisher() {
    if (poll_thread_.joinable()) {
      Cancel();
      poll_thread_.join();
    }
  }

  // Opens the stream and starts the poll thread; Issue may be called from then on.
  void Begin(CallScheduler* scheduler) {
    scheduler_ = scheduler;
    if (!config_.api_key.empty()) context_.AddMetadata("x-api-key", config_.api_key);
    stream_ = Rpc::Open(*stub_, &context_, &queue_);
    stream_->StartCall(Tag(Op::kStart));
    stream_->Read(&response_, Tag(Op::kRead));
    poll_thread_ = std::thread([this] { Poll(); });
  }

  void Issue(uint64_t /*call*/) {
    grpc::WriteOptions options;
    {
      std::lock_guard lock(mutex_);
      ++issued_;
      if (!started_ || writing_ || writes_closed_) return;
      writing_ = true;
      options = PrepareWriteLocked();
    }
    stream_->Write(write_request_, options, Tag(Op::kWrite));
  }

  // Ends the stream early (the run stalled or was aborted).
  void Cancel() { context_.TryCancel(); }

  // Waits until the stream has finished, at most `timeout`; the final status.
  std::optional<grpc::Status> AwaitDone(std::chrono::nanoseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!done_cv_.wait_for(lock, timeout, [this] { return final_status_.has_value(); })) {
      return std::nullopt;
    }
    return final_status_;
  }

  uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }

 private:
  enum class Op : uintptr_t { kStart = 1, kRead, kWrite, kWritesDone, kFinish };
  static void* Tag(Op op) { return reinterpret_cast<void*>(static_cast<uintptr_t>(op)); }

  void Poll() {
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
      switch (static_cast<Op>(reinterpret_cast<uintptr_t>(tag))) {
        case Op::kStart:
          OnStarted(ok);
          break;
        case Op::kWritesDone:
          break;  // a failure shows up on the read side
        case Op::kRead:
          OnReadDone(ok);
          break;
        case Op::kWrite:
          OnWriteDone(ok);
          break;
        case Op::kFinish:
          OnFinished();
          queue_.Shutdown();
          break;
      }
    }
  }

  // StartCall's operation set is the one writes use, so the first write waits for it.
  void OnStarted(bool ok) {
    if (!ok) return;  // the read fails too and collects the status
    {
      std::lock_guard lock(mutex_);
      started_ = true;
      if (writing_ || writes_closed_ || next_write_ == issued_) return;
      writing_ = true;
    }
    OnWriteDone(true);
  }

  void OnWriteDone(bool ok) {
    enum class Next { kNothing, kWrite, kWritesDone, kFail } next = Next::kNothing;
    grpc::WriteOptions options;
    {
      std::lock_guard lock(mutex_);
      if (!ok) {
        writing_ = false;
        writes_closed_ = true;
        next = Next::kFail;
      } else if (next_write_ < issued_) {
        options = PrepareWriteLocked();
        next = Next::kWrite;
      } else {
        writing_ = false;
        if (next_write_ == config_.messages) {
          writes_closed_ = true;
          next = Next::kWritesDone;
        }
      }
    }
    switch (next) {
      case Next::kNothing:
        break;
      case Next::kWrite:
        stream_->Write(write_request_, options, Tag(Op::kWrite));
        break;
      case Next::kWritesDone:
        stream_->WritesDone(Tag(Op::kWritesDone));
        break;
      case Next::kFail:
        log_.NoteError(std::string(Rpc::kName) + " write failed");
        scheduler_->Abort();
        break;
    }
  }

  void OnReadDone(bool ok) {
    if (!ok) {
      // The server ended the stream (or it broke): collect the status.
      if (answered() < config_.messages) scheduler_->Abort();
      stream_->Finish(&status_, Tag(Op::kFinish));
      return;
    }
    const uint64_t call = answered_.fetch_add(1, std::memory_order_relaxed);
    log_.RecordAnswer(call, MonotonicNanos(),
                      JudgeGrpcAnswer(config_, call, grpc::Status::OK, response_.matched(),
                                      response_.queued(), response_.dropped(), log_));
    stream_->Read(&response_, Tag(Op::kRead));
    scheduler_->OnAnswered(call);
  }

  void OnFinished() {
    if (!status_.ok()) {
      log_.NoteError(std::string(Rpc::kName) + " ended: " + std::to_string(status_.error_code()) +
                     " " + status_.error_message());
    }
    std::lock_guard lock(mutex_);
    final_status_ = status_;
    done_cv_.notify_all();
  }

  // Fills write_request_ with the next call and stamps it. REQUIRES: writing_, mutex_ held.
  grpc::WriteOptions PrepareWriteLocked() {
    const uint64_t call = next_write_++;
    const int64_t now_ns = MonotonicNanos();
    write_request_.Clear();
    Rpc::Fill(streams_.NameOf(call),
              MakeBenchPayload(streams_.SeqOf(call), now_ns, config_.size, config_.padding),
              write_request_);
    log_.RecordSend(call, now_ns);
    grpc::WriteOptions options;
    if (next_write_ < issued_) options.set_buffer_hint();
    return options;
  }

  const PublisherConfig& config_;
  const BenchStreams& streams_;
  CallLog& log_;
  std::unique_ptr<v1::Bridge::Stub> stub_;
  CallScheduler* scheduler_ = nullptr;
  grpc::ClientContext context_;
  grpc::CompletionQueue queue_;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<typename Rpc::Request, typename Rpc::Response>>
      stream_;
  std::thread poll_thread_;

  std::mutex mutex_;
  std::condition_variable done_cv_;
  uint64_t issued_ = 0;      // calls the scheduler allowed
  uint64_t next_write_ = 0;  // calls written (or being written)
  bool started_ = false;     // StartCall has completed
  bool writing_ = false;
  bool writes_closed_ = false;           // no more writes: all written, or the stream broke
  typename Rpc::Request write_request_;  // owned by the write in flight
  std::optional<grpc::Status> final_status_;

  // Poll thread only.
  typename Rpc::Response response_;
  grpc::Status status_;
  std::atomic<uint64_t> answered_{0};
};

// --- HTTP (nchan publisher surface) -------------------------------------------------------------

// HttpPublisher: `POST /pub/<stream>` over K keep-alive HTTP/1.1 connections, each one request at
// a time, all on one Asio thread. A 2xx answer is a success; nchan's "active subscribers: N" line,
// when present, is added to matched. A connection the server closes is reopened for its next
// request. Issue may be called from any thread (it posts to the I/O thread).
class HttpPublisher {
 public:
  HttpPublisher(const PublisherConfig& config, const BenchStreams& streams, CallLog& log)
      : config_(config), streams_(streams), log_(log) {}

  ~HttpPublisher() { Stop(); }

  // Resolves the address and opens the connections; false (after printing why) on failure.
  bool Connect() {
    const size_t colon = config_.http_address.rfind(':');
    if (colon == std::string::npos) {
      std::fprintf(stderr, "publisher: --http must be HOST:PORT\n");
      return false;
    }
    host_ = config_.http_address;
    boost::system::error_code error;
    tcp::resolver resolver(io_);
    endpoints_ = resolver.resolve(config_.http_address.substr(0, colon),
                                  config_.http_address.substr(colon + 1), error);
    for (uint64_t i = 0; !error && i < config_.in_flight; ++i) {
      auto connection = std::make_unique<Connection>(io_);
      asio::connect(connection->socket, endpoints_, error);
      if (!error) connection->socket.set_option(tcp::no_delay(true), error);
      idle_.push_back(connection.get());
      connections_.push_back(std::move(connection));
    }
    if (error) {
      std::fprintf(stderr, "publisher: cannot connect to %s: %s\n", config_.http_address.c_str(),
                   error.message().c_str());
      return false;
    }
    return true;
  }

  void set_scheduler(CallScheduler* scheduler) { scheduler_ = scheduler; }

  void RunIoThread() {
    io_thread_ = std::thread([this] {
      auto work = asio::make_work_guard(io_);
      io_.run();
    });
  }

  void Stop() {
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
  }

  void Issue(uint64_t call) {
    asio::post(io_, [this, call] { StartRequest(call); });
  }

 private:
  struct Connection {
    explicit Connection(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::string request_text;
    beast::http::response<beast::http::string_body> response;
    uint64_t call = 0;
  };

  // On the I/O thread. The scheduler never allows more calls than connections.
  void StartRequest(uint64_t call) {
    Connection* connection = idle_.back();
    idle_.pop_back();
    connection->call = call;
    const int64_t now_ns = MonotonicNanos();
    const std::string body =
        MakeBenchPayload(streams_.SeqOf(call), now_ns, config_.size, config_.padding);
    std::string& text = connection->request_text;
    text.clear();
    text.append("POST /pub/").append(streams_.NameOf(call)).append(" HTTP/1.1\r\nHost: ");
    text.append(host_).append("\r\nContent-Type: text/plain\r\nContent-Length: ");
    text.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
    log_.RecordSend(call, now_ns);
    if (connection->socket.is_open()) return Write(connection);
    asio::async_connect(connection->socket, endpoints_,
                        [this, connection](boost::system::error_code error, const tcp::endpoint&) {
                          if (error) return Fail(connection, "connect", error);
                          boost::system::error_code ignored;
                          connection->socket.set_option(tcp::no_delay(true), ignored);
                          Write(connection);
                        });
  }

  void Write(Connection* connection) {
    asio::async_write(connection->socket, asio::buffer(connection->request_text),
                      [this, connection](boost::system::error_code error, size_t) {
                        if (error) return Fail(connection, "write", error);
                        connection->response = {};
                        beast::http::async_read(
                            connection->socket, connection->buffer, connection->response,
                            [this, connection](boost::system::error_code read_error, size_t) {
                              if (read_error) return Fail(connection, "read", read_error);
                              OnResponse(connection);
                            });
                      });
  }

  void OnResponse(Connection* connection) {
    const unsigned status = connection->response.result_int();
    CallLog::Answer answer;
    answer.ok = status >= 200 && status < 300;
    if (!answer.ok) {
      log_.NoteError("call " + std::to_string(connection->call) + ": HTTP " +
                     std::to_string(status));
    }
    constexpr std::string_view kSubscribers = "active subscribers: ";
    const std::string& body = connection->response.body();
    if (const size_t at = body.find(kSubscribers); at != std::string::npos) {
      uint64_t subscribers = 0;
      const char* begin = body.data() + at + kSubscribers.size();
      std::from_chars(begin, body.data() + body.size(), subscribers);
      answer.matched = subscribers;
    }
    if (!connection->response.keep_alive()) Close(connection);
    Finish(connection, answer);
  }

  void Fail(Connection* connection, const char* step, boost::system::error_code error) {
    log_.NoteError("call " + std::to_string(connection->call) + ": " + step + ": " +
                   error.message());
    Close(connection);
    Finish(connection, CallLog::Answer{});
  }

  void Close(Connection* connection) {
    boost::system::error_code ignored;
    connection->socket.close(ignored);
    connection->buffer.clear();
  }

  void Finish(Connection* connection, const CallLog::Answer& answer) {
    const uint64_t call = connection->call;
    log_.RecordAnswer(call, MonotonicNanos(), answer);
    idle_.push_back(connection);
    scheduler_->OnAnswered(call);
  }

  const PublisherConfig& config_;
  const BenchStreams& streams_;
  CallLog& log_;
  CallScheduler* scheduler_ = nullptr;
  asio::io_context io_{1};
  std::thread io_thread_;
  std::string host_;
  tcp::resolver::results_type endpoints_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> idle_;  // I/O thread only (after Connect)
};

// --- Report -------------------------------------------------------------------------------------

double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(sorted.size() - 1, static_cast<size_t>(fraction * sorted.size()));
  return sorted[index];
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", value);
  return text;
}

// Prints the RESULT line. `unanswered` calls were sent but never answered (counted as failed).
void PrintResult(const PublisherConfig& config, CallLog& log, const CallScheduler& scheduler,
                 uint64_t unanswered) {
  const auto& send_ns = log.send_ns();
  const auto& answer_ns = log.answer_ns();
  int64_t first_send = 0;
  int64_t last_send = 0;
  int64_t last_answer = 0;
  std::vector<double> latency_us;
  std::vector<double> lag_us;  // how late each call left against the schedule
  latency_us.reserve(send_ns.size());
  for (size_t call = 0; call < send_ns.size(); ++call) {
    if (send_ns[call] == 0) continue;
    if (first_send == 0 || send_ns[call] < first_send) first_send = send_ns[call];
    last_send = std::max(last_send, send_ns[call]);
    if (config.rate > 0) lag_us.push_back((send_ns[call] - scheduler.DueNs(call)) / 1e3);
    if (answer_ns[call] == 0) continue;
    last_answer = std::max(last_answer, answer_ns[call]);
    latency_us.push_back((answer_ns[call] - send_ns[call]) / 1e3);
  }
  std::sort(latency_us.begin(), latency_us.end());
  std::sort(lag_us.begin(), lag_us.end());
  const double seconds = last_answer > first_send ? (last_answer - first_send) / 1e9 : 0;
  const uint64_t answered = log.ok() + log.failed();
  const uint64_t failed = log.failed() + unanswered;

  std::string json = "{";
  json += "\"mode\":" + JsonString(config.mode_name);
  json += ",\"messages\":" + std::to_string(config.messages);
  json += ",\"size\":" + std::to_string(config.size);
  json += ",\"in_flight\":" + std::to_string(config.in_flight);
  if (config.mode == PublishMode::kGrpcPushBatch)
    json += ",\"batch\":" + std::to_string(config.batch);
  json += ",\"rate\":" + JsonNumber(config.rate);
  json += ",\"streams\":" + std::to_string(config.users > 0 ? config.users : 1);
  json += ",\"sent\":" + std::to_string(log.sent());
  json += ",\"ok\":" + std::to_string(log.ok());
  json += ",\"failed\":" + std::to_string(failed);
  json += ",\"unanswered\":" + std::to_string(unanswered);
  json += ",\"matched_total\":" + std::to_string(log.matched());
  json += ",\"queued_total\":" + std::to_string(log.queued());
  json += ",\"dropped_total\":" + std::to_string(log.dropped());
  json += ",\"first_send_ns\":" + std::to_string(first_send);
  json += ",\"last_send_ns\":" + std::to_string(last_send);
  json += ",\"last_response_ns\":" + std::to_string(last_answer);
  json += ",\"seconds\":" + JsonNumber(seconds);
  json += ",\"calls_per_sec\":" + JsonNumber(seconds > 0 ? answered / seconds : 0);
  json += ",\"rpc_latency_us\":{\"p50\":" + JsonNumber(Percentile(latency_us, 0.50)) +
          ",\"p99\":" + JsonNumber(Percentile(latency_us, 0.99)) +
          ",\"max\":" + JsonNumber(latency_us.empty() ? 0 : latency_us.back()) + "}";
  if (config.rate > 0) {
    json += ",\"schedule_lag_us\":{\"p50\":" + JsonNumber(Percentile(lag_us, 0.50)) +
            ",\"p99\":" + JsonNumber(Percentile(lag_us, 0.99)) +
            ",\"max\":" + JsonNumber(lag_us.empty() ? 0 : lag_us.back()) + "}";
  }
  json += ",\"first_error\":" + JsonString(log.first_error());
  json += "}";
  std::printf("RESULT %s\n", json.c_str());
  std::fflush(stdout);
}

// --- Run ----------------------------------------------------------------------------------------

std::vector<std::shared_ptr<grpc::Channel>> OpenChannels(const PublisherConfig& config) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < config.channels; ++i) {
    grpc::ChannelArguments arguments;
    // Distinct channels must not share one TCP connection.
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    arguments.SetInt("wsbridge.bench.channel_index", i);
    auto channel = grpc::CreateCustomChannel(config.grpc_target, grpc::InsecureChannelCredentials(),
                                             arguments);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::fprintf(stderr, "publisher: cannot connect to %s\n", config.grpc_target.c_str());
      return {};
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

// Prints progress once a second until the scheduler finishes; aborts it after --timeout seconds
// without a single answer.
void WatchProgress(const PublisherConfig& config, CallLog& log, CallScheduler& scheduler) {
  uint64_t last_answered = 0;
  int64_t last_progress_ns = MonotonicNanos();
  while (!scheduler.WaitFinished(std::chrono::seconds(1))) {
    const uint64_t answered = log.ok() + log.failed();
    const int64_t now_ns = MonotonicNanos();
    std::fprintf(
        stderr, "publisher: %.1f s sent=%llu ok=%llu failed=%llu, %llu calls in the last s\n",
        (now_ns - scheduler.start_ns()) / 1e9, static_cast<unsigned long long>(log.sent()),
        static_cast<unsigned long long>(log.ok()), static_cast<unsigned long long>(log.failed()),
        static_cast<unsigned long long>(answered - last_answered));
    if (answered != last_answered) {
      last_answered = answered;
      last_progress_ns = now_ns;
    } else if ((now_ns - last_progress_ns) / 1e9 > config.timeout_seconds) {
      std::fprintf(stderr, "publisher: no answer for %.0f s, giving up\n", config.timeout_seconds);
      log.NoteError("stalled: no answer for --timeout seconds");
      scheduler.Abort();
    }
  }
}

// Publishes every call on one request stream and prints the result; the calls sent but never
// answered.
template <typename Rpc>
uint64_t RunRequestStream(const PublisherConfig& config, const BenchStreams& streams, CallLog& log,
                          const CallScheduler::Options& options,
                          std::shared_ptr<grpc::Channel> channel) {
  RequestStreamPublisher<Rpc> publisher(config, streams, log, std::move(channel));
  CallScheduler scheduler(options, [&publisher](uint64_t call) { publisher.Issue(call); });
  publisher.Begin(&scheduler);
  scheduler.Start();
  WatchProgress(config, log, scheduler);
  if (scheduler.aborted()) publisher.Cancel();
  if (!publisher.AwaitDone(std::chrono::seconds(10)).has_value()) {
    publisher.Cancel();
    publisher.AwaitDone(std::chrono::hours(1));
  }
  const uint64_t unanswered = log.sent() - publisher.answered();
  PrintResult(config, log, scheduler, unanswered);
  return unanswered;
}

int Run(const PublisherConfig& config) {
  const BenchStreams streams(config);
  CallLog log(config.messages);
  CallScheduler::Options options;
  options.calls = config.messages;
  options.in_flight = config.in_flight;
  const bool ordered_by_transport = config.mode == PublishMode::kGrpcPushStream ||
                                    config.mode == PublishMode::kGrpcBroadcastStream;
  options.order_window = ordered_by_transport || config.allow_reorder ? 0 : streams.count();
  options.rate = config.rate;
  if (config.mode == PublishMode::kGrpcPushBatch) {
    // The scheduler hands out requests of --batch pushes; see the header for the order rule.
    options.calls = (config.messages + config.batch - 1) / config.batch;
    options.order_window =
        config.allow_reorder ? 0 : std::max<uint64_t>(1, streams.count() / config.batch);
  }
  if (ordered_by_transport && config.rate == 0) {
    options.refill_batch = std::max<uint64_t>(1, config.in_flight / 4);
  }

  uint64_t unanswered = 0;
  if (config.mode == PublishMode::kHttp) {
    HttpPublisher publisher(config, streams, log);
    if (!publisher.Connect()) return 1;
    CallScheduler scheduler(options, [&publisher](uint64_t call) { publisher.Issue(call); });
    publisher.set_scheduler(&scheduler);
    publisher.RunIoThread();
    scheduler.Start();
    WatchProgress(config, log, scheduler);
    publisher.Stop();
    unanswered = log.sent() - (log.ok() + log.failed());
    PrintResult(config, log, scheduler, unanswered);
  } else if (config.mode == PublishMode::kGrpcPushStream) {
    const auto channels = OpenChannels(config);
    if (channels.empty()) return 1;
    unanswered = RunRequestStream<PushStreamRpc>(config, streams, log, options, channels.front());
  } else if (config.mode == PublishMode::kGrpcBroadcastStream) {
    const auto channels = OpenChannels(config);
    if (channels.empty()) return 1;
    unanswered =
        RunRequestStream<BroadcastStreamRpc>(config, streams, log, options, channels.front());
  } else {
    const auto channels = OpenChannels(config);
    if (channels.empty()) return 1;
    UnaryGrpcPublisher publisher(config, streams, log, channels);
    CallScheduler scheduler(options, [&publisher](uint64_t call) { publisher.Issue(call); });
    publisher.set_scheduler(&scheduler);
    publisher.RunPollThread();
    scheduler.Start();
    WatchProgress(config, log, scheduler);
    scheduler.WaitNoneInFlight();  // deadlines end every call
    publisher.Shutdown();
    PrintResult(config, log, scheduler, 0);
  }
  const bool all_ok = log.failed() == 0 && unanswered == 0 && log.ok() == config.messages;
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace wsbridge::bench

int main(int argc, char** argv) {
  // Debian's Abseil is built with Mutex deadlock detection on, which costs every lock gRPC takes
  // a graph update; a benchmark client has no use for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  int exit_code = 0;
  const auto config = wsbridge::bench::ParseFlags(argc, argv, exit_code);
  if (!config.has_value()) return exit_code;
  return wsbridge::bench::Run(*config);
}
