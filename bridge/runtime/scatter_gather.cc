#include "runtime/scatter_gather.h"

namespace wsbridge {

ScatterGather::ScatterGather(std::vector<IoThread*> threads) {
  inboxes_.reserve(threads.size());
  for (IoThread* thread : threads) inboxes_.push_back(std::make_unique<Inbox>(thread));
}

void ScatterGather::Enter(const std::shared_ptr<Call>& call,
                          const std::vector<size_t>& thread_indices) {
  // At most a handful of threads wake per call; remember which without allocating.
  constexpr size_t kInline = 16;
  Inbox* inline_wake[kInline];
  std::vector<Inbox*> more_wake;
  size_t wake_count = 0;
  {
    absl::MutexLock order(&order_mutex_);
    for (size_t slot = 0; slot < thread_indices.size(); ++slot) {
      Inbox& inbox = *inboxes_[thread_indices[slot]];
      absl::MutexLock lock(&inbox.mutex);
      inbox.entries.push_back(Entry{call, slot});
      if (inbox.drain_posted) continue;
      inbox.drain_posted = true;
      if (wake_count < kInline) {
        inline_wake[wake_count] = &inbox;
      } else {
        more_wake.push_back(&inbox);
      }
      ++wake_count;
    }
  }
  // The order is fixed by the inboxes; when the wake-ups land does not matter.
  for (size_t i = 0; i < wake_count; ++i) {
    Inbox* inbox = i < kInline ? inline_wake[i] : more_wake[i - kInline];
    inbox->thread->Post([inbox] { Drain(*inbox); });
  }
}

void ScatterGather::Drain(Inbox& inbox) {
  WSBRIDGE_ASSERT_ON(*inbox.thread);
  {
    absl::MutexLock lock(&inbox.mutex);
    // The producers get the (empty) vector of the previous batch back, capacity and all.
    inbox.running.swap(inbox.entries);
    inbox.drain_posted = false;
  }
  for (Entry& entry : inbox.running) {
    entry.call->RunSlot(entry.slot);
    entry.call.reset();  // a finished call's memory goes now, not after the whole batch
  }
  inbox.running.clear();
}

}  // namespace wsbridge
