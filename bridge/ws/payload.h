// Payload: one frame to send to browsers, framed once per API call and shared, immutable, by every
// session it is delivered to (each send queue holds a PayloadPtr, never a copy). The WebSocket
// frame header is computed at construction, so a write is the gather [header, bytes] with no
// per-recipient work; control frames (ping, pong, close) and the raw 101 response of the upgrade
// travel through the same send queue so that one writer owns the socket.
//
// Thread-safety: immutable after construction; a PayloadPtr may be read from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/types.h"

namespace wsbridge {

struct Payload {
  enum class Kind : uint8_t {
    kText,    // a message: text frame
    kBinary,  // a message: binary frame
    kPing,    // control frames (at most 125 bytes)
    kPong,
    kClose,
    kHandshake,  // raw bytes without a frame header (the 101 response)
  };

  Payload(Kind k, std::string b);

  bool is_message() const { return kind == Kind::kText || kind == Kind::kBinary; }
  std::string_view header() const {
    return std::string_view(reinterpret_cast<const char*>(header_bytes.data()), header_size);
  }
  // Bytes on the wire: header and body.
  size_t wire_size() const { return header_size + bytes.size(); }

  Kind kind;
  uint8_t header_size = 0;
  std::array<uint8_t, 10> header_bytes{};  // unmasked server-to-client frame header
  std::string bytes;
};

inline PayloadPtr MakePayload(Payload::Kind kind, std::string bytes) {
  return std::make_shared<const Payload>(kind, std::move(bytes));
}

}  // namespace wsbridge
