// Request validation for the gRPC API: each function checks one request against design §2 and
// turns it into the plain values the broker works with. A rule that fails gives
// INVALID_ARGUMENT with a message that starts with the offending field ("session_ids[1]: empty
// id"), so the caller can fix the request without reading our code.
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

// `max_message_bytes`: the node's config.session.max_message_bytes (a message no session would
// accept is refused here, naming the flag).
absl::StatusOr<ValidatedDelivery> ValidatePush(const v1::PushRequest& request,
                                               uint64_t max_message_bytes);
absl::StatusOr<ValidatedDelivery> ValidateBroadcast(const v1::BroadcastRequest& request,
                                                    uint64_t max_message_bytes);
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

}  // namespace wsbridge
