#include "cluster/cluster_broker.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "redis/redis_connection.h"
#include "runtime/io_thread.h"
#include "spdlog/spdlog.h"
#include "ws/payload.h"
#include "wsbridge/internal/v1/cluster.pb.h"

namespace wsbridge::cluster {
namespace {

// SELECT_AND_PUBLISH: Push, Subscribe, Unsubscribe and Disconnect, addressed to sessions by id
// and/or to every session of some users. In one atomic step it reads the directory and
// publishes, so the counts it answers are those of the directory at the moment the copies went
// out (no session can join or leave between counting and publishing):
//   - each id: HGET wsb:s:<id> node; known ids are selected and their nodes collected, the
//     others are answered as unknown;
//   - each user: ZRANGE wsb:us:<user> (users have few sessions), selected too, once each;
//   - Subscribe only (max_topics >= 0; -1 skips the check): each selected session's topic count
//   (the `topics` field,
//     newline-joined) plus the request's topics it does not have (ZSCORE wsb:ts:<t> <id>) must
//     stay within max_topics, else it is refused; the smallest refused id is named;
//   - PUBLISH common..ids_part once on wsb:n:<node> of each node holding a named session, and
//     common..user_part[u] on wsb:u:<u> for each user (also with no session in the directory:
//     a session that registered a moment ago gets it).
// ARGV: prefix, common, ids_part, n_ids, n_users, max_topics, n_topics, ids..., users...,
//       user parts..., topics...
// Returns {selected, unknown ids, channels published on, subscribed, refused, refused id,
//          refused id's topics, topics it would have had}.
constexpr char kSelectAndPublish[] = R"lua(
local prefix, common, ids_part = ARGV[1], ARGV[2], ARGV[3]
local n_ids, n_users = tonumber(ARGV[4]), tonumber(ARGV[5])
local max_topics, n_topics = tonumber(ARGV[6]), tonumber(ARGV[7])
local base = 7
local selected, order, unknown, nodes, node_list = {}, {}, {}, {}, {}
for i = 1, n_ids do
  local id = ARGV[base + i]
  local node = redis.call('HGET', prefix .. 's:' .. id, 'node')
  if node then
    if not selected[id] then selected[id] = true; order[#order + 1] = id end
    if not nodes[node] then nodes[node] = true; node_list[#node_list + 1] = node end
  else
    unknown[#unknown + 1] = id
  end
end
base = base + n_ids
local users_base, parts_base = base, base + n_users
for i = 1, n_users do
  for _, id in ipairs(redis.call('ZRANGE', prefix .. 'us:' .. ARGV[users_base + i], 0, -1)) do
    if not selected[id] then selected[id] = true; order[#order + 1] = id end
  end
end
local topics_base = parts_base + n_users
local subscribed, refused, refused_id, refused_topics, would_have = #order, 0, '', 0, 0
if max_topics >= 0 then
  subscribed = 0
  for _, id in ipairs(order) do
    local field = redis.call('HGET', prefix .. 's:' .. id, 'topics')
    local have = 0
    if field and field ~= '' then
      have = 1
      for _ in string.gmatch(field, '\n') do have = have + 1 end
    end
    local new = 0
    for i = 1, n_topics do
      if not redis.call('ZSCORE', prefix .. 'ts:' .. ARGV[topics_base + i], id) then
        new = new + 1
      end
    end
    if have + new > max_topics then
      refused = refused + 1
      if refused == 1 or id < refused_id then
        refused_id, refused_topics, would_have = id, have, have + new
      end
    else
      subscribed = subscribed + 1
    end
  end
end
local channels = {}
table.sort(node_list)
for _, node in ipairs(node_list) do
  local channel = prefix .. 'n:' .. node
  redis.call('PUBLISH', channel, common .. ids_part)
  channels[#channels + 1] = channel
end
for i = 1, n_users do
  local channel = prefix .. 'u:' .. ARGV[users_base + i]
  redis.call('PUBLISH', channel, common .. ARGV[parts_base + i])
  channels[#channels + 1] = channel
end
return {#order, unknown, channels, subscribed, refused, refused_id, refused_topics, would_have}
)lua";

// BROADCAST_AND_PUBLISH: a Broadcast to all sessions or to topics. Atomically counts the
// recipients in the directory and publishes, so `matched` is the directory when the copies went
// out:
//   - all sessions: ZCARD wsb:sessions minus the excluded ids in it; PUBLISH on wsb:all;
//   - one topic: ZCARD wsb:ts:<t> minus the excluded ids in it (O(1) + O(excluded));
//   - several topics: the exact union, built in a Lua table from ZRANGE of each topic's set:
//     O(sum of the topics' subscribers) in Redis's thread, the price of an exact count; then
//     one PUBLISH per topic of common..part[k], where part k names the topics before k (a
//     session gets the message from the first of the request's topics it has).
// ARGV: prefix, common, all ("1"/"0"), n_topics, n_exclude, parts... (one per topic, or one for
//       all), topics..., excluded ids...
// Returns {matched, {}, channels published on}.
constexpr char kBroadcastAndPublish[] = R"lua(
local prefix, common, all = ARGV[1], ARGV[2], ARGV[3] == '1'
local n_topics, n_exclude = tonumber(ARGV[4]), tonumber(ARGV[5])
local n_parts = n_topics
if all then n_parts = 1 end
local parts_base, topics_base = 5, 5 + n_parts
local exclude_base = topics_base + n_topics
local excluded = {}
for i = 1, n_exclude do excluded[ARGV[exclude_base + i]] = true end
local function minus_excluded(key, count)
  for id in pairs(excluded) do
    if redis.call('ZSCORE', key, id) then count = count - 1 end
  end
  return count
end
local matched = 0
local channels = {}
if all then
  local key = prefix .. 'sessions'
  matched = minus_excluded(key, redis.call('ZCARD', key))
  local channel = prefix .. 'all'
  redis.call('PUBLISH', channel, common .. ARGV[parts_base + 1])
  channels[1] = channel
  return {matched, {}, channels}
end
if n_topics == 1 then
  local key = prefix .. 'ts:' .. ARGV[topics_base + 1]
  matched = minus_excluded(key, redis.call('ZCARD', key))
else
  local seen = {}
  for i = 1, n_topics do
    for _, id in ipairs(redis.call('ZRANGE', prefix .. 'ts:' .. ARGV[topics_base + i], 0, -1)) do
      if not seen[id] and not excluded[id] then seen[id] = true; matched = matched + 1 end
    end
  end
end
for i = 1, n_topics do
  local channel = prefix .. 't:' .. ARGV[topics_base + i]
  redis.call('PUBLISH', channel, common .. ARGV[parts_base + i])
  channels[#channels + 1] = channel
end
return {matched, {}, channels}
)lua";

std::string Serialized(const internal::v1::Envelope& envelope) {
  std::string bytes;
  envelope.SerializeToString(&bytes);
  return bytes;
}

// `values` without repeats, in first-seen order.
std::vector<std::string> Distinct(const std::vector<std::string>& values) {
  absl::flat_hash_set<std::string> seen;
  std::vector<std::string> out;
  for (const std::string& v : values) {
    if (seen.insert(v).second) out.push_back(v);
  }
  return out;
}

// The part of a call's envelope every channel's copy carries: what to do, and the call's
// origin (how the publishing node recognises its own copies).
internal::v1::Envelope CommonPart(internal::v1::Envelope::Op op, const std::string& node_id,
                                  uint64_t call_id) {
  internal::v1::Envelope common;
  common.set_op(op);
  common.set_origin_node(node_id);
  common.set_message_id(call_id);
  return common;
}

uint32_t IntegerAt(const RedisReply& reply, size_t i) {
  if (reply.elements.size() <= i || reply.elements[i].type != RedisReply::Type::kInteger) return 0;
  return static_cast<uint32_t>(std::max<int64_t>(0, reply.elements[i].integer));
}

std::vector<std::string> StringsAt(const RedisReply& reply, size_t i) {
  std::vector<std::string> out;
  if (reply.elements.size() <= i) return out;
  for (const RedisReply& e : reply.elements[i].elements) out.push_back(e.str);
  return out;
}

}  // namespace

struct ClusterBroker::Script {
  const char* source;
  std::string sha;  // empty until SCRIPT LOAD answered: EVAL until then
};

// One call in flight, on the Redis thread from Send to Complete.
struct ClusterBroker::Call {
  uint64_t id = 0;
  CallKind kind = CallKind::kDeliver;
  PayloadPtr payload;  // kDeliver: the caller's frame, reused for this node's own copies
  // Channels whose own copy this node will receive, as known when the script was sent.
  absl::flat_hash_set<std::string> confirmed_at_send;
  // Own copies received from Redis (handed to the Hub), and those the Hub has finished with.
  absl::flat_hash_set<std::string> copies_received;
  absl::flat_hash_set<std::string> copies_done;
  bool replied = false;
  // After the reply: the own copies still awaited.
  absl::flat_hash_set<std::string> awaited;
  // From the script.
  uint32_t matched = 0;
  std::vector<std::string> unknown;
  SubscribeCounts subscribe;
  // From the Hub, over this node's own copies.
  DeliveryCounts local;
  DeliveryDone deliver_done;
  SubscribeDone subscribe_done;
  SessionCountDone count_done;
};

ClusterBroker::ClusterBroker(IoThread& redis_thread, RedisConnection& commands,
                             const InterestTracker& interest, Broker& local,
                             DirectoryReads* directory, CounterExchange& counters,
                             const ClusterKeys& keys, Options options)
    : thread_(redis_thread),
      commands_(commands),
      interest_(interest),
      local_(local),
      directory_(directory),
      counters_(counters),
      keys_(keys),
      options_(std::move(options)),
      own_channel_(keys.NodeChannel(options_.node_id)),
      select_script_(new Script{kSelectAndPublish, {}}),
      broadcast_script_(new Script{kBroadcastAndPublish, {}}) {
  thread_.Post([this] { LoadScripts(); });
}

ClusterBroker::~ClusterBroker() = default;

void ClusterBroker::LoadScripts() {
  if (detached_) return;
  for (Script* script : {select_script_.get(), broadcast_script_.get()}) {
    commands_.Command({"SCRIPT", "LOAD", script->source}, [script](RedisReply reply) {
      if (reply.type == RedisReply::Type::kString) script->sha = reply.str;
    });
  }
}

void ClusterBroker::OnCommandState(const RedisStateChange& change) {
  if (change.connected) LoadScripts();
}

std::vector<std::string> ClusterBroker::ConfirmedOf(
    const std::vector<std::string>& candidates) const {
  std::vector<std::string> out;
  for (const std::string& channel : candidates) {
    if (interest_.IsConfirmed(channel)) out.push_back(channel);
  }
  return out;
}

std::unique_ptr<ClusterBroker::Call> ClusterBroker::NewCall(CallKind kind) {
  auto call = std::make_unique<Call>();
  call->id = NextCallId();
  call->kind = kind;
  return call;
}

void ClusterBroker::SendSelected(std::unique_ptr<Call> call, const internal::v1::Envelope& common,
                                 const SessionSelector& selector,
                                 const std::vector<std::string>* limited_topics) {
  // ARGV of SELECT_AND_PUBLISH: prefix, common, ids_part, n_ids, n_users, max_topics, n_topics,
  // ids..., users..., user parts..., topics...
  const std::vector<std::string> ids = Distinct(selector.session_ids);
  const std::vector<std::string> users = Distinct(selector.user_ids);
  internal::v1::Envelope ids_part;
  for (const std::string& id : ids) ids_part.add_session_ids(id);
  std::vector<std::string> args = {keys_.prefix(), Serialized(common), Serialized(ids_part),
                                   std::to_string(ids.size()), std::to_string(users.size())};
  if (limited_topics != nullptr) {
    args.push_back(std::to_string(options_.max_topics_per_session));
    args.push_back(std::to_string(limited_topics->size()));
  } else {
    args.push_back("-1");  // no topic limit to check
    args.push_back("0");
  }
  for (const std::string& id : ids) args.push_back(id);
  for (const std::string& user : users) args.push_back(user);
  std::vector<std::string> candidates;
  for (const std::string& user : users) {
    // A session named by id gets its copy through its node's channel, not its user's.
    internal::v1::Envelope user_part;
    user_part.add_user_ids(user);
    for (const std::string& id : ids) user_part.add_exclude_session_ids(id);
    args.push_back(Serialized(user_part));
    candidates.push_back(keys_.UserChannel(user));
  }
  if (limited_topics != nullptr) {
    for (const std::string& topic : *limited_topics) args.push_back(topic);
  }
  candidates.push_back(own_channel_);
  for (const std::string& c : ConfirmedOf(candidates)) call->confirmed_at_send.insert(c);
  Send(std::move(call), *select_script_, std::move(args));
}

void ClusterBroker::Deliver(std::shared_ptr<const DeliveryTargets> targets, PayloadPtr payload,
                            DeliveryDone done) {
  thread_.Post([this, targets = std::move(targets), payload = std::move(payload),
                done = std::move(done)]() mutable {
    SendDelivery(*targets, std::move(payload), std::move(done));
  });
}

void ClusterBroker::DeliverBatch(std::shared_ptr<const std::vector<DeliveryItem>> items,
                                 BatchDone done) {
  // The answers of the items: filled and completed on the Redis thread only.
  struct Answers {
    std::vector<DeliveryCounts> counts;
    size_t remaining = 0;
    BatchDone done;
  };
  auto answers = std::make_shared<Answers>();
  answers->counts.resize(items->size());
  answers->remaining = items->size();
  answers->done = std::move(done);
  // One task: the items' scripts go out back to back on the command connection, with no other
  // call of this node between them, and Redis runs them in that order.
  thread_.Post([this, items = std::move(items), answers] {
    for (size_t k = 0; k < items->size(); ++k) {
      const DeliveryItem& item = (*items)[k];
      SendDelivery(*item.targets, item.payload, [answers, k](DeliveryCounts counts) {
        answers->counts[k] = std::move(counts);
        if (--answers->remaining == 0) answers->done(std::move(answers->counts));
      });
    }
  });
}

void ClusterBroker::SendDelivery(const DeliveryTargets& targets, PayloadPtr payload,
                                 DeliveryDone done) {
  WSBRIDGE_ASSERT_ON(thread_);
  std::unique_ptr<Call> call = NewCall(CallKind::kDeliver);
  call->payload = payload;
  call->deliver_done = std::move(done);

  internal::v1::Envelope common =
      CommonPart(internal::v1::Envelope::OP_DELIVER, options_.node_id, call->id);
  common.set_message(payload->bytes);
  common.set_binary(payload->kind == Payload::Kind::kBinary);
  const SessionSelector& selector = targets.selector;
  const bool broadcast = targets.all_sessions || !targets.topics.empty();
  const bool push = !selector.session_ids.empty() || !selector.user_ids.empty();
  if (broadcast && push) {
    // The API never mixes them (a Push names sessions, a Broadcast topics or everyone).
    return Complete(*call, "cluster: a delivery to both sessions and topics is not supported");
  }
  if (!broadcast) return SendSelected(std::move(call), common, selector, nullptr);
  std::vector<std::string> candidates;
  std::vector<std::string> args = {keys_.prefix(), Serialized(common)};
  const std::vector<std::string> topics = Distinct(targets.topics);
  const std::vector<std::string> excluded = Distinct(targets.exclude_session_ids);
  args.push_back(targets.all_sessions ? "1" : "0");
  args.push_back(std::to_string(targets.all_sessions ? 0 : topics.size()));
  args.push_back(std::to_string(excluded.size()));
  if (targets.all_sessions) {
    internal::v1::Envelope part;
    part.set_all_sessions(true);
    for (const std::string& id : excluded) part.add_exclude_session_ids(id);
    args.push_back(Serialized(part));
    candidates.push_back(keys_.AllChannel());
  } else {
    for (size_t k = 0; k < topics.size(); ++k) {
      internal::v1::Envelope part;
      part.add_target_topics(topics[k]);
      for (size_t j = 0; j < k; ++j) part.add_topics_before(topics[j]);
      for (const std::string& id : excluded) part.add_exclude_session_ids(id);
      args.push_back(Serialized(part));
    }
    for (const std::string& topic : topics) {
      args.push_back(topic);
      candidates.push_back(keys_.TopicChannel(topic));
    }
  }
  for (const std::string& id : excluded) args.push_back(id);
  for (const std::string& c : ConfirmedOf(candidates)) call->confirmed_at_send.insert(c);
  Send(std::move(call), *broadcast_script_, std::move(args));
}

void ClusterBroker::Subscribe(std::shared_ptr<const SessionSelector> selector,
                              std::shared_ptr<const std::vector<std::string>> topics,
                              SubscribeDone done) {
  thread_.Post([this, selector = std::move(selector), topics = std::move(topics),
                done = std::move(done)]() mutable {
    std::unique_ptr<Call> call = NewCall(CallKind::kSubscribe);
    call->subscribe_done = std::move(done);
    std::vector<std::string> distinct = *topics;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    internal::v1::Envelope common =
        CommonPart(internal::v1::Envelope::OP_SUBSCRIBE, options_.node_id, call->id);
    for (const std::string& topic : distinct) common.add_topics(topic);
    SendSelected(std::move(call), common, *selector, &distinct);
  });
}

void ClusterBroker::Unsubscribe(std::shared_ptr<const SessionSelector> selector,
                                std::shared_ptr<const std::vector<std::string>> topics,
                                SessionCountDone done) {
  thread_.Post([this, selector = std::move(selector), topics = std::move(topics),
                done = std::move(done)]() mutable {
    std::unique_ptr<Call> call = NewCall(CallKind::kUnsubscribe);
    call->count_done = std::move(done);
    internal::v1::Envelope common =
        CommonPart(internal::v1::Envelope::OP_UNSUBSCRIBE, options_.node_id, call->id);
    for (const std::string& topic : *topics) common.add_topics(topic);
    SendSelected(std::move(call), common, *selector, nullptr);
  });
}

void ClusterBroker::Disconnect(std::shared_ptr<const SessionSelector> selector, uint16_t code,
                               std::string reason, SessionCountDone done) {
  thread_.Post([this, selector = std::move(selector), code, reason = std::move(reason),
                done = std::move(done)]() mutable {
    std::unique_ptr<Call> call = NewCall(CallKind::kDisconnect);
    call->count_done = std::move(done);
    internal::v1::Envelope common =
        CommonPart(internal::v1::Envelope::OP_DISCONNECT, options_.node_id, call->id);
    common.set_close_code(code);
    common.set_close_reason(reason);
    SendSelected(std::move(call), common, *selector, nullptr);
  });
}

void ClusterBroker::GetSession(std::string session_id, SessionDone done) {
  directory_->Get(std::move(session_id), std::move(done));
}

void ClusterBroker::ListSessions(ListQuery query, PageDone done) {
  directory_->List(std::move(query), std::move(done));
}

void ClusterBroker::Send(std::unique_ptr<Call> call, const Script& script,
                         std::vector<std::string> args) {
  WSBRIDGE_ASSERT_ON(thread_);
  if (detached_) return Complete(*call, "redis unavailable: this node is shutting down");
  const uint64_t id = call->id;
  calls_.emplace(id, std::move(call));
  Eval(id, script, std::move(args), !script.sha.empty());
}

void ClusterBroker::Eval(uint64_t call_id, const Script& script, std::vector<std::string> args,
                         bool by_sha) {
  std::vector<std::string> argv;
  argv.reserve(args.size() + 3);
  argv.push_back(by_sha ? "EVALSHA" : "EVAL");
  argv.push_back(by_sha ? script.sha : std::string(script.source));
  argv.push_back("0");  // no KEYS: the script derives its keys from the prefix (one Redis)
  // A NOSCRIPT answer (Redis restarted and lost its scripts) is sent again as EVAL, which needs
  // the arguments again.
  std::vector<std::string> retry_args;
  if (by_sha) retry_args = args;
  for (std::string& a : args) argv.push_back(std::move(a));
  commands_.Command(std::move(argv),
                    [this, call_id, &script, by_sha,
                     retry_args = std::move(retry_args)](RedisReply reply) mutable {
                      if (by_sha && reply.is_error() && absl::StartsWith(reply.str, "NOSCRIPT")) {
                        return Eval(call_id, script, std::move(retry_args), false);
                      }
                      OnScriptReply(call_id, reply);
                    });
}

void ClusterBroker::OnScriptReply(uint64_t call_id, const RedisReply& reply) {
  WSBRIDGE_ASSERT_ON(thread_);
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (reply.is_error()) {
    return Complete(call, reply.unanswered ? absl::StrCat("redis unavailable: ", reply.str)
                                           : absl::StrCat("redis error: ", reply.str));
  }
  if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 3) {
    return Complete(call, "redis error: unexpected answer to the cluster script");
  }
  call.replied = true;
  call.matched = IntegerAt(reply, 0);
  call.unknown = StringsAt(reply, 1);
  if (call.kind == CallKind::kSubscribe && reply.elements.size() >= 8) {
    call.subscribe.subscribed = IntegerAt(reply, 3);
    call.subscribe.refused = IntegerAt(reply, 4);
    if (call.subscribe.refused > 0) {
      call.subscribe.refused_session_id = reply.elements[5].str;
      call.subscribe.refused_session_topics = IntegerAt(reply, 6);
      call.subscribe.refused_session_would_have = IntegerAt(reply, 7);
      call.subscribe.max_topics_per_session =
          static_cast<uint32_t>(options_.max_topics_per_session);
    }
  }
  for (const std::string& channel : StringsAt(reply, 2)) {
    if (call.confirmed_at_send.contains(channel) && !call.copies_done.contains(channel)) {
      call.awaited.insert(channel);
    }
  }
  TryComplete(call_id);
}

void ClusterBroker::OnMessage(const std::string& channel, const std::string& payload) {
  WSBRIDGE_ASSERT_ON(thread_);
  auto envelope = std::make_shared<internal::v1::Envelope>();
  if (!envelope->ParseFromString(payload)) {
    spdlog::warn("cluster: a message on {} is not an Envelope ({} bytes): ignored", channel,
                 payload.size());
    return;
  }
  if (envelope->op() == internal::v1::Envelope::OP_COUNTERS_REQUEST ||
      envelope->op() == internal::v1::Envelope::OP_COUNTERS_REPLY) {
    return counters_.OnEnvelope(*envelope);
  }
  // This node's own copy of a call still open: its answer waits for the Hub to finish with it.
  uint64_t own_call = 0;
  Call* call = nullptr;
  if (envelope->origin_node() == options_.node_id) {
    auto it = calls_.find(envelope->message_id());
    if (it != calls_.end()) {
      own_call = it->first;
      call = it->second.get();
      call->copies_received.insert(channel);
    }
  }
  auto report = [this, own_call, channel](DeliveryCounts local) {
    if (own_call == 0) return;
    thread_.Post([this, own_call, channel, local = std::move(local)] {
      OnOwnCopyDone(own_call, channel, local);
    });
  };
  auto selector = std::make_shared<SessionSelector>();
  selector->session_ids.assign(envelope->session_ids().begin(), envelope->session_ids().end());
  selector->user_ids.assign(envelope->user_ids().begin(), envelope->user_ids().end());
  auto topics = std::make_shared<std::vector<std::string>>(envelope->topics().begin(),
                                                           envelope->topics().end());
  switch (envelope->op()) {
    case internal::v1::Envelope::OP_DELIVER: {
      auto targets = std::make_shared<DeliveryTargets>();
      targets->selector = std::move(*selector);
      targets->topics.assign(envelope->target_topics().begin(), envelope->target_topics().end());
      targets->all_sessions = envelope->all_sessions();
      targets->exclude_session_ids.assign(envelope->exclude_session_ids().begin(),
                                          envelope->exclude_session_ids().end());
      targets->skip_topics.assign(envelope->topics_before().begin(),
                                  envelope->topics_before().end());
      // Framed once per envelope; the publishing node reuses the caller's frame.
      PayloadPtr frame =
          call != nullptr && call->payload != nullptr
              ? call->payload
              : MakePayload(envelope->binary() ? Payload::Kind::kBinary : Payload::Kind::kText,
                            std::move(*envelope->mutable_message()),
                            std::chrono::steady_clock::now());
      local_.Deliver(std::move(targets), std::move(frame), std::move(report));
      return;
    }
    case internal::v1::Envelope::OP_SUBSCRIBE:
      local_.Subscribe(std::move(selector), std::move(topics),
                       [report](SubscribeCounts) { report({}); });
      return;
    case internal::v1::Envelope::OP_UNSUBSCRIBE:
      local_.Unsubscribe(std::move(selector), std::move(topics),
                         [report](SessionCount) { report({}); });
      return;
    case internal::v1::Envelope::OP_DISCONNECT:
      local_.Disconnect(std::move(selector), static_cast<uint16_t>(envelope->close_code()),
                        envelope->close_reason(), [report](SessionCount) { report({}); });
      return;
    default:
      spdlog::warn("cluster: an Envelope on {} has unknown op {}: ignored", channel,
                   static_cast<int>(envelope->op()));
      return;
  }
}

void ClusterBroker::OnOwnCopyDone(uint64_t call_id, const std::string& channel,
                                  const DeliveryCounts& local) {
  WSBRIDGE_ASSERT_ON(thread_);
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  call.local.matched += local.matched;
  call.local.queued += local.queued;
  call.local.dropped += local.dropped;
  call.copies_done.insert(channel);
  call.awaited.erase(channel);
  TryComplete(call_id);
}

void ClusterBroker::OnChannelDropped(const std::string& channel) {
  WSBRIDGE_ASSERT_ON(thread_);
  // Copies on it are no longer delivered to this node (redis_subscriber.h): nothing waits for
  // them. O(calls in flight) per dropped channel.
  std::vector<uint64_t> touched;
  for (auto& [id, call] : calls_) {
    if (call->confirmed_at_send.erase(channel) > 0 && call->awaited.erase(channel) > 0) {
      touched.push_back(id);
    }
  }
  for (uint64_t id : touched) TryComplete(id);
}

void ClusterBroker::OnSubscriberState(const RedisStateChange& change) {
  WSBRIDGE_ASSERT_ON(thread_);
  if (change.connected) return;
  // Copies published before the loss and not yet received will never come: the calls waiting
  // for them cannot say what this node's sessions got.
  const std::string failure = absl::StrCat(
      "redis unavailable: the pub/sub connection was lost before this node received its own "
      "copy (",
      change.error, "); other nodes may have received it");
  // A copy already received is in the hub's hands and will be finished with.
  std::vector<uint64_t> waiting;
  for (auto& [id, call] : calls_) {
    const auto& expected = call->replied ? call->awaited : call->confirmed_at_send;
    for (const std::string& channel : expected) {
      if (!call->copies_received.contains(channel)) {
        waiting.push_back(id);
        break;
      }
    }
  }
  for (uint64_t id : waiting) Complete(*calls_.at(id), failure);
}

void ClusterBroker::TryComplete(uint64_t call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (!call.replied || !call.awaited.empty()) return;
  Complete(call, "");
}

void ClusterBroker::Complete(Call& call, const std::string& failure) {
  // Take the call out first: a completion may start another call.
  std::unique_ptr<Call> owned;
  if (auto it = calls_.find(call.id); it != calls_.end()) {
    owned = std::move(it->second);
    calls_.erase(it);
  }
  switch (call.kind) {
    case CallKind::kDeliver: {
      DeliveryCounts counts;
      if (failure.empty()) {
        counts.matched = std::max(call.matched, call.local.matched);
        counts.dropped = call.local.dropped;
        counts.queued = call.local.queued + (counts.matched - call.local.matched);
        counts.unknown_session_ids = std::move(call.unknown);
      } else {
        counts.failure = failure;
      }
      return call.deliver_done(std::move(counts));
    }
    case CallKind::kSubscribe: {
      SubscribeCounts counts = failure.empty() ? call.subscribe : SubscribeCounts{};
      counts.failure = failure;
      return call.subscribe_done(std::move(counts));
    }
    case CallKind::kUnsubscribe:
    case CallKind::kDisconnect:
      return call.count_done(SessionCount{failure.empty() ? call.matched : 0, failure});
  }
}

void ClusterBroker::FailPending(const std::string& failure) {
  WSBRIDGE_ASSERT_ON(thread_);
  while (!calls_.empty()) Complete(*calls_.begin()->second, failure);
}

}  // namespace wsbridge::cluster
