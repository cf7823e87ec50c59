#include "ws/session.h"
#include "absl/strings/string_view.h"

#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/bind_handler.hpp>
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
      queue_(context.limits.send_queue) {}

Session::~Session() = default;

void Session::Accept(UpgradeRequest request) {
  const SessionLimits& limits = context_.limits;
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = ToSteady(limits.handshake_timeout);
  timeouts.idle_timeout = limits.idle_timeout <= absl::ZeroDuration()
                              ? websocket::stream_base::none()
                              : ToSteady(limits.idle_timeout);
  timeouts.keep_alive_pings = limits.keep_alive_pings;
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
  // Beast builds the 101 response from `request` before this call returns.
  ws_.async_accept(request, beast::bind_front_handler(&Session::OnAccept, shared_from_this()));
}

void Session::OnAccept(beast::error_code ec) {
  if (ec) {
    spdlog::debug("session {}: upgrade failed: {}", info_.id, ec.message());
    return Finish(ec);
  }
  if (!context_.routing.Add(info_, std::move(initial_topics_), this)) {
    spdlog::error("session {}: id already registered; dropping the connection", info_.id);
    return Finish(make_error_code(boost::system::errc::file_exists));
  }
  registered_ = true;
  state_ = State::kOpen;
  spdlog::debug("session {} opened user='{}' from {}", info_.id, info_.user_id,
                info_.remote_address);
  DoRead();
}

void Session::DoRead() {
  ws_.async_read(read_buffer_, beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(beast::error_code ec, std::size_t bytes) {
  if (ec) return Finish(ec);
  ++counters_.messages_received;
  counters_.bytes_received += bytes;
  read_buffer_.consume(read_buffer_.size());
  // Keep no large buffer around after a big message: idle sessions stay small.
  if (read_buffer_.capacity() > 16 * 1024) read_buffer_.shrink_to_fit();
  DoRead();
}

DeliveryOutcome Session::Deliver(const PayloadPtr& payload) {
  if (state_ != State::kOpen) return DeliveryOutcome::kDropped;
  if (!queue_.TryPush(payload)) {
    spdlog::info("session {}: send queue full ({} messages, {} bytes): closing as slow consumer",
                 info_.id, queue_.size(), queue_.bytes());
    // What is not on the wire yet will never be: keep only the frame being written.
    queue_.Truncate(writing_ ? 1 : 0);
    Close(static_cast<uint16_t>(websocket::close_code::try_again_later), "slow consumer");
    return DeliveryOutcome::kDropped;
  }
  if (!writing_) DoWrite();
  return DeliveryOutcome::kQueued;
}

void Session::DoWrite() {
  writing_ = true;
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
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code),
                                          std::string_view(reason.data(), reason.size()));
  ArmCloseDeadline();
  if (!writing_) DoClose();
}

void Session::DoClose() {
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

void Session::Finish(beast::error_code ec) {
  if (state_ == State::kFinished) return;
  state_ = State::kFinished;
  if (registered_) {
    context_.routing.Remove(info_.id);
    registered_ = false;
  }
  context_.limiter.Release(info_.user_id);
  if (close_deadline_) close_deadline_->cancel();
  queue_.Truncate(writing_ ? 1 : 0);
  const websocket::close_reason& peer = ws_.reason();
  spdlog::debug("session {} closed: {} (close code {} '{}', {})", info_.id, ec.message(),
                static_cast<unsigned>(peer.code),
                std::string(peer.reason.data(), peer.reason.size()),
                close_sent_ ? "server initiated" : "not server initiated");
  DropConnection();
}

}  // namespace wsbridge
