#include "ws/payload.h"

#include <utility>

#include "ws/frame_codec.h"
#include "ws/permessage_deflate.h"

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

Payload::Payload(Kind k, std::string b, bool compressed, TimePoint accepted)
    : kind(k), bytes(std::move(b)), accepted_at(accepted) {
  if (kind != Kind::kHandshake) {
    header_size = static_cast<uint8_t>(
        ws::EncodeServerFrameHeader(OpcodeOf(kind), bytes.size(), header_bytes.data()));
    if (compressed) header_bytes[0] |= ws::kRsv1Bit;
  }
}

Payload::~Payload() {
  if (deflated_ != this) delete deflated_;
}

PayloadPtr Payload::Deflated(const PayloadPtr& self, ws::MessageDeflater& deflater) const {
  std::call_once(deflate_once_, [&] {
    std::string compressed = deflater.Compress(bytes);
    deflated_ = compressed.size() < bytes.size()
                    ? new Payload(kind, std::move(compressed), true, accepted_at)
                    : this;
  });
  if (deflated_ == this) return self;
  return PayloadPtr(self, deflated_);  // shares ownership with `self`, points at the twin
}

}  // namespace wsbridge
