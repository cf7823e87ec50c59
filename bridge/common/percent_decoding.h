// Percent-decoding (RFC 3986 section 2.1) of one URL component, shared by the query string of
// the WebSocket upgrade (ws/handshake_policy.h) and the path segments of --static_dir
// (ws/static_files.h).
//
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wsbridge {

// What '+' means: itself (a path) or a space (a query string, as HTML forms encode it).
enum class PlusSign { kLiteral, kSpace };

// Decodes every %XX escape once (so "%252e" gives "%2e"). INVALID_ARGUMENT "truncated
// percent-encoding" when a '%' lacks two characters after it, "bad percent-encoding" when they
// are not hex digits.
absl::StatusOr<std::string> PercentDecode(absl::string_view in, PlusSign plus);

}  // namespace wsbridge
