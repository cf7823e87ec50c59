#include "cluster/write_backlog.h"

#include <cassert>
#include <utility>

namespace wsbridge::cluster {

uint64_t WriteBacklog::Cost(const PendingWrite& write) {
  uint64_t bytes = kWriteOverhead;
  for (const std::string& arg : write.args) bytes += arg.size() + kArgumentOverhead;
  return bytes + write.session.size();
}

void WriteBacklog::Push(PendingWrite write) {
  write.bytes = Cost(write);
  const bool droppable = write.droppable;
  Entry entry{next_order_++, std::move(write)};
  if (droppable) {
    droppable_bytes_ += entry.write.bytes;
    droppable_.push_back(std::move(entry));
  } else {
    kept_bytes_ += entry.write.bytes;
    kept_.push_back(std::move(entry));
  }
  // Over the bound: the oldest droppable write goes; only when none is left, the oldest kept one
  // (this one included, if it alone passes the bound).
  while (bytes() > max_bytes_) {
    std::deque<Entry>& from = !droppable_.empty() ? droppable_ : kept_;
    (from.front().write.droppable ? droppable_bytes_ : kept_bytes_) -= from.front().write.bytes;
    (from.front().write.droppable ? dropped_droppable_ : dropped_kept_) += 1;
    from.pop_front();
  }
}

const std::deque<WriteBacklog::Entry>& WriteBacklog::Older() const {
  if (droppable_.empty()) return kept_;
  if (kept_.empty()) return droppable_;
  return droppable_.front().order < kept_.front().order ? droppable_ : kept_;
}

const PendingWrite& WriteBacklog::front() const {
  assert(!empty());
  return Older().front().write;
}

PendingWrite WriteBacklog::Pop() {
  assert(!empty());
  std::deque<Entry>& from = &Older() == &droppable_ ? droppable_ : kept_;
  PendingWrite write = std::move(from.front().write);
  from.pop_front();
  (write.droppable ? droppable_bytes_ : kept_bytes_) -= write.bytes;
  return write;
}

}  // namespace wsbridge::cluster
