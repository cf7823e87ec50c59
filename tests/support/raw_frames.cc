#include "support/raw_frames.h"

#include <zlib.h>

#include <cstring>
#include <random>
#include <stdexcept>

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

std::string DeflateMessage(std::string_view message, bool final_block) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&z, static_cast<uLong>(message.size())) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, final_block ? Z_FINISH : Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (!final_block && out.size() >= 4 &&
      std::memcmp(out.data() + out.size() - 4, "\0\0\xff\xff", 4) == 0) {
    out.resize(out.size() - 4);
  }
  return out;
}

std::optional<std::string> InflateMessage(std::string_view compressed) {
  std::string input(compressed);
  input.append("\0\0\xff\xff", 4);
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) throw std::runtime_error("inflateInit2");
  z.next_in = reinterpret_cast<Bytef*>(input.data());
  z.avail_in = static_cast<uInt>(input.size());
  std::string out;
  char chunk[16384];
  bool ok = false;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    const int status = inflate(&z, Z_SYNC_FLUSH);
    out.append(chunk, sizeof chunk - z.avail_out);
    if (status == Z_STREAM_END ||
        ((status == Z_OK || status == Z_BUF_ERROR) && z.avail_in == 0 && z.avail_out != 0)) {
      ok = true;
      break;
    }
    if (status != Z_OK) break;  // corrupt (or no progress with input left)
  }
  inflateEnd(&z);
  if (!ok) return std::nullopt;
  return out;
}

std::string JsonLike(size_t bytes, int seed) {
  std::string out = "{\"seq\":" + std::to_string(seed) + ",\"rows\":[";
  for (int i = 0; out.size() < bytes; ++i) {
    out += "{\"id\":" + std::to_string(i) + ",\"user\":\"user-" + std::to_string((i + seed) % 13) +
           "\",\"score\":" + std::to_string((i * 31 + seed) % 997) + "},";
  }
  out.resize(bytes);
  return out;
}

std::string RandomBytes(size_t bytes, uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(bytes, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

}  // namespace wsbridge::testing
