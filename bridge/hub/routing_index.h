// RoutingIndex: which sessions a call reaches. It indexes the sessions of ONE I/O thread by id,
// by user and by topic, and answers "who gets this" for Push, Broadcast, Subscribe, Unsubscribe,
// Disconnect, GetSession and ListSessions. It holds no sockets and does no I/O: a session is an
// opaque SessionEndpoint* that the index never calls.
//
// The hub keeps one RoutingIndex per I/O thread (hub/hub.h), so a Broadcast is resolved by every
// thread in parallel, over its own sessions, without a lock and without copying session lists.
//
// Thread-safety: none. Each instance is owned by one I/O thread and used only there.
//
// Costs: Add/Remove O(topics of the session); lookup by id or user O(1) per id; a topic or
// all-sessions resolution O(matched sessions); ListAfter O(sessions of this shard).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "broker/types.h"
#include "hub/hub_observer.h"
#include "hub/session_endpoint.h"

namespace wsbridge {

class RoutingIndex {
 public:
  struct Entry {
    SessionInfo info;
    std::vector<std::string> topics;  // sorted, unique
    SessionEndpoint* endpoint = nullptr;
    // Deduplication mark: equal to the index's current epoch once this entry was visited by the
    // resolution under way.
    uint64_t visit_epoch = 0;
  };

  RoutingIndex() = default;
  RoutingIndex(const RoutingIndex&) = delete;
  RoutingIndex& operator=(const RoutingIndex&) = delete;

  // Reports this index's changes of held topics and users, and of sessions' topics, to
  // `observer` as shard `shard` (hub/hub_observer.h); null reports nothing (the default).
  void SetObserver(HubObserver* observer, size_t shard) {
    observer_ = observer;
    shard_ = shard;
  }

  // Registers a session with its initial topics. Returns false (and changes nothing) if a
  // session with the same id exists. REQUIRES: endpoint outlives its registration.
  bool Add(SessionInfo info, std::vector<std::string> topics, SessionEndpoint* endpoint);

  // Unregisters a session; false if it was not registered.
  bool Remove(absl::string_view session_id);

  const Entry* Find(absl::string_view session_id) const;
  size_t size() const { return by_id_.size(); }

  // Appends to `out` every distinct session the targets reach, each once, except the excluded
  // ones and the subscribers of targets.skip_topics (O(their subscribers) more). For each entry of
  // targets.selector.session_ids that is registered here, sets (*found_named)[i] = true;
  // `found_named` must have selector.session_ids.size() elements (or be null).
  void Resolve(const DeliveryTargets& targets, std::vector<bool>* found_named,
               std::vector<Entry*>& out);

  // Appends the distinct sessions selected by ids and users; marks found ids like Resolve.
  void Select(const SessionSelector& selector, std::vector<bool>* found_named,
              std::vector<Entry*>& out);

  // Adds `topics` to every selected session. A session that would exceed
  // `max_topics_per_session` (counting only topics it does not have yet) is left unchanged and
  // counted as refused, the smallest such id named; the others are counted as subscribed.
  SubscribeCounts Subscribe(const SessionSelector& selector, const std::vector<std::string>& topics,
                            size_t max_topics_per_session);

  // Removes `topics` from every selected session. Returns the number of selected sessions.
  size_t Unsubscribe(const SessionSelector& selector, const std::vector<std::string>& topics);

  // Up to `limit` announced sessions (SessionEndpoint::Announced) with id greater than
  // `after_id` (all when empty), filtered by user and/or topic when those are non-empty, ordered
  // by id.
  std::vector<const Entry*> ListAfter(absl::string_view after_id, absl::string_view user_id,
                                      absl::string_view topic, size_t limit) const;

 private:
  using EntrySet = absl::flat_hash_set<Entry*>;

  uint64_t NextEpoch() { return ++epoch_; }
  void Visit(Entry* entry, uint64_t epoch, std::vector<Entry*>& out);
  void SelectInto(const SessionSelector& selector, uint64_t epoch, std::vector<bool>* found_named,
                  std::vector<Entry*>& out);
  // Return whether the entry's topics changed.
  bool AddTopic(Entry* entry, const std::string& topic);
  bool RemoveTopic(Entry* entry, const std::string& topic);
  void ReportTopicsChanged(const Entry& entry) const {
    if (observer_ != nullptr) observer_->OnSessionTopicsChanged(shard_, entry.info, entry.topics);
  }

  absl::flat_hash_map<std::string, std::unique_ptr<Entry>> by_id_;
  absl::flat_hash_map<std::string, EntrySet> by_user_;   // anonymous sessions are not indexed
  absl::flat_hash_map<std::string, EntrySet> by_topic_;  // topic -> its subscribers
  uint64_t epoch_ = 0;
  HubObserver* observer_ = nullptr;
  size_t shard_ = 0;
};

}  // namespace wsbridge
