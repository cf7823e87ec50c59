// Rules for the names that clients and services choose: topics, session ids, user ids.
// One definition used by the gRPC validation and the WebSocket handshake alike.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace wsbridge {

inline constexpr size_t kMaxTopicBytes = 256;
inline constexpr size_t kMaxIdBytes = 256;

// OK for 1..kMaxTopicBytes bytes with no ASCII control character; otherwise INVALID_ARGUMENT
// whose message starts with `field` (e.g. "topics[2]").
absl::Status ValidateTopic(absl::string_view field, absl::string_view topic);

// OK for 1..kMaxIdBytes bytes; otherwise INVALID_ARGUMENT whose message starts with `field`.
absl::Status ValidateId(absl::string_view field, absl::string_view id);

}  // namespace wsbridge
