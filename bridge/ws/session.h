// Session: one browser's WebSocket connection, from the upgrade to the last close frame.
//
// Life: Accept() registers the session in its thread's hub shard (it is routable from then on)
// and answers the upgrade -> OnAccept publishes `opened` and starts the read loop -> OnRead
// repeats until the connection ends -> Finish unregisters it and releases its connection slot.
// Finish runs exactly once, from the read loop's end, which every way of closing leads to (client
// close, Close(), slow consumer, transport failure, the close deadline).
//
// Events: `opened` right after registration (so a service reacting to it finds the session),
// `message` for each frame from the browser, `error` before the close it causes, and `closed`
// exactly once from Finish, with the code, reason and initiator. All from the session's thread,
// so they are published in the order they happened.
//
// Outbound: Deliver() appends the shared payload to the bounded SendQueue and starts a write when
// none is in flight (DoWrite -> OnWrite -> next). A payload that does not fit makes the session a
// slow consumer: queued messages not yet on the wire are dropped and it closes with 1013.
// Close() sends its close frame after the queued messages; a close handshake that does not
// finish within close_timeout drops the socket.
//
// Thread-safety: every member function runs on the session's I/O thread (SessionContext::thread):
// the hub calls Deliver/Close/Counters there, and all completion handlers run there.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "absl/strings/string_view.h"
#include "hub/session_endpoint.h"
#include "hub/targets.h"
#include "ws/send_queue.h"
#include "ws/session_context.h"
#include "ws/token_bucket.h"

namespace wsbridge {

// Response header of the WebSocket upgrade that names the new session's id.
inline constexpr char kSessionIdHeader[] = "X-Wsbridge-Session-Id";

class Session final : public SessionEndpoint, public std::enable_shared_from_this<Session> {
 public:
  using UpgradeRequest = boost::beast::http::request<boost::beast::http::string_body>;

  // Takes a connection slot already acquired from context.limiter for info.user_id; the session
  // releases it when it ends.
  Session(boost::asio::ip::tcp::socket socket, SessionContext& context, SessionInfo info,
          std::vector<std::string> topics);
  ~Session() override;

  // Completes the WebSocket upgrade for `request` (already admitted by the HandshakePolicy).
  void Accept(UpgradeRequest request);

  // SessionEndpoint
  DeliveryOutcome Deliver(const PayloadPtr& payload) override;
  void Close(uint16_t code, absl::string_view reason) override;
  SessionCounters Counters() const override;

  const std::string& id() const { return info_.id; }

  // Drops the session if the browser has been silent past the idle timeout, closes it as a slow
  // consumer if its write in flight has stalled past the write timeout, or pings it when it has
  // been silent for a ping interval. Called by the thread's LivenessSweeper.
  void CheckLiveness(TokenBucket::Clock::time_point now);

 private:
  enum class State : uint8_t { kUpgrading, kOpen, kClosing, kFinished };

  void OnAccept(boost::beast::error_code ec);
  void DoRead();
  void OnRead(boost::beast::error_code ec, std::size_t bytes);
  void DoWrite();
  void OnWrite(boost::beast::error_code ec, std::size_t bytes);
  void DoClose();
  void OnClose(boost::beast::error_code ec);
  void ArmCloseDeadline();
  void DropConnection();
  void Finish(boost::beast::error_code ec);
  void PublishError(v1::ErrorCode code, std::string detail);
  v1::Event NewEvent() const;

  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  SessionContext& context_;
  SessionInfo info_;
  std::vector<std::string> initial_topics_;  // handed to the hub shard at registration
  boost::beast::flat_buffer read_buffer_;
  SendQueue queue_;
  std::unique_ptr<boost::asio::steady_timer> close_deadline_;  // only while closing
  boost::beast::websocket::close_reason close_reason_;         // what Close() asked for
  SessionCounters counters_;
  TokenBucket inbound_rate_;
  State state_ = State::kUpgrading;
  bool writing_ = false;
  bool close_sent_ = false;
  bool registered_ = false;  // in the hub shard (from Accept to Finish)
  bool opened_ = false;      // upgrade done and `opened` published: `closed` will follow
  bool close_requested_during_upgrade_ = false;
  bool rate_limited_ = false;  // closed for its inbound rate: later frames are not forwarded
  bool ping_in_flight_ = false;
  bool close_after_ping_ = false;
  size_t live_index_ = 0;                        // position in context_.live_sessions while open
  TokenBucket::Clock::time_point last_heard_{};  // last frame of any kind from the browser
  TokenBucket::Clock::time_point last_ping_{};
  TokenBucket::Clock::time_point write_started_{};  // when the write in flight began
};

}  // namespace wsbridge
