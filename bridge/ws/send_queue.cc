#include "ws/send_queue.h"

#include <utility>

namespace wsbridge {

bool SendQueue::TryPush(PayloadPtr payload) {
  const uint64_t size = payload->bytes.size();
  if (count_ >= limits_.max_messages) return false;
  if (count_ > 0 && bytes_ + size > limits_.max_bytes) return false;
  if (count_ == capacity_) Grow();
  slots_[(head_ + count_) & (capacity_ - 1)] = std::move(payload);
  ++count_;
  bytes_ += size;
  return true;
}

void SendQueue::PushUnbounded(PayloadPtr payload) {
  if (count_ == capacity_) Grow();
  bytes_ += payload->bytes.size();
  slots_[(head_ + count_) & (capacity_ - 1)] = std::move(payload);
  ++count_;
}

void SendQueue::InsertUnbounded(size_t i, PayloadPtr payload) {
  PushUnbounded(std::move(payload));
  // Walk it back from the end to position i; only ever a step or two (ahead of a close frame).
  for (size_t j = count_ - 1; j > i; --j) std::swap(Slot(j), Slot(j - 1));
}

void SendQueue::Replace(size_t i, PayloadPtr payload) {
  PayloadPtr& slot = Slot(i);
  bytes_ = bytes_ - slot->bytes.size() + payload->bytes.size();
  slot = std::move(payload);
}

void SendQueue::PopFront() {
  bytes_ -= slots_[head_]->bytes.size();
  slots_[head_].reset();
  head_ = (head_ + 1) & (capacity_ - 1);
  if (--count_ == 0) {
    // Idle again: give the ring back.
    slots_.reset();
    capacity_ = 0;
    head_ = 0;
  }
}

void SendQueue::Truncate(size_t keep) {
  while (count_ > keep) {
    const uint32_t last = (head_ + count_ - 1) & (capacity_ - 1);
    bytes_ -= slots_[last]->bytes.size();
    slots_[last].reset();
    --count_;
  }
  if (count_ == 0) {
    slots_.reset();
    capacity_ = 0;
    head_ = 0;
  }
}

void SendQueue::RemoveIf(size_t first, absl::FunctionRef<bool(const Payload&)> drop) {
  if (first >= count_) return;
  size_t kept = first;
  for (size_t i = first; i < count_; ++i) {
    PayloadPtr& slot = Slot(i);
    if (drop(*slot)) {
      bytes_ -= slot->bytes.size();
      slot.reset();
    } else {
      if (kept != i) Slot(kept) = std::move(slot);
      ++kept;
    }
  }
  count_ = static_cast<uint32_t>(kept);
  if (count_ == 0) {
    slots_.reset();
    capacity_ = 0;
    head_ = 0;
  }
}

void SendQueue::Grow() {
  const uint32_t new_capacity = capacity_ == 0 ? 4 : capacity_ * 2;
  auto grown = std::make_unique<PayloadPtr[]>(new_capacity);
  for (uint32_t i = 0; i < count_; ++i) {
    grown[i] = std::move(slots_[(head_ + i) & (capacity_ - 1)]);
  }
  slots_ = std::move(grown);
  capacity_ = new_capacity;
  head_ = 0;
}

}  // namespace wsbridge
