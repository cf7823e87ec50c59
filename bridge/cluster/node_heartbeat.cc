#include "cluster/node_heartbeat.h"

#include <utility>

#include <boost/asio/steady_timer.hpp>

#include "cluster/lua_script.h"
#include "spdlog/spdlog.h"

namespace wsbridge::cluster {
namespace {

// One beat, atomically with the check of what the cluster thinks of this node: its score becomes
// now + node_timeout on Redis's clock (TIME: one clock for every node, so nodes' clocks may
// disagree). Returns 1 when it was there alive; 0 when it was given up: declared lost (score 0,
// a reaper at work) or removed by a reaper that finished (its tombstone wsb:reap:<node>), which
// is then cleared (and a reaper still at work stops at its next chunk, the score being no longer
// 0); 2 when it was simply absent: the first beat of a run, or a Redis that lost its data.
//   KEYS[1] wsb:nodes, KEYS[2] wsb:reap:<node>; ARGV[1] node id, ARGV[2] node_timeout in ms
constexpr char kBeatScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local before = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if before and tonumber(before) > 0 then return 1 end
if before or redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[2])
  return 0
end
return 2
)lua";

}  // namespace

struct NodeHeartbeat::Core : std::enable_shared_from_this<Core> {
  Core(IoThread& t, RedisConnection& r, const ClusterKeys& k, LostNodeReaper& rp,
       NodeHeartbeatOptions o, std::function<void()> lost)
      : thread(t),
        redis(r),
        keys(k),
        reaper(rp),
        options(std::move(o)),
        on_lost(std::move(lost)),
        timer(t.Make<boost::asio::steady_timer>()) {
    if (options.interval <= absl::ZeroDuration()) options.interval = options.node_timeout / 3;
  }

  void After(absl::Duration delay, void (Core::*step)()) {
    timer.expires_after(absl::ToChronoNanoseconds(delay));
    timer.async_wait([self = shared_from_this(), step](boost::system::error_code ec) {
      if (!ec && !self->stopped) ((*self).*step)();
    });
  }

  void Beat(std::function<void(RedisReply)> then) {
    beat.Run(redis, {keys.Nodes(), keys.ReapLease(options.node_id)},
             {options.node_id, std::to_string(absl::ToInt64Milliseconds(options.node_timeout))},
             std::move(then));
  }

  // Start: a beat, then the leftovers, then ready; any Redis failure retries the whole.
  void FirstBeat() {
    Beat([self = shared_from_this()](RedisReply reply) {
      if (self->stopped) return;
      if (reply.is_error()) {
        spdlog::warn("heartbeat of node {}: {}; retrying", self->options.node_id, reply.str);
        return self->After(self->options.interval, &Core::FirstBeat);
      }
      self->reaper.ReapLeftovers(self->options.node_id, [self](absl::Status status) {
        if (self->stopped) return;
        if (!status.ok()) {
          spdlog::warn("leftover sessions of node {}: {}; retrying", self->options.node_id,
                       status.ToString());
          return self->After(self->options.interval, &Core::FirstBeat);
        }
        if (auto on_ready = std::move(self->ready)) on_ready();
        self->After(self->options.interval, &Core::NextBeat);
      });
    });
  }

  void NextBeat() {
    Beat([self = shared_from_this()](RedisReply reply) {
      if (self->stopped) return;
      if (reply.is_error()) {
        // Not known to be lost: the others decide on Redis's clock; we learn it at the next
        // beat that gets through.
        spdlog::warn("heartbeat of node {}: {}", self->options.node_id, reply.str);
      } else if (reply.type == RedisReply::Type::kInteger && reply.integer == 0) {
        spdlog::error("node {} was declared lost by the cluster: closing its sessions",
                      self->options.node_id);
        if (self->on_lost) self->on_lost();
        if (self->stopped) return;
      }
      self->After(self->options.interval, &Core::NextBeat);
    });
  }

  IoThread& thread;
  RedisConnection& redis;
  const ClusterKeys& keys;
  LostNodeReaper& reaper;
  NodeHeartbeatOptions options;
  std::function<void()> on_lost;
  std::function<void()> ready;
  boost::asio::steady_timer timer;
  bool stopped = false;
  LuaScript beat{kBeatScript};
};

NodeHeartbeat::NodeHeartbeat(IoThread& redis_thread, RedisConnection& redis,
                             const ClusterKeys& keys, LostNodeReaper& reaper,
                             NodeHeartbeatOptions options, std::function<void()> on_lost)
    : core_(std::make_shared<Core>(redis_thread, redis, keys, reaper, std::move(options),
                                   std::move(on_lost))) {}

NodeHeartbeat::~NodeHeartbeat() { Stop(); }

void NodeHeartbeat::Start(std::function<void()> ready) {
  core_->thread.Post([core = core_, ready = std::move(ready)]() mutable {
    if (core->stopped) return;
    core->ready = std::move(ready);
    core->FirstBeat();
  });
}

void NodeHeartbeat::Stop() {
  // Once: a second call (the destructor after an explicit Stop) may come after the Redis thread
  // stopped, when nothing would answer the wait below.
  if (stop_requested_) return;
  stop_requested_ = true;
  auto stop = [core = core_] {
    core->stopped = true;
    core->timer.cancel();
  };
  core_->thread.RunAndWait(stop);
}

}  // namespace wsbridge::cluster
