// BrowserFleet: thousands of anonymous WebSocket browsers on plain non-blocking sockets, all
// served by one epoll thread, for tests that need many sessions at once (a drain of thousands)
// at the cost of one descriptor each. Each browser records the data frames it receives, in
// order, and when and with which code the bridge's close frame came; it answers pings and the
// close frame as a browser does, and ends when the bridge closes the connection.
//
// Until StartReading() nothing is read, so what is pushed piles up in the kernel's buffers and,
// for browsers opened with a small receive buffer, in the bridge's send queues.
//
// Thread-safety: the public methods are for the test's thread; the reading thread owns the
// sockets once started, and the records are read under a mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wsbridge::testing {

class BrowserFleet {
 public:
  // What one browser saw.
  struct Record {
    std::string session_id;              // from the 101's X-Wsbridge-Session-Id
    std::vector<std::string> data;       // payloads of the text and binary frames, in order
    std::optional<uint16_t> close_code;  // of the bridge's close frame
    absl::Time close_received;           // when that frame was read
    size_t data_after_close = 0;         // data frames after the close frame (must stay 0)
    bool ended = false;                  // the bridge closed the TCP connection
  };

  explicit BrowserFleet(uint16_t port) : port_(port) {}
  ~BrowserFleet();
  BrowserFleet(const BrowserFleet&) = delete;
  BrowserFleet& operator=(const BrowserFleet&) = delete;

  // Opens `count` more browsers on `target` (anonymous upgrades), in waves, and waits for each
  // 101. `receive_buffer_bytes` > 0 shrinks their kernel receive buffers. False (with the reason
  // in *error) if one is refused or does not answer in time. REQUIRES: before StartReading().
  bool Open(size_t count, std::string* error, int receive_buffer_bytes = 0,
            const std::string& target = "/ws");
  size_t size() const { return sockets_.size(); }
  std::string session_id(size_t i) const;

  // Starts the reading thread.
  void StartReading();
  // Waits until the bridge has closed every connection; false at the timeout.
  bool AwaitAllEnded(absl::Duration timeout);
  // A copy of every record, in the order the browsers were opened.
  std::vector<Record> Records() const;

 private:
  void ReadLoop();
  // Reads what browser `i` has and handles its frames; false once its connection is over.
  bool ReadFrom(size_t i, std::string& scratch);

  const uint16_t port_;
  std::vector<int> sockets_;          // [i] the descriptor of browser i; -1 once closed
  std::vector<std::string> buffers_;  // [i] bytes read and not yet parsed (reading thread)
  int epoll_fd_ = -1;
  std::thread reader_;
  mutable absl::Mutex mutex_;
  std::vector<Record> records_ ABSL_GUARDED_BY(mutex_);
  size_t ended_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stop_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace wsbridge::testing
