// WriteBacklog: the SessionLog's writes that Redis has not been sent yet, in the order they were
// made, bounded in bytes: while the command connection is down (or Redis is slower than the
// node), events and directory changes wait here, and when it is back they are replayed in order.
//
// Two classes of writes, one order. A `droppable` write (a `message` or `error` event) is only a
// record of something that happened; a kept one (`opened`, `closed`, a topic change) keeps the
// directory true. Whenever the bound is passed, the oldest droppable write goes (possibly the one
// just pushed, when it is the only one); only when no droppable write is left does the oldest
// kept one go. So an outage loses an opened/closed only when the node's opened, closed and topic
// changes alone outgrow the bound. Each write is costed by its arguments' bytes plus a fixed
// overhead per write and per argument, so many tiny writes are bounded as well.
//
// Thread-safety: none; owned by one thread (the Redis thread). Pure logic, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace wsbridge::cluster {

// One write of the SessionLog: which command (a script of session_log.cc, or a plain XADD) and
// its arguments.
struct PendingWrite {
  int command = 0;
  std::vector<std::string> args;
  bool droppable = false;
  uint64_t bytes = 0;  // set by WriteBacklog::Cost()
  // The session a message/error event or a topic change is about (empty otherwise): such a write
  // is not sent once the session was given up with the node (SessionLog::OnDeclaredLost).
  std::string session;
};

class WriteBacklog {
 public:
  // What one write costs: its arguments' bytes plus these overheads (the write's own struct and
  // its vector, each string's header).
  static constexpr uint64_t kWriteOverhead = 96;
  static constexpr uint64_t kArgumentOverhead = 32;
  static uint64_t Cost(const PendingWrite& write);

  // REQUIRES: max_bytes > 0.
  explicit WriteBacklog(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // Appends `write` (its `bytes` set here), then drops what the bound requires (see above).
  void Push(PendingWrite write);
  // The oldest write. REQUIRES: !empty().
  const PendingWrite& front() const;
  // Takes the oldest write out. REQUIRES: !empty().
  PendingWrite Pop();

  bool empty() const { return droppable_.empty() && kept_.empty(); }
  size_t size() const { return droppable_.size() + kept_.size(); }
  uint64_t bytes() const { return droppable_bytes_ + kept_bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }
  // Writes dropped since construction, by class.
  uint64_t dropped_droppable() const { return dropped_droppable_; }
  uint64_t dropped_kept() const { return dropped_kept_; }

 private:
  struct Entry {
    uint64_t order;
    PendingWrite write;
  };
  const std::deque<Entry>& Older() const;

  const uint64_t max_bytes_;
  uint64_t next_order_ = 0;
  std::deque<Entry> droppable_;
  std::deque<Entry> kept_;
  uint64_t droppable_bytes_ = 0;
  uint64_t kept_bytes_ = 0;
  uint64_t dropped_droppable_ = 0;
  uint64_t dropped_kept_ = 0;
};

}  // namespace wsbridge::cluster
