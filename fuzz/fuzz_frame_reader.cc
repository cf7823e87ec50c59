// Fuzz target: ws::FrameReader, the parser of every byte a browser sends after the upgrade.
//
// The first input byte chooses how the rest is read (FrameReaderInput below); the frames are fed
// to one reader in chunks whose sizes come from the input and to a second reader in one piece.
// A handler checks what the reader promises (messages within the limit, text messages valid
// UTF-8, control payloads within 125 bytes, sendable close codes, nothing after a close or an
// error, bounded buffering), and the two readers must report the same events and the same end:
// how bytes are split by the network never changes what a session sees.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "invariant.h"
#include "ws/frame_codec.h"

namespace wsbridge::fuzz {
namespace {

using ws::FrameReader;

constexpr uint64_t kMaxMessageChoices[] = {16, 125, 4096, 1 << 20};

// Input layout:
//   byte 0   options: bits 0-1 pick max_message_bytes from kMaxMessageChoices; bits 2-4 say how
//            many chunk sizes follow (0: the chunked reader gets everything in one Feed too);
//            bit 7 is kept for "permessage-deflate negotiated" (see `deflate`); bits 5-6 unused.
//   then     the chunk sizes, one byte each, used in turn (0 feeds an empty chunk);
//   then     the bytes the browser sent.
struct FrameReaderInput {
  uint64_t max_message_bytes = 0;
  std::vector<size_t> chunk_sizes;
  // Not read yet: FrameReader has no permessage-deflate. Once it takes an Inflater, MakeReader
  // gives both readers one when this is set, and RSV1 frames are decompressed.
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

// One Feed, checking what every Feed promises.
void FeedChecked(FrameReader& reader, RecordingHandler& handler, uint64_t max_message_bytes,
                 std::string& chunk) {
  const FrameReader::Error before = reader.error();
  const FrameReader::Error error = reader.Feed(chunk.data(), chunk.size(), handler);
  Invariant(error == reader.error(), "Feed returned another error than error()");
  Invariant(before == FrameReader::Error::kNone || error == before, "an error changed");
  if (error != FrameReader::Error::kNone) {
    Invariant(*reader.error_detail() != '\0', "an error without a detail");
    handler.Stop();
  }
  // At most one incomplete frame (header of up to 14 bytes, payload of up to max_message_bytes, or
  // 125 for a control frame) and one unfinished message.
  const uint64_t largest_frame = 14 + std::max<uint64_t>(max_message_bytes, 125);
  Invariant(reader.buffered_bytes() <= largest_frame + max_message_bytes, "unbounded buffering");
}

// Both readers are made here, alike, as a session makes its reader after the handshake.
FrameReader MakeReader(const FrameReaderInput& input) {
  return FrameReader(input.max_message_bytes);
}

struct Outcome {
  std::vector<std::string> events;
  FrameReader::Error error;
  bool close_received;
  size_t buffered_bytes;
};

Outcome ReadInChunks(const FrameReaderInput& input) {
  FrameReader reader = MakeReader(input);
  RecordingHandler handler(input.max_message_bytes);
  std::string_view rest = input.wire;
  size_t turn = 0;
  size_t empty_in_a_row = 0;
  while (!rest.empty()) {
    size_t size = rest.size();
    if (!input.chunk_sizes.empty() && empty_in_a_row < input.chunk_sizes.size()) {
      size = std::min(rest.size(), input.chunk_sizes[turn++ % input.chunk_sizes.size()]);
    }
    empty_in_a_row = size == 0 ? empty_in_a_row + 1 : 0;
    std::string chunk(rest.substr(0, size));  // Feed unmasks in place
    rest.remove_prefix(size);
    FeedChecked(reader, handler, input.max_message_bytes, chunk);
  }
  return Outcome{handler.events(), reader.error(), reader.close_received(),
                 reader.buffered_bytes()};
}

Outcome ReadInOnePiece(const FrameReaderInput& input) {
  FrameReader reader = MakeReader(input);
  RecordingHandler handler(input.max_message_bytes);
  std::string bytes(input.wire);
  FeedChecked(reader, handler, input.max_message_bytes, bytes);
  return Outcome{handler.events(), reader.error(), reader.close_received(),
                 reader.buffered_bytes()};
}

}  // namespace
}  // namespace wsbridge::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wsbridge::fuzz;
  FrameReaderInput input;
  if (!ParseInput(data, size, input)) return -1;  // not an input: keep it out of the corpus
  const Outcome chunked = ReadInChunks(input);
  const Outcome whole = ReadInOnePiece(input);
  Invariant(chunked.events == whole.events, "the split changed the reports");
  Invariant(chunked.error == whole.error, "the split changed the error");
  Invariant(chunked.close_received == whole.close_received, "the split changed the close");
  Invariant(chunked.buffered_bytes == whole.buffered_bytes, "the split changed what is buffered");
  return 0;
}
