// HubObserver: what cluster mode hears from the hub (docs/cluster.md). The hub tells it which
// topics and users each shard's sessions hold, so the node subscribes to their Redis channels
// only while it holds such sessions, and each change Subscribe or Unsubscribe makes to a
// session's topics, so the session directory in Redis stays true. A single node has none.
//
// Thread-safety: every callback runs on the I/O thread of the shard where the change happened
// (its index is given), inside the hub's step or a Register/Unregister: it must not block and
// must not call back into the hub (post the work to another thread). Per shard, callbacks come
// in the order of the changes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "broker/types.h"

namespace wsbridge {

class HubObserver {
 public:
  virtual ~HubObserver() = default;

  // Shard `shard` now holds a session subscribed to `topic` (held) after holding none, or no
  // longer holds any (!held). Registering and unregistering sessions count as well.
  virtual void OnTopicHeld(size_t shard, const std::string& topic, bool held) = 0;
  // The same for the sessions of `user` (anonymous sessions have no user and are not reported).
  virtual void OnUserHeld(size_t shard, const std::string& user, bool held) = 0;
  // Subscribe or Unsubscribe changed the topics of a registered session; `topics` is the new set
  // (sorted, unique). Not called for Register and Unregister, nor when nothing changed.
  virtual void OnSessionTopicsChanged(size_t shard, const SessionInfo& session,
                                      const std::vector<std::string>& topics) = 0;
};

}  // namespace wsbridge
