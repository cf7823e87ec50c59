// SendQueue: the bounded queue of messages waiting to be written to one session. It holds
// shared pointers to immutable payloads (no copy of the bytes), counts bytes and messages, and
// refuses a message that would pass either limit: the caller then treats the session as a slow
// consumer. Its storage is allocated on the first message and released when it drains, so an
// idle session pays only for the empty object.
//
// Thread-safety: none; owned by the session's I/O thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "config/config.h"
#include "ws/payload.h"

namespace wsbridge {

class SendQueue {
 public:
  explicit SendQueue(SendQueueLimits limits) : limits_(limits) {}
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;

  // Appends unless that would pass a limit; false (queue unchanged) then. A message larger than
  // max_bytes is still accepted into an empty queue, so the byte limit never makes a session
  // unreachable for a message that the API allowed.
  bool TryPush(PayloadPtr payload);
  // Appends whatever the limits say: control frames (pong, close) and the upgrade response, which
  // are small and must not be refused.
  void PushUnbounded(PayloadPtr payload);
  // REQUIRES: i <= size(). Inserts at position i (0 is the front), whatever the limits say, like
  // PushUnbounded: a pong that must still go out ahead of a close frame already queued.
  void InsertUnbounded(size_t i, PayloadPtr payload);

  // REQUIRES: !empty().
  const PayloadPtr& front() const { return slots_[head_]; }
  // REQUIRES: i < size(). The i-th message from the front.
  const PayloadPtr& at(size_t i) const { return slots_[(head_ + i) & (capacity_ - 1)]; }
  void PopFront();

  // Drops every message but the first `keep` ones (0 or 1: the one being written).
  void Truncate(size_t keep);
  // Drops the messages from position `first` on for which `drop` is true; the others keep their
  // order. In place: it never allocates.
  void RemoveIf(size_t first, absl::FunctionRef<bool(const Payload&)> drop);
  // REQUIRES: i < size(). Puts `payload` in place of the i-th message, whatever the limits say.
  void Replace(size_t i, PayloadPtr payload);

  // True when more is queued than the limits allow. TryPush never gets the queue there; only
  // what is pushed whatever the limits say (control frames) does, on top of a full queue, or a
  // second message behind one larger than max_bytes.
  bool over_limits() const {
    return count_ > limits_.max_messages || (count_ > 1 && bytes_ > limits_.max_bytes);
  }

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  uint64_t bytes() const { return bytes_; }

 private:
  void Grow();
  // REQUIRES: i < size().
  PayloadPtr& Slot(size_t i) { return slots_[(head_ + i) & (capacity_ - 1)]; }

  SendQueueLimits limits_;
  std::unique_ptr<PayloadPtr[]> slots_;  // ring buffer, capacity_ slots, power of two
  uint32_t capacity_ = 0;
  uint32_t head_ = 0;
  uint32_t count_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace wsbridge
