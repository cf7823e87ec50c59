#include "cluster/interest_tracker.h"

#include <utility>

#include "redis/redis_subscriber.h"
#include "runtime/io_thread.h"

namespace wsbridge::cluster {

InterestCounts::Edge InterestCounts::Change(const std::string& name, bool held) {
  if (held) {
    size_t& holders = shards_holding_[name];
    return ++holders == 1 ? Edge::kFirst : Edge::kNone;
  }
  auto it = shards_holding_.find(name);
  if (it == shards_holding_.end()) return Edge::kNone;
  if (--it->second > 0) return Edge::kNone;
  shards_holding_.erase(it);
  return Edge::kLast;
}

size_t InterestCounts::holders(const std::string& name) const {
  auto it = shards_holding_.find(name);
  return it == shards_holding_.end() ? 0 : it->second;
}

InterestTracker::InterestTracker(IoThread& redis_thread, RedisSubscriber& subscriber,
                                 const ClusterKeys& keys, std::string node_id,
                                 std::function<void(const std::string&)> on_dropped)
    : thread_(redis_thread),
      subscriber_(subscriber),
      own_channel_(keys.NodeChannel(node_id)),
      all_channel_(keys.AllChannel()),
      keys_(keys),
      on_dropped_(std::move(on_dropped)) {}

void InterestTracker::Start() {
  thread_.Post([this] {
    Hold(own_channel_);
    Hold(all_channel_);
  });
}

void InterestTracker::OnTopicHeld(size_t, const std::string& topic, bool held) {
  thread_.Post(
      [this, channel = keys_.TopicChannel(topic), held] { Change(topics_, channel, held); });
}

void InterestTracker::OnUserHeld(size_t, const std::string& user, bool held) {
  thread_.Post([this, channel = keys_.UserChannel(user), held] { Change(users_, channel, held); });
}

void InterestTracker::Change(InterestCounts& counts, const std::string& channel, bool held) {
  WSBRIDGE_ASSERT_ON(thread_);
  switch (counts.Change(channel, held)) {
    case InterestCounts::Edge::kFirst:
      return Hold(channel);
    case InterestCounts::Edge::kLast:
      return Release(channel);
    case InterestCounts::Edge::kNone:
      return;
  }
}

void InterestTracker::Hold(const std::string& channel) {
  held_.insert(channel);
  if (detached_) return;
  // The subscriber outlives this tracker's use of it, and its callbacks stop when it is
  // destroyed, which happens before the tracker is.
  subscriber_.Subscribe(channel, [this, channel] {
    if (held_.contains(channel)) confirmed_.insert(channel);
  });
}

void InterestTracker::Release(const std::string& channel) {
  held_.erase(channel);
  confirmed_.erase(channel);
  if (!detached_) subscriber_.Unsubscribe(channel);
  if (on_dropped_) on_dropped_(channel);
}

void InterestTracker::OnSubscriberState(const RedisStateChange& change) {
  WSBRIDGE_ASSERT_ON(thread_);
  if (!change.connected) {
    confirmed_.clear();
    return;
  }
  // Connected (again): the subscriber has subscribed every channel it holds once more.
  for (const std::string& channel : held_) confirmed_.insert(channel);
}

std::vector<std::string> InterestTracker::HeldChannels() const {
  return std::vector<std::string>(held_.begin(), held_.end());
}

}  // namespace wsbridge::cluster
