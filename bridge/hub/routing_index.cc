#include "hub/routing_index.h"
#include "absl/strings/string_view.h"

#include <algorithm>
#include <utility>

namespace wsbridge {

bool RoutingIndex::Add(SessionInfo info, std::vector<std::string> topics,
                       SessionEndpoint* endpoint) {
  if (by_id_.contains(info.id)) return false;
  auto entry = std::make_unique<Entry>();
  entry->info = std::move(info);
  entry->endpoint = endpoint;
  Entry* raw = entry.get();
  by_id_.emplace(raw->info.id, std::move(entry));
  if (!raw->info.user_id.empty()) {
    EntrySet& of_user = by_user_[raw->info.user_id];
    of_user.insert(raw);
    if (observer_ != nullptr && of_user.size() == 1) {
      observer_->OnUserHeld(shard_, raw->info.user_id, true);
    }
  }
  for (const std::string& topic : topics) AddTopic(raw, topic);
  return true;
}

bool RoutingIndex::Remove(absl::string_view session_id) {
  auto it = by_id_.find(session_id);
  if (it == by_id_.end()) return false;
  Entry* entry = it->second.get();
  for (const std::string& topic : entry->topics) {
    auto topic_it = by_topic_.find(topic);
    topic_it->second.erase(entry);
    if (topic_it->second.empty()) {
      by_topic_.erase(topic_it);
      if (observer_ != nullptr) observer_->OnTopicHeld(shard_, topic, false);
    }
  }
  if (!entry->info.user_id.empty()) {
    auto user_it = by_user_.find(entry->info.user_id);
    user_it->second.erase(entry);
    if (user_it->second.empty()) {
      by_user_.erase(user_it);
      if (observer_ != nullptr) observer_->OnUserHeld(shard_, entry->info.user_id, false);
    }
  }
  by_id_.erase(it);
  return true;
}

const RoutingIndex::Entry* RoutingIndex::Find(absl::string_view session_id) const {
  auto it = by_id_.find(session_id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

void RoutingIndex::Visit(Entry* entry, uint64_t epoch, std::vector<Entry*>& out) {
  if (entry->visit_epoch == epoch) return;
  entry->visit_epoch = epoch;
  out.push_back(entry);
}

void RoutingIndex::SelectInto(const SessionSelector& selector, uint64_t epoch,
                              std::vector<bool>* found_named, std::vector<Entry*>& out) {
  for (size_t i = 0; i < selector.session_ids.size(); ++i) {
    auto it = by_id_.find(selector.session_ids[i]);
    if (it == by_id_.end()) continue;
    if (found_named != nullptr) (*found_named)[i] = true;
    Visit(it->second.get(), epoch, out);
  }
  for (const std::string& user : selector.user_ids) {
    auto it = by_user_.find(user);
    if (it == by_user_.end()) continue;
    for (Entry* entry : it->second) Visit(entry, epoch, out);
  }
}

void RoutingIndex::Select(const SessionSelector& selector, std::vector<bool>* found_named,
                          std::vector<Entry*>& out) {
  SelectInto(selector, NextEpoch(), found_named, out);
}

void RoutingIndex::Resolve(const DeliveryTargets& targets, std::vector<bool>* found_named,
                           std::vector<Entry*>& out) {
  const uint64_t epoch = NextEpoch();
  // Excluded sessions are marked visited first, so no source below can add them.
  for (const std::string& id : targets.exclude_session_ids) {
    auto it = by_id_.find(id);
    if (it != by_id_.end()) it->second->visit_epoch = epoch;
  }
  // So are the subscribers of the skipped topics (they get this message through another copy).
  for (const std::string& topic : targets.skip_topics) {
    auto it = by_topic_.find(topic);
    if (it == by_topic_.end()) continue;
    for (Entry* entry : it->second) entry->visit_epoch = epoch;
  }
  SelectInto(targets.selector, epoch, found_named, out);
  if (targets.all_sessions) {
    out.reserve(out.size() + by_id_.size());
    for (auto& [id, entry] : by_id_) Visit(entry.get(), epoch, out);
    return;
  }
  for (const std::string& topic : targets.topics) {
    auto it = by_topic_.find(topic);
    if (it == by_topic_.end()) continue;
    out.reserve(out.size() + it->second.size());
    for (Entry* entry : it->second) Visit(entry, epoch, out);
  }
}

bool RoutingIndex::AddTopic(Entry* entry, const std::string& topic) {
  auto pos = std::lower_bound(entry->topics.begin(), entry->topics.end(), topic);
  if (pos != entry->topics.end() && *pos == topic) return false;
  entry->topics.insert(pos, topic);
  EntrySet& subscribers = by_topic_[topic];
  subscribers.insert(entry);
  if (observer_ != nullptr && subscribers.size() == 1) observer_->OnTopicHeld(shard_, topic, true);
  return true;
}

bool RoutingIndex::RemoveTopic(Entry* entry, const std::string& topic) {
  auto pos = std::lower_bound(entry->topics.begin(), entry->topics.end(), topic);
  if (pos == entry->topics.end() || *pos != topic) return false;
  entry->topics.erase(pos);
  auto it = by_topic_.find(topic);
  it->second.erase(entry);
  if (it->second.empty()) {
    by_topic_.erase(it);
    if (observer_ != nullptr) observer_->OnTopicHeld(shard_, topic, false);
  }
  return true;
}

SubscribeCounts RoutingIndex::Subscribe(const SessionSelector& selector,
                                        const std::vector<std::string>& topics,
                                        size_t max_topics_per_session) {
  std::vector<Entry*> selected;
  Select(selector, nullptr, selected);
  // A topic named twice is one topic.
  std::vector<std::string> distinct(topics);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  SubscribeCounts counts;
  for (Entry* entry : selected) {
    size_t new_topics = 0;
    for (const std::string& topic : distinct) {
      if (!std::binary_search(entry->topics.begin(), entry->topics.end(), topic)) ++new_topics;
    }
    const size_t would_have = entry->topics.size() + new_topics;
    if (would_have > max_topics_per_session) {
      ++counts.refused;
      if (counts.refused == 1 || entry->info.id < counts.refused_session_id) {
        counts.refused_session_id = entry->info.id;
        counts.refused_session_topics = static_cast<uint32_t>(entry->topics.size());
        counts.refused_session_would_have = static_cast<uint32_t>(would_have);
        counts.max_topics_per_session = static_cast<uint32_t>(max_topics_per_session);
      }
      continue;
    }
    bool changed = false;
    for (const std::string& topic : distinct) changed |= AddTopic(entry, topic);
    if (changed) ReportTopicsChanged(*entry);
    ++counts.subscribed;
  }
  return counts;
}

size_t RoutingIndex::Unsubscribe(const SessionSelector& selector,
                                 const std::vector<std::string>& topics) {
  std::vector<Entry*> selected;
  Select(selector, nullptr, selected);
  for (Entry* entry : selected) {
    bool changed = false;
    for (const std::string& topic : topics) changed |= RemoveTopic(entry, topic);
    if (changed) ReportTopicsChanged(*entry);
  }
  return selected.size();
}

std::vector<const RoutingIndex::Entry*> RoutingIndex::ListAfter(absl::string_view after_id,
                                                                absl::string_view user_id,
                                                                absl::string_view topic,
                                                                size_t limit) const {
  std::vector<const Entry*> candidates;
  auto consider = [&](const Entry* entry) {
    if (!after_id.empty() && entry->info.id <= after_id) return;
    if (!entry->endpoint->Announced()) return;
    if (!user_id.empty() && entry->info.user_id != user_id) return;
    if (!topic.empty() && !std::binary_search(entry->topics.begin(), entry->topics.end(), topic)) {
      return;
    }
    candidates.push_back(entry);
  };
  // Walk the smallest set that can hold the answer.
  if (!user_id.empty()) {
    auto it = by_user_.find(user_id);
    if (it != by_user_.end()) {
      for (const Entry* entry : it->second) consider(entry);
    }
  } else if (!topic.empty()) {
    auto it = by_topic_.find(topic);
    if (it != by_topic_.end()) {
      for (const Entry* entry : it->second) consider(entry);
    }
  } else {
    for (const auto& [id, entry] : by_id_) consider(entry.get());
  }
  auto by_session_id = [](const Entry* a, const Entry* b) { return a->info.id < b->info.id; };
  if (candidates.size() > limit) {
    std::nth_element(candidates.begin(), candidates.begin() + limit, candidates.end(),
                     by_session_id);
    candidates.resize(limit);
  }
  std::sort(candidates.begin(), candidates.end(), by_session_id);
  return candidates;
}

}  // namespace wsbridge
