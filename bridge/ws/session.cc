#include "ws/session.h"

#include <span>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace wsbridge {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// The thread's shared read buffer: one read takes up to this much from a socket.
constexpr size_t kReadScratchBytes = 64 * 1024;
// Reads per readiness before the session lets the thread serve others.
constexpr int kMaxReadsPerWakeup = 4;

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

bool WouldBlock(const error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

PayloadPtr UpgradeResponse(std::string_view client_key, const std::string& session_id,
                           const std::optional<ws::DeflateAgreement>& deflate) {
  std::string extensions;
  if (deflate.has_value()) {
    extensions =
        absl::StrCat("Sec-WebSocket-Extensions: ", ws::DeflateResponseHeader(*deflate), "\r\n");
  }
  return MakePayload(
      Payload::Kind::kHandshake,
      absl::StrCat("HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: ",
                   ws::ComputeAcceptKey(client_key), "\r\n", extensions, "Server: wsbridge\r\n",
                   kSessionIdHeader, ": ", session_id, "\r\n\r\n"));
}

}  // namespace

class Session::TransportSink final : public ws::ByteSink {
 public:
  explicit TransportSink(ws::Transport& transport) : transport_(transport) {}
  size_t WriteSome(std::span<const asio::const_buffer> buffers, error_code& ec) override {
    return transport_.WriteSome(buffers, ec);
  }

 private:
  ws::Transport& transport_;
};

Session::Session(ws::Transport transport, SessionContext& context, SessionSlot slot,
                 SessionInfo info, std::vector<std::string> topics)
    : transport_(std::move(transport)),
      context_(context),
      slot_(std::move(slot)),
      info_(std::move(info)),
      initial_topics_(std::move(topics)),
      writer_(context.options.send_queue),
      reader_(context.options.max_message_bytes),
      inbound_rate_(context.options.client_messages_per_second,
                    context.options.client_messages_burst, context.clock.Now()) {}

Session::~Session() = default;

void Session::Accept(std::string_view client_key, std::string early_bytes,
                     std::optional<ws::DeflateAgreement> deflate) {
  WSBRIDGE_ASSERT_ON(context_.thread);
  if (deflate.has_value()) deflate_window_bits_ = deflate->server_max_window_bits;
  // Reads and writes are attempted directly and only wait when the socket is not ready (the
  // Transport's socket is non-blocking).
  if (!early_bytes.empty()) early_bytes_ = std::make_unique<std::string>(std::move(early_bytes));
  // Routable before the browser sees the 101: a call made as soon as the browser (or a client
  // reading X-Wsbridge-Session-Id) is connected finds the session. What is pushed during the
  // upgrade is queued behind the 101 and leaves right after it.
  if (!RegisterInHub()) {
    spdlog::error("session {}: id already registered; dropping the connection", info_.id);
    return Finish(make_error_code(boost::system::errc::file_exists));
  }
  writer_.PushUnbounded(UpgradeResponse(client_key, info_.id, deflate));
  WriteQueued();
}

// ---- Transitions ----

void Session::OnUpgraded() {
  // A Close() during the upgrade already moved on to kCloseQueued.
  if (state_ == State::kUpgrading) state_ = State::kOpen;
  opened_ = true;
  last_heard_ = context_.clock.Now();
  JoinLiveList();
  spdlog::debug("session {} opened user='{}' from {}", info_.id, info_.user_id,
                info_.remote_address);
  // Registered first, announced second: a service that reacts to `opened` finds the session.
  ReportOpened();
  if (early_bytes_) {
    const std::unique_ptr<std::string> early = std::move(early_bytes_);
    Consume(early->data(), early->size());
  }
  WaitReadable();
}

void Session::OnPeerClose(uint16_t code, std::string_view reason) {
  // The reader delivers no frame after a close frame, so this runs at most once.
  switch (state_) {
    case State::kOpen: {
      // The browser closes: answer with its code right after the frame being written and the
      // pongs still owed (a ping that came in the same read as this close is answered first);
      // the messages queued will not be read any more.
      Closing& closing = EnsureClosing(CloseInitiator::kClient);
      closing.peer_code = code;
      closing.peer_reason.assign(reason);
      writer_.DiscardUnstarted();
      QueueCloseFrame(code, "");
      state_ = State::kAnswerQueued;
      return;
    }
    case State::kCloseQueued:
      // The answer to our close frame, which is not out yet: done once it is.
      closing_->peer_code = code;
      closing_->peer_reason.assign(reason);
      state_ = State::kAnswerQueued;
      return;
    case State::kCloseSent:
      // The answer to our close frame: the handshake is done.
      closing_->peer_code = code;
      closing_->peer_reason.assign(reason);
      return Teardown();
    case State::kUpgrading:
    case State::kAnswerQueued:
    case State::kFailing:
    case State::kLingering:
    case State::kDropped:
    case State::kFinished:
      return;  // nothing is read in these states
  }
}

void Session::StartClose(uint16_t code, std::string_view reason) {
  if (state_ != State::kOpen && state_ != State::kUpgrading) return;  // already closing
  EnsureClosing(CloseInitiator::kServer);
  // Queued behind the messages already accepted (and, while upgrading, the 101).
  QueueCloseFrame(code, reason);
  state_ = State::kCloseQueued;
}

void Session::OnProtocolError(ws::FrameReader::Error error, const char* detail) {
  uint16_t code = ws::kCloseProtocolError;
  std::string reason = "protocol error";
  switch (error) {
    case ws::FrameReader::Error::kTooBig:
      ReportError(SessionErrorCode::kMessageTooLarge,
                  "a message from the browser exceeded max_message_bytes (" +
                      std::to_string(context_.options.max_message_bytes) + ")");
      code = ws::kCloseTooBig;
      reason = "message too big";
      break;
    case ws::FrameReader::Error::kBadUtf8:
      ReportError(SessionErrorCode::kProtocolError, detail);
      code = ws::kCloseBadPayload;
      reason = "invalid UTF-8";
      break;
    case ws::FrameReader::Error::kProtocol:
    case ws::FrameReader::Error::kNone:
      ReportError(SessionErrorCode::kProtocolError, detail);
      break;
  }
  spdlog::debug("session {}: failing the connection: {}", info_.id, detail);
  // The connection is failed (RFC 6455 section 7.1.7): no need to wait for the browser's answer.
  switch (state_) {
    case State::kOpen:
      EnsureClosing(CloseInitiator::kServer);
      writer_.DiscardUnstarted();
      QueueCloseFrame(code, reason);
      state_ = State::kFailing;
      return;
    case State::kCloseQueued:
      state_ = State::kFailing;  // our close frame is already queued
      return;
    case State::kCloseSent:
      return LingeringClose();
    case State::kUpgrading:
    case State::kAnswerQueued:
    case State::kFailing:
    case State::kLingering:
    case State::kDropped:
    case State::kFinished:
      return;  // nothing is read in these states
  }
}

void Session::OnCloseFrameWritten() {
  switch (state_) {
    case State::kCloseQueued:
      state_ = State::kCloseSent;
      return;
    case State::kAnswerQueued:
      return Teardown();
    case State::kFailing:
      return LingeringClose();
    default:
      return;
  }
}

void Session::OnTransportError(error_code ec) {
  // End of stream or reset without a close frame (or after ours, while lingering).
  Finish(ec);
}

void Session::OnCloseDeadline() {
  if (state_ == State::kFinished) return;
  spdlog::info("session {}: close handshake timed out; dropping the connection", id());
  DropConnection(asio::error::timed_out);
}

void Session::OnIdle() {
  spdlog::debug("session {}: silent past the idle timeout; dropping the connection", info_.id);
  DropConnection(asio::error::timed_out);  // `closed` with initiator TRANSPORT
}

void Session::OnWriteTimeout() {
  context_.metrics.slow_consumer_closes.Add();
  ReportError(SessionErrorCode::kSlowConsumer,
              "a write to the browser made no progress for " +
                  absl::FormatDuration(context_.options.write_timeout) + " (--write_timeout)");
  writer_.DiscardUnstarted();
  StartClose(ws::kCloseTryAgainLater, "slow consumer");
}

void Session::OnSendQueueFull(const PayloadPtr& refused) {
  spdlog::info("session {}: send queue full ({} messages, {} bytes): closing as slow consumer",
               info_.id, writer_.size(), writer_.bytes());
  context_.metrics.slow_consumer_closes.Add();
  ReportError(SessionErrorCode::kSlowConsumer,
              "send queue full (" + std::to_string(writer_.size()) + " messages, " +
                  std::to_string(writer_.bytes()) + " bytes) with a message of " +
                  std::to_string(refused->bytes.size()) + " bytes waiting");
  // What is not on the wire yet will never be.
  writer_.DiscardUnstarted();
  StartClose(ws::kCloseTryAgainLater, "slow consumer");
}

// ---- Inbound ----

void Session::WaitReadable() {
  if (reading_ || Ended()) return;
  if (reader_.close_received()) return;  // the browser may send nothing after its close frame
  if (writer_.over_limits()) {
    // What the browser sends may make us queue more for it (pongs): not before it has taken
    // some of what waits. ResumeReading() picks up once the queue is back within its limits.
    read_paused_ = true;
    return;
  }
  reading_ = true;
  transport_.AsyncWaitReadable([self = shared_from_this()](error_code ec) {
    self->reading_ = false;
    self->OnReadable(ec);
  });
}

void Session::OnReadable(error_code ec) {
  if (Ended()) return;
  if (ec) return OnTransportError(ec);
  std::vector<char>& scratch = context_.read_scratch;
  if (scratch.size() < kReadScratchBytes) scratch.resize(kReadScratchBytes);
  for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
    const size_t bytes = transport_.ReadSome(asio::buffer(scratch), ec);
    if (WouldBlock(ec)) break;
    if (ec) return OnTransportError(ec);
    Consume(scratch.data(), bytes);
    if (Ended()) return;
    if (bytes < scratch.size() || writer_.over_limits()) break;
  }
  WaitReadable();
}

void Session::Consume(char* data, size_t size) {
  // Any bytes count as heard, not only whole frames: a browser in the middle of sending a large
  // message is not idle.
  last_heard_ = context_.clock.Now();
  // After a protocol failure the rest is read only to be discarded (see LingeringClose).
  if (reader_.error() != ws::FrameReader::Error::kNone) return;
  const ws::FrameReader::Error error =
      reader_.Feed(data, size, *this, deflate_window_bits_ != 0 ? &context_.inflater : nullptr);
  if (error != ws::FrameReader::Error::kNone) OnProtocolError(error, reader_.error_detail());
}

void Session::TakeInboundToken() {
  if (state_ != State::kOpen || inbound_rate_.TryTake(context_.clock.Now())) return;
  rate_limited_ = true;
  ReportError(SessionErrorCode::kRateLimited,
              "more than " + std::to_string(context_.options.client_messages_per_second) +
                  " messages and pings per second from the browser (burst " +
                  std::to_string(context_.options.client_messages_burst != 0
                                     ? context_.options.client_messages_burst
                                     : context_.options.client_messages_per_second) +
                  "; --client_messages_per_second, --client_messages_burst)");
  StartClose(ws::kClosePolicy, "rate limited");
}

void Session::OnMessage(bool text, std::string_view data) {
  ++counters_.messages_received;
  counters_.bytes_received += data.size();
  context_.metrics.messages_received.Add();
  context_.metrics.bytes_received.Add(data.size());
  TakeInboundToken();
  // Messages that arrive while the session closes are still the browser's words and are
  // forwarded, except the flood that got it closed for its rate.
  if (context_.options.forward_client_messages && !rate_limited_) {
    context_.events.Message(identity(), text, data);
  }
}

void Session::OnPing(std::string_view data) {
  // Every ping read is one that came before the browser's close frame (the reader delivers
  // nothing after it), so it is owed a pong (RFC 6455 5.5.2); but nothing may follow our own
  // close frame on the wire (5.5.1). A pong not yet started is replaced by the answer to the
  // newest ping (5.5.3), so however fast pings come, at most one pong waits. A ping costs a token
  // of the inbound rate like a message: past the rate, the session closes with 1008 (the pong owed
  // still goes ahead of that close).
  TakeInboundToken();
  switch (state_) {
    case State::kOpen: {
      PayloadPtr pong = MakePayload(Payload::Kind::kPong, std::string(data));
      if (!writer_.ReplaceUnstartedPong(pong)) writer_.PushUnbounded(std::move(pong));
      return ScheduleFlush();
    }
    case State::kCloseQueued: {
      // Our close frame waits at the back of the queue: the pong goes just ahead of it, unless
      // the close frame is already partly written (then, as in kCloseSent, no pong).
      PayloadPtr pong = MakePayload(Payload::Kind::kPong, std::string(data));
      if (writer_.ReplaceUnstartedPong(pong) || writer_.PushAheadOfClose(std::move(pong))) {
        ScheduleFlush();
      }
      return;
    }
    case State::kCloseSent:
      // Our close frame is on the wire: the ping goes unanswered, and the browser's close that
      // should follow it still completes the handshake.
      return;
    case State::kUpgrading:
    case State::kAnswerQueued:
    case State::kFailing:
    case State::kLingering:
    case State::kDropped:
    case State::kFinished:
      return;  // nothing is read in these states
  }
}

void Session::OnPong(std::string_view /*data*/) {}  // heard: Consume noted the bytes

void Session::OnClose(uint16_t code, std::string_view reason) { OnPeerClose(code, reason); }

// ---- Outbound ----

DeliveryOutcome Session::Deliver(const PayloadPtr& payload) {
  WSBRIDGE_ASSERT_ON(context_.thread);
  if (state_ != State::kOpen && state_ != State::kUpgrading) return DeliveryOutcome::kDropped;
  // With deflate, the shared compressed twin of the message, made by the first session of any
  // thread that needs it. Small messages stay plain (compressing them saves little and costs
  // CPU), and so do messages too long for the window this browser allowed.
  const PayloadPtr* frame = &payload;
  PayloadPtr deflated;
  if (deflate_window_bits_ != 0 && payload->is_message() &&
      payload->bytes.size() >= context_.options.compression.min_bytes &&
      ws::FitsServerWindow(payload->bytes.size(), deflate_window_bits_)) {
    deflated = payload->Deflated(payload, context_.deflater);
    frame = &deflated;
  }
  if (!writer_.TryPush(*frame)) {
    context_.metrics.queue_drops.Add();
    OnSendQueueFull(*frame);
    return DeliveryOutcome::kDropped;
  }
  ScheduleFlush();
  return DeliveryOutcome::kQueued;
}

void Session::ScheduleFlush() {
  if (flush_scheduled_ || writing_ || Ended()) return;
  flush_scheduled_ = true;
  context_.flusher.Schedule(context_.thread, shared_from_this());
}

void Session::Flush() {
  WSBRIDGE_ASSERT_ON(context_.thread);
  flush_scheduled_ = false;
  if (writing_ || Ended()) return;
  if (state_ == State::kOpen) {
    ApplyCoalescing(coalescing_.BeforeMessageWrite(context_.clock.Now(),
                                                   ToSteady(context_.options.coalesce_gap)));
  }
  WriteQueued();
}

void Session::ApplyCoalescing(ws::StreamCoalescing::Change change) {
  switch (change) {
    case ws::StreamCoalescing::Change::kNone:
      return;
    case ws::StreamCoalescing::Change::kStartCoalescing:
      ws::SetSendAtOnce(transport_.socket(), false);
      if (!coalescing_watched_) {
        coalescing_watched_ = true;
        context_.coalescing.Watch(context_.thread, weak_from_this(),
                                  ToSteady(context_.options.coalesce_max_hold));
      }
      return;
    case ws::StreamCoalescing::Change::kSendAtOnce:
      ws::SetSendAtOnce(transport_.socket(), true);
      return;
  }
}

bool Session::SweepCoalescing() {
  WSBRIDGE_ASSERT_ON(context_.thread);
  if (!Ended()) {
    ApplyCoalescing(coalescing_.OnSweep(context_.clock.Now(),
                                        ToSteady(context_.options.coalesce_gap),
                                        /*closing=*/state_ != State::kOpen));
    if (coalescing_.coalescing()) {
      ws::PushHeldFrames(transport_.socket(), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  ToSteady(context_.options.coalesce_max_hold)));
      return true;
    }
  }
  coalescing_watched_ = false;
  return false;
}

void Session::WriteQueued() {
  TransportSink sink(transport_);
  error_code ec;
  // The time the frames of this write reached the socket, read once per write (not per frame)
  // and only if a message in it is measured.
  Clock::TimePoint written_at{};
  ws::FrameWriter::Outcome outcome = writer_.Write(
      sink,
      [this, &written_at](Payload::Kind kind, size_t bytes, Payload::TimePoint accepted_at) {
        if (accepted_at != Payload::TimePoint{}) {
          if (written_at == Clock::TimePoint{}) written_at = context_.clock.Now();
          context_.metrics.delivery_latency.Observe(
              std::chrono::duration<double>(written_at - accepted_at).count());
        }
        return OnFrameWritten(kind, bytes);
      },
      ec);
  if (read_paused_ && outcome != ws::FrameWriter::Outcome::kFailed && !Ended() &&
      !writer_.over_limits()) {
    read_paused_ = false;
    WaitReadable();
  }
  // TLS: the writer's bytes are taken, but their ciphertext may still wait for the socket.
  if (outcome == ws::FrameWriter::Outcome::kDrained && transport_.has_pending_output() &&
      !Ended()) {
    outcome = transport_.FlushPendingOutput(ec) ? ws::FrameWriter::Outcome::kDrained
              : ec                              ? ws::FrameWriter::Outcome::kFailed
                                                : ws::FrameWriter::Outcome::kBlocked;
    if (outcome == ws::FrameWriter::Outcome::kBlocked) ec.clear();
  }
  switch (outcome) {
    case ws::FrameWriter::Outcome::kDrained:
    case ws::FrameWriter::Outcome::kStopped:
      return;
    case ws::FrameWriter::Outcome::kFailed:
      spdlog::debug("session {}: write failed: {}", info_.id, ec.message());
      return DropConnection(ec);
    case ws::FrameWriter::Outcome::kBlocked:
      break;
  }
  if (writing_) return;
  // The socket takes no more for now: continue when it is writable again.
  writing_ = true;
  write_blocked_since_ = context_.clock.Now();
  transport_.AsyncWaitWritable([self = shared_from_this()](error_code wait) {
    self->writing_ = false;
    if (wait || self->Ended()) return;
    self->WriteQueued();
  });
}

bool Session::OnFrameWritten(Payload::Kind kind, size_t bytes) {
  switch (kind) {
    case Payload::Kind::kText:
    case Payload::Kind::kBinary:
      ++counters_.messages_sent;
      counters_.bytes_sent += bytes;
      context_.metrics.messages_sent.Add();
      context_.metrics.bytes_sent.Add(bytes);
      break;
    case Payload::Kind::kHandshake:
      OnUpgraded();
      break;
    case Payload::Kind::kClose:
      OnCloseFrameWritten();
      break;
    case Payload::Kind::kPing:
    case Payload::Kind::kPong:
      break;
  }
  return !Ended();
}

// ---- Closing ----

Session::Closing& Session::EnsureClosing(CloseInitiator initiator) {
  if (closing_) return *closing_;
  closing_ = std::make_unique<Closing>(context_.thread.Make<asio::steady_timer>());
  closing_->initiator = initiator;
  closing_->deadline.expires_after(ToSteady(context_.options.close_timeout));
  closing_->deadline.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->OnCloseDeadline();
  });
  return *closing_;
}

void Session::QueueCloseFrame(uint16_t code, std::string_view reason) {
  closing_->code = code;
  closing_->reason.assign(reason);
  writer_.PushUnbounded(MakePayload(Payload::Kind::kClose, ws::EncodeCloseBody(code, reason)));
  // The close frame leaves at once, with whatever the kernel still held for coalescing.
  ApplyCoalescing(coalescing_.OnSweep(context_.clock.Now(), ToSteady(context_.options.coalesce_gap),
                                      /*closing=*/true));
  ScheduleFlush();
}

void Session::Close(uint16_t code, absl::string_view reason) {
  WSBRIDGE_ASSERT_ON(context_.thread);
  StartClose(code, std::string_view(reason.data(), reason.size()));
}

void Session::Teardown() {
  // Both close frames are exchanged: the server closes the TCP connection first (RFC 6455 7.1.1).
  error_code ignored;
  transport_.ShutdownSend(ignored);
  if (transport_.has_pending_output()) return FlushTransportThen(/*then_drop=*/true);
  DropConnection(asio::error::eof);
}

void Session::LingeringClose() {
  // Closing a socket with unread bytes (the rest of a bad frame) would reset the connection and
  // could destroy the close frame before the browser reads it. So only our direction is shut
  // down; what the browser still sends is read and discarded until it closes too or the close
  // deadline drops the socket.
  state_ = State::kLingering;
  error_code ignored;
  transport_.ShutdownSend(ignored);
  if (transport_.has_pending_output()) FlushTransportThen(/*then_drop=*/false);
  WaitReadable();
}

void Session::FlushTransportThen(bool then_drop) {
  if (Ended()) return;
  if (writing_) {
    // WriteQueued already waits for the socket and flushes then. To drop: the browser answered
    // our close frame, so it read that much; only the close_notify after it is lost.
    if (then_drop) DropConnection(asio::error::eof);
    return;
  }
  writing_ = true;
  transport_.AsyncWaitWritable([self = shared_from_this(), then_drop](error_code wait) {
    self->writing_ = false;
    if (self->Ended()) return;
    error_code ec = wait;
    if (!ec && !self->transport_.FlushPendingOutput(ec) && ec == asio::error::would_block) {
      return self->FlushTransportThen(then_drop);
    }
    if (ec || then_drop) self->DropConnection(ec ? ec : error_code(asio::error::eof));
  });
}

void Session::DropConnection(error_code why) {
  if (Ended()) return;
  state_ = State::kDropped;
  error_code ignored;
  transport_.Close(ignored);
  // Finished from a handler of its own: the caller may be walking a list of sessions.
  context_.thread.Post([self = shared_from_this(), why] { self->Finish(why); });
}

void Session::Finish(error_code ec) {
  if (state_ == State::kFinished) return;
  const bool socket_open = state_ != State::kDropped;
  state_ = State::kFinished;
  if (opened_) LeaveLiveList();
  UnregisterFromHub();
  if (closing_) closing_->deadline.cancel();
  writer_.Clear();
  if (socket_open) {
    error_code ignored;
    transport_.Close(ignored);
  }
  if (opened_) ReportClosed(ec);  // never opened: no events
  // Last: after leaving the index (see hub/connection_limiter.h) and after `closed` is reported,
  // so a drain that waits for every slot to come back has every `closed` event in the bus.
  slot_.Release();
}

// ---- Liveness ----

void Session::CheckLiveness(Clock::TimePoint now) {
  WSBRIDGE_ASSERT_ON(context_.thread);
  if (state_ == State::kUpgrading || Ended()) return;
  const SessionOptions& options = context_.options;
  const auto silent = now - last_heard_;
  if (options.idle_timeout > absl::ZeroDuration() && silent >= ToSteady(options.idle_timeout)) {
    return OnIdle();
  }
  if (state_ == State::kOpen && writing_ &&
      now - write_blocked_since_ >= ToSteady(options.write_timeout)) {
    return OnWriteTimeout();
  }
  if (state_ != State::kOpen || options.ping_interval <= absl::ZeroDuration()) return;
  const auto interval = ToSteady(options.ping_interval);
  if (silent < interval || now - last_ping_ < interval) return;
  last_ping_ = now;
  writer_.PushUnbounded(MakePayload(Payload::Kind::kPing, std::string()));
  ScheduleFlush();
}

// ---- Registration, liveness list, counters and events ----

bool Session::RegisterInHub() {
  registered_ =
      context_.hub.Register(context_.thread.index(), info_, std::move(initial_topics_), this);
  return registered_;
}

void Session::UnregisterFromHub() {
  if (!registered_) return;
  context_.hub.Unregister(context_.thread.index(), info_.id);
  registered_ = false;
}

void Session::JoinLiveList() {
  live_index_ = context_.live_sessions.size();
  context_.live_sessions.push_back(this);
}

void Session::LeaveLiveList() {
  // Swap with the last one.
  auto& live = context_.live_sessions;
  live[live_index_] = live.back();
  live[live_index_]->live_index_ = live_index_;
  live.pop_back();
}

SessionCounters Session::Counters() const {
  WSBRIDGE_ASSERT_ON(context_.thread);
  SessionCounters counters = counters_;
  counters.queued_messages = static_cast<uint32_t>(writer_.size());
  counters.queued_bytes = writer_.bytes();
  return counters;
}

void Session::ReportOpened() {
  const RoutingIndex::Entry* entry = context_.hub.shard(context_.thread.index()).Find(info_.id);
  const std::span<const std::string> topics = entry != nullptr
                                                  ? std::span<const std::string>(entry->topics)
                                                  : std::span<const std::string>();
  context_.metrics.sessions_opened.Add();
  context_.events.Opened(identity(), info_.remote_address, topics, info_.metadata);
}

void Session::ReportError(SessionErrorCode code, std::string detail) {
  context_.events.Error(identity(), code, std::move(detail));
}

void Session::ReportClosed(error_code ec) {
  // Exactly one `closed` per opened session, saying who ended it and how. A close we started
  // (Disconnect, slow consumer, drain, a protocol failure) is ours whether or not the browser
  // answered in time.
  CloseInitiator initiator = CloseInitiator::kTransport;
  uint16_t code = ws::kCloseAbnormal;
  std::string reason;
  if (closing_ && closing_->initiator == CloseInitiator::kServer) {
    initiator = CloseInitiator::kServer;
    code = closing_->code;
    reason = closing_->reason;
  } else if (closing_) {
    initiator = CloseInitiator::kClient;
    code = closing_->peer_code;
    reason = closing_->peer_reason;
  } else {
    reason = ec.message();
  }
  spdlog::debug("session {} closed: code {} '{}' initiator {}", info_.id, code, reason,
                InitiatorName(initiator));
  context_.metrics.CountClose(
      code, initiator == CloseInitiator::kClient   ? metrics::CloseSide::kClient
            : initiator == CloseInitiator::kServer ? metrics::CloseSide::kServer
                                                   : metrics::CloseSide::kTransport);
  context_.events.Closed(identity(), code, reason, initiator);
}

}  // namespace wsbridge
