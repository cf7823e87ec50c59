#include "ws/frame_codec.h"

#include <cstring>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws/permessage_deflate.h"

namespace wsbridge::ws {

namespace {

constexpr char kWebSocketGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kMaxControlPayload = 125;
// A buffer grown past this by one large message is given back once the message is delivered.
constexpr size_t kKeepBufferBytes = 16 * 1024;

bool IsControl(uint8_t opcode) { return (opcode & 0x8) != 0; }

void ReleaseIfLarge(std::string& buffer) {
  if (buffer.capacity() > kKeepBufferBytes) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

}  // namespace

size_t EncodeServerFrameHeader(Opcode opcode, uint64_t length, uint8_t* out) {
  out[0] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(opcode));
  if (length < 126) {
    out[1] = static_cast<uint8_t>(length);
    return 2;
  }
  if (length <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(length >> 8);
    out[3] = static_cast<uint8_t>(length);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(length >> (56 - 8 * i));
  return 10;
}

std::string EncodeCloseBody(uint16_t code, std::string_view reason) {
  if (code == kCloseNoStatus) return {};
  std::string body;
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xFF));
  size_t keep = std::min(reason.size(), kMaxControlPayload - 2);
  // Never cut a UTF-8 sequence in half: back up over continuation bytes.
  while (keep < reason.size() && keep > 0 && (static_cast<uint8_t>(reason[keep]) & 0xC0) == 0x80) {
    --keep;
  }
  body.append(reason.substr(0, keep));
  return body;
}

bool IsSendableCloseCode(uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
      return true;
    default:
      return false;
  }
}

std::string ComputeAcceptKey(std::string_view client_key) {
  std::string input(client_key);
  input.append(kWebSocketGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int size = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(size));
}

bool IsValidClientKey(std::string_view key) {
  // 16 bytes encode to 22 base64 characters and "==".
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    const char c = key[i];
    const bool base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!base64) return false;
  }
  return true;
}

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const uint8_t* const end = p + text.size();
  while (p < end) {
    // Fast path: eight ASCII bytes at a time.
    if (end - p >= 8) {
      uint64_t chunk;
      std::memcpy(&chunk, p, 8);
      if ((chunk & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    const uint8_t lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    size_t length;
    uint8_t low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;   // no overlong forms
      if (lead == 0xED) high = 0x9F;  // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;   // no overlong forms
      if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) < length) return false;
    if (p[1] < low || p[1] > high) return false;
    for (size_t i = 2; i < length; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += length;
  }
  return true;
}

bool FrameReader::Fail(Error error, const char* detail) {
  error_ = error;
  error_detail_ = detail;
  return false;
}

FrameReader::Error FrameReader::Feed(char* data, size_t size, Handler& handler,
                                     MessageInflater* inflater) {
  if (error_ != Error::kNone || close_received_) return error_;
  if (pending_.empty()) {
    const size_t used = ParseFrames(data, size, handler, inflater);
    if (error_ == Error::kNone && !close_received_ && used < size) {
      pending_.assign(data + used, size - used);
    }
  } else {
    pending_.append(data, size);
    const size_t used = ParseFrames(pending_.data(), pending_.size(), handler, inflater);
    if (error_ != Error::kNone || close_received_ || used == pending_.size()) {
      ReleaseIfLarge(pending_);
    } else {
      pending_.erase(0, used);
    }
  }
  return error_;
}

size_t FrameReader::ParseFrames(char* data, size_t size, Handler& handler,
                                MessageInflater* inflater) {
  size_t pos = 0;
  while (pos < size && error_ == Error::kNone && !close_received_) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(data + pos);
    const size_t available = size - pos;
    if (available < 2) break;
    const bool fin = (bytes[0] & 0x80) != 0;
    const uint8_t opcode = bytes[0] & 0x0F;
    if ((bytes[0] & 0x30) != 0) {
      Fail(Error::kProtocol, "RSV2 or RSV3 set (no extension uses them)");
      break;
    }
    const bool rsv1 = (bytes[0] & kRsv1Bit) != 0;
    if (rsv1) {
      // Only the first frame of a data message says "compressed" (RFC 7692 section 6.1).
      if (inflater == nullptr) {
        Fail(Error::kProtocol, "RSV1 set but permessage-deflate was not negotiated");
        break;
      }
      if (opcode != static_cast<uint8_t>(Opcode::kText) &&
          opcode != static_cast<uint8_t>(Opcode::kBinary)) {
        Fail(Error::kProtocol, "RSV1 set on a control or continuation frame");
        break;
      }
    }
    if ((bytes[1] & 0x80) == 0) {
      Fail(Error::kProtocol, "unmasked frame from the client");
      break;
    }
    const uint8_t length7 = bytes[1] & 0x7F;
    const size_t header_size = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + 4;
    if (available < header_size) break;
    uint64_t length = length7;
    if (length7 == 126) {
      length = (uint64_t{bytes[2]} << 8) | bytes[3];
      if (length < 126) {
        Fail(Error::kProtocol, "frame length not in its shortest form");
        break;
      }
    } else if (length7 == 127) {
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | bytes[2 + i];
      if ((length >> 63) != 0 || length <= 0xFFFF) {
        Fail(Error::kProtocol, "frame length not in its shortest form");
        break;
      }
    }
    if (IsControl(opcode)) {
      if (opcode > static_cast<uint8_t>(Opcode::kPong)) {
        Fail(Error::kProtocol, "unknown opcode");
        break;
      }
      if (!fin || length > kMaxControlPayload) {
        Fail(Error::kProtocol, "fragmented or oversized control frame");
        break;
      }
    } else {
      if (opcode > static_cast<uint8_t>(Opcode::kBinary)) {
        Fail(Error::kProtocol, "unknown opcode");
        break;
      }
      if (opcode == static_cast<uint8_t>(Opcode::kContinuation) && !in_message_) {
        Fail(Error::kProtocol, "continuation frame without a message to continue");
        break;
      }
      if (opcode != static_cast<uint8_t>(Opcode::kContinuation) && in_message_) {
        Fail(Error::kProtocol, "new message before the previous one finished");
        break;
      }
      // Refused as soon as the header says so, before the bytes are buffered.
      if (length > max_message_bytes_ || message_.size() + length > max_message_bytes_) {
        Fail(Error::kTooBig, "message larger than max_message_bytes");
        break;
      }
    }
    if (available - header_size < length) break;  // wait for the rest of the frame

    char* payload = data + pos + header_size;
    const uint8_t* mask = bytes + header_size - 4;
    for (uint64_t i = 0; i < length; ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i & 3]);
    const std::string_view body(payload, static_cast<size_t>(length));
    pos += header_size + static_cast<size_t>(length);

    switch (static_cast<Opcode>(opcode)) {
      case Opcode::kPing:
        handler.OnPing(body);
        break;
      case Opcode::kPong:
        handler.OnPong(body);
        break;
      case Opcode::kClose: {
        if (body.size() == 1) {
          Fail(Error::kProtocol, "close frame with a one-byte body");
          break;
        }
        uint16_t code = kCloseNoStatus;
        std::string_view reason;
        if (body.size() >= 2) {
          code = static_cast<uint16_t>((static_cast<uint8_t>(body[0]) << 8) |
                                       static_cast<uint8_t>(body[1]));
          reason = body.substr(2);
          if (!IsSendableCloseCode(code)) {
            Fail(Error::kProtocol, "invalid close code");
            break;
          }
          if (!IsValidUtf8(reason)) {
            Fail(Error::kProtocol, "close reason is not UTF-8");
            break;
          }
        }
        close_received_ = true;
        handler.OnClose(code, reason);
        break;
      }
      case Opcode::kText:
      case Opcode::kBinary:
      case Opcode::kContinuation: {
        if (!in_message_ && fin) {  // the common case: a whole message in one frame
          DeliverMessage(opcode == static_cast<uint8_t>(Opcode::kText), rsv1, body, handler,
                         inflater);
          break;
        }
        if (!in_message_) {
          in_message_ = true;
          message_opcode_ = static_cast<Opcode>(opcode);
          message_compressed_ = rsv1;
        }
        message_.append(body);
        if (!fin) break;
        in_message_ = false;
        DeliverMessage(message_opcode_ == Opcode::kText, message_compressed_, message_, handler,
                       inflater);
        ReleaseIfLarge(message_);
        break;
      }
    }
  }
  return pos;
}

void FrameReader::DeliverMessage(bool text, bool compressed, std::string_view body,
                                 Handler& handler, MessageInflater* inflater) {
  if (compressed) {
    switch (inflater->Inflate(body, max_message_bytes_)) {
      case MessageInflater::Result::kOk:
        break;
      case MessageInflater::Result::kTooBig:
        inflater->ReleaseIfLarge();
        Fail(Error::kTooBig, "inflated message larger than max_message_bytes");
        return;
      case MessageInflater::Result::kCorrupt:
        inflater->ReleaseIfLarge();
        Fail(Error::kProtocol, "compressed message is not valid DEFLATE data");
        return;
    }
    body = inflater->message();
  }
  if (text && !IsValidUtf8(body)) {
    Fail(Error::kBadUtf8, "invalid UTF-8 in a text message");
  } else {
    handler.OnMessage(text, body);
  }
  if (compressed) inflater->ReleaseIfLarge();
}

}  // namespace wsbridge::ws
