// RFC 6455 frames written and read by hand, for tests that speak the wire byte by byte: a builder
// of client frames of any shape (masked or not, any opcode, FIN and RSV bits, a length in a longer
// form than needed), and a parser of the server frames the bridge answers with. Pure functions on
// strings, no sockets, so unit tests of the codec and integration tests over raw TCP share them.
//
// Thread-safety: plain functions and values; nothing is shared.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsbridge::testing {

// Opcodes as raw numbers (not ws::Opcode), so a test can also send the reserved ones.
inline constexpr uint8_t kContinuation = 0x0;
inline constexpr uint8_t kText = 0x1;
inline constexpr uint8_t kBinary = 0x2;
inline constexpr uint8_t kClose = 0x8;
inline constexpr uint8_t kPing = 0x9;
inline constexpr uint8_t kPong = 0xA;

// How a frame's payload length is written: in the shortest form (as RFC 6455 requires), or forced
// into the 16-bit or 64-bit extended form to make a non-minimal length.
enum class LengthForm : uint8_t { kShortest, kForce16, kForce64 };

struct ClientFrameOptions {
  bool fin = true;
  uint8_t rsv = 0;  // the three RSV bits, 0..7
  bool masked = true;
  LengthForm length_form = LengthForm::kShortest;
  std::array<uint8_t, 4> mask = {0x37, 0xFA, 0x21, 0x3D};  // the RFC 6455 section 5.7 example
};

// Options of a frame that is not the last of its message (FIN clear).
ClientFrameOptions NotFinal();

// A client frame header declaring `length` payload bytes, mask key included when masked. Alone it
// plays a peer that announces more than it sends.
std::string ClientFrameHeader(uint8_t opcode, uint64_t length,
                              const ClientFrameOptions& options = {});

// A whole client frame: the header and `payload`, masked as a browser sends it.
std::string ClientFrame(uint8_t opcode, std::string_view payload,
                        const ClientFrameOptions& options = {});

// A close frame's body: the code in network order, then the reason (not checked or cut).
std::string CloseBody(uint16_t code, std::string_view reason);

// A frame as the bridge sent it, with the header fields a test checks.
struct ServerFrame {
  bool fin = false;
  uint8_t rsv = 0;
  bool masked = false;
  uint8_t opcode = 0;
  size_t header_size = 0;
  std::string payload;
};

// Parses the frame at the start of `bytes`. nullopt while `bytes` does not hold a whole frame;
// otherwise `*consumed` (if given) is set to the frame's size on the wire. A masked frame's
// payload is returned as sent (the bridge never masks; a test asserts that instead).
std::optional<ServerFrame> ParseServerFrame(std::string_view bytes, size_t* consumed = nullptr);

// permessage-deflate (RFC 7692) as a client does it, straight on zlib (not on the bridge's
// ws/permessage_deflate.h, so the two check each other): raw DEFLATE with a sync flush and the
// trailing 00 00 ff ff removed; `final_block` ends with a BFINAL block instead (also valid).
std::string DeflateMessage(std::string_view message, bool final_block = false);

// Inflates one compressed message body (appending the 00 00 ff ff the sender removed); nullopt
// when it is not valid DEFLATE data.
std::optional<std::string> InflateMessage(std::string_view compressed);

// Sample messages for compression tests, the same for the same arguments: `bytes` of JSON-like
// text (compresses well, as real JSON does) and `bytes` of random bytes (does not compress).
std::string JsonLike(size_t bytes, int seed);
std::string RandomBytes(size_t bytes, uint32_t seed);

// The RSV1 bit as ClientFrameOptions::rsv and ServerFrame::rsv count it (RSV1 = 4).
inline constexpr uint8_t kRsv1 = 4;

}  // namespace wsbridge::testing
