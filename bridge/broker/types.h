// The broker's vocabulary: plain values that say whom an API call addresses, what came of it, and
// what a session looks like from outside, plus the completions of the Broker's operations
// (broker/broker.h). The API builds them (api/request_validator.h), the hub resolves them, and a
// cluster broker will carry them between nodes. Nothing here knows about sockets, threads or
// protobuf, so code that only validates or routes does not pull in Asio or gRPC.
//
// A message travels as a PayloadPtr: a shared, immutable frame made once per call by the
// WebSocket layer (ws/payload.h). Here it is opaque: routing code copies and hands on the
// pointer but never looks inside.
//
// Thread-safety: plain values; shared read-only (behind shared_ptr<const ...>) across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wsbridge {

struct Payload;  // defined in ws/payload.h
using PayloadPtr = std::shared_ptr<const Payload>;

// Sessions named by id and/or every session of the named users (Push, Subscribe, Disconnect).
struct SessionSelector {
  std::vector<std::string> session_ids;
  std::vector<std::string> user_ids;
};

// Whom one message goes to: a Push (selector) or a Broadcast (topics or all sessions).
struct DeliveryTargets {
  SessionSelector selector;
  std::vector<std::string> topics;
  bool all_sessions = false;
  std::vector<std::string> exclude_session_ids;
  // Sessions subscribed to any of these topics are skipped (as if excluded). Cluster mode sends a
  // Broadcast to several topics as one copy per topic channel; the copy for topic k names the
  // topics before k here, so a session gets the message once: from the first of the request's
  // topics it has. Empty from the API.
  std::vector<std::string> skip_topics;
};

// Why a broker could not carry out a call: empty when it did. Only a cluster broker sets it
// ("redis unavailable: ..."); the API answers UNAVAILABLE with it, and the counts (or the
// session, or the page) beside it are empty. A single node's hub never fails a call.
using BrokerFailure = std::string;

// What was done with one message. `unknown_session_ids` lists the entries of
// `selector.session_ids` that named no online session.
struct DeliveryCounts {
  uint32_t matched = 0;
  uint32_t queued = 0;
  uint32_t dropped = 0;
  std::vector<std::string> unknown_session_ids;
  BrokerFailure failure;
};

// What came of a Subscribe. A selected session that would pass the node's topics-per-session
// limit (counting only topics it does not already have) is left unchanged and counted in
// `refused`; every other selected session gets the topics and is counted in `subscribed`.
struct SubscribeCounts {
  uint32_t subscribed = 0;
  uint32_t refused = 0;
  // When refused > 0: the smallest refused session id, so the answer names the same session
  // whatever the threads' timing, with the topics it has and the number it would have had.
  std::string refused_session_id;
  uint32_t refused_session_topics = 0;
  uint32_t refused_session_would_have = 0;
  // When refused > 0: the limit they would have passed (the node's --max_topics_per_session).
  uint32_t max_topics_per_session = 0;
  BrokerFailure failure;
};

// What came of an Unsubscribe or a Disconnect: how many selected sessions it acted on.
struct SessionCount {
  uint32_t sessions = 0;
  BrokerFailure failure;
};

// What a session is, as GetSession / ListSessions describe it.
struct SessionInfo {
  std::string id;
  std::string user_id;  // empty for anonymous sessions
  std::string remote_address;
  absl::Time connected_at;
  std::map<std::string, std::string> metadata;
};

// Counters of one session, as reported by GetSession / ListSessions.
struct SessionCounters {
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint32_t queued_messages = 0;
  uint64_t queued_bytes = 0;
};

// One session as GetSession / ListSessions report it.
struct SessionView {
  SessionInfo info;
  std::vector<std::string> topics;
  SessionCounters counters;
};

struct ListQuery {
  std::string user_id;   // filter, when non-empty
  std::string topic;     // filter, when non-empty
  std::string after_id;  // sessions with a greater id only, when non-empty
  size_t page_size = 100;
};

// What GetSession found: the session, or none when no node holds it. With `failure` set, the
// broker could not look (cluster mode without Redis): nothing is known about the session.
struct SessionLookup {
  std::optional<SessionView> session;
  BrokerFailure failure;
};

struct SessionPage {
  std::vector<SessionView> sessions;  // ordered by id
  bool more = false;                  // further sessions match after the last one
  // The event sequence the page is a consistent cut at: it holds exactly the matching sessions
  // (in its id range) whose `opened` event has a sequence <= `sequence` and whose `closed` event
  // does not. 0: no consistent cut could be taken (the page is still right, but unanchored).
  uint64_t sequence = 0;
  // Set when the broker could not read the sessions (the rest of the page is then empty).
  BrokerFailure failure;
};

// One message of a batch (Broker::DeliverBatch): whom it goes to and its frame, made once.
struct DeliveryItem {
  std::shared_ptr<const DeliveryTargets> targets;
  PayloadPtr payload;
};

// Completions of the Broker's operations: each runs exactly once and must not block.
using DeliveryDone = std::function<void(DeliveryCounts)>;
// One DeliveryCounts per item of a DeliverBatch, in item order; an item the broker could not
// carry out has its own `failure` set.
using BatchDone = std::function<void(std::vector<DeliveryCounts>)>;
using CountDone = std::function<void(uint32_t sessions)>;
using SessionCountDone = std::function<void(SessionCount)>;
using SubscribeDone = std::function<void(SubscribeCounts)>;
using SessionDone = std::function<void(SessionLookup)>;
using PageDone = std::function<void(SessionPage)>;

}  // namespace wsbridge
