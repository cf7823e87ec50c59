// The WebSocket wire format (RFC 6455 section 5) as the server side of a connection needs it,
// with no sockets: server frame headers (unmasked), close frame bodies, the handshake's accept
// key, UTF-8 validation, and FrameReader, an incremental parser of the frames a browser sends.
//
// Thread-safety: the free functions are pure. A FrameReader belongs to one session and is used
// only on that session's I/O thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wsbridge::ws {

class MessageInflater;  // ws/permessage_deflate.h

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes (RFC 6455 section 7.4.1) the bridge uses by name.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseNoStatus = 1005;  // never on the wire: "the close had no code"
inline constexpr uint16_t kCloseAbnormal = 1006;  // never on the wire: "no close frame at all"
inline constexpr uint16_t kCloseBadPayload = 1007;
inline constexpr uint16_t kClosePolicy = 1008;
inline constexpr uint16_t kCloseTooBig = 1009;
inline constexpr uint16_t kCloseTryAgainLater = 1013;

// RSV1 in a frame's first byte: set on the first frame of a compressed message (RFC 7692 6).
inline constexpr uint8_t kRsv1Bit = 0x40;

// Largest header of a server frame: 2 bytes + 8 bytes of extended length (no mask).
inline constexpr size_t kMaxServerHeaderBytes = 10;

// Writes the header of an unmasked, final (FIN) frame with `opcode` and a payload of `length`
// bytes to `out` (room for kMaxServerHeaderBytes); returns the header's size.
size_t EncodeServerFrameHeader(Opcode opcode, uint64_t length, uint8_t* out);

// The body of a close frame: the code in network order, then the reason (cut to fit the 125
// bytes of a control frame, on a UTF-8 boundary). kCloseNoStatus gives an empty body.
std::string EncodeCloseBody(uint16_t code, std::string_view reason);

// True for the codes an endpoint may send in a close frame (RFC 6455 section 7.4).
bool IsSendableCloseCode(uint16_t code);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)).
std::string ComputeAcceptKey(std::string_view client_key);

// True when `key` is a valid Sec-WebSocket-Key: base64 of exactly 16 bytes.
bool IsValidClientKey(std::string_view key);

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// Parses the frames of the client side of one connection as bytes arrive, in any split, and
// reports whole messages (fragments joined), pings, pongs and the close frame. Client frames must
// be masked; the payload is unmasked in place, so Feed takes mutable bytes.
//
// permessage-deflate (RFC 7692): when Feed is given a MessageInflater (the session negotiated
// deflate), RSV1 may be set on the first frame of a data message, which is then compressed: its
// frames are collected (their compressed bytes bounded by max_message_bytes too), inflated once
// the last one is in, with the inflated size capped at max_message_bytes (1009 past it, without
// inflating the rest), and a text message's UTF-8 is checked on the inflated bytes. RSV1 on a
// continuation or control frame, or without an inflater, is a protocol error, as are RSV2, RSV3
// and data that does not inflate.
//
// Memory: nothing is kept between calls unless a frame or a fragmented message is incomplete;
// buffers grown by a large message are released once it is delivered. No zlib state: the
// inflater belongs to the thread and is passed in.
class FrameReader {
 public:
  enum class Error : uint8_t {
    kNone,
    kProtocol,  // 1002: a frame that breaks RFC 6455
    kBadUtf8,   // 1007: a text message that is not UTF-8
    kTooBig,    // 1009: a message larger than max_message_bytes
  };

  class Handler {
   public:
    virtual void OnMessage(bool text, std::string_view data) = 0;
    virtual void OnPing(std::string_view data) = 0;
    virtual void OnPong(std::string_view data) = 0;
    // `code` is kCloseNoStatus when the frame had no body.
    virtual void OnClose(uint16_t code, std::string_view reason) = 0;

   protected:
    ~Handler() = default;
  };

  explicit FrameReader(uint64_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Consumes `size` bytes. Stops at the first error (which it returns; error_detail() says what
  // was wrong) and ignores everything after a close frame. `inflater`: non-null when the session
  // negotiated permessage-deflate (pass the same one, or null, on every call of a connection).
  Error Feed(char* data, size_t size, Handler& handler, MessageInflater* inflater = nullptr);

  Error error() const { return error_; }
  const char* error_detail() const { return error_detail_; }
  bool close_received() const { return close_received_; }
  // Bytes held for an incomplete frame or message.
  size_t buffered_bytes() const { return pending_.size() + message_.size(); }

 private:
  // Parses complete frames from data[0, size); returns bytes consumed or sets error_.
  size_t ParseFrames(char* data, size_t size, Handler& handler, MessageInflater* inflater);
  // Delivers a whole message (inflating it first when it came compressed).
  void DeliverMessage(bool text, bool compressed, std::string_view body, Handler& handler,
                      MessageInflater* inflater);
  bool Fail(Error error, const char* detail);

  const uint64_t max_message_bytes_;
  std::string pending_;  // an incomplete frame carried over to the next Feed
  std::string message_;  // fragments of a message not yet finished
  Opcode message_opcode_ = Opcode::kContinuation;
  bool in_message_ = false;
  bool message_compressed_ = false;  // the message in message_ came with RSV1
  bool close_received_ = false;
  Error error_ = Error::kNone;
  const char* error_detail_ = "";
};

}  // namespace wsbridge::ws
