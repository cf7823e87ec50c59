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
    auto shared = std::make_shared<const v1::Event>(std::move(event));
    history_.push_back(shared);
    if (history_.size() > options_.history) history_.pop_front();
    std::vector<Subscription*> cut_off;
    for (Subscription* subscription : ungrouped_) {
      if (Wants(subscription->options_.kinds, *shared)) {
        Deliver(subscription, shared, wakes, cut_off);
      }
    }
    for (auto& [name, group] : groups_) {
      if (!Wants(group.kinds, *shared)) continue;
      Deliver(PickMember(group, shared->session_id()), shared, wakes, cut_off);
    }
    // Detached only now: the loops above iterate the very lists Detach edits.
    for (Subscription* subscription : cut_off) Detach(subscription);
  }
  for (auto& wake : wakes) wake();
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

void EventBus::Deliver(Subscription* subscription, const EventPtr& event,
                       std::vector<std::function<void()>>& wakes,
                       std::vector<Subscription*>& cut_off) {
  if (subscription->overflowed_) return;
  // Replayed events still queued do not count: the limit is on how far it lags the live flow.
  if (subscription->queue_.size() - subscription->replay_pending_ >= options_.stream_buffer) {
    // Cut off rather than skip: the consumer learns it lost events (RESOURCE_EXHAUSTED), and
    // its group's other members take over its share from the next event on.
    subscription->overflowed_ = true;
    subscription->queue_.clear();
    subscription->replay_pending_ = 0;
    cut_off.push_back(subscription);
    wakes.push_back(subscription->wake_);
    return;
  }
  subscription->queue_.push_back(event);
  if (subscription->waiting_) {
    subscription->waiting_ = false;
    wakes.push_back(subscription->wake_);
  }
}

absl::StatusOr<std::shared_ptr<EventBus::Subscription>> EventBus::Subscribe(
    SubscriptionOptions options, std::function<void()> wake) {
  absl::MutexLock lock(&mutex_);
  if (closed_) return absl::UnavailableError("draining: the node is shutting down");
  const uint64_t last = next_sequence_ - 1;
  const uint64_t start_after = options.start_after_sequence;
  if (start_after != 0) {
    if (start_after > last) {
      return absl::OutOfRangeError(
          absl::StrCat("start_after_sequence: ", start_after, " is after this node's last event (",
                       last, "); the node may have restarted: resume from live events with 0"));
    }
    const uint64_t oldest = history_.empty() ? last + 1 : history_.front()->sequence();
    if (start_after + 1 < oldest) {
      return absl::OutOfRangeError(
          absl::StrCat("start_after_sequence: events ", start_after + 1, " to ", oldest - 1,
                       " are no longer in the history (it keeps the last ", options_.history,
                       " events); resume from live events with 0"));
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
  if (group != nullptr) {
    group->members.push_back(raw);
  } else {
    ungrouped_.push_back(raw);
  }
  // Replay what it missed, as the routing would have given it with the membership it joins.
  size_t replayed = 0;
  if (start_after != 0) {
    auto first = std::upper_bound(
        history_.begin(), history_.end(), start_after,
        [](uint64_t sequence, const EventPtr& event) { return sequence < event->sequence(); });
    for (auto it = first; it != history_.end(); ++it) {
      const EventPtr& event = *it;
      if (!Wants(raw->options_.kinds, *event)) continue;
      if (group != nullptr && PickMember(*group, event->session_id()) != raw) continue;
      raw->queue_.push_back(event);
      ++replayed;
    }
  }
  raw->replay_pending_ = replayed;
  return subscription;
}

void EventBus::Detach(Subscription* subscription) {
  if (!subscription->attached_) return;
  subscription->attached_ = false;
  const std::string& group_name = subscription->options_.group;
  if (group_name.empty()) {
    ungrouped_.erase(std::remove(ungrouped_.begin(), ungrouped_.end(), subscription),
                     ungrouped_.end());
    return;
  }
  auto it = groups_.find(group_name);
  if (it == groups_.end()) return;
  auto& members = it->second.members;
  members.erase(std::remove(members.begin(), members.end(), subscription), members.end());
  if (members.empty()) groups_.erase(it);
}

void EventBus::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  absl::MutexLock lock(&mutex_);
  Detach(subscription.get());
  subscription->queue_.clear();
}

EventBus::Pulled EventBus::Pull(Subscription& subscription) {
  absl::MutexLock lock(&mutex_);
  if (subscription.overflowed_) return {PullOutcome::kOverflowed, nullptr};
  if (!subscription.queue_.empty()) {
    EventPtr event = std::move(subscription.queue_.front());
    subscription.queue_.pop_front();
    if (subscription.replay_pending_ > 0) --subscription.replay_pending_;
    return {PullOutcome::kEvent, std::move(event)};
  }
  if (closed_ || !subscription.attached_) return {PullOutcome::kClosed, nullptr};
  subscription.waiting_ = true;
  return {PullOutcome::kNone, nullptr};
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
    for (Subscription* subscription : ungrouped_) wake_waiting(subscription);
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
  return SubscriptionCountLocked();
}

size_t EventBus::SubscriptionCountLocked() const {
  size_t count = ungrouped_.size();
  for (const auto& [name, group] : groups_) count += group.members.size();
  return count;
}

bool EventBus::AwaitNoSubscriptions(absl::Time deadline) const {
  absl::MutexLock lock(&mutex_);
  const auto none_left = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return SubscriptionCountLocked() == 0;
  };
  return mutex_.AwaitWithDeadline(absl::Condition(&none_left), deadline);
}

}  // namespace wsbridge
