// IoThread: one event loop (an asio::io_context) on one OS thread. Every socket, timer and
// session belongs to exactly one IoThread for its whole life, so their state needs no lock.
//
// Thread-safety: Post() is the only door from other threads and is safe from any thread.
// Make<T>() creates an I/O object (socket, timer, acceptor) that will then live on this thread;
// the event loop itself is not handed out, so nothing can run on the thread except through
// Post() or the completion of one of its own I/O objects. IsCurrent() tells whether the caller
// runs on this thread: WSBRIDGE_ASSERT_ON checks it in debug and sanitizer builds.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <functional>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

// Checks, in debug and sanitizer builds (no NDEBUG), that the caller runs on `io_thread`: every
// entry point documented as "only on thread i" starts with it.
#define WSBRIDGE_ASSERT_ON(io_thread) \
  assert((io_thread).IsCurrent() && "called off the I/O thread that owns this state")

namespace wsbridge {

class IoThread {
 public:
  explicit IoThread(size_t index);
  ~IoThread();  // stops and joins
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Starts the OS thread that runs the loop.
  void Start();
  // Stops the loop and joins the thread. Tasks posted but not yet run are destroyed without
  // running: callers that need a task done (e.g. closing sessions) wait for it before stopping.
  void StopAndJoin();

  // Runs `task` on this thread, after the tasks posted before it (FIFO).
  template <class Task>
  void Post(Task&& task) {
    boost::asio::post(context_, std::forward<Task>(task));
  }

  // Runs `task` on this thread and returns once it ran: at once when called on this thread,
  // else after the tasks posted before it. For owners that must finish their state's business on
  // its thread (close a client, stop a timer) before they go. REQUIRES: the thread is running
  // (a stopped loop never runs the task, and the wait would not end).
  void RunAndWait(std::function<void()> task);

  // An I/O object of type T (an Asio socket, timer or acceptor) bound to this thread's loop;
  // `args` follow the loop in T's constructor.
  template <class T, class... Args>
  T Make(Args&&... args) {
    return T(context_, std::forward<Args>(args)...);
  }

  // For tests that drive the loop by hand instead of calling Start(): the calling thread becomes
  // this IoThread (IsCurrent() holds on it) and runs the handlers that are ready now, without
  // waiting. Returns how many ran. REQUIRES: Start() was not called.
  size_t PollOnCallingThread();

  bool IsCurrent() const { return std::this_thread::get_id() == thread_id_.load(); }
  size_t index() const { return index_; }

 private:
  const size_t index_;
  boost::asio::io_context context_{1};  // concurrency hint 1: one thread runs it, no locking
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
};

}  // namespace wsbridge
