#include "cluster/session_directory_reader.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
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

absl::Status RedisError(const RedisReply& reply) {
  if (reply.unanswered)
    return absl::UnavailableError(absl::StrCat("redis unavailable: ", reply.str));
  return absl::UnavailableError(absl::StrCat("redis unavailable: error reply: ", reply.str));
}

// A directory entry as a SessionView (counters zero). `topics` (the hash field, '\n'-joined)
// wins over the topics inside `info`: it is the one Subscribe/Unsubscribe keep current.
absl::StatusOr<SessionView> ViewOf(absl::string_view id, const RedisReply& info,
                                   const RedisReply& topics) {
  v1::Session session;
  if (info.type != RedisReply::Type::kString || !session.ParseFromString(info.str)) {
    return absl::InternalError(absl::StrCat("session directory: unreadable info of ", id));
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

}  // namespace

SessionDirectoryReader::SessionDirectoryReader(IoThread& redis_thread, RedisConnection& redis,
                                               const ClusterKeys& keys, std::string node_id,
                                               Broker& local_hub)
    : redis_thread_(redis_thread),
      redis_(redis),
      keys_(keys),
      node_id_(std::move(node_id)),
      local_hub_(local_hub),
      list_script_(kListScript) {}

void SessionDirectoryReader::GetWithStatus(std::string session_id, SessionOrError done) {
  std::vector<std::string> argv = {"HMGET", keys_.Session(session_id), "info", "node", "topics"};
  redis_.Command(std::move(argv), [this, session_id = std::move(session_id),
                                   done = std::move(done)](RedisReply reply) mutable {
    if (reply.is_error()) return done(RedisError(reply));
    if (reply.type != RedisReply::Type::kArray || reply.elements.size() != 3) {
      return done(absl::InternalError("session directory: unexpected HMGET reply"));
    }
    if (reply.elements[0].is_nil()) return done(std::optional<SessionView>());
    absl::StatusOr<SessionView> view = ViewOf(session_id, reply.elements[0], reply.elements[2]);
    if (!view.ok()) return done(view.status());
    if (reply.elements[1].str != node_id_) return done(std::optional<SessionView>(*view));
    // Ours: live counters from the local hub.
    local_hub_.GetSession(session_id, [view = std::move(*view), done = std::move(done)](
                                          std::optional<SessionView> local) mutable {
      if (local.has_value()) view.counters = local->counters;
      done(std::optional<SessionView>(std::move(view)));
    });
  });
}

void SessionDirectoryReader::ListWithStatus(ListQuery query, PageOrError done) {
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
  // LuaScript is Redis-thread state: run it there.
  redis_thread_.Post([this, script_keys = std::move(script_keys), args = std::move(args),
                      query = std::move(query), done = std::move(done)]() mutable {
    list_script_.Run(
        redis_, std::move(script_keys), std::move(args),
        [this, query = std::move(query), done = std::move(done)](RedisReply reply) mutable {
          if (reply.is_error()) return done(RedisError(reply));
          if (reply.type != RedisReply::Type::kArray || reply.elements.empty() ||
              (reply.elements.size() - 1) % 4 != 0) {
            return done(absl::InternalError("session directory: unexpected list reply"));
          }
          SessionPage page;
          const std::string& last_id = reply.elements[0].str;
          if (!last_id.empty()) {
            std::optional<uint64_t> sequence = SequenceOfStreamId(last_id);
            if (!sequence.has_value()) {
              return done(absl::InternalError(
                  absl::StrCat("session directory: event log id '", last_id, "' is no sequence")));
            }
            page.sequence = *sequence;
          }
          std::vector<bool> local;  // [k]: page.sessions[k] is held by this node
          for (size_t i = 1; i < reply.elements.size(); i += 4) {
            const std::string& id = reply.elements[i].str;
            // Listed without a hash: not written by a SessionLog script (they change both at
            // once). Skipped, loudly.
            if (reply.elements[i + 1].is_nil()) {
              spdlog::warn("session directory: {} is listed but has no hash", id);
              continue;
            }
            absl::StatusOr<SessionView> view =
                ViewOf(id, reply.elements[i + 1], reply.elements[i + 3]);
            if (!view.ok()) return done(view.status());
            local.push_back(reply.elements[i + 2].str == node_id_);
            page.sessions.push_back(std::move(*view));
          }
          if (page.sessions.size() > query.page_size) {
            page.sessions.resize(query.page_size);
            local.resize(query.page_size);
            page.more = true;
          }
          if (std::find(local.begin(), local.end(), true) == local.end()) {
            return done(std::move(page));
          }
          // Counters of our own sessions: the local hub's page for the same query holds every
          // local session of this page's id range (that range has at most page_size sessions).
          auto shared = std::make_shared<SessionPage>(std::move(page));
          local_hub_.ListSessions(
              std::move(query), [shared, local = std::move(local),
                                 done = std::move(done)](SessionPage local_page) mutable {
                absl::flat_hash_map<std::string, const SessionCounters*> counters;
                for (const SessionView& v : local_page.sessions) {
                  counters[v.info.id] = &v.counters;
                }
                for (size_t k = 0; k < shared->sessions.size(); ++k) {
                  if (!local[k]) continue;
                  auto it = counters.find(shared->sessions[k].info.id);
                  if (it != counters.end()) shared->sessions[k].counters = *it->second;
                }
                done(std::move(*shared));
              });
        });
  });
}

void SessionDirectoryReader::Get(std::string session_id, SessionDone done) {
  GetWithStatus(std::move(session_id),
                [done = std::move(done)](absl::StatusOr<std::optional<SessionView>> result) {
                  if (!result.ok()) {
                    spdlog::warn("GetSession: {}", result.status().ToString());
                    return done(std::nullopt);
                  }
                  done(std::move(*result));
                });
}

void SessionDirectoryReader::List(ListQuery query, PageDone done) {
  ListWithStatus(std::move(query), [done = std::move(done)](absl::StatusOr<SessionPage> result) {
    if (!result.ok()) {
      spdlog::warn("ListSessions: {}", result.status().ToString());
      return done(SessionPage{});
    }
    done(std::move(*result));
  });
}

}  // namespace wsbridge::cluster
