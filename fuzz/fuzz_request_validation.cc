// Fuzz target: the validation of every gRPC request (api/request_validator.h and ValidateEvents
// of api/events_stream.h), from the bytes gRPC hands to protobuf.
//
// The first input byte says what the rest is: bits 0-2 pick the request type (Push, Broadcast,
// Subscribe, Unsubscribe, Disconnect, GetSession, ListSessions, Events), bit 3 the node's
// max_message_bytes (64 or 1 MiB, so both sides of the limit are reachable). The rest is parsed
// with ParseFromArray, as gRPC does, and what parses is validated. Nothing may crash, leak or hit
// undefined behaviour; a refusal is INVALID_ARGUMENT with a message, and what is accepted must
// keep the rules of design section 2 (ids and topics of 1-256 bytes, a message within the limit
// and framed with its own length, close codes 1000 or 3000-4999, reasons within 123 bytes, pages
// of 1-1000, page tokens that round-trip, event kinds that exist).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/events_stream.h"
#include "api/request_validator.h"
#include "common/names.h"
#include "google/protobuf/stubs/logging.h"
#include "invariant.h"
#include "ws/payload.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge::fuzz {
namespace {

void CheckRefusal(const absl::Status& status) {
  Invariant(status.code() == absl::StatusCode::kInvalidArgument,
            "a refusal other than INVALID_ARGUMENT");
  Invariant(!status.message().empty(), "a refusal without a message");
}

template <class T>
bool Refused(const absl::StatusOr<T>& result) {
  if (result.ok()) return false;
  CheckRefusal(result.status());
  return true;
}

void CheckNames(const std::vector<std::string>& names, bool topics) {
  for (const std::string& name : names) {
    Invariant(topics ? ValidateTopic("t", name).ok() : ValidateId("i", name).ok(),
              "an invalid id or topic accepted");
  }
}

void CheckSelector(const SessionSelector& selector) {
  Invariant(!selector.session_ids.empty() || !selector.user_ids.empty(), "an empty selector");
  CheckNames(selector.session_ids, false);
  CheckNames(selector.user_ids, false);
}

// The frame header built once for every recipient must declare exactly the message's length.
void CheckPayload(const PayloadPtr& payload, const v1::Message& message,
                  uint64_t max_message_bytes) {
  Invariant(payload != nullptr, "an accepted message without a payload");
  const bool text = message.payload_case() == v1::Message::kText;
  Invariant(payload->kind == (text ? Payload::Kind::kText : Payload::Kind::kBinary),
            "a payload of the other kind");
  Invariant(payload->bytes == (text ? message.text() : message.binary()), "a payload changed");
  Invariant(payload->bytes.size() <= max_message_bytes, "a message over the limit accepted");
  const uint8_t* header = payload->header_bytes.data();
  Invariant(header[0] == (0x80 | (text ? 0x1 : 0x2)), "a frame that is not one final message");
  uint64_t length = header[1] & 0x7F;
  size_t header_size = 2;
  if (length == 126) {
    length = (uint64_t{header[2]} << 8) | header[3];
    header_size = 4;
  } else if (length == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | header[2 + i];
    header_size = 10;
  }
  Invariant(payload->header_size == header_size, "a frame header of the wrong size");
  Invariant(length == payload->bytes.size(), "a frame header with the wrong length");
}

template <class Request>
bool Parse(std::string_view bytes, Request& request) {
  return request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

void Push(std::string_view bytes, uint64_t max_message_bytes) {
  v1::PushRequest request;
  if (!Parse(bytes, request)) return;
  auto result = ValidatePush(request, max_message_bytes);
  if (Refused(result)) return;
  CheckSelector(result->targets->selector);
  CheckPayload(result->payload, request.message(), max_message_bytes);
}

void Broadcast(std::string_view bytes, uint64_t max_message_bytes) {
  v1::BroadcastRequest request;
  if (!Parse(bytes, request)) return;
  auto result = ValidateBroadcast(request, max_message_bytes);
  if (Refused(result)) return;
  const DeliveryTargets& targets = *result->targets;
  Invariant(targets.topics.empty() == targets.all_sessions, "not exactly one of topics and all");
  CheckNames(targets.topics, true);
  CheckNames(targets.exclude_session_ids, false);
  CheckPayload(result->payload, request.message(), max_message_bytes);
}

template <class Request>
void TopicChange(std::string_view bytes) {
  Request request;
  if (!Parse(bytes, request)) return;
  absl::StatusOr<ValidatedTopicChange> result;
  if constexpr (std::is_same_v<Request, v1::SubscribeRequest>) {
    result = ValidateSubscribe(request);
  } else {
    result = ValidateUnsubscribe(request);
  }
  if (Refused(result)) return;
  CheckSelector(*result->selector);
  Invariant(!result->topics->empty(), "a topic change without topics");
  CheckNames(*result->topics, true);
}

void Disconnect(std::string_view bytes) {
  v1::DisconnectRequest request;
  if (!Parse(bytes, request)) return;
  auto result = ValidateDisconnect(request);
  if (Refused(result)) return;
  CheckSelector(*result->selector);
  Invariant(result->code == 1000 || (result->code >= 3000 && result->code <= 4999),
            "a close code a service may not send");
  Invariant(result->reason.size() <= kMaxCloseReasonBytes, "a close reason over 123 bytes");
}

void GetSession(std::string_view bytes) {
  v1::GetSessionRequest request;
  if (!Parse(bytes, request)) return;
  const absl::Status status = ValidateGetSession(request);
  if (!status.ok()) CheckRefusal(status);
}

void ListSessions(std::string_view bytes) {
  v1::ListSessionsRequest request;
  if (!Parse(bytes, request)) return;
  auto result = ValidateListSessions(request);
  if (Refused(result)) return;
  Invariant(result->page_size >= 1 && result->page_size <= static_cast<size_t>(kMaxPageSize),
            "a page size outside 1-1000");
  Invariant(result->page_size == static_cast<size_t>(kDefaultPageSize) ||
                result->page_size == static_cast<size_t>(request.page_size()) ||
                result->page_size == static_cast<size_t>(kMaxPageSize),
            "a page size that is not the one asked for, the default or the maximum");
  if (request.page_token().empty()) {
    Invariant(result->after_id.empty(), "a position without a page token");
    return;
  }
  Invariant(!result->after_id.empty(), "a page token that continues from nowhere");
  // What ListSessions hands out as next_page_token must come back as the same position.
  v1::ListSessionsRequest next;
  next.set_page_token(EncodePageToken(result->after_id));
  auto again = ValidateListSessions(next);
  Invariant(again.ok() && again->after_id == result->after_id, "a page token does not round-trip");
}

void Events(std::string_view bytes) {
  v1::EventsRequest request;
  if (!Parse(bytes, request)) return;
  auto result = ValidateEvents(request);
  if (Refused(result)) return;
  Invariant(result->kinds != 0 && (result->kinds & ~kAllEventKinds) == 0,
            "an event kind mask with kinds that do not exist");
  Invariant(result->group.empty() || ValidateId("group", result->group).ok(), "a bad group");
  Invariant(result->start_after_sequence == request.start_after_sequence(), "a moved start");
}

}  // namespace
}  // namespace wsbridge::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Protobuf logs every string field that is not UTF-8; the fuzzer makes thousands a second.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsbridge::fuzz;
  using namespace wsbridge;
  if (size < 1) return -1;
  const uint8_t options = data[0];
  const uint64_t max_message_bytes = (options & 0x8) != 0 ? (1 << 20) : 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (options & 0x7) {
    case 0:
      Push(bytes, max_message_bytes);
      break;
    case 1:
      Broadcast(bytes, max_message_bytes);
      break;
    case 2:
      TopicChange<v1::SubscribeRequest>(bytes);
      break;
    case 3:
      TopicChange<v1::UnsubscribeRequest>(bytes);
      break;
    case 4:
      Disconnect(bytes);
      break;
    case 5:
      GetSession(bytes);
      break;
    case 6:
      ListSessions(bytes);
      break;
    default:
      Events(bytes);
      break;
  }
  return 0;
}
