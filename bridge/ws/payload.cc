#include "ws/payload.h"

#include <utility>

#include "ws/frame_codec.h"

namespace wsbridge {

namespace {

ws::Opcode OpcodeOf(Payload::Kind kind) {
  switch (kind) {
    case Payload::Kind::kText:
      return ws::Opcode::kText;
    case Payload::Kind::kBinary:
      return ws::Opcode::kBinary;
    case Payload::Kind::kPing:
      return ws::Opcode::kPing;
    case Payload::Kind::kPong:
      return ws::Opcode::kPong;
    case Payload::Kind::kClose:
    case Payload::Kind::kHandshake:
      break;
  }
  return ws::Opcode::kClose;
}

}  // namespace

Payload::Payload(Kind k, std::string b) : kind(k), bytes(std::move(b)) {
  if (kind != Kind::kHandshake) {
    header_size = static_cast<uint8_t>(
        ws::EncodeServerFrameHeader(OpcodeOf(kind), bytes.size(), header_bytes.data()));
  }
}

}  // namespace wsbridge
