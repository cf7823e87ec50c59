// Fuzz target: ws::FrameReader, the parser of every byte a browser sends after the upgrade,
// with and without permessage-deflate.
//
// The first input byte chooses how the rest is read (FrameReaderInput below); the frames are fed
// to one reader in chunks whose sizes come from the input and to a second reader in one piece.
// A handler checks what the reader promises (messages within the limit, inflated ones included;
// text messages valid UTF-8, after inflating; control payloads within 125 bytes, sendable close
// codes, nothing after a close or an error, bounded buffering), and the two readers must report
// the same events and the same end: how bytes are split by the network never changes what a
// session sees.
//
// With deflate, both readers inflate with one MessageInflater, as every session of an I/O thread
// shares the thread's (ws/session_context.h), and the one-piece reader is fed in the middle of
// the chunked reader's feeds, so the two interleave on it as two sessions of a thread do: zlib
// state or output left over from one reader's message would show as a difference between them.
// A third reader, without an inflater, reads the same bytes as a session that did not negotiate
// deflate: up to the first RSV1 frame (its error) it must see exactly what the others see, since
// negotiating deflate changes nothing for uncompressed frames.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "invariant.h"
#include "ws/frame_codec.h"
#include "ws/permessage_deflate.h"

namespace wsbridge::fuzz {
namespace {

using ws::FrameReader;
using ws::MessageInflater;

constexpr uint64_t kMaxMessageChoices[] = {16, 125, 4096, 1 << 20};

// Input layout:
//   byte 0   options: bits 0-1 pick max_message_bytes from kMaxMessageChoices; bits 2-4 say how
//            many chunk sizes follow (0: the chunked reader gets everything in one Feed too);
//            bit 7: permessage-deflate negotiated (see `deflate`); bits 5-6 unused.
//   then     the chunk sizes, one byte each, used in turn (0 feeds an empty chunk);
//   then     the bytes the browser sent.
struct FrameReaderInput {
  uint64_t max_message_bytes = 0;
  std::vector<size_t> chunk_sizes;
  // The session negotiated permessage-deflate: every Feed gets the thread's MessageInflater, and
  // RSV1 on the first frame of a data message means compressed.
  bool deflate = false;
  std::string_view wire;
};

bool ParseInput(const uint8_t* data, size_t size, FrameReaderInput& input) {
  if (size < 1) return false;
  const uint8_t options = data[0];
  const size_t sizes = (options >> 2) & 0x7;
  if (size < 1 + sizes) return false;
  input.max_message_bytes = kMaxMessageChoices[options & 0x3];
  input.deflate = (options & 0x80) != 0;
  for (size_t i = 0; i < sizes; ++i) input.chunk_sizes.push_back(data[1 + i]);
  input.wire = std::string_view(reinterpret_cast<const char*>(data) + 1 + sizes, size - 1 - sizes);
  return true;
}

// One report as text, to compare two readers' reports.
std::string Report(std::string_view what, std::string_view data) {
  std::string report(what);
  report.push_back(' ');
  report.append(data);
  return report;
}

// Records what one reader reports, checking each report against the reader's promises.
class RecordingHandler final : public FrameReader::Handler {
 public:
  explicit RecordingHandler(uint64_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  void OnMessage(bool text, std::string_view data) override {
    Reported();
    Invariant(data.size() <= max_message_bytes_, "a message is larger than max_message_bytes");
    Invariant(!text || ws::IsValidUtf8(data), "a text message is not UTF-8");
    events_.push_back(Report(text ? "text" : "binary", data));
  }
  void OnPing(std::string_view data) override {
    Reported();
    Invariant(data.size() <= 125, "a ping payload is over 125 bytes");
    events_.push_back(Report("ping", data));
  }
  void OnPong(std::string_view data) override {
    Reported();
    Invariant(data.size() <= 125, "a pong payload is over 125 bytes");
    events_.push_back(Report("pong", data));
  }
  void OnClose(uint16_t code, std::string_view reason) override {
    Reported();
    closed_ = true;
    Invariant(code == ws::kCloseNoStatus || ws::IsSendableCloseCode(code),
              "a close code that may not be sent");
    Invariant(code != ws::kCloseNoStatus || reason.empty(), "a reason without a close code");
    Invariant(reason.size() <= 123, "a close reason is over 123 bytes");
    Invariant(ws::IsValidUtf8(reason), "a close reason is not UTF-8");
    events_.push_back(Report("close " + std::to_string(code), reason));
  }

  // After an error the reader must stay silent.
  void Stop() { stopped_ = true; }
  const std::vector<std::string>& events() const { return events_; }

 private:
  void Reported() {
    Invariant(!closed_, "a report after the close frame");
    Invariant(!stopped_, "a report after an error");
  }

  const uint64_t max_message_bytes_;
  std::vector<std::string> events_;
  bool closed_ = false;
  bool stopped_ = false;
};

struct Outcome {
  std::vector<std::string> events;
  FrameReader::Error error;
  std::string error_detail;
  bool close_received;
  size_t buffered_bytes;
};

// One reader as a session has it: made after the handshake, fed with the thread's inflater when
// deflate was negotiated (null otherwise), each Feed checked against what every Feed promises.
class ReaderUnderTest {
 public:
  ReaderUnderTest(uint64_t max_message_bytes, MessageInflater* inflater)
      : max_message_bytes_(max_message_bytes),
        reader_(max_message_bytes),
        handler_(max_message_bytes),
        inflater_(inflater) {}

  void Feed(std::string_view bytes) {
    std::string chunk(bytes);  // Feed unmasks in place
    const FrameReader::Error before = reader_.error();
    const FrameReader::Error error = reader_.Feed(chunk.data(), chunk.size(), handler_, inflater_);
    Invariant(error == reader_.error(), "Feed returned another error than error()");
    Invariant(before == FrameReader::Error::kNone || error == before, "an error changed");
    if (error != FrameReader::Error::kNone) {
      Invariant(*reader_.error_detail() != '\0', "an error without a detail");
      handler_.Stop();
    }
    // At most one incomplete frame (header of up to 14 bytes, payload of up to max_message_bytes,
    // or 125 for a control frame) and one unfinished message. Deflate does not loosen this: the
    // frames of a compressed message are bounded by max_message_bytes as they come, and the
    // inflated bytes live in the inflater only while the message is delivered.
    const uint64_t largest_frame = 14 + std::max<uint64_t>(max_message_bytes_, 125);
    Invariant(reader_.buffered_bytes() <= largest_frame + max_message_bytes_,
              "unbounded buffering");
  }

  Outcome outcome() const {
    return Outcome{handler_.events(), reader_.error(), reader_.error_detail(),
                   reader_.close_received(), reader_.buffered_bytes()};
  }

 private:
  const uint64_t max_message_bytes_;
  FrameReader reader_;
  RecordingHandler handler_;
  MessageInflater* const inflater_;
};

// The input's bytes cut as the chunk sizes say, in turn (all of it at once when there are none,
// or when every size is 0).
std::vector<std::string_view> Chunks(const FrameReaderInput& input) {
  std::vector<std::string_view> chunks;
  std::string_view rest = input.wire;
  size_t turn = 0;
  size_t empty_in_a_row = 0;
  while (!rest.empty()) {
    size_t size = rest.size();
    if (!input.chunk_sizes.empty() && empty_in_a_row < input.chunk_sizes.size()) {
      size = std::min(rest.size(), input.chunk_sizes[turn++ % input.chunk_sizes.size()]);
    }
    empty_in_a_row = size == 0 ? empty_in_a_row + 1 : 0;
    chunks.push_back(rest.substr(0, size));
    rest.remove_prefix(size);
  }
  return chunks;
}

// What a reader made of the input, for WSBRIDGE_FUZZ_VERBOSE (reports cut to 60 bytes).
void PrintOutcome(const FrameReaderInput& input, const Outcome& outcome) {
  std::fprintf(stderr, "max %llu%s:", static_cast<unsigned long long>(input.max_message_bytes),
               input.deflate ? ", deflate" : "");
  for (const std::string& event : outcome.events) {
    std::fprintf(stderr, " [%.*s%s]", static_cast<int>(std::min<size_t>(event.size(), 60)),
                 event.data(), event.size() > 60 ? "..." : "");
  }
  std::fprintf(
      stderr, "; end: %s%s\n",
      outcome.error == FrameReader::Error::kNone ? "no error" : outcome.error_detail.c_str(),
      outcome.close_received ? " (closed)" : "");
}

bool IsPrefix(const std::vector<std::string>& prefix, const std::vector<std::string>& of) {
  return prefix.size() <= of.size() && std::equal(prefix.begin(), prefix.end(), of.begin());
}

}  // namespace
}  // namespace wsbridge::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsbridge::fuzz;
  FrameReaderInput input;
  if (!ParseInput(data, size, input)) return -1;  // not an input: keep it out of the corpus

  // The I/O thread's inflater, shared by its sessions; made per input so a crash replays alone.
  MessageInflater thread_inflater;
  MessageInflater* const inflater = input.deflate ? &thread_inflater : nullptr;
  ReaderUnderTest chunked(input.max_message_bytes, inflater);
  ReaderUnderTest whole(input.max_message_bytes, inflater);
  const std::vector<std::string_view> chunks = Chunks(input);
  const size_t whole_after = chunks.size() / 2;  // chunks fed before the one-piece reader's turn
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i == whole_after) whole.Feed(input.wire);
    chunked.Feed(chunks[i]);
  }
  if (chunks.empty()) whole.Feed(input.wire);

  const Outcome split = chunked.outcome();
  const Outcome one_piece = whole.outcome();
  if (Verbose()) PrintOutcome(input, one_piece);
  Invariant(split.events == one_piece.events, "the split changed the reports");
  Invariant(split.error == one_piece.error, "the split changed the error");
  Invariant(split.close_received == one_piece.close_received, "the split changed the close");
  Invariant(split.buffered_bytes == one_piece.buffered_bytes, "the split changed what is buffered");

  if (input.deflate) {
    ReaderUnderTest plain(input.max_message_bytes, nullptr);
    plain.Feed(input.wire);
    const Outcome without = plain.outcome();
    if (without.error == FrameReader::Error::kProtocol &&
        without.error_detail.find("RSV1") != std::string::npos) {
      Invariant(IsPrefix(without.events, one_piece.events),
                "deflate changed what came before the first compressed frame");
    } else {
      Invariant(without.events == one_piece.events && without.error == one_piece.error &&
                    without.close_received == one_piece.close_received &&
                    without.buffered_bytes == one_piece.buffered_bytes,
                "deflate changed the reading of uncompressed frames");
    }
  }
  return 0;
}
