// Payload: one frame to send to browsers, framed once per API call and shared, immutable, by every
// session it is delivered to (each send queue holds a PayloadPtr, never a copy). The WebSocket
// frame header is computed at construction, so a write is the gather [header, bytes] with no
// per-recipient work; control frames (ping, pong, close) and the raw 101 response of the upgrade
// travel through the same send queue so that one writer owns the socket.
//
// A message may also get a compressed twin (permessage-deflate, ws/permessage_deflate.h): the
// same message as one frame with RSV1 set, made the first time a session that negotiated deflate
// needs it and then shared by every such session, on every I/O thread. Without context takeover
// the compressed form depends on the message alone, so one twin serves them all.
//
// Thread-safety: immutable after construction (the twin is made at most once, under a
// std::once_flag); a PayloadPtr, and Deflated(), may be used from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "broker/types.h"

namespace wsbridge {

namespace ws {
class MessageDeflater;
}

struct Payload {
  enum class Kind : uint8_t {
    kText,    // a message: text frame
    kBinary,  // a message: binary frame
    kPing,    // control frames (at most 125 bytes)
    kPong,
    kClose,
    kHandshake,  // raw bytes without a frame header (the 101 response)
  };

  using TimePoint = std::chrono::steady_clock::time_point;

  // `compressed`: `b` is the DEFLATE form of a message (the frame gets RSV1). `accepted`: when the
  // API accepted the call that carries this message (for the delivery latency metric); zero for
  // control frames and wherever nobody measures.
  Payload(Kind k, std::string b, bool compressed = false, TimePoint accepted = {});
  ~Payload();
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;

  bool is_message() const { return kind == Kind::kText || kind == Kind::kBinary; }
  std::string_view header() const {
    return std::string_view(reinterpret_cast<const char*>(header_bytes.data()), header_size);
  }
  // Bytes on the wire: header and body.
  size_t wire_size() const { return header_size + bytes.size(); }

  // The frame to send a session that negotiated permessage-deflate: `self` (a message) as an
  // RSV1 frame of its compressed bytes, made with `deflater` (the calling thread's) on the first
  // call and shared from then on; or `self` itself when compression does not make it smaller.
  // Concurrent first calls from several I/O threads wait for the one that compresses, rather
  // than each compressing the same bytes again. REQUIRES: self.get() == this, is_message().
  PayloadPtr Deflated(const PayloadPtr& self, ws::MessageDeflater& deflater) const;

  Kind kind;
  uint8_t header_size = 0;
  std::array<uint8_t, 10> header_bytes{};  // unmasked server-to-client frame header
  std::string bytes;
  TimePoint accepted_at{};  // see the constructor; the compressed twin keeps its message's

 private:
  // The twin is owned by this payload (deleted with it) and handed out as an aliasing PayloadPtr
  // that keeps this one alive, so a queued twin never outlives its bytes. `this` when
  // compression did not help. 12 bytes per message, nothing per session.
  mutable std::once_flag deflate_once_;
  mutable const Payload* deflated_ = nullptr;
};

inline PayloadPtr MakePayload(Payload::Kind kind, std::string bytes,
                              Payload::TimePoint accepted = {}) {
  return std::make_shared<const Payload>(kind, std::move(bytes), false, accepted);
}

}  // namespace wsbridge
