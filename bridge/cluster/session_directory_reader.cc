#include "cluster/session_directory_reader.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "spdlog/spdlog.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge::cluster {
namespace {

// One page of the directory and the id of the log's last entry, read in one atomic step, so the
// page is exactly the directory at that entry (the directory changes only in the scripts that
// append `opened` / `closed`).
//   KEYS[1] the id set to page (wsb:sessions, wsb:us:<user> or wsb:ts:<topic>)
//   KEYS[2] a second id set every listed id must also be in (wsb:ts:<topic> when KEYS[1] is the
//           user's set), or "" for none
//   KEYS[3] the event log (wsb:events)
//   ARGV[1] the prefix of session hashes ("wsb:s:"), ARGV[2] the lowest id ("-" or "(<after>"),
//   ARGV[3] how many ids at most (page size + 1: the extra one says whether more follow)
// Returns {last entry id or "", id1, info1, node1, topics1, id2, ...}; a field missing from a
// hash comes back nil. With a filter the user's set is walked in slices of 128: bounded by the
// user's sessions (--max_sessions_per_user).
constexpr char kListScript[] = R"lua(
local limit = tonumber(ARGV[3])
local ids = {}
if KEYS[2] == '' then
  ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], '+', 'LIMIT', 0, limit)
else
  local offset = 0
  while #ids < limit do
    local slice = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], '+', 'LIMIT', offset, 128)
    if #slice == 0 then break end
    for _, id in ipairs(slice) do
      if redis.call('ZSCORE', KEYS[2], id) then
        ids[#ids + 1] = id
        if #ids == limit then break end
      end
    end
    offset = offset + #slice
  end
end
local reply = {''}
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #last > 0 then reply[1] = last[1][1] end
for _, id in ipairs(ids) do
  local h = redis.call('HMGET', ARGV[1] .. id, 'info', 'node', 'topics')
  reply[#reply + 1] = id
  reply[#reply + 1] = h[1]
  reply[#reply + 1] = h[2]
  reply[#reply + 1] = h[3]
end
return reply
)lua";

// Why a read failed, as the API answers it (UNAVAILABLE with this text): Redis could not be
// reached, or it answered an error.
BrokerFailure FailureOf(const RedisReply& reply) {
  return absl::StrCat(reply.unanswered ? "redis unavailable: " : "redis error: ", reply.str);
}

BrokerFailure UnreadableInfo(absl::string_view id) {
  return absl::StrCat("redis error: session directory: unreadable info of ", id);
}

// A directory entry as a SessionView (counters zero); none when `info` does not parse. `topics`
// (the hash field, '\n'-joined) wins over the topics inside `info`: it is the one
// Subscribe/Unsubscribe keep current.
std::optional<SessionView> ViewOf(absl::string_view id, const RedisReply& info,
                                  const RedisReply& topics) {
  v1::Session session;
  if (info.type != RedisReply::Type::kString || !session.ParseFromString(info.str)) {
    return std::nullopt;
  }
  SessionView view;
  view.info.id = std::string(id);
  view.info.user_id = session.user_id();
  view.info.remote_address = session.remote_address();
  view.info.connected_at = absl::FromUnixSeconds(session.connected_at().seconds()) +
                           absl::Nanoseconds(session.connected_at().nanos());
  view.info.metadata.insert(session.metadata().begin(), session.metadata().end());
  if (topics.type == RedisReply::Type::kString) {
    if (!topics.str.empty()) view.topics = absl::StrSplit(topics.str, '\n');
  } else {
    view.topics.assign(session.topics().begin(), session.topics().end());
  }
  return view;
}

// Fills the counters of `sessions` from the nodes that hold them (`nodes[k]` holds
// sessions[k]; "" when the hash names none), one fetch per node (per kMaxIdsPerRequest ids), then
// calls `done` with them. On the Redis thread; `done` runs there.
void FillCounters(CounterExchange& exchange, std::vector<SessionView> sessions,
                  const std::vector<std::string>& nodes,
                  std::function<void(std::vector<SessionView>)> done) {
  absl::flat_hash_map<std::string, std::vector<size_t>> by_node;
  for (size_t k = 0; k < sessions.size(); ++k) {
    if (!nodes[k].empty()) by_node[nodes[k]].push_back(k);
  }
  std::vector<std::pair<std::string, std::vector<size_t>>> fetches;
  for (auto& [node, indices] : by_node) {
    for (size_t first = 0; first < indices.size(); first += CounterExchange::kMaxIdsPerRequest) {
      const size_t last = std::min(indices.size(), first + CounterExchange::kMaxIdsPerRequest);
      fetches.emplace_back(node,
                           std::vector<size_t>(indices.begin() + first, indices.begin() + last));
    }
  }
  if (fetches.empty()) return done(std::move(sessions));
  // Every fetch completes on the Redis thread: no lock.
  struct Gather {
    std::vector<SessionView> sessions;
    size_t remaining = 0;
    std::function<void(std::vector<SessionView>)> done;
  };
  auto gather =
      std::make_shared<Gather>(Gather{std::move(sessions), fetches.size(), std::move(done)});
  for (auto& [node, indices] : fetches) {
    std::vector<std::string> ids;
    ids.reserve(indices.size());
    for (size_t k : indices) ids.push_back(gather->sessions[k].info.id);
    exchange.Fetch(node, std::move(ids),
                   [gather, indices = std::move(indices)](CounterExchange::CountersById counters) {
                     for (size_t k : indices) {
                       auto it = counters.find(gather->sessions[k].info.id);
                       if (it != counters.end()) gather->sessions[k].counters = it->second;
                     }
                     if (--gather->remaining == 0) gather->done(std::move(gather->sessions));
                   });
  }
}

}  // namespace

SessionDirectoryReader::SessionDirectoryReader(IoThread& redis_thread, RedisConnection& redis,
                                               const ClusterKeys& keys, CounterExchange& counters)
    : redis_thread_(redis_thread),
      redis_(redis),
      keys_(keys),
      counters_(counters),
      list_script_(kListScript) {}

void SessionDirectoryReader::Get(std::string session_id, SessionDone done) {
  std::vector<std::string> argv = {"HMGET", keys_.Session(session_id), "info", "node", "topics"};
  redis_.Command(std::move(argv), [this, session_id = std::move(session_id),
                                   done = std::move(done)](RedisReply reply) mutable {
    if (reply.is_error()) return done(SessionLookup{{}, FailureOf(reply)});
    if (reply.type != RedisReply::Type::kArray || reply.elements.size() != 3) {
      return done(SessionLookup{{}, "redis error: session directory: unexpected HMGET reply"});
    }
    if (reply.elements[0].is_nil()) return done(SessionLookup{});
    std::optional<SessionView> view = ViewOf(session_id, reply.elements[0], reply.elements[2]);
    if (!view.has_value()) return done(SessionLookup{{}, UnreadableInfo(session_id)});
    std::vector<SessionView> one;
    one.push_back(std::move(*view));
    FillCounters(counters_, std::move(one), {reply.elements[1].str},
                 [done = std::move(done)](std::vector<SessionView> filled) {
                   done(SessionLookup{std::move(filled.front()), {}});
                 });
  });
}

void SessionDirectoryReader::List(ListQuery query, PageDone done) {
  std::string index;
  std::string filter;
  if (!query.user_id.empty()) {
    index = keys_.UserSessions(query.user_id);
    if (!query.topic.empty()) filter = keys_.TopicSessions(query.topic);
  } else if (!query.topic.empty()) {
    index = keys_.TopicSessions(query.topic);
  } else {
    index = keys_.AllSessions();
  }
  std::vector<std::string> script_keys = {std::move(index), std::move(filter), keys_.Events()};
  std::vector<std::string> args = {keys_.Session(""),
                                   query.after_id.empty() ? "-" : absl::StrCat("(", query.after_id),
                                   std::to_string(query.page_size + 1)};
  auto fail = [](std::string why) {
    SessionPage page;
    page.failure = std::move(why);
    return page;
  };
  // LuaScript is Redis-thread state: run it there.
  redis_thread_.Post([this, script_keys = std::move(script_keys), args = std::move(args),
                      page_size = query.page_size, fail, done = std::move(done)]() mutable {
    list_script_.Run(
        redis_, std::move(script_keys), std::move(args),
        [this, page_size, fail, done = std::move(done)](RedisReply reply) mutable {
          if (reply.is_error()) return done(fail(FailureOf(reply)));
          if (reply.type != RedisReply::Type::kArray || reply.elements.empty() ||
              (reply.elements.size() - 1) % 4 != 0) {
            return done(fail("redis error: session directory: unexpected list reply"));
          }
          auto page = std::make_shared<SessionPage>();
          const std::string& last_id = reply.elements[0].str;
          if (!last_id.empty()) {
            std::optional<uint64_t> sequence = SequenceOfStreamId(last_id);
            if (!sequence.has_value()) {
              return done(fail(absl::StrCat("redis error: session directory: event log id '",
                                            last_id, "' is no sequence")));
            }
            page->sequence = *sequence;
          }
          std::vector<SessionView> sessions;
          std::vector<std::string> nodes;  // [k]: the node holding sessions[k]
          for (size_t i = 1; i < reply.elements.size(); i += 4) {
            const std::string& id = reply.elements[i].str;
            // Listed without a hash: not written by a SessionLog script (they change both at
            // once). Skipped, loudly.
            if (reply.elements[i + 1].is_nil()) {
              spdlog::warn("session directory: {} is listed but has no hash", id);
              continue;
            }
            std::optional<SessionView> view =
                ViewOf(id, reply.elements[i + 1], reply.elements[i + 3]);
            if (!view.has_value()) return done(fail(UnreadableInfo(id)));
            sessions.push_back(std::move(*view));
            nodes.push_back(reply.elements[i + 2].str);
          }
          if (sessions.size() > page_size) {
            sessions.resize(page_size);
            nodes.resize(page_size);
            page->more = true;
          }
          FillCounters(counters_, std::move(sessions), nodes,
                       [page, done = std::move(done)](std::vector<SessionView> filled) {
                         page->sessions = std::move(filled);
                         done(std::move(*page));
                       });
        });
  });
}

}  // namespace wsbridge::cluster
