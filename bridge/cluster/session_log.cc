#include "cluster/session_log.h"

#include <google/protobuf/util/time_util.h>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cluster/write_backlog.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"
#include "spdlog/spdlog.h"

namespace wsbridge::cluster {
namespace {

// --- The scripts ------------------------------------------------------------------------------
//
// Every script is the preamble followed by its body, and takes no KEYS: the names of the keys
// come first in ARGV (built by ClusterKeys, so docs/cluster.md stays the one schema), the
// script's own arguments follow from ARGV[9]. Each one runs atomically in Redis, which is the
// point: an entry of the event log and the directory change it implies are never seen apart.

// ARGV[1..8]: the event log, the set of all sessions, the prefixes of session hashes, user sets,
// topic sets and node sets, this node's id, the log's MAXLEN. Helpers shared by the scripts.
constexpr std::string_view kPreamble = R"lua(
local EVENTS, SESSIONS, S, US, TS, NS, NODE, MAXLEN =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
-- Topics are stored sorted and joined by '\n' (a topic holds no control character).
local function split(joined)
  local list = {}
  for t in string.gmatch(joined, '[^\n]+') do list[#list + 1] = t end
  return list
end
local function append(event)
  redis.call('XADD', EVENTS, 'MAXLEN', '~', MAXLEN, '*', 'e', event)
end
-- Writes the session's hash and puts its id in every set it belongs to.
local function index(id, node, user, topics, info)
  redis.call('HSET', S .. id, 'node', node, 'user', user, 'topics', topics, 'info', info)
  redis.call('ZADD', SESSIONS, 0, id)
  if user ~= '' then redis.call('ZADD', US .. user, 0, id) end
  for _, t in ipairs(split(topics)) do redis.call('ZADD', TS .. t, 0, id) end
  redis.call('SADD', NS .. node, id)
end
-- Takes the session out of every set its hash says it is in, and deletes the hash.
local function unindex(id)
  local h = redis.call('HMGET', S .. id, 'node', 'user', 'topics')
  if not h[1] then
    redis.call('SREM', NS .. NODE, id)
    return false
  end
  redis.call('DEL', S .. id)
  redis.call('ZREM', SESSIONS, id)
  if h[2] and h[2] ~= '' then redis.call('ZREM', US .. h[2], id) end
  for _, t in ipairs(split(h[3] or '')) do redis.call('ZREM', TS .. t, id) end
  redis.call('SREM', NS .. h[1], id)
  return true
end
-- Moves the session's topic sets from `old` to `new` (both joined).
local function retopic(id, old, new)
  local keep = {}
  for _, t in ipairs(split(new)) do
    keep[t] = true
    redis.call('ZADD', TS .. t, 0, id)
  end
  for _, t in ipairs(split(old)) do
    if not keep[t] then redis.call('ZREM', TS .. t, id) end
  end
end
)lua";

// `opened` (ARGV[9..13]: id, user, topics, info, event): the log entry and the session in the
// directory, together. A session already in the directory is not written twice (returns 0).
constexpr std::string_view kOpenedScript = R"lua(
local id = ARGV[9]
if redis.call('EXISTS', S .. id) == 1 then return 0 end
append(ARGV[13])
index(id, NODE, ARGV[10], ARGV[11], ARGV[12])
return 1
)lua";

// `closed` (ARGV[9..10]: id, event): the log entry, and the session out of every set its hash
// names, together, only while this node's set still holds the session. Exactly one `closed` per
// session: a survivor that declared this node lost (LostNodeReaper) takes each id out of the
// node's set in the same script that writes its closed, so whichever of the two comes second
// writes nothing. (A session whose opened never reached the log, lost with Redis's data before
// the reconcile wrote it again, gets no closed either: the log never showed it open.)
// Returns 1 if it wrote the entry.
constexpr std::string_view kClosedScript = R"lua(
local id = ARGV[9]
if redis.call('SISMEMBER', NS .. NODE, id) == 0 then return 0 end
append(ARGV[10])
unindex(id)
return 1
)lua";

// A topic change (ARGV[9..11]: id, topics, info): the topic sets, the `topics` field and the
// `info` of a session in the directory; nothing if it is not there (the reconciliation after an
// outage writes it whole). No log entry: topics are not events.
constexpr std::string_view kTopicsScript = R"lua(
local id = ARGV[9]
local old = redis.call('HGET', S .. id, 'topics')
if not old then return 0 end
retopic(id, old, ARGV[10])
redis.call('HSET', S .. id, 'topics', ARGV[10], 'info', ARGV[11])
return 1
)lua";

// Reconciliation, held sessions (ARGV[9..], 5 per session: id, user, topics, info, opened event):
// each is (re)written as this node holds it now. One the directory lost (Redis lost its data, or
// its opened was dropped during the outage) gets its `opened` entry with it, so the directory
// stays the log replayed. Returns how many were written anew.
constexpr std::string_view kHeldScript = R"lua(
local added = 0
for i = 9, #ARGV, 5 do
  local id = ARGV[i]
  local h = redis.call('HMGET', S .. id, 'node', 'topics')
  if h[1] then
    if h[1] ~= NODE then redis.call('SREM', NS .. h[1], id) end
    retopic(id, h[2] or '', ARGV[i + 2])
  else
    append(ARGV[i + 4])
    added = added + 1
  end
  index(id, NODE, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
end
return added
)lua";

// Reconciliation, step one (no own arguments): the sessions the directory says this node holds,
// as [id, user, id, user, ...]; ids in this node's set without a hash of this node are dangling
// and leave the set.
constexpr std::string_view kMembersScript = R"lua(
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', NS .. NODE)) do
  local h = redis.call('HMGET', S .. id, 'node', 'user')
  if h[1] == NODE then
    out[#out + 1] = id
    out[#out + 1] = h[2] or ''
  else
    redis.call('SREM', NS .. NODE, id)
  end
end
return out
)lua";

// Reconciliation, step two (ARGV[9..], 2 per session: id, closed event): sessions of this node
// that it no longer holds, whose `closed` never reached Redis. Each still in the directory as
// this node's gets its closed entry and leaves the directory, together; one that is gone by now
// (its own closed came meanwhile) is left alone. Returns how many were closed.
constexpr std::string_view kStaleScript = R"lua(
local closed = 0
for i = 9, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', S .. id, 'node') == NODE then
    append(ARGV[i + 1])
    unindex(id)
    closed = closed + 1
  else
    redis.call('SREM', NS .. NODE, id)
  end
end
return closed
)lua";

// The node's standing, read first thing on every (re)connect, before anything this connection
// sends is answered: whether the cluster gave this node up while it could not reach Redis, i.e. a
// LostNodeReaper declared it lost (score 0 in wsb:nodes) or finished with it (absent, and its
// tombstone wsb:reap:<node> there). Read only: the node's heartbeat is what clears the mark (and
// tells the node, NodeHeartbeat's on_lost). Standalone (not behind the preamble): it is sent by
// source before the scripts are loaded. Returns 1 when given up, else 0.
//   KEYS[1] wsb:nodes, KEYS[2] wsb:reap:<node>; ARGV[1] the node id
constexpr std::string_view kStandingScript = R"lua(
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score then
  if tonumber(score) == 0 then return 1 end
  return 0
end
return redis.call('EXISTS', KEYS[2])
)lua";

// Commands: a script (index into kScripts) or a plain XADD (message and error events: the log
// only, one command, atomic by itself).
enum Command : int { kOpened, kClosed, kTopics, kHeld, kMembers, kStale, kScriptCount, kXadd };
constexpr std::array<std::string_view, kScriptCount> kScripts = {
    kOpenedScript, kClosedScript, kTopicsScript, kHeldScript, kMembersScript, kStaleScript};

constexpr uint16_t kOutageCloseCode = 1006;
constexpr std::string_view kOutageCloseReason = "closed during redis outage";

google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::GetCurrentTimeNanos());
}

std::string JoinTopics(std::vector<std::string> topics) {
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  return absl::StrJoin(topics, "\n");
}

// What an I/O thread posts to the Redis thread: already serialized, so the Redis thread only
// sends.
struct Report {
  enum class Kind : uint8_t { kOpened, kClosed, kRecord, kTopics };
  Kind kind = Kind::kRecord;
  std::string session_id;
  std::string user;    // kOpened
  std::string topics;  // kOpened, kTopics: sorted, joined by '\n'
  std::string info;    // kOpened: a serialized v1::Session
  std::string event;   // kOpened, kClosed, kRecord: a serialized v1::Event
};

}  // namespace

// --- The Redis thread's side ----------------------------------------------------------------

class SessionLog::Writer : public std::enable_shared_from_this<Writer> {
 public:
  Writer(IoThread& redis_thread, RedisConnection& connection, const ClusterKeys& keys,
         SessionLogOptions options)
      : connection_(connection),
        options_(std::move(options)),
        nodes_key_(keys.Nodes()),
        reap_key_(keys.ReapLease(options_.node_id)),
        retry_timer_(redis_thread.Make<boost::asio::steady_timer>()),
        backlog_(options_.buffer_bytes) {
    names_ = {keys.Events(),          keys.AllSessions(),
              keys.Session(""),       keys.UserSessions(""),
              keys.TopicSessions(""), keys.NodeSessions(""),
              options_.node_id,       std::to_string(std::max<uint64_t>(options_.history, 1))};
    for (int i = 0; i < kScriptCount; ++i) {
      sources_[i] = std::string(kPreamble) + std::string(kScripts[i]);
    }
    if (options_.reconcile_chunk == 0) options_.reconcile_chunk = 1;
  }

  void Take(Report report) {
    if (detached_) return;
    PendingWrite write;
    switch (report.kind) {
      case Report::Kind::kOpened:
        held_[report.session_id] = Held{.info = report.info};
        write.command = kOpened;
        write.args = {std::move(report.session_id), std::move(report.user),
                      std::move(report.topics), std::move(report.info), std::move(report.event)};
        break;
      case Report::Kind::kClosed:
        // Sent for a given-up session too: kClosedScript writes it only if no reaper closed the
        // session first (a reaper stopped mid-way by the node's return leaves some to the node).
        held_.erase(report.session_id);
        given_up_.erase(report.session_id);
        write.command = kClosed;
        write.args = {std::move(report.session_id), std::move(report.event)};
        break;
      case Report::Kind::kRecord:
        write.session = report.session_id;
        write.command = kXadd;
        write.args = {std::move(report.event)};
        write.droppable = true;
        break;
      case Report::Kind::kTopics: {
        // A session not (yet) opened here: its `opened` will carry the topics it has by then.
        auto it = held_.find(report.session_id);
        if (it == held_.end()) return;
        v1::Session info;
        info.ParseFromString(it->second.info);
        info.clear_topics();
        for (absl::string_view t : absl::StrSplit(report.topics, '\n', absl::SkipEmpty())) {
          info.add_topics(std::string(t));
        }
        it->second.info = info.SerializeAsString();
        write.session = report.session_id;
        write.command = kTopics;
        write.args = {std::move(report.session_id), std::move(report.topics), it->second.info};
        break;
      }
    }
    Submit(std::move(write));
  }

  void OnState(const RedisStateChange& change) {
    if (detached_) return;
    if (change.connected) {
      Connected();
    } else if (link_ != Link::kDown) {
      GoDown(change.error);
    }
  }

  // Where the news that the cluster gave this node up came from: this SessionLog's own standing
  // check at a (re)connect, or the node's heartbeat (OnDeclaredLost).
  enum class LostNews : uint8_t { kStanding, kHeartbeat };

  // The cluster gave this node up: a reaper wrote the `closed` of every session the directory
  // had of it (or is writing them). Each held session whose `opened` was sent (so the reaper may
  // have closed it) is given up with the node: never written again (not reconciled, no message,
  // error or topic write, also none still waiting in the backlog), except its `closed`, which
  // kClosedScript drops if a reaper closed it first. The node closes them (1012) right after.
  // Sessions whose `opened` still waits in the backlog were never seen by the cluster: they are
  // written as they happened. The heartbeat reports the same loss the standing check found at
  // the connect before (it is what clears the mark in Redis): that report changes nothing.
  void DeclaredLost(LostNews news) {
    if (detached_) return;
    if (news == LostNews::kHeartbeat && standing_found_lost_) {
      standing_found_lost_ = false;
      return;
    }
    if (news == LostNews::kStanding) standing_found_lost_ = true;
    size_t given_up = 0;
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->second.announced) {
        given_up_.insert(it->first);
        held_.erase(it++);
        ++given_up;
      } else {
        ++it;
      }
    }
    spdlog::warn(
        "cluster session log: the cluster gave node {} up (silent past --node_timeout): {} of its "
        "sessions were closed for the cluster; nothing more is written for them",
        options_.node_id, given_up);
  }

  // `flushed` runs (on the Redis thread) once nothing waits or is in flight.
  void WhenFlushed(std::function<void()> flushed) {
    flushed_waiters_.push_back(std::move(flushed));
    NotifyIfFlushed();
  }

  void Detach() {
    detached_ = true;
    retry_timer_.cancel();
    flushed_waiters_.clear();
    link_ = Link::kDown;
    held_.clear();
    given_up_.clear();
    while (!backlog_.empty()) backlog_.Pop();
    PublishStats();
  }

  SessionLog::Stats stats() const {
    SessionLog::Stats s;
    s.live = stats_.live.load(std::memory_order_relaxed);
    s.backlog_writes = stats_.backlog_writes.load(std::memory_order_relaxed);
    s.backlog_bytes = stats_.backlog_bytes.load(std::memory_order_relaxed);
    s.in_flight_writes = stats_.in_flight_writes.load(std::memory_order_relaxed);
    s.in_flight_bytes = stats_.in_flight_bytes.load(std::memory_order_relaxed);
    s.peak_in_flight_writes = stats_.peak_in_flight_writes.load(std::memory_order_relaxed);
    s.written = stats_.written.load(std::memory_order_relaxed);
    s.failed = stats_.failed.load(std::memory_order_relaxed);
    s.unconfirmed = stats_.unconfirmed.load(std::memory_order_relaxed);
    s.dropped_events = stats_.dropped_events.load(std::memory_order_relaxed);
    s.dropped_lifecycle = stats_.dropped_lifecycle.load(std::memory_order_relaxed);
    s.outages = stats_.outages.load(std::memory_order_relaxed);
    s.reconciles = stats_.reconciles.load(std::memory_order_relaxed);
    s.given_up_writes = stats_.given_up_writes.load(std::memory_order_relaxed);
    return s;
  }

 private:
  enum class Link : uint8_t {
    kDown,     // not connected (or not yet): writes wait in the backlog
    kLoading,  // connected, SCRIPT LOAD sent and the script hashes not known yet
    kLive,     // sending
  };

  // Counters for stats(), written only here (single writer), read anywhere.
  struct AtomicStats {
    std::atomic<bool> live{false};
    std::atomic<uint64_t> backlog_writes{0}, backlog_bytes{0}, in_flight_writes{0},
        in_flight_bytes{0}, peak_in_flight_writes{0}, written{0}, failed{0}, unconfirmed{0},
        dropped_events{0}, dropped_lifecycle{0}, outages{0}, reconciles{0}, given_up_writes{0};
  };

  bool HasRoom(uint64_t bytes) const {
    return in_flight_writes_ == 0 || in_flight_bytes_ + bytes <= options_.buffer_bytes;
  }

  // A write in order: sent now if nothing is waiting before it and there is room in flight,
  // otherwise into the backlog.
  void Submit(PendingWrite write) {
    write.bytes = WriteBacklog::Cost(write);
    if (link_ == Link::kLive && backlog_.empty() && HasRoom(write.bytes)) {
      Send(std::move(write));
    } else {
      backlog_.Push(std::move(write));
      NoteDrops();
    }
    PublishStats();
  }

  // Sends what waits, in order, while there is room; then the reconciliation, if one is due.
  void Pump() {
    while (link_ == Link::kLive && !backlog_.empty() && HasRoom(backlog_.front().bytes)) {
      Send(backlog_.Pop());
    }
    if (link_ == Link::kLive && backlog_.empty() && reconcile_pending_) {
      reconcile_pending_ = false;
      Reconcile();
    }
    PublishStats();
    NotifyIfFlushed();
  }

  void NotifyIfFlushed() {
    if (flushed_waiters_.empty() || !backlog_.empty() || in_flight_writes_ > 0 ||
        reconcile_pending_) {
      return;
    }
    std::vector<std::function<void()>> waiters = std::move(flushed_waiters_);
    flushed_waiters_.clear();
    for (auto& waiter : waiters) waiter();
  }

  std::vector<std::string> Argv(const PendingWrite& write, bool by_source) const {
    std::vector<std::string> argv;
    argv.reserve(3 + names_.size() + write.args.size());
    if (by_source || shas_[write.command].empty()) {
      argv.push_back("EVAL");
      argv.push_back(sources_[write.command]);
    } else {
      argv.push_back("EVALSHA");
      argv.push_back(shas_[write.command]);
    }
    argv.push_back("0");
    argv.insert(argv.end(), names_.begin(), names_.end());
    argv.insert(argv.end(), write.args.begin(), write.args.end());
    return argv;
  }

  // Sends one write on the connection now (pipelined behind whatever was sent before).
  // `on_reply` (scripts only) sees the reply after the common accounting.
  void Send(PendingWrite write, std::function<void(const RedisReply&)> on_reply = nullptr,
            bool by_source = false, bool reconciling = false) {
    if (!write.session.empty() && given_up_.contains(write.session)) {
      ++given_up_writes_;  // a message or error (or a topic write) of a session given up
      return;
    }
    if (write.command == kOpened) {
      if (auto it = held_.find(write.args[0]); it != held_.end()) it->second.announced = true;
    }
    ++in_flight_writes_;
    in_flight_bytes_ += write.bytes;
    peak_in_flight_writes_ = std::max(peak_in_flight_writes_, in_flight_writes_);
    const uint64_t bytes = write.bytes;
    const uint64_t epoch = epoch_;
    if (write.command == kXadd) {
      std::vector<std::string> argv = {"XADD",    names_[0], "MAXLEN", "~",
                                       names_[7], "*",       "e",      std::move(write.args[0])};
      connection_.Command(std::move(argv),
                          [self = shared_from_this(), bytes, epoch](RedisReply reply) {
                            self->Answered(bytes, epoch, reply, nullptr, nullptr, false);
                          });
      return;
    }
    std::vector<std::string> argv = Argv(write, by_source);
    auto kept = std::make_shared<PendingWrite>(std::move(write));
    connection_.Command(std::move(argv),
                        [self = shared_from_this(), bytes, epoch, kept,
                         on_reply = std::move(on_reply), reconciling](RedisReply reply) {
                          self->Answered(bytes, epoch, reply, kept, on_reply, reconciling);
                        });
  }

  void Answered(uint64_t bytes, uint64_t epoch, const RedisReply& reply,
                const std::shared_ptr<PendingWrite>& write,
                const std::function<void(const RedisReply&)>& on_reply, bool reconciling) {
    --in_flight_writes_;
    in_flight_bytes_ -= bytes;
    if (detached_) return;
    if (reply.unanswered) {
      // It may or may not have run. Not sent again: the reconciliation after the outage repairs
      // the directory, and a message or error entry is then lost (docs/cluster.md).
      ++unconfirmed_;
      if (epoch == epoch_ && link_ != Link::kDown) GoDown(reply.str);
      PublishStats();
      NotifyIfFlushed();
      return;
    }
    if (reply.is_error() && write != nullptr && absl::StartsWith(reply.str, "NOSCRIPT")) {
      // The script cache was emptied under us (SCRIPT FLUSH, a failover): this write by source,
      // which loads the script again. Writes already sent behind it may run before it.
      PendingWrite again = std::move(*write);
      Send(std::move(again), on_reply, /*by_source=*/true, reconciling);
      PublishStats();
      return;
    }
    if (reply.is_error()) {
      ++failed_;
      if (!logged_failure_) {
        logged_failure_ = true;
        spdlog::error(
            "cluster session log: redis refused a write: {} (further refusals counted, "
            "not logged, until the next reconnect)",
            reply.str);
      }
    } else if (!reconciling) {
      ++written_;
    }
    if (on_reply != nullptr && epoch == epoch_) on_reply(reply);
    Pump();
  }

  // The connection is (again) up: load the scripts ahead of anything else on it, and go live
  // once Redis answered them (a Redis that is still loading its data answers LOADING to
  // everything: then again a little later, so that no write is refused for it).
  void Connected() {
    ++epoch_;
    logged_failure_ = false;
    link_ = Link::kLoading;
    loads_pending_ = kScriptCount + 1;
    still_loading_ = false;
    standing_found_lost_ = false;
    // First on the new connection, so it sees the mark before anything of this node's heartbeat
    // sent after it can clear it; a beat sent earlier (while connecting) is answered before the
    // loads below, and reports a loss it found through OnDeclaredLost, before we go live.
    connection_.Command(
        {"EVAL", std::string(kStandingScript), "2", nodes_key_, reap_key_, options_.node_id},
        [self = shared_from_this(), epoch = epoch_](RedisReply reply) {
          self->StandingKnown(epoch, reply);
        });
    for (int i = 0; i < kScriptCount; ++i) {
      connection_.Command({"SCRIPT", "LOAD", sources_[i]},
                          [self = shared_from_this(), i, epoch = epoch_](RedisReply reply) {
                            self->ScriptLoaded(i, epoch, reply);
                          });
    }
  }

  void StandingKnown(uint64_t epoch, const RedisReply& reply) {
    LoadAnswered(epoch, reply, [&] {
      if (reply.is_error()) {
        // Not known: the heartbeat still finds out, and kClosedScript keeps closed once each.
        spdlog::error("cluster session log: reading this node's standing failed: {}", reply.str);
      } else if (reply.integer == 1) {
        DeclaredLost(LostNews::kStanding);
      }
    });
  }

  void ScriptLoaded(int script, uint64_t epoch, const RedisReply& reply) {
    LoadAnswered(epoch, reply, [&] {
      if (reply.is_error()) {
        // Sent by source (EVAL) from now on; if Redis refuses that too, each write says so.
        spdlog::error("cluster session log: SCRIPT LOAD refused: {}", reply.str);
      } else {
        shas_[script] = reply.str;
      }
    });
  }

  // One answer of a connect's round (the standing check and the loads): `take` sees it unless it
  // is stale, missing (the loss is reported by on_state) or LOADING (the round is sent again a
  // little later); live once all are answered.
  template <class Take>
  void LoadAnswered(uint64_t epoch, const RedisReply& reply, Take take) {
    if (detached_ || epoch != epoch_ || link_ != Link::kLoading) return;
    if (reply.unanswered) return;
    if (reply.is_error() && absl::StartsWith(reply.str, "LOADING")) {
      still_loading_ = true;
    } else {
      take();
    }
    if (--loads_pending_ > 0) return;
    if (!still_loading_) return GoLive();
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([self = shared_from_this(), epoch](boost::system::error_code ec) {
      if (!ec && !self->detached_ && epoch == self->epoch_ && self->link_ == Link::kLoading) {
        self->Connected();
      }
    });
  }

  void GoLive() {
    link_ = Link::kLive;
    reconcile_pending_ = true;
    // Sessions of this node that it no longer holds can only be left over from an outage; at the
    // first connect, a previous incarnation's leftovers are the reaper's (docs/cluster.md).
    stale_check_ = ever_live_;
    if (ever_live_) {
      const uint64_t dropped_events = backlog_.dropped_droppable() - outage_dropped_events_;
      const uint64_t dropped_lifecycle = backlog_.dropped_kept() - outage_dropped_lifecycle_;
      if (dropped_events + dropped_lifecycle > 0) {
        spdlog::warn(
            "cluster session log: redis is back; replaying {} writes ({} bytes); the outage "
            "dropped {} message/error events and {} opened/closed/topic writes (the directory is "
            "reconciled next)",
            backlog_.size(), backlog_.bytes(), dropped_events, dropped_lifecycle);
      } else {
        spdlog::info("cluster session log: redis is back; replaying {} writes ({} bytes)",
                     backlog_.size(), backlog_.bytes());
      }
    }
    ever_live_ = true;
    Pump();
  }

  void GoDown(const std::string& why) {
    const bool was_live = link_ == Link::kLive;
    link_ = Link::kDown;
    ++epoch_;
    if (!was_live) return;
    ++outages_;
    outage_dropped_events_ = backlog_.dropped_droppable();
    outage_dropped_lifecycle_ = backlog_.dropped_kept();
    warned_drop_ = false;
    spdlog::warn("cluster session log: {}; events wait in a backlog of up to {} bytes", why,
                 options_.buffer_bytes);
    PublishStats();
  }

  void NoteDrops() {
    if (warned_drop_) return;
    if (backlog_.dropped_droppable() == outage_dropped_events_ &&
        backlog_.dropped_kept() == outage_dropped_lifecycle_) {
      return;
    }
    warned_drop_ = true;
    spdlog::warn(
        "cluster session log: backlog full ({} bytes): dropping the oldest message/error events "
        "until redis takes writes again (counted: dropped_events)",
        options_.buffer_bytes);
  }

  // After replaying the backlog: every held session rewritten, in chunks; then, after an outage,
  // the directory's sessions of this node that it does not hold closed.
  void Reconcile() {
    std::vector<std::string> args;
    size_t in_chunk = 0;
    for (const auto& [id, held] : held_) {
      const std::string& info_bytes = held.info;
      v1::Session info;
      info.ParseFromString(info_bytes);
      std::vector<std::string> topics(info.topics().begin(), info.topics().end());
      v1::Event opened;
      *opened.mutable_time() = info.connected_at();
      opened.set_session_id(id);
      opened.set_user_id(info.user_id());
      opened.set_node_id(options_.node_id);
      opened.mutable_opened()->set_remote_address(info.remote_address());
      for (const std::string& t : topics) opened.mutable_opened()->add_topics(t);
      opened.mutable_opened()->mutable_metadata()->insert(info.metadata().begin(),
                                                          info.metadata().end());
      args.push_back(id);
      args.push_back(info.user_id());
      args.push_back(JoinTopics(std::move(topics)));
      args.push_back(info_bytes);
      args.push_back(opened.SerializeAsString());
      if (++in_chunk == options_.reconcile_chunk) {
        SendScript(kHeld, std::move(args));
        args.clear();
        in_chunk = 0;
      }
    }
    if (in_chunk > 0) SendScript(kHeld, std::move(args));
    if (!stale_check_) return;
    SendScript(kMembers, {}, [this](const RedisReply& reply) { CloseStale(reply); });
  }

  void CloseStale(const RedisReply& members) {
    std::vector<std::vector<std::string>> chunks;
    for (size_t i = 0; !members.is_error() && i + 1 < members.elements.size(); i += 2) {
      const std::string& id = members.elements[i].str;
      // A given-up session still in the node's set (a reaper stopped mid-way) is closed by the
      // node itself (1012), right after.
      if (held_.contains(id) || given_up_.contains(id)) continue;
      v1::Event closed;
      *closed.mutable_time() = Now();
      closed.set_session_id(id);
      closed.set_user_id(members.elements[i + 1].str);
      closed.set_node_id(options_.node_id);
      closed.mutable_closed()->set_code(kOutageCloseCode);
      closed.mutable_closed()->set_reason(std::string(kOutageCloseReason));
      closed.mutable_closed()->set_initiator(v1::INITIATOR_TRANSPORT);
      if (chunks.empty() || chunks.back().size() == 2 * options_.reconcile_chunk) {
        chunks.emplace_back();
      }
      chunks.back().push_back(id);
      chunks.back().push_back(closed.SerializeAsString());
    }
    const auto finished = [this](const RedisReply&) {
      ++reconciles_;
      PublishStats();
    };
    if (chunks.empty()) return finished(members);
    for (size_t i = 0; i < chunks.size(); ++i) {
      SendScript(
          kStale, std::move(chunks[i]),
          i + 1 == chunks.size() ? std::function<void(const RedisReply&)>(finished) : nullptr);
    }
  }

  // A reconciliation script: sent at once, outside the backlog (it is rebuilt from the record
  // after every outage, so it need not wait for one).
  void SendScript(Command command, std::vector<std::string> args,
                  std::function<void(const RedisReply&)> on_reply = nullptr) {
    PendingWrite write;
    write.command = command;
    write.args = std::move(args);
    write.bytes = WriteBacklog::Cost(write);
    Send(std::move(write), std::move(on_reply), /*by_source=*/false, /*reconciling=*/true);
  }

  void PublishStats() {
    stats_.live.store(link_ == Link::kLive, std::memory_order_relaxed);
    stats_.backlog_writes.store(backlog_.size(), std::memory_order_relaxed);
    stats_.backlog_bytes.store(backlog_.bytes(), std::memory_order_relaxed);
    stats_.in_flight_writes.store(in_flight_writes_, std::memory_order_relaxed);
    stats_.in_flight_bytes.store(in_flight_bytes_, std::memory_order_relaxed);
    stats_.peak_in_flight_writes.store(peak_in_flight_writes_, std::memory_order_relaxed);
    stats_.written.store(written_, std::memory_order_relaxed);
    stats_.failed.store(failed_, std::memory_order_relaxed);
    stats_.unconfirmed.store(unconfirmed_, std::memory_order_relaxed);
    stats_.dropped_events.store(backlog_.dropped_droppable(), std::memory_order_relaxed);
    stats_.dropped_lifecycle.store(backlog_.dropped_kept(), std::memory_order_relaxed);
    stats_.outages.store(outages_, std::memory_order_relaxed);
    stats_.reconciles.store(reconciles_, std::memory_order_relaxed);
    stats_.given_up_writes.store(given_up_writes_, std::memory_order_relaxed);
  }

  RedisConnection& connection_;
  SessionLogOptions options_;
  const std::string nodes_key_;  // wsb:nodes and wsb:reap:<node>: the standing check's keys
  const std::string reap_key_;
  std::vector<std::string> names_;  // ARGV[1..8] of every script; [0] the log, [7] its MAXLEN
  std::array<std::string, kScriptCount> sources_;
  std::array<std::string, kScriptCount> shas_;  // empty: not loaded (yet): EVAL by source

  Link link_ = Link::kDown;
  uint64_t epoch_ = 0;  // one per connection state: replies of an older one are stale
  int loads_pending_ = 0;
  bool still_loading_ = false;             // a SCRIPT LOAD of this connect was answered LOADING
  boost::asio::steady_timer retry_timer_;  // the next SCRIPT LOAD round while Redis loads
  bool ever_live_ = false;
  bool detached_ = false;
  bool reconcile_pending_ = false;
  bool stale_check_ = false;
  bool logged_failure_ = false;
  bool warned_drop_ = false;

  WriteBacklog backlog_;
  uint64_t in_flight_writes_ = 0;
  uint64_t in_flight_bytes_ = 0;
  uint64_t peak_in_flight_writes_ = 0;
  uint64_t written_ = 0;
  uint64_t failed_ = 0;
  uint64_t unconfirmed_ = 0;
  uint64_t outages_ = 0;
  uint64_t reconciles_ = 0;
  uint64_t outage_dropped_events_ = 0;  // backlog drop counts when the current outage began
  uint64_t outage_dropped_lifecycle_ = 0;

  std::vector<std::function<void()>> flushed_waiters_;  // WhenFlushed()

  // The sessions this node holds (opened and not closed, as taken here), but those given up:
  // id -> the serialized v1::Session as in the directory's `info`, and whether its `opened` was
  // sent. Bounded by the sessions the node holds.
  struct Held {
    std::string info;
    bool announced = false;
  };
  absl::flat_hash_map<std::string, Held> held_;
  // Sessions held when the cluster gave this node up (DeclaredLost) whose `closed` has not been
  // taken yet. Bounded by the sessions the node holds.
  absl::flat_hash_set<std::string> given_up_;
  bool standing_found_lost_ = false;  // this connect's standing check found the node given up
  uint64_t given_up_writes_ = 0;

  AtomicStats stats_;
};

// --- The I/O threads' side ------------------------------------------------------------------

SessionLog::SessionLog(IoThread& redis_thread, RedisConnection& connection, ClusterKeys keys,
                       SessionLogOptions options)
    : redis_thread_(redis_thread),
      node_id_(options.node_id),
      writer_(std::make_shared<Writer>(redis_thread, connection, keys, std::move(options))) {}

void SessionLog::Detach() {
  writer_->Detach();
  detached_.store(true, std::memory_order_release);
}

SessionLog::~SessionLog() {
  if (detached_.load(std::memory_order_acquire)) return;
  redis_thread_.RunAndWait([writer = writer_] { writer->Detach(); });
}

void SessionLog::Publish(v1::Event event) {
  *event.mutable_time() = Now();
  event.set_node_id(node_id_);
  event.clear_sequence();  // the entry id is the sequence
  Report report;
  report.session_id = event.session_id();
  switch (event.kind_case()) {
    case v1::Event::kOpened: {
      report.kind = Report::Kind::kOpened;
      report.user = event.user_id();
      const auto& opened = event.opened();
      std::vector<std::string> topics(opened.topics().begin(), opened.topics().end());
      report.topics = JoinTopics(topics);
      v1::Session info;
      info.set_session_id(event.session_id());
      info.set_user_id(event.user_id());
      for (absl::string_view t : absl::StrSplit(report.topics, '\n', absl::SkipEmpty())) {
        info.add_topics(std::string(t));
      }
      *info.mutable_connected_at() = event.time();
      info.set_remote_address(opened.remote_address());
      info.mutable_metadata()->insert(opened.metadata().begin(), opened.metadata().end());
      report.info = info.SerializeAsString();
      break;
    }
    case v1::Event::kClosed:
      report.kind = Report::Kind::kClosed;
      break;
    default:
      report.kind = Report::Kind::kRecord;
      break;
  }
  report.event = event.SerializeAsString();
  redis_thread_.Post([writer = writer_, report = std::move(report)]() mutable {
    writer->Take(std::move(report));
  });
}

void SessionLog::OnSessionTopicsChanged(size_t /*shard*/, const SessionInfo& session,
                                        const std::vector<std::string>& topics) {
  Report report;
  report.kind = Report::Kind::kTopics;
  report.session_id = session.id;
  report.topics = JoinTopics(topics);
  redis_thread_.Post([writer = writer_, report = std::move(report)]() mutable {
    writer->Take(std::move(report));
  });
}

void SessionLog::OnRedisState(const RedisStateChange& change) { writer_->OnState(change); }

void SessionLog::OnDeclaredLost() { writer_->DeclaredLost(Writer::LostNews::kHeartbeat); }

bool SessionLog::AwaitFlushed(absl::Duration timeout) {
  auto flushed = std::make_shared<absl::Notification>();
  redis_thread_.Post(
      [writer = writer_, flushed] { writer->WhenFlushed([flushed] { flushed->Notify(); }); });
  return flushed->WaitForNotificationWithTimeout(timeout);
}

SessionLog::Stats SessionLog::stats() const { return writer_->stats(); }

}  // namespace wsbridge::cluster
