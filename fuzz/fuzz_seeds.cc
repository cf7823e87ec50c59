// fuzz_seeds: writes the seed corpus of every fuzz target, from code, so each seed says what it is
// and the set can be remade after a format change:
//   cmake --build build-fuzz --target fuzz_seeds && build-fuzz/fuzz/fuzz_seeds fuzz/corpus
// Each seed is one file, fuzz/corpus/<target>/<name>, laid out as that target's header comment
// says. Output is byte-for-byte the same on every run: the one random part, the signature of the
// ES256 token, is read back from the valid_es256 seed when there is one.
#include <jwt.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "auth/owned_handles.h"
#include "compact_jws.h"
#include "fuzz_keys.h"
#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge::fuzz {
namespace {

namespace fs = std::filesystem;

// Debian's Abseil has its own string_view, which absl::StrCat does not take from std's.
template <class... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (out.append(std::string_view(parts)), ...);
  return out;
}

// ---- Files --------------------------------------------------------------------------------------

class SeedWriter {
 public:
  SeedWriter(fs::path root, std::string_view target) : dir_(std::move(root) / target) {
    fs::create_directories(dir_);
  }
  void Write(std::string_view name, std::string_view bytes) const {
    std::ofstream out(dir_ / name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (dir_ / name).c_str());
      std::exit(1);
    }
  }
  // The seed's bytes, empty when there is none.
  std::string Read(std::string_view name) const {
    std::ifstream in(dir_ / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  fs::path dir_;
};

// ---- Frames from a browser ----------------------------------------------------------------------

struct Frame {
  uint8_t opcode;
  std::string payload;
  bool fin = true;
  uint8_t rsv = 0;
  bool masked = true;
  bool long_length = false;  // a 64-bit length even when shorter would do (non-minimal)
};

std::string Encode(const Frame& frame) {
  std::string out;
  out.push_back(static_cast<char>((frame.fin ? 0x80 : 0) | (frame.rsv << 4) | frame.opcode));
  const uint64_t length = frame.payload.size();
  const char mask_bit = frame.masked ? static_cast<char>(0x80) : 0;
  if (frame.long_length || length > 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(length >> (8 * i)));
  } else if (length >= 126) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(length >> 8));
    out.push_back(static_cast<char>(length));
  } else {
    out.push_back(static_cast<char>(mask_bit | length));
  }
  if (!frame.masked) return out + frame.payload;
  const uint8_t mask[4] = {0x37, 0xFA, 0x21, 0x3D};  // the RFC 6455 section 5.7 example
  out.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < frame.payload.size(); ++i) {
    out.push_back(static_cast<char>(frame.payload[i] ^ mask[i % 4]));
  }
  return out;
}

std::string CloseBody(uint16_t code, std::string_view reason) {
  return Cat(std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)}, reason);
}

// A message compressed as a browser does for permessage-deflate (RFC 7692 section 7.2.1): raw
// DEFLATE (window bits -15), a sync flush, its trailing 00 00 ff ff removed.
std::string Deflate(std::string_view message) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    std::exit(1);
  }
  std::string out(deflateBound(&z, static_cast<uLong>(message.size())) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in != 0 || z.avail_out == 0) std::exit(1);
  out.resize(out.size() - z.avail_out);
  deflateEnd(&z);
  if (out.size() < 4 || out.substr(out.size() - 4) != std::string_view("\x00\x00\xff\xff", 4)) {
    std::exit(1);
  }
  out.resize(out.size() - 4);
  return out;
}

// max: 0 = 16 bytes, 1 = 125, 2 = 4096, 3 = 1 MiB; deflate: permessage-deflate negotiated
// (fuzz_frame_reader.cc).
std::string FrameInput(uint8_t max, std::initializer_list<uint8_t> chunk_sizes,
                       std::initializer_list<Frame> frames, bool deflate = false) {
  std::string out;
  out.push_back(static_cast<char>(max | (chunk_sizes.size() << 2) | (deflate ? 0x80 : 0)));
  for (uint8_t size : chunk_sizes) out.push_back(static_cast<char>(size));
  for (const Frame& frame : frames) out += Encode(frame);
  return out;
}

void FrameReaderSeeds(const fs::path& root) {
  const SeedWriter seeds(root, "fuzz_frame_reader");
  constexpr uint8_t k16 = 0, k125 = 1, k4096 = 2, k1MiB = 3;
  const uint8_t kText = 0x1, kBinary = 0x2, kCont = 0x0, kClose = 0x8, kPing = 0x9, kPong = 0xA;
  seeds.Write("text", FrameInput(k4096, {}, {{kText, "hello"}}));
  seeds.Write("text_byte_by_byte", FrameInput(k4096, {1}, {{kText, "hello"}}));
  seeds.Write("binary_16bit_length",
              FrameInput(k4096, {3, 7, 0}, {{kBinary, std::string(200, '\x5a')}}));
  seeds.Write("fragments_with_ping",
              FrameInput(k4096, {5},
                         {{kText, "Hel", false}, {kPing, "p"}, {kCont, "lo", true}, {kPong, ""}}));
  seeds.Write("utf8_split_across_fragments", FrameInput(k125, {2, 9},
                                                        {{kText, "caf\xc3", false},
                                                         {kCont, "\xa9 \xf0\x9f\x98", false},
                                                         {kCont, "\x80", true}}));
  seeds.Write("bad_utf8", FrameInput(k4096, {}, {{kText, "ok \xff"}}));
  seeds.Write("overlong_utf8", FrameInput(k4096, {}, {{kText, "\xc0\xaf"}}));
  seeds.Write("close_then_more",
              FrameInput(k4096, {4}, {{kClose, CloseBody(1000, "bye")}, {kText, "after"}}));
  seeds.Write("close_empty", FrameInput(k4096, {}, {{kClose, ""}}));
  seeds.Write("close_one_byte", FrameInput(k4096, {}, {{kClose, "\x03"}}));
  seeds.Write("close_code_1005", FrameInput(k4096, {}, {{kClose, CloseBody(1005, "")}}));
  seeds.Write("close_bad_utf8_reason",
              FrameInput(k4096, {}, {{kClose, CloseBody(4000, "\xed\xa0\x80")}}));
  seeds.Write("too_big", FrameInput(k16, {}, {{kText, std::string(17, 'x')}}));
  seeds.Write("too_big_fragmented", FrameInput(k16, {6},
                                               {{kBinary, std::string(10, 'a'), false},
                                                {kCont, std::string(10, 'b'), true}}));
  seeds.Write(
      "header_declares_too_big",
      FrameInput(k1MiB, {}, {}) + std::string("\x82\xff\x00\x00\x00\x00\x00\x10\x00\x01", 10));
  seeds.Write("unmasked", FrameInput(k4096, {}, {{kText, "hi", true, 0, false}}));
  seeds.Write("rsv1_set", FrameInput(k4096, {}, {{kText, "hi", true, 4}}));
  seeds.Write("non_minimal_length", FrameInput(k4096, {}, {{kBinary, "abc", true, 0, true, true}}));
  seeds.Write("unknown_opcode", FrameInput(k4096, {}, {{0x3, "?"}}));
  seeds.Write("unknown_control_opcode", FrameInput(k4096, {}, {{0xB, "?"}}));
  seeds.Write("continuation_first", FrameInput(k4096, {}, {{kCont, "x"}}));
  seeds.Write("message_interrupted", FrameInput(k4096, {}, {{kText, "a", false}, {kBinary, "b"}}));
  seeds.Write("fragmented_ping", FrameInput(k4096, {}, {{kPing, "p", false}}));
  seeds.Write("ping_126_bytes", FrameInput(k4096, {}, {{kPing, std::string(126, 'p')}}));
  seeds.Write("incomplete_frame",
              FrameInput(k4096, {2}, {{kText, "whole"}}) + Encode({kBinary, "cut"}).substr(0, 5));

  // permessage-deflate negotiated: RSV1 (rsv 4) on the first frame of a compressed message.
  constexpr bool kDeflate = true;
  constexpr uint8_t kRsv1 = 4;
  const std::string hello = Deflate("hello, hello, hello, compressed world");
  seeds.Write("deflate_text",
              FrameInput(k4096, {}, {{kText, hello, true, kRsv1}, {kText, "plain"}}, kDeflate));
  const std::string news = Deflate(
      Cat("{\"topic\":\"news\",\"body\":\"", std::string(300, 'n'), "\",\"caf\xc3\xa9\":true}"));
  const size_t third = news.size() / 3;
  seeds.Write("deflate_fragmented",
              FrameInput(k4096, {7, 2},
                         {{kText, news.substr(0, third), false, kRsv1},
                          {kPing, "p"},
                          {kCont, news.substr(third, third), false},
                          {kCont, news.substr(2 * third), true},
                          {kBinary, Deflate(std::string(64, '\x01')), true, kRsv1}},
                         kDeflate));
  seeds.Write("deflate_rsv1_on_continuation", FrameInput(k4096, {},
                                                         {{kText, hello.substr(0, 4), false, kRsv1},
                                                          {kCont, hello.substr(4), true, kRsv1}},
                                                         kDeflate));
  seeds.Write("deflate_rsv1_on_ping", FrameInput(k4096, {}, {{kPing, "p", true, kRsv1}}, kDeflate));
  seeds.Write(
      "deflate_bomb",
      FrameInput(k125, {}, {{kBinary, Deflate(std::string(4096, '\0')), true, kRsv1}}, kDeflate));
  seeds.Write("deflate_bad_utf8_inflated",
              FrameInput(k4096, {}, {{kText, Deflate("ok \xed\xa0\x80"), true, kRsv1}}, kDeflate));
  // 0x07: a final block of the reserved type 11.
  seeds.Write("deflate_corrupt",
              FrameInput(k4096, {}, {{kText, "\x07\x00\xff\xff", true, kRsv1}}, kDeflate));
  seeds.Write(
      "deflate_cut_short",
      FrameInput(k4096, {}, {{kText, news.substr(0, news.size() / 2), true, kRsv1}}, kDeflate));
}

// ---- Tokens -------------------------------------------------------------------------------------

constexpr std::string_view kValidClaims =
    R"({"sub":"alice","exp":4102444800,"topics":["news","orders/7"],"meta":{"plan":"pro"}})";
constexpr std::string_view kHs256Header = R"({"alg":"HS256","typ":"JWT"})";

std::string Hs256(std::string_view claims) { return SignHs256(kHs256Header, claims, kHs256Secret); }

// RS256 and ES256 through libjwt, as an issuer would sign them.
std::string SignWithKey(std::string_view claims, jwt_alg_t alg, std::string_view private_pem) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) std::exit(1);
  const auth::JwtPtr jwt(raw);
  if (jwt_add_grants_json(jwt.get(), std::string(claims).c_str()) != 0 ||
      jwt_set_alg(jwt.get(), alg, reinterpret_cast<const unsigned char*>(private_pem.data()),
                  static_cast<int>(private_pem.size())) != 0) {
    std::fprintf(stderr, "libjwt could not sign\n");
    std::exit(1);
  }
  const auth::MallocStringPtr encoded(jwt_encode_str(jwt.get()));
  if (encoded == nullptr) std::exit(1);
  return encoded.get();
}

void JwtSeeds(const fs::path& root) {
  const SeedWriter seeds(root, "fuzz_jwt");
  const std::string raw(1, '\x00');     // the token as sent, RS256 verifier
  const std::string raw_es(1, '\x04');  // the token as sent, ES256 verifier
  const std::string claims(1, '\x01');  // claims, signed by the target
  const std::string both(1, '\x02');    // header NUL claims, signed by the target
  seeds.Write("valid_hs256", raw + Hs256(kValidClaims));
  seeds.Write("valid_rs256", raw + SignWithKey(kValidClaims, JWT_ALG_RS256, kRsaPrivatePem));
  // ECDSA signs with a random nonce: an ES256 token made before is kept, so the seeds stay put.
  std::string es256 = seeds.Read("valid_es256");
  es256 = es256.empty() ? SignWithKey(kValidClaims, JWT_ALG_ES256, kEcPrivatePem) : es256.substr(1);
  seeds.Write("valid_es256", raw_es + es256);
  seeds.Write("es256_to_rs256_verifier", raw + es256);
  seeds.Write("expired", raw + Hs256(R"({"sub":"alice","exp":1600000000})"));
  seeds.Write("not_yet_valid", raw + Hs256(R"({"sub":"alice","nbf":4102444800})"));
  seeds.Write("alg_none",
              raw + Cat(Base64Url(R"({"alg":"none"})"), ".", Base64Url(kValidClaims), "."));
  seeds.Write("alg_hs512", raw + SignHs256(R"({"alg":"HS512"})", kValidClaims, kHs256Secret));
  seeds.Write("rs256_signed_with_public_key_as_secret",
              raw + SignHs256(R"({"alg":"RS256","typ":"JWT"})", kValidClaims, kRsaPublicPem));
  std::string forged = Hs256(kValidClaims);
  forged.replace(forged.size() - 6, 4,
                 forged.substr(forged.size() - 6, 4) == "AAAA" ? "BBBB" : "AAAA");
  seeds.Write("bad_signature", raw + forged);
  seeds.Write("garbage_base64", raw + "!!!.@@@.###");
  seeds.Write("padded_base64",
              raw + Base64Url(kHs256Header) + "==." + Base64Url(kValidClaims) + ".x");
  seeds.Write("two_parts", raw + Base64Url(kHs256Header) + "." + Base64Url(kValidClaims));
  seeds.Write("header_not_json", raw + SignHs256("{alg:HS256}", kValidClaims, kHs256Secret));
  seeds.Write("typ_jose",
              raw + SignHs256(R"({"alg":"HS256","typ":"JOSE+JSON"})", kValidClaims, kHs256Secret));
  seeds.Write("crit",
              raw + SignHs256(R"({"alg":"HS256","crit":["exp"]})", kValidClaims, kHs256Secret));
  seeds.Write("no_sub", raw + Hs256(R"({"exp":4102444800})"));
  seeds.Write("sub_number", raw + Hs256(R"({"sub":42})"));
  seeds.Write("topics_not_strings", raw + Hs256(R"({"sub":"a","topics":["x",1]})"));
  seeds.Write("meta_not_strings", raw + Hs256(R"({"sub":"a","meta":{"k":[1]}})"));
  seeds.Write("claims_valid", claims + std::string(kValidClaims));
  seeds.Write("claims_exp_string", claims + R"({"sub":"a","exp":"tomorrow"})");
  seeds.Write("claims_exp_huge", claims + R"({"sub":"a","exp":1e308,"nbf":-1e308})");
  seeds.Write("claims_not_object", claims + R"(["sub","a"])");
  seeds.Write("claims_deep", claims + R"({"sub":"a","meta":{"k":"v","n":{"x":{"y":[[[[{}]]]]}}}})");
  seeds.Write("header_and_claims", both + std::string(R"({"alg":"HS256","typ":"JWT","kid":"1"})") +
                                       '\0' + std::string(kValidClaims));
  seeds.Write("header_rs256_hmac_signed",
              both + std::string(R"({"alg":"RS256"})") + '\0' + std::string(kValidClaims));
  seeds.Write("header_alg_none_signed",
              both + std::string(R"({"alg":"NONE"})") + '\0' + std::string(kValidClaims));
}

// ---- Upgrade requests ---------------------------------------------------------------------------

constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";

std::string Upgrade(std::string_view target, std::string_view extra_fields = "") {
  return Cat("GET ", target,
             " HTTP/1.1\r\nHost: bridge.example:8080\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: ",
             kKey, "\r\nSec-WebSocket-Version: 13\r\n", extra_fields, "\r\n");
}

void UpgradeRequestSeeds(const fs::path& root) {
  const SeedWriter seeds(root, "fuzz_upgrade_request");
  const std::string token = Hs256(kValidClaims);
  const std::string expired = Hs256(R"({"sub":"alice","exp":1600000000})");
  const std::string five_topics = Hs256(R"({"sub":"bob","topics":["a","b","c","d","e"]})");
  seeds.Write("anonymous_public_topics",
              Upgrade("/ws?topics=news,sports", "Origin: https://app.example\r\n"));
  seeds.Write("query_token", Upgrade(Cat("/ws?token=", token, "&topics=weather")));
  seeds.Write("bearer_token", Upgrade("/ws", Cat("Authorization: Bearer ", token, "\r\n")));
  seeds.Write("bearer_expired", Upgrade("/ws", Cat("Authorization: bearer  ", expired, " \r\n")));
  seeds.Write("bearer_empty", Upgrade("/ws", "Authorization: Bearer\r\n"));
  seeds.Write("basic_and_query_token",
              Upgrade(Cat("/ws?token=", token), "Authorization: Basic dTpw\r\n"));
  seeds.Write("origin_not_allowed", Upgrade("/ws", "Origin: https://evil.example\r\n"));
  seeds.Write("topic_not_public", Upgrade("/ws?topics=news,admin"));
  seeds.Write("topic_empty_in_list", Upgrade("/ws?topics=news,,sports"));
  seeds.Write("too_many_topics", Upgrade(Cat("/ws?token=", five_topics)));
  seeds.Write("percent_encoding", Upgrade("/ws?topics=ne%77s+x&token=%zz"));
  seeds.Write("percent_truncated", Upgrade("/ws?token=abc%4"));
  seeds.Write("query_with_fragment", Upgrade("/ws?a=1&topics=news#frag&token=x"));
  seeds.Write("absolute_form", Upgrade(Cat("http://bridge.example:8080/ws?token=", token)));
  seeds.Write("absolute_form_empty_path", Upgrade("https://bridge.example?topics=news"));
  seeds.Write("authority_form",
              "CONNECT bridge.example:443 HTTP/1.1\r\nHost: bridge.example\r\n\r\n");
  seeds.Write("asterisk_form", "OPTIONS * HTTP/1.1\r\nHost: bridge.example\r\n\r\n");
  seeds.Write("wrong_path", Upgrade("/other"));
  seeds.Write("not_an_upgrade", "GET /ws HTTP/1.1\r\nHost: b\r\n\r\n");
  seeds.Write("version_8", Cat("GET /ws HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\n"
                               "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: ",
                               kKey, "\r\nSec-WebSocket-Version: 8\r\n\r\n"));
  seeds.Write("bad_key", Cat("GET /ws HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: short==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n"));
  seeds.Write("two_keys", Upgrade("/ws", Cat("Sec-WebSocket-Key: ", kKey, "\r\n")));
  seeds.Write("two_hosts", Upgrade("/ws", "Host: other.example\r\n"));
  seeds.Write("no_host", Cat("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: "
                             "Upgrade\r\nSec-WebSocket-Key: ",
                             kKey, "\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  seeds.Write("http10_no_host", Cat("GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: "
                                    "Upgrade\r\nSec-WebSocket-Key: ",
                                    kKey, "\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  seeds.Write("content_length", Upgrade("/ws", "Content-Length: 5\r\n") + "hello");
  seeds.Write("content_length_zero", Upgrade("/ws?topics=news", "Content-Length: 0\r\n"));
  seeds.Write("chunked",
              Upgrade("/ws", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n");
  seeds.Write("unknown_coding", Upgrade("/ws", "Transfer-Encoding: gzip\r\n"));
  seeds.Write("incomplete_head", "GET /ws HTTP/1.1\r\nHost: b\r\nUpgrade: webso");
  seeds.Write("garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
  seeds.Write("deflate_offer", Upgrade("/ws?topics=news",
                                       "Sec-WebSocket-Extensions: permessage-deflate; "
                                       "client_max_window_bits\r\n"));
  seeds.Write("deflate_bad_offer", Upgrade("/ws?topics=news",
                                           "Sec-WebSocket-Extensions: permessage-deflate; "
                                           "server_max_window_bits=16; x-unknown\r\n"));
  // The first field's offer is declined, the second's taken (a quoted window, as the ABNF allows).
  seeds.Write("deflate_offers_in_two_fields",
              Upgrade("/ws?topics=news",
                      "Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate; "
                      "server_max_window_bits=08\r\nSec-WebSocket-Extensions: "
                      "permessage-deflate; server_max_window_bits=\"10\"; "
                      "server_no_context_takeover\r\n"));
  seeds.Write("frames_behind_the_head",
              Upgrade("/ws?topics=news") + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
}

// ---- gRPC requests ------------------------------------------------------------------------------

// type: 0 Push, 1 Broadcast, 2 Subscribe, 3 Unsubscribe, 4 Disconnect, 5 GetSession,
// 6 ListSessions, 7 Events; large: max_message_bytes 1 MiB instead of 64
// (fuzz_request_validation.cc).
std::string RequestInput(uint8_t type, const google::protobuf::Message& request,
                         bool large = false) {
  return std::string(1, static_cast<char>(type | (large ? 0x8 : 0))) + request.SerializeAsString();
}

void RequestValidationSeeds(const fs::path& root) {
  const SeedWriter seeds(root, "fuzz_request_validation");
  {
    v1::PushRequest push;
    push.add_session_ids("s-1");
    push.add_user_ids("alice");
    push.mutable_message()->set_text("hello");
    seeds.Write("push_text", RequestInput(0, push));
    push.mutable_message()->set_binary(std::string(300, '\x01'));
    seeds.Write("push_binary_large", RequestInput(0, push, true));
    seeds.Write("push_binary_over_limit", RequestInput(0, push));
    push.add_user_ids("");
    seeds.Write("push_empty_user", RequestInput(0, push));
    v1::PushRequest no_message;
    no_message.add_session_ids("s-1");
    seeds.Write("push_no_message", RequestInput(0, no_message));
    v1::PushRequest no_target;
    no_target.mutable_message()->set_text("x");
    seeds.Write("push_no_target", RequestInput(0, no_target));
  }
  {
    v1::BroadcastRequest broadcast;
    broadcast.add_topics("news");
    broadcast.add_exclude_session_ids("s-2");
    broadcast.mutable_message()->set_text("headline");
    seeds.Write("broadcast_topics", RequestInput(1, broadcast));
    broadcast.set_all_sessions(true);
    seeds.Write("broadcast_topics_and_all", RequestInput(1, broadcast));
    broadcast.clear_topics();
    seeds.Write("broadcast_all", RequestInput(1, broadcast));
    broadcast.add_topics(std::string("bad\x01topic"));
    broadcast.set_all_sessions(false);
    seeds.Write("broadcast_control_char_topic", RequestInput(1, broadcast));
  }
  {
    v1::SubscribeRequest subscribe;
    subscribe.add_user_ids("alice");
    subscribe.add_topics("news");
    subscribe.add_topics(std::string(257, 't'));
    seeds.Write("subscribe_long_topic", RequestInput(2, subscribe));
    subscribe.mutable_topics()->RemoveLast();
    seeds.Write("subscribe", RequestInput(2, subscribe));
    v1::UnsubscribeRequest unsubscribe;
    unsubscribe.add_session_ids("s-1");
    unsubscribe.add_topics("news");
    seeds.Write("unsubscribe", RequestInput(3, unsubscribe));
    unsubscribe.clear_topics();
    seeds.Write("unsubscribe_no_topics", RequestInput(3, unsubscribe));
  }
  {
    v1::DisconnectRequest disconnect;
    disconnect.add_session_ids("s-1");
    seeds.Write("disconnect_default", RequestInput(4, disconnect));
    disconnect.set_code(4001);
    disconnect.set_reason("bye");
    seeds.Write("disconnect_4001", RequestInput(4, disconnect));
    disconnect.set_code(1001);
    seeds.Write("disconnect_1001", RequestInput(4, disconnect));
    disconnect.set_code(3000);
    disconnect.set_reason(std::string(124, 'r'));
    seeds.Write("disconnect_long_reason", RequestInput(4, disconnect));
  }
  {
    v1::GetSessionRequest get;
    get.set_session_id("s-1");
    seeds.Write("get_session", RequestInput(5, get));
    seeds.Write("get_session_empty", RequestInput(5, v1::GetSessionRequest()));
  }
  {
    v1::ListSessionsRequest list;
    list.set_user_id("alice");
    list.set_topic("news");
    list.set_page_size(10);
    list.set_page_token(absl::WebSafeBase64Escape("after:s-1"));
    seeds.Write("list_sessions", RequestInput(6, list));
    list.set_page_size(-1);
    seeds.Write("list_negative_page", RequestInput(6, list));
    list.set_page_size(5000);
    list.set_page_token("not a token");
    seeds.Write("list_bad_token", RequestInput(6, list));
    list.set_page_token(absl::WebSafeBase64Escape("after:"));
    seeds.Write("list_token_without_id", RequestInput(6, list));
  }
  {
    v1::EventsRequest events;
    events.add_kinds(v1::EVENT_KIND_OPENED);
    events.add_kinds(v1::EVENT_KIND_CLOSED);
    events.set_group("workers");
    events.set_start_after_sequence(41);
    seeds.Write("events", RequestInput(7, events));
    events.add_kinds(static_cast<v1::EventKind>(9));
    seeds.Write("events_unknown_kind", RequestInput(7, events));
    v1::EventsRequest unspecified;
    unspecified.add_kinds(v1::EVENT_KIND_UNSPECIFIED);
    seeds.Write("events_unspecified_kind", RequestInput(7, unspecified));
    seeds.Write("events_all", RequestInput(7, v1::EventsRequest()));
  }
  seeds.Write("not_protobuf", std::string("\x00\xff\xff\xff\xff\x0f", 6));
}

}  // namespace
}  // namespace wsbridge::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (fuzz/corpus)\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  wsbridge::fuzz::FrameReaderSeeds(root);
  wsbridge::fuzz::JwtSeeds(root);
  wsbridge::fuzz::UpgradeRequestSeeds(root);
  wsbridge::fuzz::RequestValidationSeeds(root);
  return 0;
}
