// SessionDirectoryReader: GetSession and ListSessions of a cluster node, answered from the
// session directory in Redis (docs/cluster.md "Keys"), so they cover every node's sessions.
//
// List runs ONE Lua script: the page (ids in id order from wsb:sessions, wsb:us:<user> or
// wsb:ts:<topic>; for user AND topic the user's set walked and filtered by the topic's), each
// session's hash, and the id of the last entry of the event log. The directory changes only in
// the scripts that append `opened` / `closed` to the log, so the page is exactly the directory at
// that entry, and SessionPage::sequence is that entry's sequence (ClusterKeys).
//
// Counters (SessionStats): Redis keeps none. Sessions held by THIS node get live counters from
// the local hub (one local ListSessions / GetSession for the page); sessions of other nodes
// report zeros.
//
// Errors: when Redis is down or answers an error, GetWithStatus / ListWithStatus complete with
// UNAVAILABLE "redis unavailable: <why>" (or INTERNAL for a reply that makes no sense). The
// DirectoryReads overrides, whose completions carry no status yet, log it and answer "not found"
// / an empty page.
//
// Thread-safety: callable from any thread (the Redis work is posted to the Redis thread);
// completions run once, on the Redis thread or on an I/O thread of the local hub.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "broker/broker.h"
#include "cluster/cluster_keys.h"
#include "cluster/directory_reads.h"
#include "cluster/lua_script.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"

namespace wsbridge::cluster {

class SessionDirectoryReader final : public DirectoryReads {
 public:
  using SessionOrError = std::function<void(absl::StatusOr<std::optional<SessionView>>)>;
  using PageOrError = std::function<void(absl::StatusOr<SessionPage>)>;

  // REQUIRES: all outlive the reader; `redis` runs on `redis_thread`; `local_hub` is this
  // node's hub (for the counters of its own sessions).
  SessionDirectoryReader(IoThread& redis_thread, RedisConnection& redis, const ClusterKeys& keys,
                         std::string node_id, Broker& local_hub);

  void GetWithStatus(std::string session_id, SessionOrError done);
  void ListWithStatus(ListQuery query, PageOrError done);

  // DirectoryReads
  void Get(std::string session_id, SessionDone done) override;
  void List(ListQuery query, PageDone done) override;

 private:
  IoThread& redis_thread_;
  RedisConnection& redis_;
  const ClusterKeys& keys_;
  const std::string node_id_;
  Broker& local_hub_;
  LuaScript list_script_;  // Redis thread only
};

}  // namespace wsbridge::cluster
