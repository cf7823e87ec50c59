// ScatterGather: the one door through which API calls reach the I/O threads, and the one order
// in which they get there. A call (a Push, a Broadcast, a Subscribe, ...) names the I/O threads
// it concerns; its `work` runs once on each of them (scatter) and `done` runs once with every
// thread's partial result (gather), on the thread that finished last.
//
// Node order: every call is one step of a single node-wide sequence. Each I/O thread runs the
// steps it is named in, in that sequence. So two sessions on different threads that both receive
// messages A and B receive them in the same relative order, whichever gRPC threads, channels or
// streams A and B came on; and a Broadcast that enters after an Unsubscribe never reaches the
// session that left.
//
// How, without a lock on the delivery path: each I/O thread has an inbox. Entering a call takes
// one node-wide mutex only to append one small entry (a pointer to the shared call and the
// thread's slot in it) to each named inbox, so the hold is a few appends, never validation,
// copying or a syscall. A thread whose inbox was empty is woken with one Post() after the mutex
// is released; it then runs everything its inbox holds in one handler, so calls that arrive
// together are applied together and their frames leave each socket in one write.
//
//   gRPC thread A ─┐ order_mutex_ (append only)   ┌─> inbox 0 ─> I/O thread 0 runs A, B in order
//   gRPC thread B ─┘                              └─> inbox 1 ─> I/O thread 1 runs A, B in order
//
// Lock order: order_mutex_ before any inbox mutex; an I/O thread takes only its own inbox's mutex
// (to swap the batch out) and never order_mutex_. No callback runs under either.
//
// Thread-safety: Run() may be called from any thread, including I/O threads. `work` runs on the
// named threads; `done` runs exactly once, on one of them, or on the calling thread when no
// thread is named. Neither may block.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/io_thread.h"

namespace wsbridge {

class ScatterGather {
 public:
  // REQUIRES: threads outlive this object, and are stopped before it is destroyed.
  explicit ScatterGather(std::vector<IoThread*> threads);
  ScatterGather(const ScatterGather&) = delete;
  ScatterGather& operator=(const ScatterGather&) = delete;

  size_t thread_count() const { return inboxes_.size(); }

  // Runs `work(i)` (returning a Partial) on I/O thread i for each i in `thread_indices`, then
  // `done(partials)` once, partials in the order of `thread_indices`. With no index, runs
  // `done({})` at once on the calling thread (the call still took its place in no order: it
  // touches no session). REQUIRES: indices distinct and < thread_count().
  template <class Partial, class Work, class Done>
  void Run(std::vector<size_t> thread_indices, Work work, Done done);

  // Run() on every I/O thread.
  template <class Partial, class Work, class Done>
  void RunOnAll(Work work, Done done);

 private:
  // One call in flight, shared by the inboxes it was appended to.
  class Call {
   public:
    virtual ~Call() = default;
    // Runs the call's work for its `slot`-th thread. REQUIRES: on that thread, once per slot.
    virtual void RunSlot(size_t slot) = 0;
  };

  template <class Partial, class Work, class Done>
  class TypedCall;

  struct Entry {
    std::shared_ptr<Call> call;
    size_t slot = 0;
  };

  struct Inbox {
    explicit Inbox(IoThread* t) : thread(t) {}
    IoThread* const thread;
    absl::Mutex mutex;
    std::vector<Entry> entries ABSL_GUARDED_BY(mutex);
    bool drain_posted ABSL_GUARDED_BY(mutex) = false;  // a Drain handler is queued on `thread`
    std::vector<Entry> running;                        // the batch being run; owned by `thread`
  };

  // Appends `call` to the inboxes of `thread_indices` (slot k for the k-th) as one step of the
  // node order, then wakes the threads whose inbox was empty.
  void Enter(const std::shared_ptr<Call>& call, const std::vector<size_t>& thread_indices);
  // Runs the inbox's batch. On inbox.thread.
  static void Drain(Inbox& inbox);

  absl::Mutex order_mutex_;  // held while a call is appended to its inboxes; see the header
  std::vector<std::unique_ptr<Inbox>> inboxes_;
};

template <class Partial, class Work, class Done>
class ScatterGather::TypedCall final : public Call {
 public:
  TypedCall(std::vector<size_t> threads, Work work, Done done)
      : threads_(std::move(threads)),
        partials_(threads_.size()),
        remaining_(threads_.size()),
        work_(std::move(work)),
        done_(std::move(done)) {}

  void RunSlot(size_t slot) override {
    partials_[slot] = work_(threads_[slot]);
    // acq_rel: the last thread sees every other thread's partial.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_(std::move(partials_));
  }

 private:
  const std::vector<size_t> threads_;
  std::vector<Partial> partials_;  // [k] written only by threads_[k]
  std::atomic<size_t> remaining_;
  Work work_;
  Done done_;
};

template <class Partial, class Work, class Done>
void ScatterGather::Run(std::vector<size_t> thread_indices, Work work, Done done) {
  if (thread_indices.empty()) return done(std::vector<Partial>());
  auto call = std::make_shared<TypedCall<Partial, Work, Done>>(thread_indices, std::move(work),
                                                               std::move(done));
  Enter(call, thread_indices);
}

template <class Partial, class Work, class Done>
void ScatterGather::RunOnAll(Work work, Done done) {
  std::vector<size_t> all(inboxes_.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  Run<Partial>(std::move(all), std::move(work), std::move(done));
}

}  // namespace wsbridge
