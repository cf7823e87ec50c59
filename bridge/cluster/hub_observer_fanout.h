// HubObserverFanout: the hub has one observer slot (Hub::SetObserver); cluster mode has several
// parts that listen to it (InterestTracker for channels, SessionLog for topic changes). This
// observer hands every report to each of them, in the order they were added.
//
// Thread-safety: Add() only before the fan-out is given to the hub (before sessions register);
// the callbacks then run on the I/O threads, as HubObserver's do, and only read the list.
#pragma once

#include <string>
#include <vector>

#include "hub/hub_observer.h"

namespace wsbridge::cluster {

class HubObserverFanout final : public HubObserver {
 public:
  // REQUIRES: `observer` outlives the hub's use of this fan-out.
  void Add(HubObserver* observer) { observers_.push_back(observer); }

  void OnTopicHeld(size_t shard, const std::string& topic, bool held) override {
    for (HubObserver* o : observers_) o->OnTopicHeld(shard, topic, held);
  }
  void OnUserHeld(size_t shard, const std::string& user, bool held) override {
    for (HubObserver* o : observers_) o->OnUserHeld(shard, user, held);
  }
  void OnSessionTopicsChanged(size_t shard, const SessionInfo& session,
                              const std::vector<std::string>& topics) override {
    for (HubObserver* o : observers_) o->OnSessionTopicsChanged(shard, session, topics);
  }

 private:
  std::vector<HubObserver*> observers_;
};

}  // namespace wsbridge::cluster
