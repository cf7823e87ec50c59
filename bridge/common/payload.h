// Payload: the bytes of one WebSocket message, made once per API call and shared, immutable, by
// every session it is delivered to (each send queue holds a PayloadPtr, never a copy).
//
// Thread-safety: immutable after construction; a PayloadPtr may be read from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace wsbridge {

struct Payload {
  enum class Kind : uint8_t { kText, kBinary };

  Payload(Kind k, std::string b) : kind(k), bytes(std::move(b)) {}

  Kind kind;
  std::string bytes;
};

using PayloadPtr = std::shared_ptr<const Payload>;

inline PayloadPtr MakePayload(Payload::Kind kind, std::string bytes) {
  return std::make_shared<const Payload>(kind, std::move(bytes));
}

}  // namespace wsbridge
