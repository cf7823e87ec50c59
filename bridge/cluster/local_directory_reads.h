// LocalDirectoryReads: DirectoryReads answered by this node's Hub alone (its own sessions). A
// stand-in that ClusterNode uses until the directory reader (SessionDirectoryReader, which
// answers from Redis for every node) is wired in through ClusterNode::SetDirectory.
//
// Thread-safety: as the Hub's GetSession / ListSessions: any thread.
#pragma once

#include <string>
#include <utility>

#include "broker/broker.h"
#include "cluster/directory_reads.h"

namespace wsbridge::cluster {

class LocalDirectoryReads final : public DirectoryReads {
 public:
  explicit LocalDirectoryReads(Broker& hub) : hub_(hub) {}
  void Get(std::string session_id, SessionDone done) override {
    hub_.GetSession(std::move(session_id), std::move(done));
  }
  void List(ListQuery query, PageDone done) override {
    hub_.ListSessions(std::move(query), std::move(done));
  }

 private:
  Broker& hub_;
};

}  // namespace wsbridge::cluster
