// DirectoryReads: how a cluster node answers GetSession and ListSessions: from the session
// directory in Redis (docs/cluster.md "Keys"), so the answer covers every node's sessions.
// ClusterBroker forwards its GetSession/ListSessions here; SessionDirectoryReader implements it.
//
// Thread-safety: callable from any thread; each completion runs exactly once, on a thread of the
// implementation's choosing, and must not block.
#pragma once

#include <string>

#include "broker/types.h"

namespace wsbridge::cluster {

class DirectoryReads {
 public:
  virtual ~DirectoryReads() = default;
  virtual void Get(std::string session_id, SessionDone done) = 0;
  virtual void List(ListQuery query, PageDone done) = 0;
};

}  // namespace wsbridge::cluster
