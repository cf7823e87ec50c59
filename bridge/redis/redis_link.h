// RedisLink: the machinery under RedisConnection and RedisSubscriber (not for use outside
// redis/): one hiredis async context at a time on one IoThread, reconnected by itself.
//
// A connection's life: Connect() creates the context (hiredis resolves and starts a
// non-blocking connect), queues AUTH and SELECT from the URL and a PING ahead of everything else,
// and counts as connected when the TCP connect completed, AUTH and SELECT were answered OK and the
// PING was answered at all (a hung Redis accepts TCP connections: without the PING it would count
// as connected), then the backoff resets and on_state reports it. A loss (EOF, reset, a refused
// AUTH, a connect timeout, the watchdog) frees the context: every command it held completes with
// an unanswered error reply, on_state reports the loss once, and a timer tries again after the
// backoff (redis_client_options.h).
//
// The watchdog (RedisClientOptions::reply_timeout): while connected, a timer checks that the
// oldest command waiting for its reply (and, on a link with on_push, the SUBSCRIBE probe it sends
// every reply_timeout / 2) was sent less than reply_timeout ago; replies already in the socket are
// read first, so a Redis thread that was itself busy does not count as a silent Redis.
//
// Commands given while a context exists (connecting or connected) go to hiredis at once and are
// pipelined: hiredis appends them to its output buffer and one write carries all that were
// queued in the same turn of the loop. Commands given while there is none (between attempts)
// complete at once with an unanswered error: callers learn of an outage now, not after it.
//
// Thread-safety: every member, from its creation to Close(), runs on the IoThread; the link is
// held by shared_ptr so that tasks and handlers can keep it alive. Callbacks (completions,
// on_state, on_push) run on that thread, inside hiredis's processing: they must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "absl/time/time.h"
#include "redis/redis_client_options.h"
#include "redis/redis_reply.h"

struct redisAsyncContext;
struct redisReply;

namespace wsbridge {

class IoThread;

class RedisLink : public std::enable_shared_from_this<RedisLink> {
 public:
  using Completion = std::function<void(RedisReply)>;
  using StateCallback = std::function<void(const RedisStateChange&)>;
  // A pub/sub reply: ["subscribe", channel, count], ["message", channel, payload], ...
  using PushCallback = std::function<void(const RedisReply&)>;

  RedisLink(IoThread& io, RedisClientOptions options, StateCallback on_state,
            PushCallback on_push = nullptr);
  ~RedisLink();  // REQUIRES: Close() ran (or Connect() never did)
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Starts the first attempt.
  void Connect();
  // Sends one command; `done` runs exactly once with its reply (or an unanswered error).
  void Send(const std::vector<std::string>& argv, Completion done);
  // Sends SUBSCRIBE or UNSUBSCRIBE; replies and messages go to on_push. False (nothing sent)
  // without a context, or for an UNSUBSCRIBE on a context that subscribed to nothing.
  bool SendPubSub(const std::vector<std::string>& argv);
  // Frees the context (its commands complete with "connection closed"), stops retrying, and
  // drops the callbacks: none runs after Close() returns, except completions of the commands
  // the context held, which run inside it.
  void Close();

  // Connected and the handshake answered.
  bool connected() const { return connected_; }
  const RedisClientOptions& options() const { return options_; }

 private:
  struct Pending;
  static void OnConnect(const redisAsyncContext* ac, int status);
  static void OnDisconnect(const redisAsyncContext* ac, int status);
  static void OnReply(redisAsyncContext* ac, void* reply, void* privdata);
  static void OnPush(redisAsyncContext* ac, void* reply, void* privdata);

  bool Issue(const std::vector<std::string>& argv, Completion done);
  void OnHandshakeReply(uint64_t attempt, const char* what, const RedisReply& reply);
  void MarkConnected();
  // The context is gone (freed by hiredis or by us): report, then retry after the backoff.
  void Lost(const std::string& why);
  // Frees the context ourselves, giving `why` to the commands it held.
  void Abandon(const std::string& why);
  void ScheduleRetry();
  std::string Where() const;
  using Clock = std::chrono::steady_clock;
  void ScheduleWatchdog();
  void Watch();
  bool Overdue(Clock::time_point now) const;
  // True (and consumed) for the confirmation of the watchdog's probe.
  bool TakeProbeAnswer(const RedisReply& reply);

  IoThread& io_;
  const RedisClientOptions options_;
  StateCallback on_state_;
  PushCallback on_push_;

  redisAsyncContext* ac_ = nullptr;
  uint64_t attempt_ = 0;  // tells a stale timer or handshake reply from the current attempt's
  bool connected_ = false;
  bool closed_ = false;
  int handshake_pending_ = 0;
  // What commands pending in a context that we free ourselves are told.
  std::string abandon_reason_;
  // The last loss reported: a retry that fails the same way is not reported again.
  std::string reported_error_;
  bool reported_lost_ = false;
  std::string last_error_ = "not connected yet";
  absl::Duration backoff_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer connect_timer_;
  // The watchdog's: when each command of the current context still waiting for its reply was
  // sent, oldest first (replies come in order); the probe waiting for its confirmation; when the
  // last probe went or came back; when the context counted as connected.
  std::deque<Clock::time_point> sent_;
  std::optional<Clock::time_point> probe_sent_;
  Clock::time_point last_probe_;
  Clock::time_point connected_at_;
  boost::asio::steady_timer watchdog_timer_;
};

}  // namespace wsbridge
