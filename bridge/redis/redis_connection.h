// RedisConnection: one connection to Redis for commands, driven by the Redis thread's loop
// (an IoThread of its own, so no Redis I/O ever runs on the gRPC or WebSocket I/O threads).
//
// Commands are argv-style and binary-safe (each argument is sent with its length, so keys and
// values may hold any bytes, \0 included). Commands given back to back are pipelined: they go
// out in one write and their replies come back in order, each to its own completion.
//
// The connection looks after itself: AUTH and SELECT from the URL are sent on every connect
// ahead of any command; after a loss it reconnects with a capped backoff
// (redis_client_options.h) and reports each change (connected / lost, with why) to `on_state`.
// A command pending when the connection is lost (closed, or Redis silent past
// `reply_timeout`: the watchdog, redis_client_options.h), or given while it is down between
// attempts, completes with an error reply marked `unanswered` (redis_reply.h): callers see the
// outage at once and may retry; nothing is replayed for them.
//
// Thread-safety: Command() may be called from any thread; it posts the work onto the Redis
// thread, which owns all of the connection's state. Commands from one thread are sent in the
// order of the calls. Completions and `on_state` run on the Redis thread, must not block, and
// may call Command() again. Every completion runs exactly once.
//
// Destruction: from any thread, also from inside one of its own completions or `on_state`.
// Pending commands complete with "connection closed" and, when the destructor returns, no
// callback of this connection runs any more (from inside a callback: none but the completions
// of the commands it still held, which run when that callback returns). Off the Redis thread it
// waits for the Redis thread to do this. REQUIRES: that thread is running.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "redis/redis_client_options.h"
#include "redis/redis_reply.h"

namespace wsbridge {

class IoThread;
class RedisLink;

class RedisConnection {
 public:
  using Completion = std::function<void(RedisReply)>;
  using StateCallback = std::function<void(const RedisStateChange&)>;

  // Starts connecting at once. `redis_thread` must outlive the connection.
  RedisConnection(IoThread& redis_thread, RedisClientOptions options,
                  StateCallback on_state = nullptr);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends `argv` (command name first); `done` gets the reply.
  void Command(std::vector<std::string> argv, Completion done);

 private:
  IoThread& thread_;
  std::shared_ptr<RedisLink> link_;
};

}  // namespace wsbridge
