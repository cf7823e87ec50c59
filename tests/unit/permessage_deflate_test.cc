// permessage-deflate (RFC 7692) without sockets: the negotiation matrix (each parameter, quoted
// values, several offers, bad offers declined in favour of the next), the window rule for
// sessions that asked for a small server window, compression and inflation checked against
// plain zlib (support/raw_frames.h), the inflate cap against a zip bomb, corrupt data, and the
// shared compressed twin of a Payload.
#include "ws/permessage_deflate.h"

#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/raw_frames.h"
#include "ws/frame_codec.h"
#include "ws/payload.h"

namespace wsbridge::ws {
namespace {

using testing::DeflateMessage;
using testing::InflateMessage;
using testing::JsonLike;
using testing::RandomBytes;

// ---- Negotiation ----

std::string Answer(std::string_view offers) {
  const std::optional<DeflateAgreement> agreement = NegotiateDeflate(offers);
  return agreement.has_value() ? DeflateResponseHeader(*agreement) : "(declined)";
}

constexpr char kPlainAnswer[] =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

TEST(DeflateNegotiationTest, NoOfferNoDeflate) {
  EXPECT_EQ(Answer(""), "(declined)");
  EXPECT_EQ(Answer("x-webkit-deflate-frame"), "(declined)");
  EXPECT_EQ(Answer("permessage-foo; server_no_context_takeover"), "(declined)");
}

TEST(DeflateNegotiationTest, ABareOfferIsAnsweredWithNoContextTakeoverBothWays) {
  EXPECT_EQ(Answer("permessage-deflate"), kPlainAnswer);
  const std::optional<DeflateAgreement> agreement = NegotiateDeflate("permessage-deflate");
  ASSERT_TRUE(agreement.has_value());
  EXPECT_EQ(agreement->server_max_window_bits, 15);
  EXPECT_FALSE(agreement->server_window_requested);
}

TEST(DeflateNegotiationTest, WhatBrowsersSendIsAccepted) {
  // Chrome and Firefox.
  EXPECT_EQ(Answer("permessage-deflate; client_max_window_bits"), kPlainAnswer);
  EXPECT_EQ(Answer("permessage-deflate;client_max_window_bits=15"), kPlainAnswer);
  EXPECT_EQ(Answer("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            kPlainAnswer);
}

TEST(DeflateNegotiationTest, ServerMaxWindowBitsIsHonouredAndEchoed) {
  for (int bits = 8; bits <= 15; ++bits) {
    SCOPED_TRACE(bits);
    const std::string offer = "permessage-deflate; server_max_window_bits=" + std::to_string(bits);
    const std::optional<DeflateAgreement> agreement = NegotiateDeflate(offer);
    ASSERT_TRUE(agreement.has_value());
    EXPECT_EQ(agreement->server_max_window_bits, bits);
    EXPECT_EQ(DeflateResponseHeader(*agreement),
              std::string(kPlainAnswer) + "; server_max_window_bits=" + std::to_string(bits));
  }
}

TEST(DeflateNegotiationTest, QuotedValuesAreAccepted) {
  const std::optional<DeflateAgreement> agreement = NegotiateDeflate(
      "permessage-deflate; server_max_window_bits=\"10\"; "
      "client_max_window_bits=\"12\"");
  ASSERT_TRUE(agreement.has_value());
  EXPECT_EQ(agreement->server_max_window_bits, 10);
  // A quoted comma does not split offers, and its offer is declined for its value.
  EXPECT_EQ(Answer("permessage-deflate; server_max_window_bits=\"1,2\", permessage-deflate"),
            kPlainAnswer);
  EXPECT_EQ(Answer("permessage-deflate; server_max_window_bits=\"1,2\""), "(declined)");
}

TEST(DeflateNegotiationTest, NamesAreCaseInsensitiveAndSpacesAreOptional) {
  EXPECT_EQ(Answer("PerMessage-Deflate ;Server_Max_Window_Bits = 9 "),
            std::string(kPlainAnswer) + "; server_max_window_bits=9");
  EXPECT_EQ(Answer("\tpermessage-deflate\t"), kPlainAnswer);
}

TEST(DeflateNegotiationTest, BadOffersAreDeclined) {
  for (const char* offer : {
           "permessage-deflate; unknown_param",                   // unknown parameter
           "permessage-deflate; server_max_window_bits",          // value required
           "permessage-deflate; server_max_window_bits=7",        // below 8
           "permessage-deflate; server_max_window_bits=16",       // above 15
           "permessage-deflate; server_max_window_bits=010",      // leading zero
           "permessage-deflate; server_max_window_bits=abc",      // not a number
           "permessage-deflate; client_max_window_bits=16",       // above 15
           "permessage-deflate; client_max_window_bits=",         // empty value: bad syntax
           "permessage-deflate; server_no_context_takeover=1",    // takes no value
           "permessage-deflate; client_no_context_takeover=yes",  // takes no value
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",  // twice
           "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
           "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
       }) {
    EXPECT_EQ(Answer(offer), "(declined)") << offer;
  }
}

TEST(DeflateNegotiationTest, TheFirstServableOfSeveralOffersIsAccepted) {
  EXPECT_EQ(Answer("permessage-deflate; server_max_window_bits=10, permessage-deflate"),
            std::string(kPlainAnswer) + "; server_max_window_bits=10");
  EXPECT_EQ(Answer("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=12"),
            std::string(kPlainAnswer) + "; server_max_window_bits=12");
  EXPECT_EQ(Answer("x-other; a=1, permessage-deflate; client_max_window_bits"), kPlainAnswer);
  // Offers from several header fields arrive joined with ", " (ws/http_handshake.cc).
  EXPECT_EQ(Answer("permessage-deflate; server_max_window_bits=99, , permessage-deflate"),
            kPlainAnswer);
}

TEST(DeflateNegotiationTest, AHeaderThatBreaksTheGrammarIsIgnored) {
  for (const char* header : {
           "permessage-deflate; server_max_window_bits=\"10",  // unterminated quote
           "permessage-deflate;",                              // parameter without a name
           "permessage-deflate; =10",
           "permessage-deflate server_max_window_bits=10",  // missing ';'
           "permessage-deflate; a b",
           "; permessage-deflate",
       }) {
    EXPECT_EQ(Answer(header), "(declined)") << header;
  }
}

TEST(DeflateNegotiationTest, WindowRule) {
  EXPECT_TRUE(FitsServerWindow(1 << 20, 15));
  EXPECT_TRUE(FitsServerWindow(256, 8));
  EXPECT_FALSE(FitsServerWindow(257, 8));
  EXPECT_TRUE(FitsServerWindow(16384, 14));
  EXPECT_FALSE(FitsServerWindow(16385, 14));
}

// ---- Compression and inflation ----

TEST(DeflateCompressTest, MessagesInflateBackExactlyWithPlainZlib) {
  MessageDeflater deflater;
  for (const std::string& message :
       {std::string(), std::string("a"), JsonLike(300, 0), JsonLike(100000, 0),
        RandomBytes(5000, 1), std::string(70000, 'z')}) {
    SCOPED_TRACE(message.size());
    const std::string compressed = deflater.Compress(message);
    const std::optional<std::string> back = InflateMessage(compressed);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, message);
  }
}

TEST(DeflateCompressTest, NoContextTakeoverTheSameMessageCompressesTheSameEveryTime) {
  MessageDeflater deflater;
  const std::string first = deflater.Compress(JsonLike(2000, 0));
  deflater.Compress(JsonLike(5000, 0));
  EXPECT_EQ(deflater.Compress(JsonLike(2000, 0)), first);
  MessageDeflater other;
  EXPECT_EQ(other.Compress(JsonLike(2000, 0)), first);
  EXPECT_LT(first.size(), 2000u / 2);  // JSON compresses well
}

TEST(DeflateInflateTest, ClientMessagesInflateExactly) {
  MessageInflater inflater;
  for (const std::string& message : {std::string("x"), JsonLike(1000, 0), RandomBytes(3000, 2),
                                     std::string(200000, 'q'), JsonLike(65536, 0)}) {
    for (const bool final_block : {false, true}) {
      SCOPED_TRACE(message.size());
      ASSERT_EQ(inflater.Inflate(DeflateMessage(message, final_block), 1 << 20),
                MessageInflater::Result::kOk);
      EXPECT_EQ(inflater.message(), message);
    }
  }
}

TEST(DeflateInflateTest, RoundTripThroughOurOwnDeflater) {
  MessageDeflater deflater;
  MessageInflater inflater;
  for (size_t size : {1u, 10u, 256u, 4096u, 100000u}) {
    const std::string message = JsonLike(size, 0);
    ASSERT_EQ(inflater.Inflate(deflater.Compress(message), size), MessageInflater::Result::kOk);
    EXPECT_EQ(inflater.message(), message);
  }
}

TEST(DeflateInflateTest, TheLimitIsOnTheInflatedSize) {
  MessageInflater inflater;
  const std::string compressed = DeflateMessage(std::string(1000, 'a'));
  EXPECT_EQ(inflater.Inflate(compressed, 1000), MessageInflater::Result::kOk);
  EXPECT_EQ(inflater.Inflate(compressed, 999), MessageInflater::Result::kTooBig);
}

TEST(DeflateInflateTest, AZipBombStopsAtTheCapWithoutInflatingTheRest) {
  const std::string bomb = DeflateMessage(std::string(10 << 20, '\0'));
  ASSERT_LT(bomb.size(), 20u * 1024);
  MessageInflater inflater;
  EXPECT_EQ(inflater.Inflate(bomb, 1 << 20), MessageInflater::Result::kTooBig);
  // And the inflater still works, with its buffer given back.
  inflater.ReleaseIfLarge();
  ASSERT_EQ(inflater.Inflate(DeflateMessage("ok"), 1 << 20), MessageInflater::Result::kOk);
  EXPECT_EQ(inflater.message(), "ok");
}

TEST(DeflateInflateTest, CorruptDataIsReported) {
  MessageInflater inflater;
  // BTYPE 11 (reserved).
  EXPECT_EQ(inflater.Inflate(std::string("\xff\xff\xff", 3), 1 << 20),
            MessageInflater::Result::kCorrupt);
  // A stored block whose NLEN does not match LEN.
  EXPECT_EQ(inflater.Inflate(std::string("\x00\x05\x00\x00\x00", 5), 1 << 20),
            MessageInflater::Result::kCorrupt);
  // A valid message cut short.
  const std::string whole = DeflateMessage(RandomBytes(2000, 3));
  EXPECT_EQ(inflater.Inflate(whole.substr(0, whole.size() / 2), 1 << 20),
            MessageInflater::Result::kCorrupt);
  // Nothing at all is not a message either.
  EXPECT_EQ(inflater.Inflate("", 1 << 20), MessageInflater::Result::kCorrupt);
  // Still usable afterwards.
  ASSERT_EQ(inflater.Inflate(DeflateMessage("fine"), 1 << 20), MessageInflater::Result::kOk);
  EXPECT_EQ(inflater.message(), "fine");
}

// ---- The shared compressed twin ----

TEST(DeflatePayloadTest, TheTwinIsAnRsv1FrameOfTheCompressedBytesMadeOnce) {
  MessageDeflater deflater;
  const PayloadPtr plain = MakePayload(Payload::Kind::kText, JsonLike(4000, 0));
  const PayloadPtr twin = plain->Deflated(plain, deflater);
  ASSERT_NE(twin.get(), plain.get());
  EXPECT_EQ(twin->kind, Payload::Kind::kText);
  EXPECT_EQ(twin->header_bytes[0], 0x80 | kRsv1Bit | 0x1);  // FIN, RSV1, text
  const std::optional<std::string> back = InflateMessage(twin->bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, plain->bytes);
  // Every later call shares the same twin, and the twin keeps the plain payload alive.
  EXPECT_EQ(plain->Deflated(plain, deflater).get(), twin.get());
  const Payload* twin_address = twin.get();
  PayloadPtr held = plain->Deflated(plain, deflater);
  EXPECT_EQ(held.get(), twin_address);
  EXPECT_EQ(held.use_count(), plain.use_count());
}

TEST(DeflatePayloadTest, IncompressibleMessagesStayPlain) {
  MessageDeflater deflater;
  const PayloadPtr plain = MakePayload(Payload::Kind::kBinary, RandomBytes(2000, 4));
  EXPECT_EQ(plain->Deflated(plain, deflater).get(), plain.get());
  EXPECT_EQ(plain->Deflated(plain, deflater).get(), plain.get());
}

TEST(DeflatePayloadTest, ThreadsRacingForTheTwinGetTheSameOne) {
  const PayloadPtr plain = MakePayload(Payload::Kind::kText, JsonLike(200000, 0));
  std::vector<const Payload*> seen(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&, i] {
      MessageDeflater deflater;  // each I/O thread has its own
      seen[i] = plain->Deflated(plain, deflater).get();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Payload* twin : seen) EXPECT_EQ(twin, seen[0]);
  EXPECT_NE(seen[0], plain.get());
}

}  // namespace
}  // namespace wsbridge::ws
