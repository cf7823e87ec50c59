// Request validation for the gRPC API: each function checks one request against design §2 and
// turns it into the plain values the broker works with. A rule that fails gives
// INVALID_ARGUMENT with a message that starts with the offending field ("session_ids[1]: empty
// id"), so the caller can fix the request without reading our code.
//
// Every request is bounded in size, not only in bytes (gRPC's receive limit, set by
// server/bridge_server.cc to max(4 MiB, 2 * max_message_bytes + 4 KiB)) but in how much work and
// answer it can ask for: at most kMaxIdsPerRequest ids and kMaxTopicsPerRequest topics. An id is
// looked up on every I/O thread and may come back in PushResponse.unknown_session_ids, so a
// million-id Push would cost every thread a million lookups ahead of everyone else's messages,
// and its answer as many bytes as its request.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "broker/types.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {

struct ValidatedDelivery {
  std::shared_ptr<const DeliveryTargets> targets;
  PayloadPtr payload;
};

struct ValidatedTopicChange {
  std::shared_ptr<const SessionSelector> selector;
  std::shared_ptr<const std::vector<std::string>> topics;
};

struct ValidatedDisconnect {
  std::shared_ptr<const SessionSelector> selector;
  uint16_t code = 1000;
  std::string reason;
};

// A PushBatch that may proceed: what became of each of its pushes, and the valid ones to deliver.
struct ValidatedPushBatch {
  // One per push, in request order: OK, or INVALID_ARGUMENT naming the push and the field
  // ("pushes[3].user_ids[0]: empty id").
  std::vector<absl::Status> verdicts;
  // The valid pushes, in request order (empty when none is valid).
  std::shared_ptr<std::vector<DeliveryItem>> items;
  // item_pushes[j]: the index in the request of items[j].
  std::vector<size_t> item_pushes;
};

// `max_message_bytes`: the node's config.session.max_message_bytes (a message no session would
// accept is refused here, naming the flag).
absl::StatusOr<ValidatedDelivery> ValidatePush(const v1::PushRequest& request,
                                               uint64_t max_message_bytes);
absl::StatusOr<ValidatedDelivery> ValidateBroadcast(const v1::BroadcastRequest& request,
                                                    uint64_t max_message_bytes);
// The call-level checks of a PushBatch (at least one push, at most `max_batch_items`, the
// node's --max_batch_items) fail the whole call; past them each push is validated as a Push
// and a refused one fails alone.
absl::StatusOr<ValidatedPushBatch> ValidatePushBatch(const v1::PushBatchRequest& request,
                                                     uint64_t max_message_bytes,
                                                     size_t max_batch_items);
absl::StatusOr<ValidatedTopicChange> ValidateSubscribe(const v1::SubscribeRequest& request);
absl::StatusOr<ValidatedTopicChange> ValidateUnsubscribe(const v1::UnsubscribeRequest& request);
absl::StatusOr<ValidatedDisconnect> ValidateDisconnect(const v1::DisconnectRequest& request);
absl::Status ValidateGetSession(const v1::GetSessionRequest& request);
absl::StatusOr<ListQuery> ValidateListSessions(const v1::ListSessionsRequest& request);

// The opaque ListSessions page token that continues after `last_session_id`.
std::string EncodePageToken(const std::string& last_session_id);

inline constexpr int32_t kDefaultPageSize = 100;
inline constexpr int32_t kMaxPageSize = 1000;
inline constexpr size_t kMaxCloseReasonBytes = 123;
// Ids one request may name: session_ids plus user_ids (Push, Subscribe, Unsubscribe,
// Disconnect), or exclude_session_ids (Broadcast). At 256 bytes an id, 10,000 ids are at most
// 2.5 MiB, within the default 4 MiB gRPC receive limit next to a message of up to 1 MiB.
inline constexpr size_t kMaxIdsPerRequest = 10000;
// Topics one Broadcast, Subscribe or Unsubscribe may name.
inline constexpr size_t kMaxTopicsPerRequest = 1000;

}  // namespace wsbridge
