// wsbridge_bench_grpc_floor: the gRPC floor of the publisher path. It serves wsbridge.v1.Bridge's
// Push and PushBatch (unary) and PushStream (bidi) and does no bridge work at all: gRPC parses
// the request, the answer says the message was taken by every target (matched = queued = number
// of session_ids plus user_ids, so the publisher's --expect_queued=1 check holds for one user per
// push; a PushBatch answers every push so, in its place), and nothing is delivered anywhere. Every
// other method is UNIMPLEMENTED. What wsbridge spends per call above this server is what the bridge
// costs; what this server spends is gRPC's own price.
//
// Two implementations, each the fastest form gRPC 1.51 offers for it, chosen with --api:
//   callback  grpc::CallbackService, the API the bridge uses. Push and PushBatch return the
//             context's default reactor already finished; PushStream is a bidi reactor. Threads:
//             gRPC's own (its pollers and callback executor); --threads does not apply.
//   cq        the completion-queue API: --threads ServerCompletionQueues, one polling thread
//             each, every thread with its own outstanding RequestPush, RequestPushBatch and
//             RequestPushStream slots. A call lives on the queue that matched it, so all its
//             events run on one thread and its state needs no lock.
// PushStream, both ways: one answer per request, in request order. Reading goes on while an
// answer is being written (as in the bridge's DeliveryStreamReactor), up to kMaxQueuedAnswers
// answers waiting for the one write in flight; past that reading pauses until the caller reads.
// The answers have a fixed size (two small varints), so that bound is a bound in bytes too.
//
// Server options that matter for cost are the bridge's (bridge/server/bridge_server.cc): the same
// receive limit, insecure credentials, no keepalive settings, abseil's deadlock detection off; no
// interceptor, health service or reflection (they are bridge features, not per-call gRPC cost: the
// interceptor is counted as bridge work here).
//
// main parses flags, starts the server, prints "grpc_floor listening grpc_port=N api=A
// threads=T" (T = grpc with the callback API) and waits for SIGTERM or SIGINT, then shuts the
// server down and joins the threads.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench_flags.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::bench {
namespace {

enum class FloorApi { kCallback, kCompletionQueue };

// Everything the command line sets.
struct GrpcFloorConfig {
  // Address the gRPC port binds to.
  std::string bind = "127.0.0.1";
  // Port to listen on; 0 = let the OS pick one (printed on stdout).
  uint16_t port = 0;
  // --api=cq: completion queues, one polling thread each; default one per core.
  uint32_t threads = std::max(1u, std::thread::hardware_concurrency());
  FloorApi api = FloorApi::kCallback;
};

constexpr std::string_view kUsage =
    "usage: wsbridge_bench_grpc_floor [--port=0] [--bind=127.0.0.1] [--api=callback|cq]\n"
    "                                 [--threads=<cores>]  (--threads: --api=cq only)\n";
// Answers a PushStream holds while one is being written; past this, reading pauses.
constexpr size_t kMaxQueuedAnswers = 1024;
// --api=cq: RequestPush, RequestPushBatch and RequestPushStream slots each polling thread keeps
// open, so calls that arrive together are matched at once rather than one per round trip through
// the queue.
constexpr int kOutstandingRequestsPerMethod = 32;
// The bridge's receive limit with its default --max_message_bytes (1 MiB): max(4 MiB, 2x + 4 KiB).
constexpr int kMaxReceiveMessageBytes = 4 << 20;

bool ParseFlags(int argc, char** argv, GrpcFloorConfig& config, std::string& error) {
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
        } else if (name == "api") {
          ok = value == "callback" || value == "cq";
          config.api = value == "cq" ? FloorApi::kCompletionQueue : FloorApi::kCallback;
        } else {
          return FlagVerdict::kUnknown;
        }
        return ok ? FlagVerdict::kTaken : FlagVerdict::kBadValue;
      },
      error);
}

// The whole "work" of the floor: every target took the message.
void AnswerTaken(const v1::PushRequest& request, v1::PushResponse& response) {
  const auto targets = static_cast<uint32_t>(request.session_ids_size() + request.user_ids_size());
  response.set_matched(targets);
  response.set_queued(targets);
}

// A PushBatch: every push answered as taken, in its place.
void AnswerBatchTaken(const v1::PushBatchRequest& request, v1::PushBatchResponse& response) {
  response.mutable_results()->Reserve(request.pushes_size());
  for (const v1::PushRequest& push : request.pushes()) {
    AnswerTaken(push, *response.add_results()->mutable_response());
  }
}

// --- Callback API
// ---------------------------------------------------------------------------------

// One PushStream call on the callback API. gRPC runs OnReadDone and OnWriteDone on its own
// threads, possibly at the same time: `mutex_` guards everything below it. Deletes itself in
// OnDone.
class CallbackPushStream final : public grpc::ServerBidiReactor<v1::PushRequest, v1::PushResponse> {
 public:
  CallbackPushStream() { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mutex_);
    reading_ = false;
    if (!ok || broken_) {  // the caller half-closed, or the call is gone
      read_closed_ = true;
      MaybeFinish();
      return;
    }
    v1::PushResponse answer;
    AnswerTaken(request_, answer);
    queued_.push_back(std::move(answer));
    WriteNext();
    ReadIfRoom();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) {  // cancelled: nothing more can be written
      broken_ = true;
      queued_.clear();
      if (!reading_) read_closed_ = true;
      MaybeFinish();
      return;
    }
    WriteNext();
    ReadIfRoom();
    MaybeFinish();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    if (writing_ || queued_.empty()) return;
    writing_answer_ = std::move(queued_.front());
    queued_.pop_front();
    writing_ = true;
    StartWrite(&writing_answer_);
  }

  void ReadIfRoom() {
    if (reading_ || read_closed_ || queued_.size() >= kMaxQueuedAnswers) return;
    reading_ = true;
    StartRead(&request_);
  }

  // Finish once the caller has half-closed and every answer is written.
  void MaybeFinish() {
    if (finished_ || !read_closed_ || reading_ || writing_ || !queued_.empty()) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  std::mutex mutex_;
  v1::PushRequest request_;  // the one read in flight fills it
  v1::PushResponse writing_answer_;
  std::deque<v1::PushResponse> queued_;
  bool reading_ = true;  // the constructor's StartRead
  bool writing_ = false;
  bool read_closed_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

// A unary call answered at once: `answer` fills the response, the default reactor finishes OK.
template <class Request, class Response>
grpc::ServerUnaryReactor* AnswerNow(grpc::CallbackServerContext* context, const Request& request,
                                    Response& response, void (*answer)(const Request&, Response&)) {
  answer(request, response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

class CallbackFloorService final : public v1::Bridge::CallbackService {
 public:
  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* context,
                                 const v1::PushRequest* request,
                                 v1::PushResponse* response) override {
    return AnswerNow(context, *request, *response, AnswerTaken);
  }

  grpc::ServerBidiReactor<v1::PushRequest, v1::PushResponse>* PushStream(
      grpc::CallbackServerContext* /*context*/) override {
    return new CallbackPushStream();
  }

  grpc::ServerUnaryReactor* PushBatch(grpc::CallbackServerContext* context,
                                      const v1::PushBatchRequest* request,
                                      v1::PushBatchResponse* response) override {
    return AnswerNow(context, *request, *response, AnswerBatchTaken);
  }
};

// --- Completion-queue API
// -------------------------------------------------------------------------

// Push, PushStream and PushBatch asynchronous; the other eight methods are left out of the
// registration ("generic"): they reach the AsyncGenericService, which answers every call
// UNIMPLEMENTED. (A method left synchronous would make gRPC start a sync thread pool.)
using CqFloorService = v1::Bridge::WithAsyncMethod_Push<v1::Bridge::WithAsyncMethod_PushStream<
    v1::Bridge::WithAsyncMethod_PushBatch<v1::Bridge::WithGenericMethod_Broadcast<
        v1::Bridge::WithGenericMethod_Subscribe<v1::Bridge::WithGenericMethod_Unsubscribe<
            v1::Bridge::WithGenericMethod_Disconnect<v1::Bridge::WithGenericMethod_GetSession<
                v1::Bridge::WithGenericMethod_ListSessions<v1::Bridge::WithGenericMethod_Events<
                    v1::Bridge::WithGenericMethod_BroadcastStream<v1::Bridge::Service>>>>>>>>>>>;

// What a completion-queue tag points to: one pending operation of one call.
class CqEvent {
 public:
  virtual void Done(bool ok) = 0;

 protected:
  ~CqEvent() = default;
};

// A tag that calls `Call::*handler` when its operation completes; a call has one per kind of
// operation it can have pending (at most one of each kind at a time).
template <class Call>
class CqOp final : public CqEvent {
 public:
  CqOp(Call* call, void (Call::*handler)(bool)) : call_(call), handler_(handler) {}
  void Done(bool ok) override { (call_->*handler_)(ok); }

 private:
  Call* call_;
  void (Call::*handler_)(bool);
};

// One completion queue and what its calls need. Owned by main; used only by the queue's polling
// thread once that runs. `closing` is set (on that thread) when the queue is shut down: from then
// on no call may start an operation on it, so each call deletes itself once its pending
// operations are back.
struct CqThread {
  CqFloorService& service;
  grpc::AsyncGenericService& others;
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  bool closing = false;
};

// The two unary methods the floor serves on a completion queue: how a slot is opened and how
// the request is answered.
struct CqPushMethod {
  using Request = v1::PushRequest;
  using Response = v1::PushResponse;
  static void RequestSlot(CqFloorService& service, grpc::ServerContext* context, Request* request,
                          grpc::ServerAsyncResponseWriter<Response>* responder,
                          grpc::ServerCompletionQueue* cq, void* tag) {
    service.RequestPush(context, request, responder, cq, cq, tag);
  }
  static void Answer(const Request& request, Response& response) { AnswerTaken(request, response); }
};

struct CqPushBatchMethod {
  using Request = v1::PushBatchRequest;
  using Response = v1::PushBatchResponse;
  static void RequestSlot(CqFloorService& service, grpc::ServerContext* context, Request* request,
                          grpc::ServerAsyncResponseWriter<Response>* responder,
                          grpc::ServerCompletionQueue* cq, void* tag) {
    service.RequestPushBatch(context, request, responder, cq, cq, tag);
  }
  static void Answer(const Request& request, Response& response) {
    AnswerBatchTaken(request, response);
  }
};

// One unary call (Push or PushBatch, as Method says): requested -> matched (answer, Finish) ->
// finished (deleted). Lives on one completion queue: its events run on that queue's polling
// thread only.
template <class Method>
class CqUnary {
 public:
  // Opens a slot for the next call on `queue`; the object deletes itself.
  static void Request(CqThread& queue) { new CqUnary(queue); }

 private:
  explicit CqUnary(CqThread& queue) : queue_(queue) {
    Method::RequestSlot(queue_.service, &context_, &request_, &responder_, queue_.cq.get(),
                        &matched_);
  }

  void OnMatched(bool ok) {
    if (!ok || queue_.closing) {  // the server is shutting down
      delete this;
      return;
    }
    Request(queue_);  // keep the slot open for the next call
    Method::Answer(request_, response_);
    responder_.Finish(response_, grpc::Status::OK, &finished_);
  }

  void OnFinished(bool /*ok*/) { delete this; }

  CqThread& queue_;
  grpc::ServerContext context_;
  typename Method::Request request_;
  typename Method::Response response_;
  grpc::ServerAsyncResponseWriter<typename Method::Response> responder_{&context_};
  CqOp<CqUnary> matched_{this, &CqUnary::OnMatched};
  CqOp<CqUnary> finished_{this, &CqUnary::OnFinished};
};

// One PushStream: requested -> matched -> reads and writes (one of each pending at most, answers
// written in request order) -> the caller half-closes -> last answer written -> Finish ->
// deleted. Lives on one completion queue: its events run on that queue's polling thread only, so
// its state needs no lock.
class CqPushStream {
 public:
  static void Request(CqThread& queue) { new CqPushStream(queue); }

 private:
  explicit CqPushStream(CqThread& queue) : queue_(queue) {
    queue_.service.RequestPushStream(&context_, &stream_, queue_.cq.get(), queue_.cq.get(),
                                     &matched_);
  }

  void OnMatched(bool ok) {
    if (!ok || queue_.closing) {
      delete this;
      return;
    }
    Request(queue_);
    ReadIfRoom();
  }

  void OnRead(bool ok) {
    reading_ = false;
    if (!ok || broken_) {  // the caller half-closed, or the call is gone
      read_closed_ = true;
      MaybeFinish();
      return;
    }
    v1::PushResponse answer;
    AnswerTaken(request_, answer);
    queued_.push_back(std::move(answer));
    WriteNext();
    ReadIfRoom();
    DeleteIfAbandoned();
  }

  void OnWritten(bool ok) {
    writing_ = false;
    if (!ok) {  // cancelled: nothing more can be written
      broken_ = true;
      queued_.clear();
      if (!reading_) read_closed_ = true;
      MaybeFinish();
      return;
    }
    WriteNext();
    ReadIfRoom();
    MaybeFinish();
  }

  void OnFinished(bool /*ok*/) { delete this; }

  void WriteNext() {
    if (writing_ || queued_.empty() || queue_.closing) return;
    writing_answer_ = std::move(queued_.front());
    queued_.pop_front();
    writing_ = true;
    stream_.Write(writing_answer_, &written_);
  }

  void ReadIfRoom() {
    if (reading_ || read_closed_ || queue_.closing || queued_.size() >= kMaxQueuedAnswers) return;
    reading_ = true;
    stream_.Read(&request_, &read_);
  }

  // Finish once the caller has half-closed and every answer is written.
  void MaybeFinish() {
    if (finishing_ || !read_closed_ || reading_ || writing_ || !queued_.empty()) {
      DeleteIfAbandoned();
      return;
    }
    if (queue_.closing) {
      delete this;
      return;
    }
    finishing_ = true;
    stream_.Finish(grpc::Status::OK, &finished_);
  }

  // The queue is shut down and this call has nothing pending: nothing will come back for it.
  // (It may delete this: call it last.)
  void DeleteIfAbandoned() {
    if (queue_.closing && !reading_ && !writing_ && !finishing_) delete this;
  }

  CqThread& queue_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<v1::PushResponse, v1::PushRequest> stream_{&context_};
  v1::PushRequest request_;  // the one read in flight fills it
  v1::PushResponse writing_answer_;
  std::deque<v1::PushResponse> queued_;
  bool reading_ = false;
  bool writing_ = false;
  bool read_closed_ = false;
  bool broken_ = false;
  bool finishing_ = false;
  CqOp<CqPushStream> matched_{this, &CqPushStream::OnMatched};
  CqOp<CqPushStream> read_{this, &CqPushStream::OnRead};
  CqOp<CqPushStream> written_{this, &CqPushStream::OnWritten};
  CqOp<CqPushStream> finished_{this, &CqPushStream::OnFinished};
};

// Any other method (those CqFloorService marks generic, and unknown names): answered
// UNIMPLEMENTED at once. gRPC needs a generic service to take the generic methods.
class CqUnimplemented {
 public:
  static void Request(CqThread& queue) { new CqUnimplemented(queue); }

 private:
  explicit CqUnimplemented(CqThread& queue) : queue_(queue) {
    queue_.others.RequestCall(&context_, &stream_, queue_.cq.get(), queue_.cq.get(), &matched_);
  }

  void OnMatched(bool ok) {
    if (!ok || queue_.closing) {
      delete this;
      return;
    }
    Request(queue_);
    stream_.Finish(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                     absl::StrCat("the gRPC floor serves only Push, PushStream and PushBatch, not ",
                                  context_.method())),
        &finished_);
  }

  void OnFinished(bool /*ok*/) { delete this; }

  CqThread& queue_;
  grpc::GenericServerContext context_;
  grpc::GenericServerAsyncReaderWriter stream_{&context_};
  CqOp<CqUnimplemented> matched_{this, &CqUnimplemented::OnMatched};
  CqOp<CqUnimplemented> finished_{this, &CqUnimplemented::OnFinished};
};

// The tag main posts (with a grpc::Alarm) to each queue once the server is shut down: the queue's
// own thread marks it closing and shuts it down, so no call of that queue can start an operation
// after the shutdown (gRPC aborts on that).
class CqClose final : public CqEvent {
 public:
  explicit CqClose(CqThread& queue) : queue_(queue) {}
  void Done(bool /*ok*/) override {
    queue_.closing = true;
    queue_.cq->Shutdown();
  }

 private:
  CqThread& queue_;
};

// Opens this queue's request slots, then runs every event that arrives on it until the queue is
// shut down and drained. Runs on the queue's own thread.
void PollQueue(CqThread& queue) {
  for (int i = 0; i < kOutstandingRequestsPerMethod; ++i) {
    CqUnary<CqPushMethod>::Request(queue);
    CqUnary<CqPushBatchMethod>::Request(queue);
    CqPushStream::Request(queue);
  }
  CqUnimplemented::Request(queue);
  void* tag = nullptr;
  bool ok = false;
  while (queue.cq->Next(&tag, &ok)) static_cast<CqEvent*>(tag)->Done(ok);
}

std::string ListenAddress(const GrpcFloorConfig& config) {
  const bool ipv6 = config.bind.find(':') != std::string::npos;
  return ipv6 ? absl::StrCat("[", config.bind, "]:", config.port)
              : absl::StrCat(config.bind, ":", config.port);
}

}  // namespace
}  // namespace wsbridge::bench

int main(int argc, char** argv) {
  using namespace wsbridge::bench;
  GrpcFloorConfig config;
  std::string error;
  if (HelpRequested(argc, argv)) {
    std::cout << kUsage;
    return 0;
  }
  if (!ParseFlags(argc, argv, config, error)) {
    std::cerr << "grpc_floor: " << error << "\n" << kUsage;
    return 2;
  }

  // Block the termination signals in every thread (threads inherit the mask); main waits.
  const sigset_t signals = BlockTerminationSignals();
  // As the bridge does (bridge/main.cc): Debian's abseil checks every gRPC-internal lock for
  // deadlock cycles by default, about 5% of a floor call; the floor must not pay what the bridge
  // does not.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  CallbackFloorService callback_service;
  CqFloorService cq_service;
  grpc::AsyncGenericService cq_others;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(ListenAddress(config), grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  std::vector<std::unique_ptr<CqThread>> queues;
  if (config.api == FloorApi::kCallback) {
    builder.RegisterService(&callback_service);
  } else {
    builder.RegisterService(&cq_service);
    builder.RegisterAsyncGenericService(&cq_others);
    for (uint32_t i = 0; i < config.threads; ++i) {
      queues.push_back(std::make_unique<CqThread>(
          CqThread{cq_service, cq_others, builder.AddCompletionQueue(), false}));
    }
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "grpc_floor: cannot serve gRPC on " << ListenAddress(config) << "\n";
    return 1;
  }
  std::vector<std::thread> pollers;
  for (auto& queue : queues) pollers.emplace_back([&queue = *queue] { PollQueue(queue); });
  // The threads are gRPC's own with the callback API.
  std::cout << "grpc_floor listening grpc_port=" << port << " api="
            << (config.api == FloorApi::kCallback ? "callback threads=grpc"
                                                  : absl::StrCat("cq threads=", config.threads))
            << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  // Cancels the calls still open after a second; the pollers still run and see them end.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  std::vector<std::unique_ptr<CqClose>> closes;
  std::vector<std::unique_ptr<grpc::Alarm>> alarms;
  for (auto& queue : queues) {
    closes.push_back(std::make_unique<CqClose>(*queue));
    alarms.push_back(std::make_unique<grpc::Alarm>());
    alarms.back()->Set(queue->cq.get(), std::chrono::system_clock::now(), closes.back().get());
  }
  for (auto& poller : pollers) poller.join();
  return 0;
}
