#include "cluster/lost_node_reaper.h"

#include <random>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "absl/strings/str_cat.h"
#include "cluster/lua_script.h"
#include "spdlog/spdlog.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge::cluster {
namespace {

// The nodes past their time on Redis's clock (TIME), declared-lost ones (score 0) included.
//   KEYS[1] wsb:nodes; ARGV[1] how many at most.
constexpr char kFindLostScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
)lua";

// Claims a lost node for this reaper, atomically with the check that it is still lost: the lease
// (free, or already ours) is set with its expiry, and the node's score becomes 0 ("declared
// lost"), so that its heartbeat, should it come back, tells it. 1: claimed; 0: not lost any more
// (gone, or alive again) or another reaper holds the lease.
//   KEYS[1] wsb:nodes, KEYS[2] wsb:reap:<node>; ARGV[1] node, ARGV[2] our token, ARGV[3] lease ms
constexpr char kClaimScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > now then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 1
)lua";

// Closes one chunk of a node's sessions, each exactly once: the SREM from the node's set is the
// one test every closer passes (this script, another reaper's, the node's own SessionLog), and
// the event, the hash and the index entries go only with a SREM that removed the id. In 'lost'
// mode the node must still be declared lost (score 0) and the lease ours (then renewed); else
// -1 and nothing changes. Returns how many sessions it closed.
//   KEYS[1] wsb:nodes, KEYS[2] wsb:ns:<node>, KEYS[3] wsb:events, KEYS[4] wsb:reap:<node>
//   ARGV[1] node, ARGV[2] mode ('lost' or 'own'), ARGV[3] our token, ARGV[4] lease ms,
//   ARGV[5] MAXLEN ~ of the log, ARGV[6] hash prefix (wsb:s:), ARGV[7] wsb:sessions,
//   ARGV[8] user set prefix (wsb:us:), ARGV[9] topic set prefix (wsb:ts:), ARGV[10] event field,
//   then pairs: session id, its serialized `closed` event.
constexpr char kChunkScript[] = R"lua(
if ARGV[2] == 'lost' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not score or tonumber(score) ~= 0 then return -1 end
  if redis.call('GET', KEYS[4]) ~= ARGV[3] then return -1 end
  redis.call('PEXPIRE', KEYS[4], ARGV[4])
end
local closed = 0
for i = 11, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('SREM', KEYS[2], id) == 1 then
    local hash = ARGV[6] .. id
    local f = redis.call('HMGET', hash, 'user', 'topics')
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', ARGV[10], ARGV[i + 1])
    redis.call('DEL', hash)
    redis.call('ZREM', ARGV[7], id)
    if f[1] and f[1] ~= '' then redis.call('ZREM', ARGV[8] .. f[1], id) end
    if f[2] then
      for topic in string.gmatch(f[2], '[^\n]+') do redis.call('ZREM', ARGV[9] .. topic, id) end
    end
    closed = closed + 1
  end
end
return closed
)lua";

// Ends the work on a node once its set is empty: in 'lost' mode, if the node is still declared
// lost (a node that came back keeps its place) and the lease still ours, the node leaves
// wsb:nodes and the lease becomes the tombstone "reaped" for a day, by which the node, should it
// come back, learns that it was given up (node_heartbeat.cc; a node merely absent from wsb:nodes
// may be one whose Redis lost its data in a restart). 1: done; 0: the set is not empty (more
// sessions to close).
//   KEYS[1] wsb:nodes, KEYS[2] wsb:ns:<node>, KEYS[3] wsb:reap:<node>
//   ARGV[1] node, ARGV[2] mode, ARGV[3] our token
constexpr char kFinishScript[] = R"lua(
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
if ARGV[2] == 'lost' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if score and tonumber(score) == 0 and redis.call('GET', KEYS[3]) == ARGV[3] then
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('SET', KEYS[3], 'reaped', 'PX', 86400000)
  end
end
return 1
)lua";

constexpr size_t kLostNodesPerCheck = 64;

int64_t Millis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

std::string ClosedEvent(const std::string& session_id, const std::string& user_id,
                        const std::string& node, absl::Time now) {
  v1::Event event;
  event.set_session_id(session_id);
  event.set_user_id(user_id);
  event.set_node_id(node);
  const int64_t nanos = absl::ToUnixNanos(now);
  event.mutable_time()->set_seconds(nanos / 1000000000);
  event.mutable_time()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  v1::SessionClosed* closed = event.mutable_closed();
  closed->set_code(1006);
  closed->set_reason(absl::StrCat("node ", node, " lost"));
  closed->set_initiator(v1::INITIATOR_TRANSPORT);
  return event.SerializeAsString();
}

absl::Status ErrorOf(const RedisReply& reply) {
  return absl::UnavailableError(absl::StrCat("redis unavailable: ", reply.str));
}

}  // namespace

// Everything the reaper's callbacks touch, kept alive by them; Redis-thread state only.
struct LostNodeReaper::Core : std::enable_shared_from_this<Core> {
  Core(IoThread& t, RedisConnection& r, const ClusterKeys& k, LostNodeReaperOptions o)
      : thread(t),
        redis(r),
        keys(k),
        options(std::move(o)),
        timer(t.Make<boost::asio::steady_timer>()) {
    if (options.check_interval <= absl::ZeroDuration())
      options.check_interval = options.node_timeout / 3;
    if (options.lease <= absl::ZeroDuration()) options.lease = options.node_timeout;
    if (options.chunk_size == 0) options.chunk_size = 1;
    std::random_device random;
    token = absl::StrCat(options.node_id, "/", random(), random());
  }

  using Done = std::function<void(absl::Status)>;

  void ScheduleCheck(absl::Duration after) {
    timer.expires_after(absl::ToChronoNanoseconds(after));
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->stopped) self->Check();
    });
  }

  void Check() {
    find_lost.Run(redis, {keys.Nodes()}, {std::to_string(kLostNodesPerCheck)},
                  [self = shared_from_this()](RedisReply reply) {
                    if (self->stopped) return;
                    auto nodes = std::make_shared<std::vector<std::string>>();
                    if (reply.type == RedisReply::Type::kArray) {
                      for (RedisReply& node : reply.elements) {
                        if (node.str != self->options.node_id)
                          nodes->push_back(std::move(node.str));
                      }
                    } else if (reply.is_error()) {
                      spdlog::warn("lost node check: {}", reply.str);
                    }
                    self->ClaimEach(std::move(nodes), 0);
                  });
  }

  // Claims and reaps nodes[i], then the next; schedules the next check after the last.
  void ClaimEach(std::shared_ptr<std::vector<std::string>> nodes, size_t i) {
    if (i == nodes->size()) return ScheduleCheck(options.check_interval);
    const std::string& node = (*nodes)[i];
    claim.Run(redis, {keys.Nodes(), ReapKey(node)},
              {node, token, std::to_string(Millis(options.lease))},
              [self = shared_from_this(), nodes, i](RedisReply reply) {
                if (self->stopped) return;
                const std::string& lost_node = (*nodes)[i];
                if (reply.type != RedisReply::Type::kInteger || reply.integer != 1) {
                  if (reply.is_error())
                    spdlog::warn("claiming lost node {}: {}", lost_node, reply.str);
                  return self->ClaimEach(nodes, i + 1);
                }
                spdlog::warn("node {} lost: closing its sessions", lost_node);
                self->ReapChunk(lost_node, /*lost=*/true, [self, nodes, i](absl::Status status) {
                  if (!status.ok()) {
                    spdlog::warn("reaping node {}: {}", (*nodes)[i], status.ToString());
                  }
                  self->ClaimEach(nodes, i + 1);
                });
              });
  }

  std::string ReapKey(const std::string& node) const { return keys.ReapLease(node); }

  // One chunk of `node`'s sessions, then the next, until its set is empty (or the work is not
  // ours any more); `done` once.
  void ReapChunk(std::string node, bool lost, Done done) {
    redis.Command(
        {"SRANDMEMBER", keys.NodeSessions(node), std::to_string(options.chunk_size)},
        [self = shared_from_this(), node, lost, done = std::move(done)](RedisReply reply) mutable {
          if (self->stopped) return;
          if (reply.is_error()) return done(ErrorOf(reply));
          if (reply.elements.empty()) return self->Finish(std::move(node), lost, std::move(done));
          std::vector<std::string> ids;
          ids.reserve(reply.elements.size());
          for (RedisReply& id : reply.elements) ids.push_back(std::move(id.str));
          self->ReadUsers(std::move(node), lost, std::move(ids), std::move(done));
        });
  }

  // The users of `ids` (pipelined HGETs), then the chunk script.
  void ReadUsers(std::string node, bool lost, std::vector<std::string> ids, Done done) {
    struct Gather {
      std::vector<std::string> ids, users;
      size_t remaining = 0;
      std::string error;
    };
    auto gather = std::make_shared<Gather>();
    gather->users.resize(ids.size());
    gather->remaining = ids.size();
    gather->ids = std::move(ids);
    auto shared_done = std::make_shared<Done>(std::move(done));
    for (size_t k = 0; k < gather->ids.size(); ++k) {
      redis.Command(
          {"HGET", keys.Session(gather->ids[k]), "user"},
          [self = shared_from_this(), gather, k, node, lost, shared_done](RedisReply reply) {
            if (reply.is_error() && gather->error.empty()) gather->error = reply.str;
            if (reply.type == RedisReply::Type::kString) gather->users[k] = std::move(reply.str);
            if (--gather->remaining > 0 || self->stopped) return;
            if (!gather->error.empty()) {
              return (*shared_done)(
                  absl::UnavailableError(absl::StrCat("redis unavailable: ", gather->error)));
            }
            self->RunChunk(node, lost, *gather, std::move(*shared_done));
          });
    }
  }

  template <class Gather>
  void RunChunk(const std::string& node, bool lost, const Gather& gather, Done done) {
    const absl::Time now = absl::Now();
    std::vector<std::string> args = {node,
                                     lost ? "lost" : "own",
                                     token,
                                     std::to_string(Millis(options.lease)),
                                     std::to_string(options.event_history),
                                     keys.Session(""),
                                     keys.AllSessions(),
                                     keys.UserSessions(""),
                                     keys.TopicSessions(""),
                                     std::string(ClusterKeys::EventField())};
    args.reserve(args.size() + 2 * gather.ids.size());
    for (size_t k = 0; k < gather.ids.size(); ++k) {
      args.push_back(gather.ids[k]);
      args.push_back(ClosedEvent(gather.ids[k], gather.users[k], node, now));
    }
    chunk.Run(
        redis, {keys.Nodes(), keys.NodeSessions(node), keys.Events(), ReapKey(node)},
        std::move(args),
        [self = shared_from_this(), node, lost, done = std::move(done)](RedisReply reply) mutable {
          if (self->stopped) return;
          if (reply.is_error()) return done(ErrorOf(reply));
          if (self->options.on_chunk) self->options.on_chunk(node, reply.integer);
          if (self->stopped) return;  // the hook may stop us
          if (reply.integer < 0) {
            spdlog::info("node {}: reaping stopped (it came back, or another reaper took over)",
                         node);
            return done(absl::OkStatus());
          }
          self->ReapChunk(std::move(node), lost, std::move(done));
        });
  }

  void Finish(std::string node, bool lost, Done done) {
    finish.Run(
        redis, {keys.Nodes(), keys.NodeSessions(node), ReapKey(node)},
        {node, lost ? "lost" : "own", token},
        [self = shared_from_this(), node, lost, done = std::move(done)](RedisReply reply) mutable {
          if (self->stopped) return;
          if (reply.is_error()) return done(ErrorOf(reply));
          // A session was added meanwhile (the node came back, or its SessionLog
          // re-registered one): go on.
          if (reply.integer == 0) return self->ReapChunk(std::move(node), lost, std::move(done));
          done(absl::OkStatus());
        });
  }

  IoThread& thread;
  RedisConnection& redis;
  const ClusterKeys& keys;
  LostNodeReaperOptions options;
  boost::asio::steady_timer timer;
  std::string token;  // names this reaper in the lease
  bool stopped = false;
  LuaScript find_lost{kFindLostScript};
  LuaScript claim{kClaimScript};
  LuaScript chunk{kChunkScript};
  LuaScript finish{kFinishScript};
};

LostNodeReaper::LostNodeReaper(IoThread& redis_thread, RedisConnection& redis,
                               const ClusterKeys& keys, LostNodeReaperOptions options)
    : core_(std::make_shared<Core>(redis_thread, redis, keys, std::move(options))) {}

LostNodeReaper::~LostNodeReaper() { Stop(); }

void LostNodeReaper::Start() {
  core_->thread.Post([core = core_] {
    if (!core->stopped) core->Check();
  });
}

void LostNodeReaper::Stop() {
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

void LostNodeReaper::ReapLeftovers(std::string node, std::function<void(absl::Status)> done) {
  core_->thread.Post([core = core_, node = std::move(node), done = std::move(done)]() mutable {
    if (core->stopped) return;
    core->ReapChunk(std::move(node), /*lost=*/false, std::move(done));
  });
}

}  // namespace wsbridge::cluster
