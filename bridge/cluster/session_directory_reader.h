// SessionDirectoryReader: GetSession and ListSessions of a cluster node, answered from the
// session directory in Redis (docs/cluster.md "Keys"), so they cover every node's sessions.
//
// List runs ONE Lua script: the page (ids in id order from wsb:sessions, wsb:us:<user> or
// wsb:ts:<topic>; for user AND topic the user's set walked and filtered by the topic's), each
// session's hash, and the id of the last entry of the event log. The directory changes only in
// the scripts that append `opened` / `closed` to the log, so the page is exactly the directory at
// that entry, and SessionPage::sequence is that entry's sequence (ClusterKeys).
//
// Counters (SessionStats): Redis keeps none. The reader groups the answer's sessions by the node
// their hash names and asks each node for their live counters through the CounterExchange (its
// own hub for this node's; one request per other node, answered or given up within
// CounterExchange::kReplyPatience: a node that does not answer in time leaves its sessions at
// zero counters).
//
// Errors: when Redis is down or answers an error, Get / List complete with `failure` set
// ("redis unavailable: <why>", broker/types.h), which the API answers as UNAVAILABLE: never a
// "not found" or an empty page that would say the sessions are gone. A directory entry that does
// not parse fails the call the same way ("redis error: session directory: ...").
//
// Thread-safety: callable from any thread (the Redis work is posted to the Redis thread);
// completions run once, on the Redis thread.
#pragma once

#include <string>

#include "broker/types.h"
#include "cluster/cluster_keys.h"
#include "cluster/counter_exchange.h"
#include "cluster/directory_reads.h"
#include "cluster/lua_script.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"

namespace wsbridge::cluster {

class SessionDirectoryReader final : public DirectoryReads {
 public:
  // REQUIRES: all outlive the reader; `redis` runs on `redis_thread`; `counters` fetches the
  // live counters of the sessions of every node (this one's included).
  SessionDirectoryReader(IoThread& redis_thread, RedisConnection& redis, const ClusterKeys& keys,
                         CounterExchange& counters);

  // DirectoryReads
  void Get(std::string session_id, SessionDone done) override;
  void List(ListQuery query, PageDone done) override;

 private:
  IoThread& redis_thread_;
  RedisConnection& redis_;
  const ClusterKeys& keys_;
  CounterExchange& counters_;
  LuaScript list_script_;  // Redis thread only
};

}  // namespace wsbridge::cluster
