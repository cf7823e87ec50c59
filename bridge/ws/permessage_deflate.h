// permessage-deflate (RFC 7692) as wsbridge serves it: always without context takeover in either
// direction, so that a message's compressed form depends on nothing but the message. That is what
// lets a pushed message be compressed once and its frame shared by every session (ws/payload.h),
// and lets an idle session hold no zlib state at all: the only zlib streams are one
// MessageDeflater and one MessageInflater per I/O thread (ws/session_context.h), each reset for
// every message.
//
// Three parts, each usable alone:
//   - NegotiateDeflate: pure parsing of a request's Sec-WebSocket-Extensions offers (RFC 7692
//     section 5, 7.1) and the answer to put in the 101;
//   - MessageDeflater: compresses one whole message into the body of an RSV1 frame;
//   - MessageInflater: inflates one whole message a browser sent, with its size capped.
//
// Thread-safety: NegotiateDeflate and DeflateResponseHeader are pure. A MessageDeflater or a
// MessageInflater is used by one thread at a time (each I/O thread owns one of each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct z_stream_s;  // zlib's stream, kept out of this header (api/ includes ws/payload.h)

namespace wsbridge::ws {

// The compressor's window: shared frames are made with the largest one, and with no context
// takeover a message of L bytes refers back at most L - 1 bytes.
inline constexpr uint8_t kDeflateWindowBits = 15;

// What one session agreed to. Kept by the session as a single byte (its server window).
struct DeflateAgreement {
  // The LZ77 window the browser allowed us (server_max_window_bits, 8..15; 15 when it did not
  // say). A shared frame compressed with window 15 is within a window of 2^N for any message of
  // at most 2^N bytes, so a session with N < 15 gets compressed frames only for such messages.
  uint8_t server_max_window_bits = kDeflateWindowBits;
  // Whether the accepted offer named server_max_window_bits: then the answer must name it too
  // (RFC 7692 section 7.1.2.1).
  bool server_window_requested = false;
};

// Reads the value of the request's Sec-WebSocket-Extensions (every field of that name joined
// with ", ") and returns the agreement for the first permessage-deflate offer wsbridge can
// serve, or nullopt when there is none. An offer with an unknown parameter, a parameter given
// twice or a value outside the RFC's ranges is declined and the next offer is tried (section
// 5.1); a header that breaks RFC 6455's extension ABNF (section 9.1) is ignored as a whole.
// Quoted values ("15") are accepted as the ABNF allows.
std::optional<DeflateAgreement> NegotiateDeflate(std::string_view extensions_header);

// The value of the Sec-WebSocket-Extensions answer for `agreement`: always
// server_no_context_takeover and client_no_context_takeover (a server may add the latter even
// when not offered, section 7.1.1.2), and server_max_window_bits when the offer named it.
std::string DeflateResponseHeader(const DeflateAgreement& agreement);

// Whether a message of `size` bytes may go as the shared compressed frame to a session whose
// server window is 2^`server_max_window_bits`.
inline bool FitsServerWindow(size_t size, uint8_t server_max_window_bits) {
  return server_max_window_bits >= kDeflateWindowBits ||
         size <= (size_t{1} << server_max_window_bits);
}

// Compresses whole messages, one at a time, as raw DEFLATE with a sync flush whose trailing
// 00 00 ff ff is removed (section 7.2.1). The zlib stream (about 256 KiB) is made on first use
// and reset for each message, so no message depends on another.
class MessageDeflater {
 public:
  MessageDeflater();
  ~MessageDeflater();
  MessageDeflater(
      MessageDeflater&&) noexcept;  // a context is built by moving (ws/session_context.h)
  MessageDeflater(const MessageDeflater&) = delete;
  MessageDeflater& operator=(const MessageDeflater&) = delete;

  // The body of the compressed frame for `message`.
  std::string Compress(std::string_view message);

 private:
  std::unique_ptr<z_stream_s> stream_;
};

// Inflates whole messages a browser sent, one at a time (the inverse of MessageDeflater, so it
// needs the browser to have agreed to client_no_context_takeover). Window 15 accepts what a
// browser compressed with any window. Output is capped: past `max_bytes` it stops and reports
// kTooBig without producing (or allocating for) the rest, so a zip bomb costs at most max_bytes.
class MessageInflater {
 public:
  enum class Result : uint8_t {
    kOk,
    kTooBig,   // the inflated message would exceed max_bytes
    kCorrupt,  // not valid DEFLATE data, or cut short in the middle of a block
  };

  MessageInflater();
  ~MessageInflater();
  MessageInflater(
      MessageInflater&&) noexcept;  // a context is built by moving (ws/session_context.h)
  MessageInflater(const MessageInflater&) = delete;
  MessageInflater& operator=(const MessageInflater&) = delete;

  // Inflates the body of one compressed message. On kOk, message() is the result, valid until
  // the next Inflate or Release.
  Result Inflate(std::string_view compressed, uint64_t max_bytes);
  std::string_view message() const { return std::string_view(output_.data(), size_); }
  // Gives back the output buffer if one large message grew it.
  void ReleaseIfLarge();

 private:
  std::unique_ptr<z_stream_s> stream_;
  std::string output_;
  size_t size_ = 0;  // bytes of output_ that hold the message
};

}  // namespace wsbridge::ws
