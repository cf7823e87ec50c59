#include "support/raw_frames.h"

namespace wsbridge::testing {

ClientFrameOptions NotFinal() {
  ClientFrameOptions options;
  options.fin = false;
  return options;
}

std::string ClientFrameHeader(uint8_t opcode, uint64_t length, const ClientFrameOptions& options) {
  std::string out;
  out.push_back(
      static_cast<char>((options.fin ? 0x80 : 0) | ((options.rsv & 7) << 4) | (opcode & 0x0F)));
  const uint8_t mask_bit = options.masked ? 0x80 : 0;
  LengthForm form = options.length_form;
  if (form == LengthForm::kShortest) {
    form = length < 126       ? LengthForm::kShortest
           : length <= 0xFFFF ? LengthForm::kForce16
                              : LengthForm::kForce64;
  }
  switch (form) {
    case LengthForm::kShortest:
      out.push_back(static_cast<char>(mask_bit | length));
      break;
    case LengthForm::kForce16:
      out.push_back(static_cast<char>(mask_bit | 126));
      out.push_back(static_cast<char>(length >> 8));
      out.push_back(static_cast<char>(length));
      break;
    case LengthForm::kForce64:
      out.push_back(static_cast<char>(mask_bit | 127));
      for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(length >> (8 * i)));
      break;
  }
  if (options.masked) out.append(reinterpret_cast<const char*>(options.mask.data()), 4);
  return out;
}

std::string ClientFrame(uint8_t opcode, std::string_view payload,
                        const ClientFrameOptions& options) {
  std::string out = ClientFrameHeader(opcode, payload.size(), options);
  for (size_t i = 0; i < payload.size(); ++i) {
    const uint8_t mask = options.masked ? options.mask[i & 3] : 0;
    out.push_back(static_cast<char>(static_cast<uint8_t>(payload[i]) ^ mask));
  }
  return out;
}

std::string CloseBody(uint16_t code, std::string_view reason) {
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xFF));
  body.append(reason);
  return body;
}

std::optional<ServerFrame> ParseServerFrame(std::string_view bytes, size_t* consumed) {
  if (bytes.size() < 2) return std::nullopt;
  const auto byte = [bytes](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  ServerFrame frame;
  frame.fin = (byte(0) & 0x80) != 0;
  frame.rsv = static_cast<uint8_t>((byte(0) >> 4) & 7);
  frame.opcode = byte(0) & 0x0F;
  frame.masked = (byte(1) & 0x80) != 0;
  const uint8_t length7 = byte(1) & 0x7F;
  const size_t length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
  frame.header_size = 2 + length_bytes + (frame.masked ? 4 : 0);
  if (bytes.size() < frame.header_size) return std::nullopt;
  uint64_t length = length7;
  if (length_bytes > 0) {
    length = 0;
    for (size_t i = 0; i < length_bytes; ++i) length = (length << 8) | byte(2 + i);
  }
  if (bytes.size() - frame.header_size < length) return std::nullopt;
  frame.payload = std::string(bytes.substr(frame.header_size, length));
  if (consumed != nullptr) *consumed = frame.header_size + length;
  return frame;
}

}  // namespace wsbridge::testing
