#include "cluster/cluster_event_feed.h"

#include <algorithm>
#include <future>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cluster/group_assignment.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"
#include "wsbridge/internal/v1/cluster.pb.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge::cluster {
namespace {

// Reads up to ARGV[3] entries after ARGV[1], given that ARGV[2] entries had been added to the
// log up to and including ARGV[1] (the reader's count). Atomic, so nothing can be trimmed between
// the check and the read: the log lost entries the reader never saw when more entries were
// trimmed than it had read ("gap": entries-added - length > count; nobody XDELs this stream), and
// the log is not the one it was reading when it now holds fewer entries than it had read, or
// still holds its untrimmed entries but not ARGV[1] ("reset": Redis restarted without its data).
// Returns {"ok", entries} or {"gap"|"reset"}.
constexpr char kReadScript[] = R"lua(
local count = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  if count > 0 then return {'reset'} end
  return {'ok', {}}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added, length = 0, 0
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then added = info[i + 1] end
  if info[i] == 'length' then length = info[i + 1] end
end
if added < count then return {'reset'} end
local trimmed = added - length
if trimmed > count then return {'gap'} end
if trimmed < count and #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return {'reset'}
end
return {'ok', redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[3])}
)lua";

// One page of the log's tail, newest first: ARGV[1] entries before ARGV[2] (exclusive), or the
// newest ones when ARGV[2] is empty; then also, in the same step, the last id the log generated
// and how many entries were ever added up to it: where tailing continues and the reader's count.
// Returns {last id, entries added, entries}.
constexpr char kBackfillScript[] = R"lua(
if ARGV[2] ~= '' then
  return {'', 0, redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[2], '-', 'COUNT', ARGV[1])}
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'0-0', 0, {}} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, added = '0-0', 0
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
  if info[i] == 'entries-added' then added = info[i + 1] end
end
return {last, added, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[1])}
)lua";

// Shared by the group scripts: a GroupChange (cluster.proto) encoded by hand, with the members
// read from KEYS[1] after the change, appended to the log KEYS[3] (trimmed like SessionLog's
// appends). Member lists and ids are strings: no Lua number ever holds a sequence.
constexpr char kGroupRecordLua[] = R"lua(
local function varint(n)
  local bytes = {}
  repeat
    local b = n % 128
    n = (n - b) / 128
    if n > 0 then b = b + 128 end
    bytes[#bytes + 1] = string.char(b)
  until n == 0
  return table.concat(bytes)
end
local function field(number, value)
  return string.char(number * 8 + 2) .. varint(#value) .. value
end
local function append_change(group, member, node, kind, acked, maxlen)
  local parts = {field(1, group), field(2, member), field(3, node), string.char(4 * 8) .. varint(kind)}
  if acked ~= '' then parts[#parts + 1] = field(5, acked) end
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    parts[#parts + 1] = field(6, field(1, all[i]) .. field(2, all[i + 1]))
  end
  return redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'g', table.concat(parts))
end
)lua";

// A member joins (ARGV[4] "join") or leaves ("leave", with its acknowledged id ARGV[5]): the
// members hash KEYS[1] and the log change in one step, so the log's records are exactly the
// changes of the hash, in its order. A join of a member already in, or a leave of one already
// gone (a lost member's leave written by two nodes), changes nothing and writes nothing: nil.
// KEYS: members hash, acked hash, events. ARGV: group, member, node, kind, acked id, maxlen.
constexpr char kChangeScript[] = R"lua(
local present = redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1
if ARGV[4] == 'join' then
  if present then return false end
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  return append_change(ARGV[1], ARGV[2], ARGV[3], 1, '', ARGV[6])
end
if not present then return false end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
return append_change(ARGV[1], ARGV[2], ARGV[3], 2, ARGV[5], ARGV[6])
)lua";

// Every member of group ARGV[1] whose node is lost (not in wsb:nodes KEYS[4], or its expiry is
// past by Redis's clock) leaves, with the acknowledgement its node last wrote to KEYS[2]. In one
// step with the check, so a member leaves once however many nodes notice. The caller's node ARGV[2]
// is alive by definition: of its members only those of an earlier run (ids not starting with
// ARGV[4], "<node>/<run>/") leave: a node restarted under a fixed id before it was found lost.
// KEYS: members hash, acked hash, events, nodes. ARGV: group, caller's node, maxlen, run prefix.
// Returns the number of leaves written.
constexpr char kLeaveLostScript[] = R"lua(
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local alive = {}
local all = redis.call('HGETALL', KEYS[1])
local written = 0
for i = 1, #all, 2 do
  local member, node = all[i], all[i + 1]
  local lost
  if node == ARGV[2] then
    lost = string.sub(member, 1, #ARGV[4]) ~= ARGV[4]
  else
    if alive[node] == nil then
      local expiry = redis.call('ZSCORE', KEYS[4], node)
      alive[node] = expiry ~= false and expiry ~= nil and tonumber(expiry) >= now_ms
    end
    lost = not alive[node]
  end
  if lost then
    local acked = redis.call('HGET', KEYS[2], member) or ''
    redis.call('HDEL', KEYS[1], member)
    redis.call('HDEL', KEYS[2], member)
    append_change(ARGV[1], member, node, 2, acked, ARGV[3])
    written = written + 1
  end
end
return written
)lua";

// Entries of the first backfill page, before their average size is known.
constexpr uint64_t kFirstBackfillPage = 16;

bool Wants(EventKindMask kinds, const v1::Event& event) {
  return (kinds & (1u << KindOf(event))) != 0;
}

// The reader's XREAD BLOCK waits in Redis up to `block` by design: its watchdog allows that on top.
RedisClientOptions WithBlockAllowance(RedisClientOptions redis, absl::Duration block) {
  if (redis.reply_timeout > absl::ZeroDuration()) redis.reply_timeout += block;
  return redis;
}

}  // namespace

// Everything of the feed; lives on the Redis thread and is destroyed there. Completions and
// timers hold it weakly: after Stop they find it gone and do nothing.
class ClusterEventFeed::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(IoThread& thread, RedisConnection& commands, RedisClientOptions redis, EventBus& bus,
       const EventOptions& events, ClusterKeys keys, std::string node_id, Options options)
      : thread_(thread),
        commands_(commands),
        reader_(std::make_unique<RedisConnection>(
            thread, WithBlockAllowance(std::move(redis), options.block))),
        bus_(bus),
        events_(events),
        keys_(std::move(keys)),
        node_id_(std::move(node_id)),
        run_(absl::StrCat(absl::ToUnixMicros(absl::Now()))),
        options_(options),
        tick_timer_(thread.Make<boost::asio::steady_timer>()),
        retry_timer_(thread.Make<boost::asio::steady_timer>()) {}

  void Start(std::function<void()> started) {
    WSBRIDGE_ASSERT_ON(thread_);
    started_callback_ = std::move(started);
    std::weak_ptr<Core> weak = weak_from_this();
    IoThread* thread = &thread_;
    bus_.RouteGroupsExternally(
        {.joined =
             [weak, thread](std::shared_ptr<EventBus::Subscription> subscription) {
               thread->Post([weak, subscription = std::move(subscription)]() mutable {
                 if (auto core = weak.lock()) core->OnJoined(std::move(subscription));
               });
             },
         .left =
             [weak, thread](uint64_t subscription_id, uint64_t acknowledged) {
               thread->Post([weak, subscription_id, acknowledged] {
                 if (auto core = weak.lock()) core->OnLeft(subscription_id, acknowledged);
               });
             }});
    for (Script* script : {&read_, &backfill_, &change_, &leave_lost_}) Load(*script);
    Backfill();
    ArmTick();
  }

  void Stop() {
    WSBRIDGE_ASSERT_ON(thread_);
    stopped_ = true;
    tick_timer_.cancel();
    retry_timer_.cancel();
    reader_.reset();  // its pending read completes now, finds stopped_
  }

  Stats stats() const {
    absl::MutexLock lock(&stats_mutex_);
    return stats_;
  }

 private:
  struct Script {
    std::string body;
    std::string sha;  // from SCRIPT LOAD; empty: send the body (EVAL)
  };
  // One of this node's Events streams in a group.
  struct Local {
    std::shared_ptr<EventBus::Subscription> subscription;
    std::string group;
    bool in_log = false;         // its join was read from the log: events may be routed to it
    bool join_pending = false;   // the join script failed: retried at the next tick
    bool leaving = false;        // the stream ended; its leave is being written
    bool leave_pending = false;  // the leave script failed: retried at the next tick
    uint64_t acknowledged = 0;   // at the leave
    uint64_t acked_written = 0;  // last value written to the acked hash
  };
  struct LocalGroup {
    EventKindMask kinds = 0;
    size_t members = 0;
  };

  std::string MembersKey(const std::string& group) const {
    return absl::StrCat(keys_.Group(group), ":members");
  }
  std::string AckedKey(const std::string& group) const {
    return absl::StrCat(keys_.Group(group), ":acked");
  }
  std::string MemberPrefix() const { return absl::StrCat(node_id_, "/", run_, "/"); }
  std::string MaxLen() const { return absl::StrCat(std::max<uint64_t>(events_.history, 1)); }

  // --- Scripts: SCRIPT LOAD once, EVALSHA, and EVAL when Redis forgot it (a restart) ----------
  void Load(Script& script) {
    std::weak_ptr<Core> weak = weak_from_this();
    commands_.Command({"SCRIPT", "LOAD", script.body}, [weak, &script](RedisReply reply) {
      auto core = weak.lock();
      if (core == nullptr || reply.type != RedisReply::Type::kString) return;
      script.sha = reply.str;
    });
  }
  void Run(Script& script, RedisConnection& connection, std::vector<std::string> keys,
           std::vector<std::string> args, std::function<void(RedisReply)> done,
           bool by_body = false) {
    std::vector<std::string> argv;
    if (by_body || script.sha.empty()) {
      argv = {"EVAL", script.body};
    } else {
      argv = {"EVALSHA", script.sha};
    }
    argv.push_back(absl::StrCat(keys.size()));
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    std::weak_ptr<Core> weak = weak_from_this();
    connection.Command(std::move(argv),
                       [weak, &script, &connection, keys = std::move(keys), args = std::move(args),
                        done = std::move(done)](RedisReply reply) mutable {
                         auto core = weak.lock();
                         if (core == nullptr || core->stopped_) return;
                         if (reply.is_error() && absl::StartsWith(reply.str, "NOSCRIPT")) {
                           core->Load(script);
                           return core->Run(script, connection, std::move(keys), std::move(args),
                                            std::move(done), /*by_body=*/true);
                         }
                         done(std::move(reply));
                       });
  }

  void After(absl::Duration delay, boost::asio::steady_timer& timer, std::function<void()> what) {
    timer.expires_after(absl::ToChronoNanoseconds(delay));
    std::weak_ptr<Core> weak = weak_from_this();
    timer.async_wait([weak, what = std::move(what)](const boost::system::error_code& error) {
      auto core = weak.lock();
      if (error || core == nullptr || core->stopped_) return;
      what();
    });
  }

  // --- Backfill: the history from the log's tail -----------------------------------------------
  void Backfill() {
    backfill_pages_.clear();
    backfill_events_ = 0;
    backfill_bytes_ = 0;
    FetchPage("");
  }

  void FetchPage(std::string before) {
    // Redis cannot bound a page in bytes: the first page is small, the next ones are sized by the
    // average entry seen so far to what the history still takes, so the backfill holds little
    // more than the history it fills, however large the events.
    const uint64_t left =
        events_.history > backfill_events_ ? events_.history - backfill_events_ : 0;
    uint64_t count = std::min<uint64_t>(options_.batch, left);
    if (backfill_events_ == 0) {
      count = std::min<uint64_t>(count, kFirstBackfillPage);
    } else {
      const uint64_t average = std::max<uint64_t>(1, backfill_bytes_ / backfill_events_);
      const uint64_t left_bytes =
          events_.history_bytes > backfill_bytes_ ? events_.history_bytes - backfill_bytes_ : 0;
      count = std::min<uint64_t>(count, left_bytes / average + 1);
    }
    count = std::max<uint64_t>(count, 1);
    const bool first = before.empty();
    Run(backfill_, *reader_, {keys_.Events()}, {absl::StrCat(count), std::move(before)},
        [this, first, count](RedisReply reply) {
          if (reply.type != RedisReply::Type::kArray || reply.elements.size() != 3) {
            spdlog::warn("cluster event feed: reading the event log's tail failed ({}); retrying",
                         reply.str);
            return After(options_.retry, retry_timer_, [this] { Backfill(); });
          }
          if (first) {
            tail_id_ = reply.elements[0].str;
            tail_count_ = static_cast<uint64_t>(reply.elements[1].integer);
          }
          std::vector<RedisReply>& page = reply.elements[2].elements;
          for (const RedisReply& entry : page) {
            ++backfill_events_;
            if (entry.elements.size() != 2) continue;
            for (const RedisReply& field : entry.elements[1].elements) {
              backfill_bytes_ += field.str.size();
            }
          }
          const size_t got = page.size();
          std::string oldest = got > 0 ? page.back().elements[0].str : "";
          backfill_pages_.push_back(std::move(page));
          if (got == count && backfill_events_ < events_.history &&
              backfill_bytes_ < events_.history_bytes) {
            return FetchPage(std::move(oldest));
          }
          FinishBackfill();
        });
  }

  void FinishBackfill() {
    // Pages are newest first, each newest first: replay them oldest first, in log order.
    for (auto page = backfill_pages_.rbegin(); page != backfill_pages_.rend(); ++page) {
      for (auto entry = page->rbegin(); entry != page->rend(); ++entry) {
        Process(*entry, /*backfill=*/true);
      }
    }
    backfill_pages_.clear();
    last_id_ = tail_id_;
    read_count_ = tail_count_;
    {
      absl::MutexLock lock(&stats_mutex_);
      stats_.started = true;
      stats_.last_id = last_id_;
    }
    spdlog::info("cluster event feed: {} events of history from the log, tailing after {}",
                 backfill_events_, last_id_);
    if (started_callback_) std::exchange(started_callback_, nullptr)();
    ReadNext();
  }

  // --- Tailing ---------------------------------------------------------------------------------
  void ReadNext() {
    Run(read_, *reader_, {keys_.Events()},
        {last_id_, absl::StrCat(read_count_), absl::StrCat(options_.batch)},
        [this](RedisReply reply) {
          if (reply.type != RedisReply::Type::kArray || reply.elements.empty()) {
            if (!reply.unanswered) {
              spdlog::warn("cluster event feed: reading the event log failed: {}", reply.str);
            }
            return After(options_.retry, retry_timer_, [this] { ReadNext(); });
          }
          const std::string& status = reply.elements[0].str;
          if (status != "ok" || reply.elements.size() != 2) return OnLoss(status);
          const std::vector<RedisReply>& entries = reply.elements[1].elements;
          for (const RedisReply& entry : entries) {
            Process(entry, /*backfill=*/false);
            ++read_count_;
          }
          {
            absl::MutexLock lock(&stats_mutex_);
            stats_.last_id = last_id_;
          }
          if (entries.size() >= options_.batch) return ReadNext();
          Wait();
        });
  }

  // Nothing new: let Redis tell us when there is (the entry itself is read by ReadNext, which
  // checks for losses).
  void Wait() {
    std::weak_ptr<Core> weak = weak_from_this();
    reader_->Command(
        {"XREAD", "COUNT", "1", "BLOCK", absl::StrCat(absl::ToInt64Milliseconds(options_.block)),
         "STREAMS", keys_.Events(), last_id_},
        [weak](RedisReply reply) {
          auto core = weak.lock();
          if (core == nullptr || core->stopped_) return;
          if (reply.is_error()) {
            return core->After(core->options_.retry, core->retry_timer_,
                               [c = core.get()] { c->ReadNext(); });
          }
          core->ReadNext();
        });
  }

  void OnLoss(const std::string& status) {
    spdlog::error(
        "cluster event feed: the event log {} after {} before this node read them: ending every "
        "Events stream of this node (they reconnect; a resume from before the loss is "
        "OUT_OF_RANGE) and starting again from the log's tail",
        status == "gap" ? "was trimmed past entries" : "lost its entries (Redis lost its data)",
        last_id_);
    {
      absl::MutexLock lock(&stats_mutex_);
      ++stats_.losses;
    }
    bus_.Interrupt();
    groups_.clear();
    Backfill();
  }

  // One entry of the log, in log order.
  void Process(const RedisReply& entry, bool backfill) {
    if (entry.elements.size() != 2) return Skip("an entry that is not [id, fields]");
    const std::string& id = entry.elements[0].str;
    const std::optional<uint64_t> sequence = SequenceOfStreamId(id);
    if (!backfill) last_id_ = id;
    if (!sequence) return Skip(absl::StrCat("entry id ", id));
    const std::vector<RedisReply>& fields = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      const std::string& name = fields[i].str;
      const std::string& value = fields[i + 1].str;
      if (name == ClusterKeys::EventField()) {
        v1::Event event;
        if (!event.ParseFromString(value)) {
          Skip(absl::StrCat("entry ", id, ": field e is not a wsbridge.v1.Event"));
          continue;
        }
        event.set_sequence(*sequence);
        if (backfill) {
          bus_.Backfill(std::move(event));
        } else {
          Publish(*sequence, std::move(event));
        }
      } else if (name == ClusterKeys::GroupField()) {
        internal::v1::GroupChange change;
        if (!change.ParseFromString(value)) {
          Skip(absl::StrCat("entry ", id, ": field g is not a wsbridge.internal.v1.GroupChange"));
          continue;
        }
        Apply(*sequence, change, backfill);
      } else {
        spdlog::debug("cluster event feed: entry {}: unknown field {} skipped", id, name);
        absl::MutexLock lock(&stats_mutex_);
        ++stats_.skipped_fields;
      }
    }
    absl::MutexLock lock(&stats_mutex_);
    ++stats_.entries;
  }

  void Skip(const std::string& what) {
    spdlog::warn("cluster event feed: skipped {}", what);
    absl::MutexLock lock(&stats_mutex_);
    ++stats_.skipped_fields;
  }

  // The local stream that `member` is, when events may be routed to it.
  EventBus::Subscription* Routable(const std::optional<std::string>& member) {
    if (!member) return nullptr;
    auto it = local_.find(*member);
    if (it == local_.end() || !it->second.in_log || it->second.leaving) return nullptr;
    return it->second.subscription.get();
  }

  void Publish(uint64_t sequence, v1::Event event) {
    std::vector<EventBus::Subscription*> members;
    for (const auto& [name, local] : local_groups_) {
      if (!Wants(local.kinds, event)) continue;
      auto group = groups_.find(name);
      if (group == groups_.end()) continue;
      if (auto* member = Routable(group->second.OwnerAt(sequence, event.session_id()))) {
        members.push_back(member);
      }
    }
    bus_.PublishStamped(std::move(event), members);
  }

  // A membership change at `sequence`: the same on every node, in the same place.
  void Apply(uint64_t sequence, const internal::v1::GroupChange& change, bool backfill) {
    GroupAssignment& assignment = groups_[change.group()];
    std::vector<GroupAssignment::Member> after;
    for (const auto& member : change.members()) after.push_back({member.member(), member.node()});
    auto local_group = local_groups_.find(change.group());
    if (backfill || local_group == local_groups_.end() || !assignment.known()) {
      assignment.Apply(sequence, std::move(after));
    } else {
      ApplyAndReplay(sequence, change, local_group->second.kinds, assignment, std::move(after));
    }
    auto local = local_.find(change.member());
    if (local == local_.end() || backfill) return;
    if (change.kind() == internal::v1::GroupChange::KIND_JOIN && !local->second.in_log) {
      local->second.in_log = true;
      ReplayMissed(sequence, local->first, local->second, assignment);
    }
  }

  // The leavers' share after their acknowledgement goes to the members that own it now.
  void ApplyAndReplay(uint64_t sequence, const internal::v1::GroupChange& change,
                      EventKindMask kinds, GroupAssignment& assignment,
                      std::vector<GroupAssignment::Member> after) {
    std::map<std::string, uint64_t> leaving;  // member -> acknowledged
    for (const auto& member : assignment.members()) {
      const bool stays =
          std::any_of(after.begin(), after.end(), [&](const auto& m) { return m.id == member.id; });
      if (stays) continue;
      uint64_t acknowledged = 0;
      if (member.id == change.member() && !change.acked_id().empty()) {
        acknowledged = SequenceOfStreamId(change.acked_id()).value_or(0);
      }
      leaving[member.id] = acknowledged;
    }
    std::vector<EventPtr> share;
    if (!leaving.empty()) {
      uint64_t from = UINT64_MAX;
      for (const auto& [member, acknowledged] : leaving) from = std::min(from, acknowledged);
      for (EventPtr& event : bus_.HistoryBetween(from, sequence)) {
        if (!Wants(kinds, *event)) continue;
        auto owner = assignment.OwnerAt(event->sequence(), event->session_id());
        if (!owner) continue;
        auto leaver = leaving.find(*owner);
        if (leaver == leaving.end() || event->sequence() <= leaver->second) continue;
        share.push_back(std::move(event));
      }
    }
    assignment.Apply(sequence, std::move(after));
    std::map<EventBus::Subscription*, std::vector<EventPtr>> replays;
    for (EventPtr& event : share) {
      auto* member = Routable(assignment.OwnerAt(event->sequence(), event->session_id()));
      if (member != nullptr) replays[member].push_back(std::move(event));
    }
    for (auto& [member, events] : replays) bus_.Replay(*member, events);
  }

  // A member that joined with start_after_sequence gets what it missed, as routed with the
  // membership it joins (as on a single node).
  void ReplayMissed(uint64_t sequence, const std::string& id, Local& local,
                    const GroupAssignment& assignment) {
    const uint64_t after = local.subscription->options().start_after_sequence;
    if (after == 0) return;
    std::vector<EventPtr> missed;
    for (EventPtr& event : bus_.HistoryBetween(after, sequence)) {
      if (!Wants(local.subscription->options().kinds, *event)) continue;
      if (assignment.OwnerAt(sequence, event->session_id()) == id) {
        missed.push_back(std::move(event));
      }
    }
    bus_.Replay(*local.subscription, missed);
  }

  // --- This node's group members ---------------------------------------------------------------
  void OnJoined(std::shared_ptr<EventBus::Subscription> subscription) {
    const std::string id = absl::StrCat(MemberPrefix(), ++next_member_);
    const std::string& group = subscription->options().group;
    LocalGroup& local_group = local_groups_[group];
    local_group.kinds = subscription->options().kinds;
    ++local_group.members;
    by_subscription_[subscription->id()] = id;
    Local& local = local_[id];
    local.group = group;
    local.subscription = std::move(subscription);
    SendJoin(id);
  }

  void SendJoin(const std::string& id) {
    Local& local = local_.at(id);
    local.join_pending = false;
    Run(change_, commands_, {MembersKey(local.group), AckedKey(local.group), keys_.Events()},
        {local.group, id, node_id_, "join", "", MaxLen()}, [this, id](RedisReply reply) {
          auto it = local_.find(id);
          if (it == local_.end() || !reply.is_error()) return;
          spdlog::warn("cluster event feed: group member {} could not join yet: {}", id, reply.str);
          it->second.join_pending = true;
        });
  }

  void OnLeft(uint64_t subscription_id, uint64_t acknowledged) {
    auto it = by_subscription_.find(subscription_id);
    if (it == by_subscription_.end()) return;
    const std::string id = it->second;
    by_subscription_.erase(it);
    Local& local = local_.at(id);
    local.leaving = true;
    local.acknowledged = acknowledged;
    SendLeave(id);
  }

  void SendLeave(const std::string& id) {
    Local& local = local_.at(id);
    local.leave_pending = false;
    Run(change_, commands_, {MembersKey(local.group), AckedKey(local.group), keys_.Events()},
        {local.group, id, node_id_, "leave",
         local.acknowledged == 0 ? "" : StreamIdOfSequence(local.acknowledged), MaxLen()},
        [this, id](RedisReply reply) {
          auto it = local_.find(id);
          if (it == local_.end()) return;
          if (reply.is_error()) {
            spdlog::warn("cluster event feed: group member {} could not leave yet: {}", id,
                         reply.str);
            it->second.leave_pending = true;
            return;
          }
          // Written (or it was not a member any more): nothing is routed to it from here on.
          auto group = local_groups_.find(it->second.group);
          if (group != local_groups_.end() && --group->second.members == 0) {
            local_groups_.erase(group);
          }
          local_.erase(it);
        });
  }

  // --- Every tick: acknowledgements, retries, lost members, forgetting -------------------------
  void ArmTick() {
    After(options_.tick, tick_timer_, [this] {
      Tick();
      ArmTick();
    });
  }

  void Tick() {
    std::map<std::string, std::vector<std::pair<std::string, uint64_t>>> acks;  // group -> ...
    std::vector<std::string> joins;
    std::vector<std::string> leaves;
    for (auto& [id, local] : local_) {
      if (local.join_pending && !local.leaving) joins.push_back(id);
      if (local.leave_pending) leaves.push_back(id);
      if (!local.in_log || local.leaving) continue;
      const uint64_t acknowledged = bus_.Acknowledged(*local.subscription);
      if (acknowledged != local.acked_written && acknowledged != 0) {
        acks[local.group].emplace_back(id, acknowledged);
      }
    }
    for (const std::string& id : joins) SendJoin(id);
    for (const std::string& id : leaves) SendLeave(id);
    for (auto& [group, members] : acks) {
      std::vector<std::string> argv = {"HSET", AckedKey(group)};
      for (const auto& [id, acknowledged] : members) {
        argv.push_back(id);
        argv.push_back(StreamIdOfSequence(acknowledged));
      }
      commands_.Command(std::move(argv), [weak = weak_from_this(), members](RedisReply reply) {
        auto core = weak.lock();
        if (core == nullptr || reply.is_error()) return;
        for (const auto& [id, acknowledged] : members) {
          auto it = core->local_.find(id);
          if (it != core->local_.end()) it->second.acked_written = acknowledged;
        }
      });
    }
    const uint64_t oldest = bus_.first_history_sequence();
    for (auto it = groups_.begin(); it != groups_.end();) {
      GroupAssignment& assignment = it->second;
      if (oldest != 0) assignment.ForgetBefore(oldest);
      const std::string prefix = MemberPrefix();
      const bool others =
          std::any_of(assignment.members().begin(), assignment.members().end(),
                      [&](const auto& m) { return !absl::StartsWith(m.id, prefix); });
      if (others) {
        Run(leave_lost_, commands_,
            {MembersKey(it->first), AckedKey(it->first), keys_.Events(), keys_.Nodes()},
            {it->first, node_id_, MaxLen(), prefix}, [group = it->first](RedisReply reply) {
              if (reply.type == RedisReply::Type::kInteger && reply.integer > 0) {
                spdlog::info("cluster event feed: group {}: {} members of lost nodes left", group,
                             reply.integer);
              }
            });
      }
      if (assignment.members().empty() && assignment.epochs() <= 1 &&
          !local_groups_.contains(it->first)) {
        it = groups_.erase(it);
      } else {
        ++it;
      }
    }
  }

  IoThread& thread_;
  RedisConnection& commands_;
  std::unique_ptr<RedisConnection> reader_;
  EventBus& bus_;
  const EventOptions events_;
  const ClusterKeys keys_;
  const std::string node_id_;
  const std::string run_;  // this run's start: member ids never repeat, even with a fixed node id
  const Options options_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer retry_timer_;
  bool stopped_ = false;
  std::function<void()> started_callback_;

  Script read_{kReadScript, ""};
  Script backfill_{kBackfillScript, ""};
  Script change_{absl::StrCat(kGroupRecordLua, kChangeScript), ""};
  Script leave_lost_{absl::StrCat(kGroupRecordLua, kLeaveLostScript), ""};

  // Backfill in progress.
  std::vector<std::vector<RedisReply>> backfill_pages_;
  uint64_t backfill_events_ = 0;
  uint64_t backfill_bytes_ = 0;
  std::string tail_id_;
  uint64_t tail_count_ = 0;

  // Tailing: the last entry read and how many the log had added up to it.
  std::string last_id_ = "0-0";
  uint64_t read_count_ = 0;

  std::map<std::string, GroupAssignment> groups_;    // every group seen in the log
  std::map<std::string, Local> local_;               // member id -> this node's stream
  std::map<uint64_t, std::string> by_subscription_;  // Subscription::id() -> member id
  std::map<std::string, LocalGroup> local_groups_;   // groups with a stream here
  uint64_t next_member_ = 0;

  mutable absl::Mutex stats_mutex_;
  Stats stats_ ABSL_GUARDED_BY(stats_mutex_);
};

ClusterEventFeed::ClusterEventFeed(IoThread& redis_thread, RedisConnection& commands,
                                   RedisClientOptions redis, EventBus& bus,
                                   const EventOptions& events, ClusterKeys keys,
                                   std::string node_id, Options options)
    : thread_(redis_thread),
      core_(std::make_shared<Core>(redis_thread, commands, std::move(redis), bus, events,
                                   std::move(keys), std::move(node_id), options)) {}

ClusterEventFeed::~ClusterEventFeed() {
  std::promise<void> stopped;
  thread_.Post([core = std::move(core_), &stopped]() mutable {
    core->Stop();
    core.reset();  // destroyed here, on its thread
    stopped.set_value();
  });
  stopped.get_future().wait();
}

void ClusterEventFeed::Start(std::function<void()> started) {
  thread_.Post(
      [core = core_, started = std::move(started)]() mutable { core->Start(std::move(started)); });
}

ClusterEventFeed::Stats ClusterEventFeed::stats() const { return core_->stats(); }

}  // namespace wsbridge::cluster
