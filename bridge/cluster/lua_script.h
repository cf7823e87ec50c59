// LuaScript: one Lua script run on Redis by its SHA1 (EVALSHA), so the script's text crosses the
// wire once per Redis process, not once per call. The first call sends EVAL with the text and,
// beside it, SCRIPT LOAD to learn the SHA1; later calls send EVALSHA. A Redis that answers
// NOSCRIPT (restarted, or SCRIPT FLUSH) gets the call again as EVAL, which loads it again.
//
// Scripts build some key names from data (a session's user and topics); they are given the key
// prefix as an argument. That is fine on one Redis (what cluster mode runs on), not on Redis
// Cluster.
//
// Thread-safety: Run() only on the Redis thread (the thread of the connection it is given);
// `done` runs there, exactly once.
#pragma once

#include <string>
#include <vector>

#include "redis/redis_connection.h"

namespace wsbridge::cluster {

class LuaScript {
 public:
  explicit LuaScript(std::string source) : source_(std::move(source)) {}
  LuaScript(const LuaScript&) = delete;
  LuaScript& operator=(const LuaScript&) = delete;

  // Runs the script with `keys` (KEYS) and `args` (ARGV) on `redis`; `done` gets its reply.
  // REQUIRES: on the Redis thread; `this` outlives the completion.
  void Run(RedisConnection& redis, std::vector<std::string> keys, std::vector<std::string> args,
           RedisConnection::Completion done);

 private:
  const std::string source_;
  std::string sha_;       // known once SCRIPT LOAD answered; Redis thread only
  bool loading_ = false;  // a SCRIPT LOAD is in flight; Redis thread only
};

}  // namespace wsbridge::cluster
