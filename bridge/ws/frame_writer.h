// FrameWriter: the outbound half of one session: its bounded SendQueue and the gathered,
// non-blocking writer that empties it. A write gathers up to kMaxFramesPerWrite frames (header
// and body of each, the first one from where the last write stopped), hands them to a ByteSink
// in one call, pops every frame the sink took completely and remembers how much of the front
// frame is already out. It never waits: when the sink takes less than offered, the caller waits
// for writability and calls Write again.
//
// The byte stream to the browser must stay well-formed, so a frame that was started is always
// finished: DiscardUnstarted() is the one way to give up on what is queued (a slow consumer, a
// close that jumps the queue). The upgrade response is never discarded either: nothing else means
// anything without it; nor is a pong: a ping received before the browser's close frame must be
// answered (RFC 6455 section 5.5.2). Nothing may follow a close frame on the wire (section 5.5.1),
// so a pong owed after ours is queued goes ahead of it (PushAheadOfClose), or not at all.
//
// Thread-safety: none; owned by the session's I/O thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include "absl/functional/function_ref.h"
#include "ws/payload.h"
#include "ws/send_queue.h"

namespace wsbridge::ws {

// Where a FrameWriter writes: a non-blocking socket, or a fake in tests.
class ByteSink {
 public:
  // Takes a prefix of `buffers` without blocking and returns its size. Sets `ec` to would_block
  // (or try_again) when it takes nothing now, to another error when the connection is broken.
  virtual size_t WriteSome(std::span<const boost::asio::const_buffer> buffers,
                           boost::system::error_code& ec) = 0;

 protected:
  ~ByteSink() = default;
};

class FrameWriter {
 public:
  // Frames gathered into one write (two buffers each: header and body).
  static constexpr size_t kMaxFramesPerWrite = 64;

  enum class Outcome : uint8_t {
    kDrained,  // the queue is empty
    kBlocked,  // the sink is full: wait until it is writable, then Write again
    kFailed,   // the sink reported an error (see `ec`)
    kStopped,  // on_written asked to stop
  };

  // Told about each frame once it is completely written (in order, after the write that
  // completed it was accounted for, so it may push or discard), with its Payload::accepted_at;
  // returns false to stop writing (the session ended meanwhile).
  using FrameWritten = absl::FunctionRef<bool(Payload::Kind kind, size_t body_bytes,
                                              Payload::TimePoint accepted_at)>;

  explicit FrameWriter(SendQueueLimits limits) : queue_(limits) {}
  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;

  // See SendQueue::TryPush / PushUnbounded.
  bool TryPush(PayloadPtr payload) { return queue_.TryPush(std::move(payload)); }
  void PushUnbounded(PayloadPtr payload) {
    if (payload->kind == Payload::Kind::kPong) ++pongs_;
    queue_.PushUnbounded(std::move(payload));
  }

  // Writes queued frames into `sink` until the queue is empty, the sink is full or fails, or
  // `on_written` returns false.
  Outcome Write(ByteSink& sink, FrameWritten on_written, boost::system::error_code& ec);

  // Drops every queued frame not started yet, keeping a frame partly written and the upgrade
  // response (both are always at the front), and the pongs (owed to the browser's pings).
  void DiscardUnstarted();
  // Queues `payload` (a control frame, whatever the limits say) just ahead of the close frame at
  // the back of the queue, so that it still reaches the browser before that close frame. False,
  // queue unchanged, when the back is no close frame or the close frame is already started.
  bool PushAheadOfClose(PayloadPtr payload);
  // Puts `pong` in place of the newest pong not started yet: when pongs are still owed, answering
  // only the most recent ping is enough (RFC 6455 section 5.5.3), so a ping flood holds at most
  // one waiting pong. False, queue unchanged, when no pong waits unstarted.
  bool ReplaceUnstartedPong(PayloadPtr pong);
  // Drops everything: the connection is gone.
  void Clear();
  // More queued than the limits allow (SendQueue::over_limits): the session stops reading until
  // the browser takes some, so that what it sends cannot make us queue more for it.
  bool over_limits() const { return queue_.over_limits(); }

  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }
  uint64_t bytes() const { return queue_.bytes(); }
  // Bytes of the front frame already written.
  size_t front_written() const { return front_written_; }

 private:
  SendQueue queue_;
  uint32_t front_written_ = 0;  // frames are at most 64 MiB and a header
  uint32_t pongs_ = 0;          // pongs in the queue, started or not
};

}  // namespace wsbridge::ws
