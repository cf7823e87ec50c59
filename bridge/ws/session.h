// Session: one browser's WebSocket connection, from the upgrade to the last close frame. It
// speaks the WebSocket protocol itself (ws/frame_codec.h) on a Transport (ws/transport.h: plain
// TCP, or TLS for wss), so that what is pushed is framed once per call and several frames leave
// in one write.
//
// Life: Accept() registers the session in its thread's hub shard (it is routable from then on)
// and queues the 101 response -> once the 101 is written, the session publishes `opened` and
// starts reading -> frames are read until the connection ends -> Finish unregisters it and
// releases its connection slot. Finish runs exactly once, whatever ends the connection (client
// close, Close(), a protocol error, slow consumer, transport failure, the close deadline).
//
// Events, reported to the thread's SessionEventSink (events/session_event_sink.h): `opened` once
// the upgrade is done (so a service reacting to it finds the session), `message` for each
// message from the browser, `error` before the close it causes, and `closed` exactly once from
// Finish, with the code, reason and initiator. All from the session's thread, so they are
// reported in the order they happened.
//
// Outbound: everything written to the socket goes through the bounded queue of its FrameWriter
// (ws/frame_writer.h), in order: the 101 response, pushed messages (shared, pre-framed
// Payloads), pings, pongs and the close frame. Deliver() only appends and asks the thread's
// WriteFlusher for a flush; Flush() writes as many queued frames as the socket takes in one
// gathered, non-blocking write, and waits for the socket to become writable when it is full. A
// message that does not fit the queue makes the session a slow consumer: queued messages not yet
// on the wire are dropped and it closes with 1013. With permessage-deflate negotiated at Accept
// (ws/permessage_deflate.h) Deliver() queues the message's shared compressed twin instead
// (Payload::Deflated) when it is large enough and fits the browser's window; the session keeps
// one byte for it and the zlib streams are the thread's.
//
// Pongs: every ping from the browser comes before its close frame (nothing is read after that),
// so each is owed a pong (RFC 6455 5.5.2), and nothing may follow our close frame (5.5.1). In
// kOpen the pong joins the back of the queue and survives what a close discards, so a ping read
// together with the browser's close is answered before our close frame. In kCloseQueued it goes
// just ahead of our close frame while that frame is not started. Once our close frame is partly
// (still kCloseQueued) or wholly (kCloseSent) on the wire, the ping goes unanswered: a pong there
// would break 5.5.1. None of this adds a state or a transition.
//
// Inbound: the session waits for the socket to be readable and reads into the thread's shared
// scratch buffer; its FrameReader keeps bytes only while a frame is incomplete. Idle sessions
// therefore hold no read or write buffer at all. Messages and pings both take a token of the
// inbound rate (TokenBucket). While the send queue is over its limits (only control frames
// pushed on top of a full queue get it there) the session reads nothing more, so a browser that
// sends without reading cannot make us hold more for it; reading resumes as the queue drains.
//
// States: one State says where the connection is; each event has one transition function.
//
//            Accept
//              |
//              v          101 written                 peer close
//        kUpgrading --------------------> kOpen ---------------------> kAnswerQueued
//              |                            |                            ^       |
//              | Close()                    | Close(), slow consumer,    |       | our close
//              |                            | rate limit, write timeout  |       | written
//              |                            v                            |       v
//              +---------------------> kCloseQueued ---- peer close -----+   (teardown)
//                                           |                                    ^
//                                           | our close written                  |
//                                           v                                    |
//                                      kCloseSent ---------- peer close ---------+
//   (After a Close() during the upgrade, `opened` is still reported once the 101 is written,
//   and reading starts as in kOpen.)
//
//   kOpen, kCloseQueued ------ protocol error -----> kFailing ---- our close written ----+
//                                                                                        v
//   kCloseSent ---------------------------- protocol error ----------------------> kLingering
//   kLingering: our side is shut down; what the browser still sends is discarded until its EOF
//   or the close deadline.
//
//   teardown (both close frames exchanged: shut down our side), write error, idle timeout,
//   close deadline -----> kDropped (socket closed) ----- Finish, posted -----> kFinished
//   read error or end of stream, in any state --------------- Finish --------> kFinished
//
// Who closed (the `closed` event's initiator) is data, not state: the Closing record says
// whether our close frame came first (SERVER) or answered the browser's (CLIENT); without a
// Closing the connection ended without a handshake (TRANSPORT).
//
// Time: every decision that depends on time (ping, idle, write timeout, rate limit) reads the
// thread's Clock (SessionContext::clock), so tests move time by hand.
//
// Thread-safety: every member function runs on the session's I/O thread (SessionContext::thread):
// the hub calls Deliver/Close/Counters there, and all completion handlers run there.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "absl/strings/string_view.h"
#include "broker/types.h"
#include "events/session_event_sink.h"
#include "hub/connection_limiter.h"
#include "hub/session_endpoint.h"
#include "runtime/clock.h"
#include "ws/frame_codec.h"
#include "ws/frame_writer.h"
#include "ws/permessage_deflate.h"
#include "ws/session_context.h"
#include "ws/stream_coalescing.h"
#include "ws/token_bucket.h"
#include "ws/transport.h"

namespace wsbridge {

// Response header of the WebSocket upgrade that names the new session's id.
inline constexpr char kSessionIdHeader[] = "X-Wsbridge-Session-Id";

class Session final : public SessionEndpoint,
                      public std::enable_shared_from_this<Session>,
                      private ws::FrameReader::Handler {
 public:
  // `slot`: the place admitted by context.limiter for info.user_id on this thread; the session
  // owns it and gives it back when it finishes (or, at the latest, when it is destroyed).
  // `transport`: the connection, its TLS handshake (if any) done.
  Session(ws::Transport transport, SessionContext& context, SessionSlot slot, SessionInfo info,
          std::vector<std::string> topics);
  ~Session() override;

  // Completes the WebSocket upgrade of a request already admitted by the HandshakePolicy, whose
  // Sec-WebSocket-Key is `client_key` (valid: ws::IsValidClientKey). `early_bytes` are bytes the
  // browser sent after the request (its first frames), read along with it. `deflate`: the
  // permessage-deflate agreement (ws/permessage_deflate.h) answered in the 101, if any.
  void Accept(std::string_view client_key, std::string early_bytes,
              std::optional<ws::DeflateAgreement> deflate = std::nullopt);

  // SessionEndpoint
  DeliveryOutcome Deliver(const PayloadPtr& payload) override;
  void Close(uint16_t code, absl::string_view reason) override;
  SessionCounters Counters() const override;
  bool Announced() const override { return opened_; }

  const std::string& id() const { return info_.id; }

  // Writes what the queue holds, as far as the socket takes it. Called by the WriteFlusher.
  void Flush();

  // Drops the session if the browser has been silent past the idle timeout, closes it as a slow
  // consumer if its writes have made no progress past the write timeout, or pings it when it has
  // been silent for a ping interval. Called by the thread's LivenessSweeper.
  void CheckLiveness(Clock::TimePoint now);

  // Called by the thread's CoalescingSweeper while this session coalesces (ws/stream_coalescing.h):
  // sends what the kernel holds, or goes back to sending at once when the stream paused or the
  // session is closing. Returns whether the sweeper should keep watching it.
  bool SweepCoalescing();

 private:
  enum class State : uint8_t {
    kUpgrading,     // registered; the 101 response is queued
    kOpen,          // `opened` reported; messages flow both ways
    kCloseQueued,   // we close: our close frame waits behind what was queued before it
    kCloseSent,     // we close: our close frame is on the wire; waiting for the browser's
    kAnswerQueued,  // the browser's close arrived: our close frame, once written, ends it
    kFailing,       // a protocol failure: once our close frame is written, stop sending
    kLingering,     // our side shut down after a failure: reading to discard until EOF
    kDropped,       // the socket is closed; Finish is posted
    kFinished,      // unregistered, slot released, `closed` reported
  };

  // The close handshake under way; allocated only once the session starts closing.
  struct Closing {
    explicit Closing(boost::asio::steady_timer timer) : deadline(std::move(timer)) {}
    boost::asio::steady_timer deadline;
    CloseInitiator initiator = CloseInitiator::kServer;  // whose close frame came first
    uint16_t code = 0;                                   // what our close frame says
    std::string reason;
    uint16_t peer_code = ws::kCloseNoStatus;  // what the browser's close frame said
    std::string peer_reason;
  };

  // The transport as the FrameWriter's sink.
  class TransportSink;

  // ws::FrameReader::Handler
  void OnMessage(bool text, std::string_view data) override;
  void OnPing(std::string_view data) override;
  void OnPong(std::string_view data) override;
  void OnClose(uint16_t code, std::string_view reason) override;

  // Transitions, one per event (see the diagram above).
  void OnUpgraded();  // the 101 is written
  void OnPeerClose(uint16_t code, std::string_view reason);
  void StartClose(uint16_t code, std::string_view reason);  // Close() and our policy closes
  void OnProtocolError(ws::FrameReader::Error error, const char* detail);
  void OnCloseFrameWritten();
  void OnTransportError(boost::system::error_code ec);  // the socket failed or ended
  void OnCloseDeadline();
  void OnIdle();
  void OnWriteTimeout();
  void OnSendQueueFull(const PayloadPtr& refused);

  // What the transitions do.
  Closing& EnsureClosing(CloseInitiator initiator);
  void QueueCloseFrame(uint16_t code, std::string_view reason);
  void Teardown();
  void LingeringClose();
  // TLS: ciphertext of what the writer handed over may still wait in user space after the close
  // frame or close_notify; it is written as the socket takes it, then the connection is dropped
  // (`then_drop`) or left lingering. Bounded by the close deadline.
  void FlushTransportThen(bool then_drop);
  void DropConnection(boost::system::error_code why);
  void Finish(boost::system::error_code ec);
  bool Ended() const { return state_ == State::kDropped || state_ == State::kFinished; }

  // Reading.
  void WaitReadable();
  void OnReadable(boost::system::error_code ec);
  void Consume(char* data, size_t size);
  // Takes a token of the inbound rate for a message or ping; past the rate, reports and closes
  // with 1008 (only from kOpen).
  void TakeInboundToken();

  // Writing.
  void ScheduleFlush();
  void ApplyCoalescing(ws::StreamCoalescing::Change change);
  void WriteQueued();
  bool OnFrameWritten(Payload::Kind kind, size_t bytes);

  // Registration, liveness list and events.
  bool RegisterInHub();
  void UnregisterFromHub();
  void JoinLiveList();
  void LeaveLiveList();
  void ReportOpened();
  void ReportClosed(boost::system::error_code ec);
  void ReportError(SessionErrorCode code, std::string detail);
  SessionIdentity identity() const { return {info_.id, info_.user_id}; }

  ws::Transport transport_;
  SessionContext& context_;
  SessionSlot slot_;
  SessionInfo info_;
  std::vector<std::string> initial_topics_;  // handed to the hub shard at registration
  ws::FrameWriter writer_;
  ws::FrameReader reader_;
  std::unique_ptr<Closing> closing_;
  std::unique_ptr<std::string> early_bytes_;  // frames that came with the upgrade request
  SessionCounters counters_;
  TokenBucket inbound_rate_;
  ws::StreamCoalescing coalescing_;  // whether the kernel may hold our frames now
  size_t live_index_ = 0;            // position in context_.live_sessions while open
  Clock::TimePoint last_heard_{};    // last bytes of any kind read from the browser
  Clock::TimePoint last_ping_{};
  Clock::TimePoint write_blocked_since_{};  // when the socket last stopped taking
  State state_ = State::kUpgrading;
  bool writing_ = false;             // waiting for the socket to take more bytes
  bool flush_scheduled_ = false;     // in the WriteFlusher's list
  bool reading_ = false;             // a wait for readability is pending
  bool registered_ = false;          // in the hub shard (from Accept to Finish)
  bool opened_ = false;              // `opened` reported: `closed` will follow
  bool rate_limited_ = false;        // closed for its inbound rate: later frames are not forwarded
  bool read_paused_ = false;         // not reading while the send queue is over its limits
  bool coalescing_watched_ = false;  // in the CoalescingSweeper's list
  // permessage-deflate: 0 = not negotiated; else the server window the browser allowed (8..15),
  // which decides which shared compressed frames it may get (ws::FitsServerWindow). All the
  // per-session state deflate needs: the zlib streams are the thread's.
  uint8_t deflate_window_bits_ = 0;
};

}  // namespace wsbridge
