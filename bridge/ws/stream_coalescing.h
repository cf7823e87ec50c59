// StreamCoalescing: when a session's frames may wait in the kernel to leave together.
//
// At a steady, modest rate (a ticker at 150 messages/s to 1,000 browsers) there is nothing to
// batch in user space: each message finds every send queue empty and leaves in a write of its
// own, so each delivery pays a whole TCP send (on loopback, the receiving side's processing as
// well), about 85% of the bridge's CPU per delivery there. Nagle's algorithm coalesces exactly
// where it helps: a small frame waits in the kernel only while earlier bytes of the same
// connection are unacknowledged, that is while the browser has not yet read what it was sent,
// and then leaves with the frames that came meanwhile. A browser that keeps up sees no delay; a
// browser that lags gets fewer, fuller segments, which is what lets it catch up.
//
// It is not on for every session, because Nagle's algorithm has a known stall: a receiver that
// delays its acknowledgement (up to 40 ms on Linux, 200 ms on Windows) holds the next small
// frame as long. So:
//   - only a *streaming* session coalesces: one whose message writes come less than
//     `gap` apart (--coalesce_gap). Any other session writes with TCP_NODELAY, at once, as
//     before; so does a stream after a pause of `gap` (setting TCP_NODELAY also sends at once
//     whatever the kernel held).
//   - the hold is bounded: every `max_hold` (--coalesce_max_hold) the thread's
//     CoalescingSweeper asks each streaming session's socket whether the kernel holds unsent
//     bytes (one ioctl) and, if it does while the browser has acknowledged nothing for
//     `max_hold`, pushes them (TCP_NODELAY on and off again). A browser that is only behind
//     acknowledges as it reads, which releases what is held without a push.
//
// This class is the per-session decision, pure (no socket, no clock of its own): the session
// asks it before each write and on each sweep, and applies the answer to its socket with the
// functions below. 16 bytes per session.
//
// Thread-safety: none; owned by the session's I/O thread.
#pragma once

#include <chrono>
#include <cstdint>

#include <boost/asio/ip/tcp.hpp>

namespace wsbridge::ws {

class StreamCoalescing {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  enum class Change : uint8_t {
    kNone,
    kStartCoalescing,  // turn Nagle's algorithm on (TCP_NODELAY off); the session now streams
    kSendAtOnce,       // turn it off (TCP_NODELAY on), which also sends what the kernel holds
  };

  // Before a write that carries messages, at `now`. `gap` zero: never coalesce.
  Change BeforeMessageWrite(TimePoint now, Duration gap);
  // On a sweep at `now`: kSendAtOnce when the stream has paused for `gap` (or the session is
  // closing: `closing`), else kNone (still streaming: the caller pushes what is held).
  Change OnSweep(TimePoint now, Duration gap, bool closing);

  bool coalescing() const { return coalescing_; }

 private:
  TimePoint last_message_write_{};
  bool coalescing_ = false;
};

// TCP_NODELAY on (`at_once`) or off. Errors are ignored: a socket that refuses just keeps its
// mode (and a broken one is noticed by the next write).
void SetSendAtOnce(boost::asio::ip::tcp::socket& socket, bool at_once);

// Sends what Nagle's algorithm holds on `socket` if the browser has acknowledged nothing for
// `ack_silence` or longer, the stall the bound exists for: a browser that reads and acknowledges,
// however far behind, releases held frames itself, and pushing them early would only cost
// segments. One ioctl (SIOCOUTQNSD: bytes queued but not sent); when some are held, one
// getsockopt (TCP_INFO: time since the last ACK) and, to push, two setsockopt. Returns whether
// it pushed.
bool PushHeldFrames(boost::asio::ip::tcp::socket& socket, std::chrono::milliseconds ack_silence);

}  // namespace wsbridge::ws
