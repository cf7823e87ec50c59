#include "api/request_validator.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/names.h"
#include "ws/payload.h"

namespace wsbridge {
namespace {

constexpr absl::string_view kPageTokenPrefix = "after:";

// Checked before the entries themselves, so an oversized request costs one comparison.
absl::Status CheckIdCount(absl::string_view fields, size_t count) {
  if (count <= kMaxIdsPerRequest) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(fields, ": ", count, " ids is over the limit of ",
                                                 kMaxIdsPerRequest,
                                                 " ids per request; split the call"));
}

absl::Status CheckTopicCount(absl::string_view field, size_t count) {
  if (count <= kMaxTopicsPerRequest) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", count, " topics is over the limit of ", kMaxTopicsPerRequest,
                   " topics per request; split the call"));
}

absl::Status ValidateIds(absl::string_view field,
                         const google::protobuf::RepeatedPtrField<std::string>& ids) {
  for (int i = 0; i < ids.size(); ++i) {
    if (auto status = ValidateId(absl::StrCat(field, "[", i, "]"), ids[i]); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTopics(absl::string_view field,
                            const google::protobuf::RepeatedPtrField<std::string>& topics) {
  if (auto status = CheckTopicCount(field, topics.size()); !status.ok()) return status;
  for (int i = 0; i < topics.size(); ++i) {
    if (auto status = ValidateTopic(absl::StrCat(field, "[", i, "]"), topics[i]); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> ToVector(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return std::vector<std::string>(items.begin(), items.end());
}

// The selector shared by Push, Subscribe, Unsubscribe and Disconnect.
template <class Request>
absl::StatusOr<SessionSelector> ValidateSelector(const Request& request) {
  if (request.session_ids().empty() && request.user_ids().empty()) {
    return absl::InvalidArgumentError(
        "session_ids or user_ids: name at least one session or user (anonymous sessions are "
        "reached by session id, topic or all_sessions)");
  }
  if (auto status = CheckIdCount("session_ids and user_ids",
                                 static_cast<size_t>(request.session_ids().size()) +
                                     static_cast<size_t>(request.user_ids().size()));
      !status.ok()) {
    return status;
  }
  if (auto status = ValidateIds("session_ids", request.session_ids()); !status.ok()) return status;
  if (auto status = ValidateIds("user_ids", request.user_ids()); !status.ok()) return status;
  return SessionSelector{ToVector(request.session_ids()), ToVector(request.user_ids())};
}

absl::StatusOr<PayloadPtr> ValidateMessage(const v1::Message& message, bool present,
                                           uint64_t max_message_bytes) {
  if (!present || message.payload_case() == v1::Message::PAYLOAD_NOT_SET) {
    return absl::InvalidArgumentError("message: required: set message.text or message.binary");
  }
  const bool text = message.payload_case() == v1::Message::kText;
  const std::string& bytes = text ? message.text() : message.binary();
  if (bytes.size() > max_message_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("message: ", bytes.size(), " bytes is over the limit of ", max_message_bytes,
                     " bytes (--max_message_bytes)"));
  }
  // Stamped with the time the call is accepted: the start of wsbridge_delivery_latency_seconds,
  // which each session ends when it writes the frame.
  return MakePayload(text ? Payload::Kind::kText : Payload::Kind::kBinary, bytes,
                     std::chrono::steady_clock::now());
}

template <class Request>
absl::StatusOr<ValidatedTopicChange> ValidateTopicChange(const Request& request) {
  auto selector = ValidateSelector(request);
  if (!selector.ok()) return selector.status();
  if (request.topics().empty()) {
    return absl::InvalidArgumentError("topics: name at least one topic");
  }
  if (auto status = ValidateTopics("topics", request.topics()); !status.ok()) return status;
  return ValidatedTopicChange{
      std::make_shared<const SessionSelector>(std::move(*selector)),
      std::make_shared<const std::vector<std::string>>(ToVector(request.topics()))};
}

}  // namespace

absl::StatusOr<ValidatedDelivery> ValidatePush(const v1::PushRequest& request,
                                               uint64_t max_message_bytes) {
  auto selector = ValidateSelector(request);
  if (!selector.ok()) return selector.status();
  auto payload = ValidateMessage(request.message(), request.has_message(), max_message_bytes);
  if (!payload.ok()) return payload.status();
  auto targets = std::make_shared<DeliveryTargets>();
  targets->selector = std::move(*selector);
  return ValidatedDelivery{std::move(targets), std::move(*payload)};
}

absl::StatusOr<ValidatedPushBatch> ValidatePushBatch(const v1::PushBatchRequest& request,
                                                     uint64_t max_message_bytes,
                                                     size_t max_batch_items) {
  const size_t count = static_cast<size_t>(request.pushes_size());
  if (count == 0) return absl::InvalidArgumentError("pushes: name at least one push");
  if (count > max_batch_items) {
    return absl::InvalidArgumentError(
        absl::StrCat("pushes: ", count, " pushes is over the limit of ", max_batch_items,
                     " pushes per call (--max_batch_items); split the call"));
  }
  ValidatedPushBatch batch;
  batch.verdicts.reserve(count);
  batch.items = std::make_shared<std::vector<DeliveryItem>>();
  batch.items->reserve(count);
  batch.item_pushes.reserve(count);
  for (size_t k = 0; k < count; ++k) {
    auto push = ValidatePush(request.pushes(static_cast<int>(k)), max_message_bytes);
    if (!push.ok()) {
      batch.verdicts.push_back(
          absl::InvalidArgumentError(absl::StrCat("pushes[", k, "].", push.status().message())));
      continue;
    }
    batch.verdicts.push_back(absl::OkStatus());
    batch.items->push_back(DeliveryItem{std::move(push->targets), std::move(push->payload)});
    batch.item_pushes.push_back(k);
  }
  return batch;
}

absl::StatusOr<ValidatedDelivery> ValidateBroadcast(const v1::BroadcastRequest& request,
                                                    uint64_t max_message_bytes) {
  if (request.topics().empty() && !request.all_sessions()) {
    return absl::InvalidArgumentError(
        "topics or all_sessions: name at least one topic, or set all_sessions");
  }
  if (!request.topics().empty() && request.all_sessions()) {
    return absl::InvalidArgumentError("topics and all_sessions: set one of them, not both");
  }
  if (auto status = ValidateTopics("topics", request.topics()); !status.ok()) return status;
  if (auto status = CheckIdCount("exclude_session_ids", request.exclude_session_ids().size());
      !status.ok()) {
    return status;
  }
  if (auto status = ValidateIds("exclude_session_ids", request.exclude_session_ids());
      !status.ok()) {
    return status;
  }
  auto payload = ValidateMessage(request.message(), request.has_message(), max_message_bytes);
  if (!payload.ok()) return payload.status();
  auto targets = std::make_shared<DeliveryTargets>();
  targets->topics = ToVector(request.topics());
  targets->all_sessions = request.all_sessions();
  targets->exclude_session_ids = ToVector(request.exclude_session_ids());
  return ValidatedDelivery{std::move(targets), std::move(*payload)};
}

absl::StatusOr<ValidatedTopicChange> ValidateSubscribe(const v1::SubscribeRequest& request) {
  return ValidateTopicChange(request);
}

absl::StatusOr<ValidatedTopicChange> ValidateUnsubscribe(const v1::UnsubscribeRequest& request) {
  return ValidateTopicChange(request);
}

absl::StatusOr<ValidatedDisconnect> ValidateDisconnect(const v1::DisconnectRequest& request) {
  auto selector = ValidateSelector(request);
  if (!selector.ok()) return selector.status();
  const uint32_t code = request.code() == 0 ? 1000 : request.code();
  if (code != 1000 && (code < 3000 || code > 4999)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "code: ", code, " is not a close code a service may send (use 1000 or 3000-4999)"));
  }
  if (request.reason().size() > kMaxCloseReasonBytes) {
    return absl::InvalidArgumentError(absl::StrCat("reason: ", request.reason().size(),
                                                   " bytes is over the WebSocket limit of ",
                                                   kMaxCloseReasonBytes, " bytes"));
  }
  return ValidatedDisconnect{std::make_shared<const SessionSelector>(std::move(*selector)),
                             static_cast<uint16_t>(code), request.reason()};
}

absl::Status ValidateGetSession(const v1::GetSessionRequest& request) {
  return ValidateId("session_id", request.session_id());
}

absl::StatusOr<ListQuery> ValidateListSessions(const v1::ListSessionsRequest& request) {
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", request.page_size(), " is negative"));
  }
  if (!request.topic().empty()) {
    if (auto status = ValidateTopic("topic", request.topic()); !status.ok()) return status;
  }
  ListQuery query;
  query.user_id = request.user_id();
  query.topic = request.topic();
  query.page_size = static_cast<size_t>(
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize));
  if (!request.page_token().empty()) {
    std::string decoded;
    if (!absl::WebSafeBase64Unescape(request.page_token(), &decoded) ||
        !absl::StartsWith(decoded, kPageTokenPrefix) || decoded.size() == kPageTokenPrefix.size()) {
      return absl::InvalidArgumentError(
          "page_token: not a token returned by ListSessions (pass next_page_token unchanged)");
    }
    query.after_id = decoded.substr(kPageTokenPrefix.size());
  }
  return query;
}

std::string EncodePageToken(const std::string& last_session_id) {
  return absl::WebSafeBase64Escape(absl::StrCat(kPageTokenPrefix, last_session_id));
}

}  // namespace wsbridge
