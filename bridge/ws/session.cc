#include "ws/session.h"

#include <algorithm>
#include <array>
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
// Frames gathered into one write (two buffers each: header and body).
constexpr size_t kMaxFramesPerWrite = 64;

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

bool WouldBlock(const error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

PayloadPtr UpgradeResponse(std::string_view client_key, const std::string& session_id) {
  return MakePayload(Payload::Kind::kHandshake,
                     absl::StrCat("HTTP/1.1 101 Switching Protocols\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Accept: ",
                                  ws::ComputeAcceptKey(client_key),
                                  "\r\n"
                                  "Server: wsbridge\r\n",
                                  kSessionIdHeader, ": ", session_id, "\r\n\r\n"));
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, SessionContext& context, SessionInfo info,
                 std::vector<std::string> topics)
    : socket_(std::move(socket)),
      context_(context),
      info_(std::move(info)),
      initial_topics_(std::move(topics)),
      queue_(context.options.send_queue),
      reader_(context.options.max_message_bytes),
      inbound_rate_(context.options.client_messages_per_second,
                    context.options.client_messages_burst, TokenBucket::Clock::now()) {}

Session::~Session() = default;

void Session::Accept(std::string_view client_key, std::string early_bytes) {
  error_code ignored;
  // Reads and writes are attempted directly and only wait when the socket is not ready.
  socket_.non_blocking(true, ignored);
  if (!early_bytes.empty()) early_bytes_ = std::make_unique<std::string>(std::move(early_bytes));
  // Routable before the browser sees the 101: a call made as soon as the browser (or a client
  // reading X-Wsbridge-Session-Id) is connected finds the session. What is pushed during the
  // upgrade is queued behind the 101 and leaves right after it.
  if (!context_.hub.Register(context_.thread.index(), info_, std::move(initial_topics_), this)) {
    spdlog::error("session {}: id already registered; dropping the connection", info_.id);
    return Finish(make_error_code(boost::system::errc::file_exists));
  }
  registered_ = true;
  queue_.PushUnbounded(UpgradeResponse(client_key, info_.id));
  WriteQueued();
}

void Session::OnUpgraded() {
  state_ = closing_ ? State::kClosing : State::kOpen;
  opened_ = true;
  last_heard_ = TokenBucket::Clock::now();
  live_index_ = context_.live_sessions.size();
  context_.live_sessions.push_back(this);
  spdlog::debug("session {} opened user='{}' from {}", info_.id, info_.user_id,
                info_.remote_address);
  // Registered first, announced second: a service that reacts to `opened` finds the session.
  v1::Event event = NewEvent();
  v1::SessionOpened* opened = event.mutable_opened();
  opened->set_remote_address(info_.remote_address);
  if (const RoutingIndex::Entry* entry = context_.hub.shard(context_.thread.index()).Find(info_.id); entry != nullptr) {
    for (const std::string& topic : entry->topics) opened->add_topics(topic);
  }
  opened->mutable_metadata()->insert(info_.metadata.begin(), info_.metadata.end());
  context_.events.Publish(std::move(event));
  if (early_bytes_) {
    const std::unique_ptr<std::string> early = std::move(early_bytes_);
    Consume(early->data(), early->size());
  }
  WaitReadable();
}

// ---- Inbound ----

void Session::WaitReadable() {
  if (reading_ || dropped_ || state_ == State::kFinished) return;
  if (reader_.close_received()) return;  // the browser may send nothing after its close frame
  reading_ = true;
  socket_.async_wait(asio::ip::tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
    self->reading_ = false;
    self->OnReadable(ec);
  });
}

void Session::OnReadable(error_code ec) {
  if (state_ == State::kFinished || dropped_) return;
  if (ec) return Finish(ec);
  std::vector<char>& scratch = context_.read_scratch;
  if (scratch.size() < kReadScratchBytes) scratch.resize(kReadScratchBytes);
  for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
    const size_t bytes = socket_.read_some(asio::buffer(scratch), ec);
    if (WouldBlock(ec)) break;
    if (ec) return Finish(ec);  // end of stream or reset without a close frame
    Consume(scratch.data(), bytes);
    if (state_ == State::kFinished || dropped_) return;
    if (bytes < scratch.size()) break;
  }
  WaitReadable();
}

void Session::Consume(char* data, size_t size) {
  // After a protocol failure the rest is read only to be discarded (see FailConnection).
  if (reader_.error() != ws::FrameReader::Error::kNone) return;
  const ws::FrameReader::Error error = reader_.Feed(data, size, *this);
  if (error != ws::FrameReader::Error::kNone) FailConnection(error, reader_.error_detail());
}

void Session::OnMessage(bool text, std::string_view data) {
  const auto now = TokenBucket::Clock::now();
  last_heard_ = now;
  ++counters_.messages_received;
  counters_.bytes_received += data.size();
  if (state_ == State::kOpen && !inbound_rate_.TryTake(now)) {
    rate_limited_ = true;
    PublishError(v1::ERROR_CODE_RATE_LIMITED,
                 "more than " + std::to_string(context_.options.client_messages_per_second) +
                     " messages per second from the browser");
    Close(ws::kClosePolicy, "rate limited");
  }
  // Messages that arrive while the session closes are still the browser's words and are
  // forwarded, except the flood that got it closed for its rate.
  if (context_.options.forward_client_messages && !rate_limited_) {
    v1::Event event = NewEvent();
    v1::Message* message = event.mutable_message()->mutable_message();
    if (text) {
      message->set_text(data.data(), data.size());
    } else {
      message->set_binary(data.data(), data.size());
    }
    context_.events.Publish(std::move(event));
  }
}

void Session::OnPing(std::string_view data) {
  last_heard_ = TokenBucket::Clock::now();
  if (closing_) return;  // nothing may follow our close frame
  queue_.PushUnbounded(MakePayload(Payload::Kind::kPong, std::string(data)));
  ScheduleFlush();
}

void Session::OnPong(std::string_view /*data*/) { last_heard_ = TokenBucket::Clock::now(); }

void Session::OnClose(uint16_t code, std::string_view reason) {
  last_heard_ = TokenBucket::Clock::now();
  if (closing_ && closing_->server_initiated) {
    // The answer to our close frame: the handshake is done once ours is on the wire.
    closing_->peer_closed = true;
    closing_->peer_code = code;
    closing_->peer_reason.assign(reason);
    if (closing_->frame_sent) Teardown();
    return;
  }
  // The browser closes: answer with its code right after the frame being written; what is
  // queued behind that frame will not be read any more.
  Closing& closing = EnsureClosing();
  closing.peer_closed = true;
  closing.peer_code = code;
  closing.peer_reason.assign(reason);
  queue_.Truncate(front_written_ > 0 ? 1 : 0);
  QueueCloseFrame(code, "");
  state_ = State::kClosing;
}

void Session::FailConnection(ws::FrameReader::Error error, const char* detail) {
  uint16_t code = ws::kCloseProtocolError;
  std::string reason = "protocol error";
  switch (error) {
    case ws::FrameReader::Error::kTooBig:
      PublishError(v1::ERROR_CODE_MESSAGE_TOO_LARGE,
                   "a message from the browser exceeded max_message_bytes (" +
                       std::to_string(context_.options.max_message_bytes) + ")");
      code = ws::kCloseTooBig;
      reason = "message too big";
      break;
    case ws::FrameReader::Error::kBadUtf8:
      PublishError(v1::ERROR_CODE_PROTOCOL_ERROR, detail);
      code = ws::kCloseBadPayload;
      reason = "invalid UTF-8";
      break;
    case ws::FrameReader::Error::kProtocol:
    case ws::FrameReader::Error::kNone:
      PublishError(v1::ERROR_CODE_PROTOCOL_ERROR, detail);
      break;
  }
  spdlog::debug("session {}: failing the connection: {}", info_.id, detail);
  if (!closing_) {
    Closing& closing = EnsureClosing();
    closing.server_initiated = true;
    queue_.Truncate(front_written_ > 0 ? 1 : 0);
    QueueCloseFrame(code, reason);
    state_ = State::kClosing;
  }
  // The connection is failed (RFC 6455 section 7.1.7): no need to wait for the browser's answer.
  closing_->drop_after_sent = true;
  if (closing_->frame_sent) LingeringClose();
}

void Session::LingeringClose() {
  // Closing a socket with unread bytes (the rest of a bad frame) would reset the connection and
  // could destroy the close frame before the browser reads it. So only our direction is shut
  // down; what the browser still sends is read and discarded until it closes too or the close
  // deadline drops the socket.
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  WaitReadable();
}

// ---- Outbound ----

DeliveryOutcome Session::Deliver(const PayloadPtr& payload) {
  const bool accepting = state_ == State::kOpen || (state_ == State::kUpgrading && !closing_);
  if (!accepting) return DeliveryOutcome::kDropped;
  if (!queue_.TryPush(payload)) {
    spdlog::info("session {}: send queue full ({} messages, {} bytes): closing as slow consumer",
                 info_.id, queue_.size(), queue_.bytes());
    PublishError(v1::ERROR_CODE_SLOW_CONSUMER,
                 "send queue full (" + std::to_string(queue_.size()) + " messages, " +
                     std::to_string(queue_.bytes()) + " bytes) with a message of " +
                     std::to_string(payload->bytes.size()) + " bytes waiting");
    // What is not on the wire yet will never be: keep only a frame already started (or the
    // upgrade response).
    const bool keep_front = front_written_ > 0 || queue_.front()->kind == Payload::Kind::kHandshake;
    queue_.Truncate(keep_front ? 1 : 0);
    Close(ws::kCloseTryAgainLater, "slow consumer");
    return DeliveryOutcome::kDropped;
  }
  ScheduleFlush();
  return DeliveryOutcome::kQueued;
}

void Session::ScheduleFlush() {
  if (flush_scheduled_ || writing_ || dropped_ || state_ == State::kFinished) return;
  flush_scheduled_ = true;
  context_.flusher.Schedule(context_.thread, shared_from_this());
}

void Session::Flush() {
  flush_scheduled_ = false;
  if (writing_ || dropped_ || state_ == State::kFinished) return;
  WriteQueued();
}

void Session::WriteQueued() {
  while (!queue_.empty()) {
    // Gather up to kMaxFramesPerWrite frames, the first one from where the last write stopped.
    std::array<asio::const_buffer, 2 * kMaxFramesPerWrite> buffers;
    size_t buffer_count = 0;
    size_t total = 0;
    const size_t frames = std::min(queue_.size(), kMaxFramesPerWrite);
    for (size_t i = 0; i < frames; ++i) {
      const Payload& payload = *queue_.at(i);
      size_t skip = i == 0 ? front_written_ : 0;
      const std::string_view header = payload.header();
      if (skip < header.size()) {
        buffers[buffer_count++] = asio::buffer(header.data() + skip, header.size() - skip);
        skip = 0;
      } else {
        skip -= header.size();
      }
      if (payload.bytes.size() > skip) {
        buffers[buffer_count++] =
            asio::buffer(payload.bytes.data() + skip, payload.bytes.size() - skip);
      }
      total += payload.wire_size() - (i == 0 ? front_written_ : 0);
    }
    error_code ec;
    const size_t written =
        socket_.write_some(std::span<const asio::const_buffer>(buffers.data(), buffer_count), ec);
    if (WouldBlock(ec)) break;
    if (ec) {
      spdlog::debug("session {}: write failed: {}", info_.id, ec.message());
      return DropConnection(ec);
    }
    // Pop every frame now fully on the wire.
    size_t left = written;
    while (left > 0) {
      const size_t remaining = queue_.front()->wire_size() - front_written_;
      if (left < remaining) {
        front_written_ += left;
        break;
      }
      left -= remaining;
      front_written_ = 0;
      const Payload::Kind kind = queue_.front()->kind;
      const size_t bytes = queue_.front()->bytes.size();
      queue_.PopFront();
      OnFrameWritten(kind, bytes);
      if (dropped_ || state_ == State::kFinished) return;
    }
    if (written < total) break;  // the socket is full
  }
  if (queue_.empty() || writing_) return;
  // The socket takes no more for now: continue when it is writable again.
  writing_ = true;
  write_blocked_since_ = TokenBucket::Clock::now();
  socket_.async_wait(asio::ip::tcp::socket::wait_write, [self = shared_from_this()](error_code ec) {
    self->writing_ = false;
    if (ec || self->dropped_ || self->state_ == State::kFinished) return;
    self->WriteQueued();
  });
}

void Session::OnFrameWritten(Payload::Kind kind, size_t bytes) {
  switch (kind) {
    case Payload::Kind::kText:
    case Payload::Kind::kBinary:
      ++counters_.messages_sent;
      counters_.bytes_sent += bytes;
      break;
    case Payload::Kind::kHandshake:
      OnUpgraded();
      break;
    case Payload::Kind::kClose:
      closing_->frame_sent = true;
      if (closing_->drop_after_sent) {
        LingeringClose();
      } else if (closing_->peer_closed) {
        Teardown();
      }
      break;
    case Payload::Kind::kPing:
    case Payload::Kind::kPong:
      break;
  }
}

// ---- Closing ----

Session::Closing& Session::EnsureClosing() {
  if (closing_) return *closing_;
  closing_ = std::make_unique<Closing>(context_.thread.Make<asio::steady_timer>());
  closing_->deadline.expires_after(ToSteady(context_.options.close_timeout));
  closing_->deadline.async_wait([self = shared_from_this()](error_code ec) {
    if (ec || self->state_ == State::kFinished) return;
    spdlog::info("session {}: close handshake timed out; dropping the connection", self->id());
    self->DropConnection(asio::error::timed_out);
  });
  return *closing_;
}

void Session::QueueCloseFrame(uint16_t code, std::string_view reason) {
  closing_->code = code;
  closing_->reason.assign(reason);
  queue_.PushUnbounded(MakePayload(Payload::Kind::kClose, ws::EncodeCloseBody(code, reason)));
  ScheduleFlush();
}

void Session::Close(uint16_t code, absl::string_view reason) {
  if (closing_) return;  // already closing
  if (state_ != State::kOpen && state_ != State::kUpgrading) return;
  Closing& closing = EnsureClosing();
  closing.server_initiated = true;
  // Queued behind the messages already accepted (and, while upgrading, the 101).
  QueueCloseFrame(code, std::string_view(reason.data(), reason.size()));
  if (state_ == State::kOpen) state_ = State::kClosing;
}

void Session::Teardown() {
  // Both close frames are exchanged: the server closes the TCP connection first (RFC 6455 7.1.1).
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  DropConnection(asio::error::eof);
}

void Session::DropConnection(error_code why) {
  if (dropped_) return;
  dropped_ = true;
  error_code ignored;
  socket_.close(ignored);
  // Finished from a handler of its own: the caller may be walking a list of sessions.
  context_.thread.Post([self = shared_from_this(), why] { self->Finish(why); });
}

SessionCounters Session::Counters() const {
  SessionCounters counters = counters_;
  counters.queued_messages = static_cast<uint32_t>(queue_.size());
  counters.queued_bytes = queue_.bytes();
  return counters;
}

v1::Event Session::NewEvent() const {
  v1::Event event;
  event.set_session_id(info_.id);
  event.set_user_id(info_.user_id);
  return event;
}

void Session::PublishError(v1::ErrorCode code, std::string detail) {
  v1::Event event = NewEvent();
  event.mutable_error()->set_code(code);
  event.mutable_error()->set_detail(std::move(detail));
  context_.events.Publish(std::move(event));
}

void Session::CheckLiveness(TokenBucket::Clock::time_point now) {
  if (state_ != State::kOpen && state_ != State::kClosing) return;
  if (dropped_) return;
  const SessionOptions& options = context_.options;
  const auto silent = now - last_heard_;
  if (options.idle_timeout > absl::ZeroDuration() && silent >= ToSteady(options.idle_timeout)) {
    spdlog::debug("session {}: silent past the idle timeout; dropping the connection", info_.id);
    return DropConnection(asio::error::timed_out);  // `closed` with initiator TRANSPORT
  }
  if (state_ == State::kOpen && writing_ &&
      now - write_blocked_since_ >= ToSteady(options.write_timeout)) {
    PublishError(v1::ERROR_CODE_SLOW_CONSUMER, "a write to the browser made no progress for " +
                                                   absl::FormatDuration(options.write_timeout) +
                                                   " (--write_timeout)");
    queue_.Truncate(front_written_ > 0 ? 1 : 0);  // keep only a frame already started
    return Close(ws::kCloseTryAgainLater, "slow consumer");
  }
  if (state_ != State::kOpen || options.ping_interval <= absl::ZeroDuration()) return;
  const auto interval = ToSteady(options.ping_interval);
  if (silent < interval || now - last_ping_ < interval) return;
  last_ping_ = now;
  queue_.PushUnbounded(MakePayload(Payload::Kind::kPing, std::string()));
  ScheduleFlush();
}

void Session::Finish(error_code ec) {
  if (state_ == State::kFinished) return;
  if (opened_) {
    // Leave the liveness list: swap with the last one.
    auto& live = context_.live_sessions;
    live[live_index_] = live.back();
    live[live_index_]->live_index_ = live_index_;
    live.pop_back();
  }
  const bool was_open = opened_;
  state_ = State::kFinished;
  if (registered_) {
    context_.hub.Unregister(context_.thread.index(), info_.id);
    registered_ = false;
  }
  context_.limiter.Release(info_.user_id);
  if (closing_) closing_->deadline.cancel();
  queue_.Truncate(0);
  if (!dropped_) {
    dropped_ = true;
    error_code ignored;
    socket_.close(ignored);
  }
  if (!was_open) return;  // never opened: no events

  // Exactly one `closed` per opened session, saying who ended it and how.
  v1::SessionClosed closed;
  if (closing_ && closing_->server_initiated) {
    // Disconnect, slow consumer, drain, a protocol failure: ours, whether or not the browser
    // answered in time.
    closed.set_initiator(v1::INITIATOR_SERVER);
    closed.set_code(closing_->code);
    closed.set_reason(closing_->reason);
  } else if (closing_ && closing_->peer_closed) {
    closed.set_initiator(v1::INITIATOR_CLIENT);
    closed.set_code(closing_->peer_code);
    closed.set_reason(closing_->peer_reason);
  } else {
    closed.set_initiator(v1::INITIATOR_TRANSPORT);
    closed.set_code(ws::kCloseAbnormal);
    closed.set_reason(ec.message());
  }
  spdlog::debug("session {} closed: code {} '{}' initiator {}", info_.id, closed.code(),
                closed.reason(), v1::Initiator_Name(closed.initiator()));
  v1::Event event = NewEvent();
  *event.mutable_closed() = std::move(closed);
  context_.events.Publish(std::move(event));
}

}  // namespace wsbridge
