// JSON output of bridgectl: responses, sessions and events as one-line JSON objects in
// protobuf's canonical JSON mapping (lowerCamelCase names, enums by name, timestamps in RFC 3339,
// bytes in base64), with zero-valued fields printed so `{"matched":0}` is not `{}`.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <google/protobuf/message.h>

namespace wsbridge::cli {

// `message` as one line of JSON (no newline).
std::string ToJsonLine(const google::protobuf::Message& message);

}  // namespace wsbridge::cli
