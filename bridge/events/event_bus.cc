#include "events/event_bus.h"

#include <algorithm>
#include <utility>

#include <google/protobuf/util/time_util.h>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace wsbridge {

v1::EventKind KindOf(const v1::Event& event) {
  switch (event.kind_case()) {
    case v1::Event::kOpened:
      return v1::EVENT_KIND_OPENED;
    case v1::Event::kMessage:
      return v1::EVENT_KIND_MESSAGE;
    case v1::Event::kClosed:
      return v1::EVENT_KIND_CLOSED;
    case v1::Event::kError:
      return v1::EVENT_KIND_ERROR;
    default:
      return v1::EVENT_KIND_UNSPECIFIED;
  }
}

namespace {

bool Wants(EventKindMask kinds, const v1::Event& event) {
  return (kinds & (1u << KindOf(event))) != 0;
}

}  // namespace

EventBus::EventBus(const EventOptions& options, std::string node_id, uint64_t first_sequence)
    : options_(options),
      node_id_(std::move(node_id)),
      next_sequence_(first_sequence != 0 ? first_sequence
                                         : static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()))) {
}

void EventBus::Publish(v1::Event event) {
  *event.mutable_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::GetCurrentTimeNanos());
  event.set_node_id(node_id_);
  std::vector<std::function<void()>> wakes;
  {
    absl::MutexLock lock(&mutex_);
    if (closed_) return;
    event.set_sequence(next_sequence_++);
    // Sized once here: every bound below counts these bytes, and the stream writes this size.
    const uint64_t bytes = event.ByteSizeLong();
    const Sized sized{std::make_shared<const v1::Event>(std::move(event)), bytes};
    AppendToHistory(sized);
    std::vector<Subscription*> cut_off;
    for (auto& [kinds, log] : logs_) {
      if (Wants(kinds, *sized.event)) AppendToLog(log, sized, wakes, cut_off);
    }
    if (!group_hooks_.left) {  // in cluster mode the feed routes groups (PublishStamped)
      for (auto& [name, group] : groups_) {
        if (!Wants(group.kinds, *sized.event)) continue;
        Deliver(PickMember(group, sized.event->session_id()), sized, wakes, cut_off);
      }
    }
    // Detached only now: the loops above iterate the very containers Detach edits.
    for (Subscription* subscription : cut_off) Detach(subscription);
  }
  for (auto& wake : wakes) wake();
}

void EventBus::AppendToHistory(const Sized& sized) {
  history_.push_back(sized);
  history_bytes_ += sized.bytes;
  while (!history_.empty() &&
         (history_.size() > options_.history || history_bytes_ > options_.history_bytes)) {
    history_bytes_ -= history_.front().bytes;
    history_.pop_front();
  }
}

bool EventBus::AcceptStamped(v1::Event& event, Sized& sized) {
  if (closed_ || event.sequence() < next_sequence_) return false;
  next_sequence_ = event.sequence() + 1;
  const uint64_t bytes = event.ByteSizeLong();
  sized = Sized{std::make_shared<const v1::Event>(std::move(event)), bytes};
  AppendToHistory(sized);
  return true;
}

void EventBus::RouteGroupsExternally(GroupHooks hooks) {
  absl::MutexLock lock(&mutex_);
  group_hooks_ = std::move(hooks);
}

bool EventBus::Backfill(v1::Event event) {
  absl::MutexLock lock(&mutex_);
  Sized sized;
  return AcceptStamped(event, sized);
}

bool EventBus::PublishStamped(v1::Event event, const std::vector<Subscription*>& group_members) {
  std::vector<std::function<void()>> wakes;
  {
    absl::MutexLock lock(&mutex_);
    Sized sized;
    if (!AcceptStamped(event, sized)) return false;
    std::vector<Subscription*> cut_off;
    for (auto& [kinds, log] : logs_) {
      if (Wants(kinds, *sized.event)) AppendToLog(log, sized, wakes, cut_off);
    }
    for (Subscription* member : group_members) Deliver(member, sized, wakes, cut_off);
    for (Subscription* subscription : cut_off) Detach(subscription);
  }
  for (auto& wake : wakes) wake();
  return true;
}

void EventBus::Replay(Subscription& subscription, const std::vector<EventPtr>& events) {
  std::function<void()> wake;
  {
    absl::MutexLock lock(&mutex_);
    if (!subscription.attached_ || subscription.overflowed_ || events.empty()) return;
    for (const EventPtr& event : events) {
      const uint64_t bytes = event->ByteSizeLong();
      subscription.replay_.push_back({event, bytes});
      subscription.replay_bytes_ += bytes;
    }
    if (subscription.waiting_) {
      subscription.waiting_ = false;
      wake = subscription.wake_;
    }
  }
  if (wake) wake();
}

std::vector<EventPtr> EventBus::HistoryBetween(uint64_t after, uint64_t before) const {
  absl::MutexLock lock(&mutex_);
  std::vector<EventPtr> events;
  auto it = std::upper_bound(
      history_.begin(), history_.end(), after,
      [](uint64_t sequence, const Sized& event) { return sequence < event.event->sequence(); });
  for (; it != history_.end() && it->event->sequence() < before; ++it) events.push_back(it->event);
  return events;
}

uint64_t EventBus::first_history_sequence() const {
  absl::MutexLock lock(&mutex_);
  return history_.empty() ? 0 : history_.front().event->sequence();
}

uint64_t EventBus::Acknowledged(const Subscription& subscription) const {
  absl::MutexLock lock(&mutex_);
  return AcknowledgedLocked(subscription);
}

uint64_t EventBus::AcknowledgedLocked(const Subscription& subscription) const {
  // Everything below the oldest event still to write is written: live events are queued in
  // sequence order, replays may be older than what was written already.
  uint64_t pending_min = subscription.handed_min_;
  const auto consider = [&pending_min](const Sized& event) {
    const uint64_t sequence = event.event->sequence();
    if (pending_min == 0 || sequence < pending_min) pending_min = sequence;
  };
  for (const Sized& event : subscription.replay_) consider(event);
  if (!subscription.queue_.empty()) consider(subscription.queue_.front());
  if (pending_min == 0) return subscription.written_max_;
  return std::min(pending_min - 1, subscription.written_max_);
}

void EventBus::Interrupt() {
  std::vector<std::function<void()>> wakes;
  {
    absl::MutexLock lock(&mutex_);
    history_.clear();
    history_bytes_ = 0;
    lost_after_ = next_sequence_ - 1;
    std::vector<Subscription*> cut_off;
    for (auto& [kinds, log] : logs_) {
      for (const auto& [cursor, subscription] : log.readers) {
        CutOff(subscription, wakes, cut_off);
      }
    }
    for (auto& [name, group] : groups_) {
      for (Subscription* member : group.members) CutOff(member, wakes, cut_off);
    }
    for (Subscription* subscription : cut_off) Detach(subscription);
  }
  for (auto& wake : wakes) wake();
}

bool EventBus::TooFarBehind(uint64_t lag_events, uint64_t lag_bytes) const {
  // One event always fits, however large: a bound in bytes must not end a stream that keeps up
  // with events bigger than the bound.
  return lag_events > options_.stream_buffer ||
         (lag_events > 1 && lag_bytes > options_.stream_buffer_bytes);
}

void EventBus::CutOff(Subscription* subscription, std::vector<std::function<void()>>& wakes,
                      std::vector<Subscription*>& cut_off) {
  // Cut off rather than skip: the consumer learns it lost events (RESOURCE_EXHAUSTED), and a
  // group's other members take over its share from the next event on.
  subscription->overflowed_ = true;
  ++cut_off_total_;
  // What it acknowledged stays what it was: the events dropped here were not written.
  subscription->written_max_ = AcknowledgedLocked(*subscription);
  subscription->handed_min_ = subscription->handed_max_ = 0;
  subscription->waiting_ = false;
  subscription->queue_.clear();
  subscription->queued_bytes_ = 0;
  subscription->replay_.clear();
  subscription->replay_bytes_ = 0;
  cut_off.push_back(subscription);
  wakes.push_back(subscription->wake_);
}

void EventBus::AppendToLog(KindLog& log, const Sized& event,
                           std::vector<std::function<void()>>& wakes,
                           std::vector<Subscription*>& cut_off) {
  log.entries.push_back({event.event, event.bytes, log.appended_bytes});
  log.appended_bytes += event.bytes;
  log.held_bytes += event.bytes;
  for (Subscription* subscription : log.waiting) {
    subscription->waiting_ = false;
    wakes.push_back(subscription->wake_);
  }
  log.waiting.clear();
  // Only the readers furthest behind can be past a bound, and they come first in `readers`.
  while (!log.readers.empty()) {
    auto [cursor, subscription] = *log.readers.begin();
    const uint64_t lag_events = log.head() - cursor;
    const uint64_t lag_bytes =
        log.appended_bytes - log.entries[static_cast<size_t>(cursor - log.base)].bytes_before;
    if (!TooFarBehind(lag_events, lag_bytes)) break;
    log.readers.erase(log.readers.begin());
    CutOff(subscription, wakes, cut_off);
  }
  TrimLog(log);
}

void EventBus::TrimLog(KindLog& log) {
  const uint64_t keep_from = log.readers.empty() ? log.head() : log.readers.begin()->first;
  while (log.base < keep_from) {
    log.held_bytes -= log.entries.front().bytes;
    log.entries.pop_front();
    ++log.base;
  }
}

EventBus::Subscription* EventBus::PickMember(const Group& group,
                                             const std::string& session_id) const {
  // Rendezvous (highest random weight) hashing: stable per session; a leaving member's
  // sessions spread over the others and no other session moves.
  Subscription* best = nullptr;
  size_t best_weight = 0;
  for (Subscription* member : group.members) {
    const size_t weight = absl::HashOf(session_id, member->member_id_);
    if (best == nullptr || weight > best_weight) {
      best = member;
      best_weight = weight;
    }
  }
  return best;
}

void EventBus::Deliver(Subscription* subscription, const Sized& event,
                       std::vector<std::function<void()>>& wakes,
                       std::vector<Subscription*>& cut_off) {
  if (subscription->overflowed_ || !subscription->attached_) return;
  // Replayed events do not count: the limit is on how far it lags the live flow.
  if (TooFarBehind(subscription->queue_.size() + 1, subscription->queued_bytes_ + event.bytes)) {
    return CutOff(subscription, wakes, cut_off);
  }
  subscription->queue_.push_back(event);
  subscription->queued_bytes_ += event.bytes;
  if (subscription->waiting_) {
    subscription->waiting_ = false;
    wakes.push_back(subscription->wake_);
  }
}

absl::StatusOr<std::shared_ptr<EventBus::Subscription>> EventBus::Subscribe(
    SubscriptionOptions options, std::function<void()> wake) {
  absl::MutexLock lock(&mutex_);
  const bool routed_outside = static_cast<bool>(group_hooks_.left);
  if (closed_) return absl::UnavailableError("draining: the node is shutting down");
  if (attached_ >= options_.max_streams) {
    return absl::ResourceExhaustedError(
        absl::StrCat("this node already serves ", attached_,
                     " Events streams, its limit (--max_events_streams); close idle streams, use "
                     "a group, or connect to another node"));
  }
  const uint64_t last = next_sequence_ - 1;
  const uint64_t start_after = options.start_after_sequence;
  if (start_after != 0) {
    if (start_after > last) {
      return absl::OutOfRangeError(
          absl::StrCat("start_after_sequence: ", start_after, " is after this node's last event (",
                       last, "); the node may have restarted: resume from live events with 0"));
    }
    if (start_after <= lost_after_) {
      return absl::OutOfRangeError(absl::StrCat(
          "start_after_sequence: events after ", lost_after_,
          " were lost from the cluster's event log before this node read them (trimmed, or Redis "
          "lost its data); resume from live events with 0"));
    }
    const uint64_t oldest = history_.empty() ? last + 1 : history_.front().event->sequence();
    if (start_after + 1 < oldest) {
      return absl::OutOfRangeError(absl::StrCat(
          "start_after_sequence: events ", start_after + 1, " to ", oldest - 1,
          " are no longer in the history (it keeps the last ", options_.history, " events and ",
          options_.history_bytes, " bytes of events); resume from live events with 0"));
    }
  }
  Group* group = nullptr;
  if (!options.group.empty()) {
    auto it = groups_.find(options.group);
    if (it != groups_.end() && it->second.kinds != options.kinds) {
      return absl::FailedPreconditionError(absl::StrCat(
          "group: members of group \"", options.group,
          "\" already receive other event kinds; every member must ask for the same kinds"));
    }
    group = &groups_[options.group];
    group->kinds = options.kinds;
  }
  std::shared_ptr<Subscription> subscription(
      new Subscription(std::move(options), std::move(wake), next_member_id_++));
  Subscription* raw = subscription.get();
  ++attached_;
  if (group != nullptr) {
    group->members.push_back(raw);
  } else {
    KindLog& log = logs_[raw->options_.kinds];
    raw->cursor_ = log.head();
    log.readers.emplace(raw->cursor_, raw);
  }
  if (group != nullptr && routed_outside) {
    // The feed replays for it once its join is in the event log (the membership it joins).
    group_hooks_.joined(subscription);
    return subscription;
  }
  // Replay what it missed, as the routing would have given it with the membership it joins.
  if (start_after != 0) {
    auto first = std::upper_bound(
        history_.begin(), history_.end(), start_after,
        [](uint64_t sequence, const Sized& event) { return sequence < event.event->sequence(); });
    for (auto it = first; it != history_.end(); ++it) {
      const EventPtr& event = it->event;
      if (!Wants(raw->options_.kinds, *event)) continue;
      if (group != nullptr && PickMember(*group, event->session_id()) != raw) continue;
      raw->replay_.push_back(*it);
      raw->replay_bytes_ += it->bytes;
    }
  }
  return subscription;
}

void EventBus::Detach(Subscription* subscription) {
  if (!subscription->attached_) return;
  subscription->attached_ = false;
  --attached_;
  if (!subscription->grouped()) {
    auto it = logs_.find(subscription->options_.kinds);
    if (it == logs_.end()) return;
    KindLog& log = it->second;
    log.readers.erase({subscription->cursor_, subscription});
    log.waiting.erase(std::remove(log.waiting.begin(), log.waiting.end(), subscription),
                      log.waiting.end());
    if (log.readers.empty()) {
      logs_.erase(it);  // no reader: nothing to keep, and Publish need not append to it
    } else {
      TrimLog(log);
    }
    return;
  }
  if (group_hooks_.left) {
    group_hooks_.left(subscription->member_id_, AcknowledgedLocked(*subscription));
  }
  auto it = groups_.find(subscription->options_.group);
  if (it == groups_.end()) return;
  auto& members = it->second.members;
  members.erase(std::remove(members.begin(), members.end(), subscription), members.end());
  if (members.empty()) groups_.erase(it);
}

void EventBus::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  absl::MutexLock lock(&mutex_);
  Detach(subscription.get());
  subscription->queue_.clear();
  subscription->queued_bytes_ = 0;
  subscription->replay_.clear();
  subscription->replay_bytes_ = 0;
}

void EventBus::Wait(Subscription* subscription) {
  subscription->waiting_ = true;
  if (!subscription->grouped()) {
    logs_[subscription->options_.kinds].waiting.push_back(subscription);
  }
}

EventBus::Pulled EventBus::Pull(Subscription& subscription) {
  std::vector<EventPtr> one;
  const PullOutcome outcome = PullBatch(subscription, 1, 0, one);
  return {outcome, one.empty() ? nullptr : std::move(one.front())};
}

EventBus::PullOutcome EventBus::PullBatch(Subscription& subscription, size_t max_events,
                                          uint64_t max_bytes, std::vector<EventPtr>& out) {
  absl::MutexLock lock(&mutex_);
  if (subscription.overflowed_) return PullOutcome::kOverflowed;
  // Pulling again acknowledges what the previous pull handed out (see the header).
  subscription.written_max_ = std::max(subscription.written_max_, subscription.handed_max_);
  subscription.handed_min_ = subscription.handed_max_ = 0;
  const size_t out_before = out.size();
  const auto note_handed = [&] {
    for (size_t i = out_before; i < out.size(); ++i) {
      const uint64_t sequence = out[i]->sequence();
      if (subscription.handed_min_ == 0 || sequence < subscription.handed_min_) {
        subscription.handed_min_ = sequence;
      }
      subscription.handed_max_ = std::max(subscription.handed_max_, sequence);
    }
  };
  size_t taken = 0;
  uint64_t taken_bytes = 0;
  // At least one, then while the batch stays within max_bytes.
  const auto fits = [&](uint64_t bytes) {
    return taken < max_events && (taken == 0 || taken_bytes + bytes <= max_bytes);
  };
  while (!subscription.replay_.empty()) {
    Sized& next = subscription.replay_.front();
    if (!fits(next.bytes)) {
      note_handed();
      return PullOutcome::kEvent;
    }
    taken_bytes += next.bytes;
    subscription.replay_bytes_ -= next.bytes;
    out.push_back(std::move(next.event));
    subscription.replay_.pop_front();
    ++taken;
  }
  if (subscription.attached_) {
    if (subscription.grouped()) {
      while (!subscription.queue_.empty() && fits(subscription.queue_.front().bytes)) {
        Sized& next = subscription.queue_.front();
        taken_bytes += next.bytes;
        subscription.queued_bytes_ -= next.bytes;
        out.push_back(std::move(next.event));
        subscription.queue_.pop_front();
        ++taken;
      }
    } else {
      KindLog& log = logs_[subscription.options_.kinds];
      const uint64_t from = subscription.cursor_;
      uint64_t cursor = from;
      while (cursor < log.head()) {
        const KindLog::Entry& entry = log.entries[static_cast<size_t>(cursor - log.base)];
        if (!fits(entry.bytes)) break;
        out.push_back(entry.event);
        taken_bytes += entry.bytes;
        ++taken;
        ++cursor;
      }
      if (cursor != from) {
        const bool was_furthest_behind = log.readers.begin()->second == &subscription;
        log.readers.erase({from, &subscription});
        subscription.cursor_ = cursor;
        log.readers.emplace(cursor, &subscription);
        if (was_furthest_behind) TrimLog(log);
      }
    }
  }
  if (taken > 0) {
    note_handed();
    return PullOutcome::kEvent;
  }
  if (closed_ || !subscription.attached_) return PullOutcome::kClosed;
  if (!subscription.waiting_) Wait(&subscription);
  return PullOutcome::kNone;
}

void EventBus::Close() {
  std::vector<std::function<void()>> wakes;
  {
    absl::MutexLock lock(&mutex_);
    if (closed_) return;
    closed_ = true;
    auto wake_waiting = [&wakes](Subscription* subscription) {
      if (subscription->waiting_) {
        subscription->waiting_ = false;
        wakes.push_back(subscription->wake_);
      }
    };
    for (auto& [kinds, log] : logs_) {
      for (Subscription* subscription : log.waiting) wake_waiting(subscription);
      log.waiting.clear();
    }
    for (auto& [name, group] : groups_) {
      for (Subscription* member : group.members) wake_waiting(member);
    }
  }
  for (auto& wake : wakes) wake();
}

uint64_t EventBus::last_sequence() const {
  absl::MutexLock lock(&mutex_);
  return next_sequence_ - 1;
}

size_t EventBus::subscription_count() const {
  absl::MutexLock lock(&mutex_);
  return attached_;
}

EventBus::Usage EventBus::usage() const {
  absl::MutexLock lock(&mutex_);
  Usage usage;
  usage.history_events = history_.size();
  usage.history_bytes = history_bytes_;
  for (const auto& [kinds, log] : logs_) {
    usage.logged_events += log.entries.size();
    usage.logged_bytes += log.held_bytes;
    if (!log.readers.empty()) {
      usage.max_stream_lag =
          std::max<uint64_t>(usage.max_stream_lag, log.head() - log.readers.begin()->first);
    }
    for (const auto& [cursor, subscription] : log.readers) {
      usage.queued_events += subscription->replay_.size();
      usage.queued_bytes += subscription->replay_bytes_;
    }
  }
  for (const auto& [name, group] : groups_) {
    for (const Subscription* member : group.members) {
      usage.queued_events += member->queue_.size() + member->replay_.size();
      usage.queued_bytes += member->queued_bytes_ + member->replay_bytes_;
      usage.max_stream_lag = std::max<uint64_t>(usage.max_stream_lag, member->queue_.size());
    }
  }
  usage.subscriptions = attached_;
  usage.cut_off_total = cut_off_total_;
  return usage;
}

bool EventBus::AwaitNoSubscriptions(absl::Time deadline) const {
  absl::MutexLock lock(&mutex_);
  const auto none_left = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return attached_ == 0; };
  return mutex_.AwaitWithDeadline(absl::Condition(&none_left), deadline);
}

}  // namespace wsbridge
