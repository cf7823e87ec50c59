// EventOutlet: where the EventPublisher sends the events it builds. On a single node that is the
// EventBus itself (it stamps, keeps and fans them out); in cluster mode it is the node's
// SessionLog (cluster/session_log.h), which appends them to the cluster's event log in Redis,
// and the cluster's event feed puts them back on the bus from there, stamped with the log's
// sequence. The seam lets the publisher stay the same in both modes.
//
// Thread-safety: Publish() is called on the I/O threads of the sessions the events are about;
// an implementation must be safe to call from all of them at once and must not block on I/O.
#pragma once

#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

class EventOutlet {
 public:
  virtual ~EventOutlet() = default;

  // Takes one event about a session: its session id, user id and kind are set; the outlet
  // stamps the rest (time, node id, sequence).
  virtual void Publish(v1::Event event) = 0;
};

}  // namespace wsbridge
