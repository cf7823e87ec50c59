#include "ws/frame_writer.h"

#include <algorithm>
#include <array>
#include <utility>

#include <boost/asio/error.hpp>

namespace wsbridge::ws {

namespace asio = boost::asio;

namespace {

bool WouldBlock(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

FrameWriter::Outcome FrameWriter::Write(ByteSink& sink, FrameWritten on_written,
                                        boost::system::error_code& ec) {
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
    ec.clear();
    const size_t written =
        sink.WriteSome(std::span<const asio::const_buffer>(buffers.data(), buffer_count), ec);
    if (WouldBlock(ec)) {
      ec.clear();
      return Outcome::kBlocked;
    }
    if (ec) return Outcome::kFailed;
    // Pop every frame now fully written, then report them: a report may change the queue (a
    // close that discards what was not started), which must see the front as it really is.
    struct Completed {
      Payload::Kind kind;
      size_t body_bytes;
      Payload::TimePoint accepted_at;
    };
    std::array<Completed, kMaxFramesPerWrite> completed;
    size_t completed_count = 0;
    size_t left = written;
    while (left > 0) {
      const size_t remaining = queue_.front()->wire_size() - front_written_;
      if (left < remaining) {
        front_written_ += static_cast<uint32_t>(left);
        break;
      }
      left -= remaining;
      front_written_ = 0;
      completed[completed_count++] = {queue_.front()->kind, queue_.front()->bytes.size(),
                                      queue_.front()->accepted_at};
      if (queue_.front()->kind == Payload::Kind::kPong) --pongs_;
      queue_.PopFront();
    }
    for (size_t i = 0; i < completed_count; ++i) {
      const Completed& frame = completed[i];
      if (!on_written(frame.kind, frame.body_bytes, frame.accepted_at)) return Outcome::kStopped;
    }
    if (written < total) return Outcome::kBlocked;  // the sink is full
  }
  return Outcome::kDrained;
}

void FrameWriter::DiscardUnstarted() {
  if (queue_.empty()) return;
  const bool keep_front = front_written_ > 0 || queue_.front()->kind == Payload::Kind::kHandshake;
  queue_.RemoveIf(keep_front ? 1 : 0,
                  [](const Payload& payload) { return payload.kind != Payload::Kind::kPong; });
}

bool FrameWriter::PushAheadOfClose(PayloadPtr payload) {
  if (queue_.empty()) return false;
  const size_t close = queue_.size() - 1;
  if (queue_.at(close)->kind != Payload::Kind::kClose) return false;
  if (close == 0 && front_written_ > 0) return false;  // partly on the wire: nothing may follow
  if (payload->kind == Payload::Kind::kPong) ++pongs_;
  queue_.InsertUnbounded(close, std::move(payload));
  return true;
}

bool FrameWriter::ReplaceUnstartedPong(PayloadPtr pong) {
  if (pongs_ == 0) return false;
  // From the back: a pong waiting unstarted is the newest one, normally close to the back.
  const size_t first_unstarted = front_written_ > 0 ? 1 : 0;
  for (size_t i = queue_.size(); i > first_unstarted; --i) {
    if (queue_.at(i - 1)->kind != Payload::Kind::kPong) continue;
    queue_.Replace(i - 1, std::move(pong));
    return true;
  }
  return false;  // the one pong queued is partly written
}

void FrameWriter::Clear() {
  queue_.Truncate(0);
  front_written_ = 0;
  pongs_ = 0;
}

}  // namespace wsbridge::ws
