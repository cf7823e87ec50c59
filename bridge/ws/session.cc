#include "ws/session.h"
#include "absl/strings/string_view.h"

#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket/error.hpp>

#include "spdlog/spdlog.h"

namespace wsbridge {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;

namespace {

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

}  // namespace

Session::Session(boost::asio::ip::tcp::socket socket, SessionContext& context, SessionInfo info,
                 std::vector<std::string> topics)
    : ws_(std::move(socket)),
      context_(context),
      info_(std::move(info)),
      initial_topics_(std::move(topics)),
      queue_(context.limits.send_queue),
      inbound_rate_(context.limits.client_messages_per_second, context.limits.client_messages_burst,
                    TokenBucket::Clock::now()) {}

Session::~Session() = default;

void Session::Accept(UpgradeRequest request) {
  const SessionLimits& limits = context_.limits;
  // Beast times the upgrade and the close handshake; silence is the LivenessSweeper's job, so
  // pings and the idle timeout follow --ping_interval and --idle_timeout exactly.
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = ToSteady(limits.handshake_timeout);
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws_.set_option(timeouts);
  // The session id travels in the 101 response, for clients that can read it (not browsers):
  // frames themselves carry only the pushed bytes.
  ws_.set_option(
      websocket::stream_base::decorator([id = info_.id](websocket::response_type& response) {
        response.set(beast::http::field::server, "wsbridge");
        response.set(kSessionIdHeader, id);
      }));
  ws_.read_message_max(limits.max_message_bytes);
  // One pushed message leaves as one frame.
  ws_.auto_fragment(false);
  // Routable before the browser sees the 101: a call made as soon as the browser (or a client
  // reading X-Wsbridge-Session-Id) is connected finds the session. What is pushed during the
  // upgrade waits in the queue and is written once the upgrade completes.
  if (!context_.routing.Add(info_, std::move(initial_topics_), this)) {
    spdlog::error("session {}: id already registered; dropping the connection", info_.id);
    return Finish(make_error_code(boost::system::errc::file_exists));
  }
  registered_ = true;
  // Beast builds the 101 response from `request` before this call returns.
  ws_.async_accept(request, beast::bind_front_handler(&Session::OnAccept, shared_from_this()));
}

void Session::OnAccept(beast::error_code ec) {
  if (ec) {
    spdlog::debug("session {}: upgrade failed: {}", info_.id, ec.message());
    return Finish(ec);
  }
  state_ = State::kOpen;
  opened_ = true;
  last_heard_ = TokenBucket::Clock::now();
  live_index_ = context_.live_sessions.size();
  context_.live_sessions.push_back(this);
  // Pings, pongs and close frames from the browser count as signs of life.
  ws_.control_callback([this](websocket::frame_type, beast::string_view) {
    last_heard_ = TokenBucket::Clock::now();
  });
  spdlog::debug("session {} opened user='{}' from {}", info_.id, info_.user_id,
                info_.remote_address);
  // Registered first, announced second: a service that reacts to `opened` finds the session.
  v1::Event event = NewEvent();
  v1::SessionOpened* opened = event.mutable_opened();
  opened->set_remote_address(info_.remote_address);
  if (const RoutingIndex::Entry* entry = context_.routing.Find(info_.id); entry != nullptr) {
    for (const std::string& topic : entry->topics) opened->add_topics(topic);
  }
  opened->mutable_metadata()->insert(info_.metadata.begin(), info_.metadata.end());
  context_.events.Publish(std::move(event));
  DoRead();
  if (close_requested_during_upgrade_) {
    close_requested_during_upgrade_ = false;
    const std::string reason(close_reason_.reason.data(), close_reason_.reason.size());
    Close(static_cast<uint16_t>(close_reason_.code), reason);
  } else if (!queue_.empty() && !writing_) {
    DoWrite();
  }
}

void Session::DoRead() {
  ws_.async_read(read_buffer_, beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(beast::error_code ec, std::size_t bytes) {
  if (ec) return Finish(ec);
  const auto now = TokenBucket::Clock::now();
  last_heard_ = now;
  ++counters_.messages_received;
  counters_.bytes_received += bytes;
  if (state_ == State::kOpen && !inbound_rate_.TryTake(now)) {
    rate_limited_ = true;
    PublishError(v1::ERROR_CODE_RATE_LIMITED,
                 "more than " + std::to_string(context_.limits.client_messages_per_second) +
                     " messages per second from the browser");
    Close(static_cast<uint16_t>(websocket::close_code::policy_error), "rate limited");
  }
  // Frames that arrive while the session closes are still the browser's words and are
  // forwarded, except the flood that got it closed for its rate.
  if (context_.limits.forward_client_messages && !rate_limited_) {
    v1::Event event = NewEvent();
    v1::Message* message = event.mutable_message()->mutable_message();
    if (ws_.got_text()) {
      message->set_text(beast::buffers_to_string(read_buffer_.data()));
    } else {
      message->set_binary(beast::buffers_to_string(read_buffer_.data()));
    }
    context_.events.Publish(std::move(event));
  }
  read_buffer_.consume(read_buffer_.size());
  // Keep no large buffer around after a big message: idle sessions stay small.
  if (read_buffer_.capacity() > 16 * 1024) read_buffer_.shrink_to_fit();
  DoRead();
}

DeliveryOutcome Session::Deliver(const PayloadPtr& payload) {
  const bool upgrading = state_ == State::kUpgrading && !close_requested_during_upgrade_;
  if (state_ != State::kOpen && !upgrading) return DeliveryOutcome::kDropped;
  if (!queue_.TryPush(payload)) {
    spdlog::info("session {}: send queue full ({} messages, {} bytes): closing as slow consumer",
                 info_.id, queue_.size(), queue_.bytes());
    PublishError(v1::ERROR_CODE_SLOW_CONSUMER,
                 "send queue full (" + std::to_string(queue_.size()) + " messages, " +
                     std::to_string(queue_.bytes()) + " bytes) with a message of " +
                     std::to_string(payload->bytes.size()) + " bytes waiting");
    // What is not on the wire yet will never be: keep only the frame being written.
    queue_.Truncate(writing_ ? 1 : 0);
    Close(static_cast<uint16_t>(websocket::close_code::try_again_later), "slow consumer");
    return DeliveryOutcome::kDropped;
  }
  if (!writing_ && state_ == State::kOpen) DoWrite();
  return DeliveryOutcome::kQueued;
}

void Session::DoWrite() {
  writing_ = true;
  write_started_ = TokenBucket::Clock::now();
  const Payload& payload = *queue_.front();
  ws_.text(payload.kind == Payload::Kind::kText);
  // The buffer stays valid: the queue holds the payload until OnWrite pops it.
  ws_.async_write(boost::asio::buffer(payload.bytes),
                  beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
}

void Session::OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
  writing_ = false;
  if (state_ == State::kFinished) {
    queue_.Truncate(0);
    return;
  }
  if (ec) {
    spdlog::debug("session {}: write failed: {}", info_.id, ec.message());
    return DropConnection();
  }
  ++counters_.messages_sent;
  counters_.bytes_sent += queue_.front()->bytes.size();
  queue_.PopFront();
  if (!queue_.empty()) return DoWrite();
  if (state_ == State::kClosing && !close_sent_) DoClose();
}

void Session::Close(uint16_t code, absl::string_view reason) {
  if (state_ == State::kUpgrading) {
    // Closed as soon as the upgrade completes (the close frame needs an open WebSocket).
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code),
                                            std::string_view(reason.data(), reason.size()));
    close_requested_during_upgrade_ = true;
    return;
  }
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code),
                                          std::string_view(reason.data(), reason.size()));
  ArmCloseDeadline();
  if (!writing_) DoClose();
}

void Session::DoClose() {
  // Beast allows one control frame at a time: a close waits for the ping in flight.
  if (ping_in_flight_) {
    close_after_ping_ = true;
    return;
  }
  close_sent_ = true;
  ws_.async_close(close_reason_, beast::bind_front_handler(&Session::OnClose, shared_from_this()));
}

void Session::OnClose(beast::error_code ec) {
  // On success the pending read ends with websocket::error::closed and finishes the session.
  if (ec && state_ != State::kFinished) DropConnection();
}

void Session::ArmCloseDeadline() {
  close_deadline_ = std::make_unique<boost::asio::steady_timer>(context_.thread.context());
  close_deadline_->expires_after(ToSteady(context_.limits.close_timeout));
  close_deadline_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->state_ == State::kFinished) return;
    spdlog::info("session {}: close handshake timed out; dropping the connection", self->id());
    self->DropConnection();
  });
}

void Session::DropConnection() {
  beast::error_code ignored;
  ws_.next_layer().close(ignored);  // the pending read then ends and finishes the session
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
  const SessionLimits& limits = context_.limits;
  const auto silent = now - last_heard_;
  if (limits.idle_timeout > absl::ZeroDuration() && silent >= ToSteady(limits.idle_timeout)) {
    spdlog::debug("session {}: silent past the idle timeout; dropping the connection", info_.id);
    return DropConnection();  // ends the read loop: `closed` with initiator TRANSPORT
  }
  if (state_ == State::kOpen && writing_ &&
      now - write_started_ >= ToSteady(limits.write_timeout)) {
    PublishError(v1::ERROR_CODE_SLOW_CONSUMER, "a write to the browser made no progress for " +
                                                   absl::FormatDuration(limits.write_timeout) +
                                                   " (--write_timeout)");
    queue_.Truncate(1);  // keep only the frame being written
    return Close(static_cast<uint16_t>(websocket::close_code::try_again_later), "slow consumer");
  }
  if (state_ != State::kOpen || ping_in_flight_ || limits.ping_interval <= absl::ZeroDuration()) {
    return;
  }
  const auto interval = ToSteady(limits.ping_interval);
  if (silent < interval || now - last_ping_ < interval) return;
  ping_in_flight_ = true;
  last_ping_ = now;
  ws_.async_ping({}, [self = shared_from_this()](beast::error_code ec) {
    self->ping_in_flight_ = false;
    if (ec || self->state_ == State::kFinished) return;
    if (self->close_after_ping_) {
      self->close_after_ping_ = false;
      self->DoClose();
    }
  });
}

void Session::Finish(beast::error_code ec) {
  if (state_ == State::kFinished) return;
  if (opened_) {
    // Leave the liveness list: swap with the last one.
    auto& live = context_.live_sessions;
    live[live_index_] = live.back();
    live[live_index_]->live_index_ = live_index_;
    live.pop_back();
  }
  const bool server_closing = state_ == State::kClosing;
  const bool was_open = opened_;
  state_ = State::kFinished;
  if (registered_) {
    context_.routing.Remove(info_.id);
    registered_ = false;
  }
  context_.limiter.Release(info_.user_id);
  if (close_deadline_) close_deadline_->cancel();
  queue_.Truncate(writing_ ? 1 : 0);
  DropConnection();
  if (!was_open) return;  // never opened: no events

  // Exactly one `closed` per opened session, saying who ended it and how.
  v1::SessionClosed closed;
  if (ec == websocket::error::closed && close_sent_) {
    closed.set_initiator(v1::INITIATOR_SERVER);
    closed.set_code(static_cast<uint32_t>(close_reason_.code));
    closed.set_reason(std::string(close_reason_.reason.data(), close_reason_.reason.size()));
  } else if (ec == websocket::error::closed) {
    const websocket::close_reason& peer = ws_.reason();
    closed.set_initiator(v1::INITIATOR_CLIENT);
    closed.set_code(static_cast<uint32_t>(peer.code));
    closed.set_reason(std::string(peer.reason.data(), peer.reason.size()));
  } else if (ec == websocket::error::message_too_big) {
    PublishError(v1::ERROR_CODE_MESSAGE_TOO_LARGE,
                 "a message from the browser exceeded max_message_bytes (" +
                     std::to_string(context_.limits.max_message_bytes) + ")");
    closed.set_initiator(v1::INITIATOR_SERVER);
    closed.set_code(static_cast<uint32_t>(websocket::close_code::too_big));
    closed.set_reason("message too big");
  } else if (ec == websocket::condition::protocol_violation) {
    const bool bad_utf8 = ec == websocket::error::bad_frame_payload;
    PublishError(v1::ERROR_CODE_PROTOCOL_ERROR,
                 bad_utf8 ? "invalid UTF-8 in a text message" : ec.message());
    closed.set_initiator(v1::INITIATOR_SERVER);
    closed.set_code(static_cast<uint32_t>(bad_utf8 ? websocket::close_code::bad_payload
                                                   : websocket::close_code::protocol_error));
    closed.set_reason(bad_utf8 ? "invalid UTF-8" : "protocol error");
  } else if (server_closing) {
    // We were closing (Disconnect, slow consumer, drain) and the peer never completed it.
    closed.set_initiator(v1::INITIATOR_SERVER);
    closed.set_code(static_cast<uint32_t>(close_reason_.code));
    closed.set_reason(std::string(close_reason_.reason.data(), close_reason_.reason.size()));
  } else {
    closed.set_initiator(v1::INITIATOR_TRANSPORT);
    closed.set_code(static_cast<uint32_t>(websocket::close_code::abnormal));
    closed.set_reason(ec.message());
  }
  spdlog::debug("session {} closed: code {} '{}' initiator {}", info_.id, closed.code(),
                closed.reason(), v1::Initiator_Name(closed.initiator()));
  v1::Event event = NewEvent();
  *event.mutable_closed() = std::move(closed);
  context_.events.Publish(std::move(event));
}

}  // namespace wsbridge
