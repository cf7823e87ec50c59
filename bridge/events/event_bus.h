// EventBus: where session events (opened, message, closed, error) meet the Events streams.
//
// I/O threads Publish() events; the bus stamps each with the node's next sequence number, the
// time and the node id, keeps it in a bounded history, and makes it available to every
// subscription that should see it:
//   - a subscription without a group gets every event of the kinds it asked for;
//   - the subscriptions of one group share the events: each event goes to exactly one member,
//     chosen by rendezvous hashing of the session id over the members, so all events of one
//     session go to the same member while membership is unchanged, and when a member leaves
//     only its share moves to the others;
//   - Subscribe() with start_after_sequence replays the missed events from the history and
//     joins the live flow under the same lock: no gap, no duplicate; OUT_OF_RANGE when the
//     history no longer holds them.
// A subscription that lags too far behind is cut off (never silently skipped): it sees
// `overflowed` and its stream ends with RESOURCE_EXHAUSTED.
//
// What a slow stream costs, and why it costs only itself. Subscriptions without a group do not
// have queues of their own: each distinct set of kinds has one shared log, every such
// subscription is a cursor into it, and Publish appends an event once per kinds set (at most 15)
// whatever the number of streams. Publish touches a subscription only to wake it (only those
// that found nothing at their last Pull) or to cut it off (only the one furthest behind, found in
// an index ordered by cursor). A log keeps an event only while a cursor is still before it, so
// 2,000 stuck streams hold one log of at most `stream_buffer` events / `stream_buffer_bytes`
// between them. (Per-stream queues, as before, made every Publish push onto every stream's queue
// under the bus mutex: with 2,000 stuck streams the mutex was held for the whole fan-out and the
// allocations, and a healthy stream's Pull queued behind it until it too fell behind and was
// cut off.) Group members keep a queue each: an event goes to one member, so Publish costs one
// push per group.
//
// Bounds, all in events and in bytes (the protobuf size of each event, computed once):
//   - the history: `history` events and `history_bytes`; an event evicted by either is gone for
//     resumes, which get OUT_OF_RANGE naming both limits;
//   - how far one subscription may lag behind the live flow: `stream_buffer` events and
//     `stream_buffer_bytes` of the events it is to receive (one event is always allowed, however
//     large); replayed events do not count;
//   - Events streams per node: `max_streams`; Subscribe past it is RESOURCE_EXHAUSTED.
//
// Sequence numbers are strictly increasing per node. The first one is the node's start time in
// microseconds since the Unix epoch, so they also increase across restarts of a node (while it
// averages under a million events per second), and a consumer resuming from a sequence of a
// previous run gets OUT_OF_RANGE rather than a silent gap.
//
// Cluster mode (cluster/cluster_event_feed.h, docs/cluster.md): the events come from the
// cluster's event log already stamped (sequence from the entry id, time, the node that held the
// session), so the feed calls Backfill/PublishStamped instead of Publish, and the feed, not the
// bus, decides which group member gets an event (RouteGroupsExternally): the bus then tells the
// feed when a group member joins or leaves, keeps what each member has acknowledged, and queues
// what the feed routes or replays to it. Without that call nothing of this runs.
//
// Acknowledgements: a PullBatch (or Pull) acknowledges every event the previous one handed out.
// An Events stream pulls again only once it has written all it took (EventsStream::PumpLocked),
// so "acknowledged" means "its gRPC write completed" with no call of its own.
//
// Thread-safety: every method is safe from any thread; one mutex guards the history, the logs
// and the subscriptions. `wake` callbacks run after that mutex is released; the group hooks run
// under it and only post.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "events/event_outlet.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

using EventPtr = std::shared_ptr<const v1::Event>;

// Bit i set: EventKind i wanted. kAllEventKinds: every kind.
using EventKindMask = uint32_t;
inline constexpr EventKindMask kAllEventKinds =
    (1u << v1::EVENT_KIND_OPENED) | (1u << v1::EVENT_KIND_MESSAGE) | (1u << v1::EVENT_KIND_CLOSED) |
    (1u << v1::EVENT_KIND_ERROR);
v1::EventKind KindOf(const v1::Event& event);

class EventBus : public EventOutlet {
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

  // What the bus holds, for the admin side and for tests of its bounds.
  struct Usage {
    size_t history_events = 0;
    uint64_t history_bytes = 0;
    size_t logged_events = 0;  // in the shared logs of subscriptions without a group
    uint64_t logged_bytes = 0;
    size_t queued_events = 0;  // in group members' queues and replays
    uint64_t queued_bytes = 0;
    size_t subscriptions = 0;
    // Live events the furthest-behind subscription has yet to take (replays not counted, as for
    // the cut-off): what `stream_buffer` bounds. One number for all streams, for /metrics.
    uint64_t max_stream_lag = 0;
    // Subscriptions cut off for lag since the bus started (their streams end with
    // RESOURCE_EXHAUSTED once they next write; counted here, when it is decided).
    uint64_t cut_off_total = 0;
  };

  // `options`: the node's config.events (history kept for start_after_sequence, how far one
  // stream may lag behind, how many streams); `node_id` is stamped on every event;
  // `first_sequence` 0 means the start time in microseconds (tests pin it).
  EventBus(const EventOptions& options, std::string node_id, uint64_t first_sequence = 0);
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Stamps `event` (sequence, time, node id) and routes it. Called on I/O threads. Costs
  // O(kinds sets in use + groups + subscriptions woken or cut off), not O(subscriptions).
  void Publish(v1::Event event) override;

  // FAILED_PRECONDITION when `group` has members that asked for other kinds; OUT_OF_RANGE when
  // events after start_after_sequence are no longer (or not yet) in the history;
  // RESOURCE_EXHAUSTED when the node already has `max_streams` subscriptions. `wake` is called
  // (without the bus lock) when an event arrives for a subscription that found nothing at its
  // last Pull, and when the subscription overflows or the bus closes.
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(SubscriptionOptions options,
                                                          std::function<void()> wake);
  // Leaves the bus (and its group); idempotent. Queued events are released.
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);

  // The next event for `subscription`; kNone arms its wake; kOverflowed once it was cut off;
  // kClosed when the bus is closed and the subscription has nothing left.
  Pulled Pull(Subscription& subscription);
  // Up to `max_events` next events (at least one, then while their sizes stay within
  // `max_bytes`) appended to `out`, under one lock: a stream that is behind catches up in
  // batches rather than taking the bus mutex per event. kEvent when `out` got any; otherwise as
  // Pull.
  PullOutcome PullBatch(Subscription& subscription, size_t max_events, uint64_t max_bytes,
                        std::vector<EventPtr>& out);

  // No more events will be published: subscriptions drain their queues, then see kClosed.
  void Close();

  // --- Cluster mode (cluster/cluster_event_feed.h) ---------------------------------------------
  // What the bus tells whoever routes groups: a grouped subscription joined (after Subscribe
  // returns it) or left (Unsubscribe, cut off, Interrupt), by Subscription::id(), with what it had
  // acknowledged then (Acknowledged; what it had not is released with it). Called without
  // the bus lock (so in the order things happened): they must only hand the news on (post), never
  // call the bus.
  struct GroupHooks {
    std::function<void(std::shared_ptr<Subscription>)> joined;
    std::function<void(uint64_t subscription_id, uint64_t acknowledged)> left;
  };
  // From now on the bus routes no group itself: a grouped subscription gets what the hooks' owner
  // routes to it (PublishStamped, Replay), no replay of its own at Subscribe. Call before the
  // first Subscribe.
  void RouteGroupsExternally(GroupHooks hooks);
  // `event` is already stamped. Adds it to the history only (nothing is delivered): the history a
  // node starts with. False (and ignored) unless its sequence is after the last one.
  bool Backfill(v1::Event event);
  // `event` is already stamped: the history, every kinds log, and the queues of `group_members`
  // (subscriptions of this bus; detached ones are skipped). False (and ignored) unless its
  // sequence is after the last one, or when the bus is closed.
  bool PublishStamped(v1::Event event, const std::vector<Subscription*>& group_members);
  // Appends `events` to the replay of `subscription` (ahead of its live queue): a group's share
  // moved to it. Bounded by the history they come from.
  void Replay(Subscription& subscription, const std::vector<EventPtr>& events);
  // The events of the history with sequence in (after, before), in order.
  std::vector<EventPtr> HistoryBetween(uint64_t after, uint64_t before) const;
  // The sequence of the oldest event in the history; 0 when it is empty.
  uint64_t first_history_sequence() const;
  // The highest sequence S such that every event this subscription was given with a sequence
  // <= S has been acknowledged (0: none).
  uint64_t Acknowledged(const Subscription& subscription) const;
  // The event log lost events this bus never saw (trimmed or wiped while it could not read):
  // every subscription is cut off (its stream ends with RESOURCE_EXHAUSTED and reconnects) and
  // the history is dropped, so a resume from before the loss gets OUT_OF_RANGE instead of a
  // silent gap (also from the last sequence before the loss, which the history would not reveal).
  void Interrupt();

  uint64_t last_sequence() const;
  size_t subscription_count() const;
  Usage usage() const;
  // Blocks until no subscription is left or `deadline` passes; true if none is left. For the
  // drain: after Close(), each stream unsubscribes once it has written what it holds.
  bool AwaitNoSubscriptions(absl::Time deadline) const;

 private:
  struct Sized {
    EventPtr event;
    uint64_t bytes = 0;
  };
  struct Group {
    EventKindMask kinds = 0;
    std::vector<Subscription*> members;
  };
  // The shared log of one kinds set: the events of those kinds that a cursor is still before.
  // Positions are absolute (base + offset in `entries`); `bytes_before` is the byte count of all
  // events appended before an entry, so a cursor's lag in bytes is one subtraction.
  struct KindLog {
    struct Entry {
      EventPtr event;
      uint64_t bytes = 0;
      uint64_t bytes_before = 0;
    };
    std::deque<Entry> entries;
    uint64_t base = 0;                                     // position of entries.front()
    uint64_t appended_bytes = 0;                           // bytes of every event ever appended
    uint64_t held_bytes = 0;                               // bytes of `entries`
    std::set<std::pair<uint64_t, Subscription*>> readers;  // by cursor: the furthest behind first
    std::vector<Subscription*> waiting;                    // found nothing at their last Pull
    uint64_t head() const { return base + entries.size(); }
  };

  void Deliver(Subscription* subscription, const Sized& event,
               std::vector<std::function<void()>>& wakes, std::vector<Subscription*>& cut_off)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void AppendToLog(KindLog& log, const Sized& event, std::vector<std::function<void()>>& wakes,
                   std::vector<Subscription*>& cut_off) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool TooFarBehind(uint64_t lag_events, uint64_t lag_bytes) const;
  void CutOff(Subscription* subscription, std::vector<std::function<void()>>& wakes,
              std::vector<Subscription*>& cut_off) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Drops the entries no cursor of `log` is before any more.
  static void TrimLog(KindLog& log);
  Subscription* PickMember(const Group& group, const std::string& session_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void Detach(Subscription* subscription) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void Wait(Subscription* subscription) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  uint64_t AcknowledgedLocked(const Subscription& subscription) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // History and kinds logs of a stamped event; false when its sequence is not after the last.
  bool AcceptStamped(v1::Event& event, Sized& sized) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void AppendToHistory(const Sized& sized) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const EventOptions options_;  // plain numbers: a copy, so callers may pass a temporary
  const std::string node_id_;
  mutable absl::Mutex mutex_;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mutex_);
  std::deque<Sized> history_ ABSL_GUARDED_BY(mutex_);
  uint64_t history_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<EventKindMask, KindLog> logs_ ABSL_GUARDED_BY(mutex_);  // of subscriptions w/o group
  absl::flat_hash_map<std::string, Group> groups_ ABSL_GUARDED_BY(mutex_);
  size_t attached_ ABSL_GUARDED_BY(mutex_) = 0;         // subscriptions on the bus
  uint64_t cut_off_total_ ABSL_GUARDED_BY(mutex_) = 0;  // subscriptions ever cut off for lag
  uint64_t next_member_id_ ABSL_GUARDED_BY(mutex_) = 1;
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
  GroupHooks group_hooks_ ABSL_GUARDED_BY(mutex_);   // set: groups routed outside (cluster)
  uint64_t lost_after_ ABSL_GUARDED_BY(mutex_) = 0;  // Interrupt: the last sequence before a loss
};

// One consumer's place on the bus. Its fields are guarded by the bus mutex.
class EventBus::Subscription {
 public:
  const SubscriptionOptions& options() const { return options_; }
  // Unique within its bus.
  uint64_t id() const { return member_id_; }

 private:
  friend class EventBus;
  Subscription(SubscriptionOptions options, std::function<void()> wake, uint64_t member_id)
      : options_(std::move(options)), wake_(std::move(wake)), member_id_(member_id) {}

  bool grouped() const { return !options_.group.empty(); }

  const SubscriptionOptions options_;
  const std::function<void()> wake_;
  const uint64_t member_id_;  // rendezvous hashing identity within a group
  std::deque<Sized> replay_;  // missed events from the history, before any live one
  uint64_t replay_bytes_ = 0;
  // Live events: a group member's own queue; without a group, a cursor into the kinds' log.
  std::deque<Sized> queue_;
  uint64_t queued_bytes_ = 0;
  uint64_t cursor_ = 0;
  bool waiting_ = false;     // Pull found nothing; wake on the next event
  bool overflowed_ = false;  // cut off: the consumer fell too far behind
  bool attached_ = true;
  // Acknowledgements (grouped only): what the last PullBatch handed out, and the highest
  // sequence handed out before it.
  uint64_t handed_min_ = 0;
  uint64_t handed_max_ = 0;
  uint64_t written_max_ = 0;
};

}  // namespace wsbridge
