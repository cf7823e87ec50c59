// EventBus: where session events (opened, message, closed, error) meet the Events streams.
//
// I/O threads Publish() events; the bus stamps each with the node's next sequence number, the
// time and the node id, keeps it in a bounded history, and hands a shared pointer to every
// subscription that should see it:
//   - a subscription without a group gets every event of the kinds it asked for;
//   - the subscriptions of one group share the events: each event goes to exactly one member,
//     chosen by rendezvous hashing of the session id over the members, so all events of one
//     session go to the same member while membership is unchanged, and when a member leaves
//     only its share moves to the others;
//   - Subscribe() with start_after_sequence replays the missed events from the history and
//     joins the live flow under the same lock: no gap, no duplicate; OUT_OF_RANGE when the
//     history no longer holds them.
// A subscription whose queue is full is cut off (never silently skipped): it sees `overflowed`
// and its stream ends with RESOURCE_EXHAUSTED.
//
// Sequence numbers are strictly increasing per node. The first one is the node's start time in
// microseconds since the Unix epoch, so they also increase across restarts of a node (while it
// averages under a million events per second), and a consumer resuming from a sequence of a
// previous run gets OUT_OF_RANGE rather than a silent gap.
//
// Thread-safety: every method is safe from any thread; one mutex guards the history and the
// subscriptions. `wake` callbacks run after that mutex is released.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

using EventPtr = std::shared_ptr<const v1::Event>;

// Bit i set: EventKind i wanted. kAllEventKinds: every kind.
using EventKindMask = uint32_t;
inline constexpr EventKindMask kAllEventKinds =
    (1u << v1::EVENT_KIND_OPENED) | (1u << v1::EVENT_KIND_MESSAGE) | (1u << v1::EVENT_KIND_CLOSED) |
    (1u << v1::EVENT_KIND_ERROR);
v1::EventKind KindOf(const v1::Event& event);

class EventBus {
 public:
  struct SubscriptionOptions {
    EventKindMask kinds = kAllEventKinds;
    std::string group;                  // empty: no group
    uint64_t start_after_sequence = 0;  // 0: live events only
  };

  class Subscription;

  enum class PullOutcome { kEvent, kNone, kOverflowed, kClosed };
  struct Pulled {
    PullOutcome outcome = PullOutcome::kNone;
    EventPtr event;
  };

  // `options`: the node's config.events (history kept for start_after_sequence, and how far
  // one stream may lag behind); `node_id` is stamped on every event; `first_sequence` 0 means
  // the start time in microseconds (tests pin it).
  EventBus(const EventOptions& options, std::string node_id, uint64_t first_sequence = 0);
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Stamps `event` (sequence, time, node id) and routes it. Called on I/O threads.
  void Publish(v1::Event event);

  // FAILED_PRECONDITION when `group` has members that asked for other kinds; OUT_OF_RANGE when
  // events after start_after_sequence are no longer (or not yet) in the history. `wake` is
  // called (without the bus lock) when an event arrives for a subscription that found its queue
  // empty at its last Pull, and when the subscription overflows or the bus closes.
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(SubscriptionOptions options,
                                                          std::function<void()> wake);
  // Leaves the bus (and its group); idempotent. Queued events are released.
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);

  // The next event for `subscription`; kNone arms its wake; kOverflowed once it was cut off;
  // kClosed when the bus is closed and the subscription has nothing left.
  Pulled Pull(Subscription& subscription);

  // No more events will be published: subscriptions drain their queues, then see kClosed.
  void Close();

  uint64_t last_sequence() const;
  size_t subscription_count() const;
  // Blocks until no subscription is left or `deadline` passes; true if none is left. For the
  // drain: after Close(), each stream unsubscribes once it has written what it holds.
  bool AwaitNoSubscriptions(absl::Time deadline) const;

 private:
  struct Group {
    EventKindMask kinds = 0;
    std::vector<Subscription*> members;
  };

  void Deliver(Subscription* subscription, const EventPtr& event,
               std::vector<std::function<void()>>& wakes, std::vector<Subscription*>& cut_off)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  Subscription* PickMember(const Group& group, const std::string& session_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void Detach(Subscription* subscription) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  size_t SubscriptionCountLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const EventOptions options_;  // two numbers: a copy, so callers may pass a temporary
  const std::string node_id_;
  mutable absl::Mutex mutex_;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mutex_);
  std::deque<EventPtr> history_ ABSL_GUARDED_BY(mutex_);
  std::vector<Subscription*> ungrouped_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, Group> groups_ ABSL_GUARDED_BY(mutex_);
  uint64_t next_member_id_ ABSL_GUARDED_BY(mutex_) = 1;
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

// One consumer's place on the bus. Its fields are guarded by the bus mutex.
class EventBus::Subscription {
 public:
  const SubscriptionOptions& options() const { return options_; }

 private:
  friend class EventBus;
  Subscription(SubscriptionOptions options, std::function<void()> wake, uint64_t member_id)
      : options_(std::move(options)), wake_(std::move(wake)), member_id_(member_id) {}

  const SubscriptionOptions options_;
  const std::function<void()> wake_;
  const uint64_t member_id_;  // rendezvous hashing identity within a group
  std::deque<EventPtr> queue_;
  size_t replay_pending_ = 0;  // replayed events still at the front of queue_
  bool waiting_ = false;       // Pull found nothing; wake on the next event
  bool overflowed_ = false;    // cut off: the consumer fell too far behind
  bool attached_ = true;
};

}  // namespace wsbridge
