#include "ws/permessage_deflate.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace wsbridge::ws {

namespace {

// ---- Negotiation ----------------------------------------------------------------------------

// RFC 7230 tchar.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

struct Param {
  std::string name;
  std::optional<std::string> value;  // unquoted
};

struct Offer {
  std::string name;
  std::vector<Param> params;
};

// A cursor over the header value, with RFC 6455 section 9.1's grammar:
//   extension-list = 1#( extension-token *( ";" extension-param ) )
//   extension-param = token [ "=" ( token | quoted-string ) ]
// with optional whitespace around the separators and empty list elements allowed (RFC 7230 7).
class OfferParser {
 public:
  explicit OfferParser(std::string_view text) : text_(text) {}

  // All offers in order, or nullopt when the value breaks the grammar.
  std::optional<std::vector<Offer>> Parse() {
    std::vector<Offer> offers;
    while (true) {
      SkipSpace();
      if (AtEnd()) break;
      if (Peek() == ',') {  // an empty element
        ++pos_;
        continue;
      }
      Offer offer;
      if (!Token(offer.name)) return std::nullopt;
      while (true) {
        SkipSpace();
        if (AtEnd() || Peek() == ',') break;
        if (Peek() != ';') return std::nullopt;
        ++pos_;
        SkipSpace();
        Param param;
        if (!Token(param.name)) return std::nullopt;
        SkipSpace();
        if (!AtEnd() && Peek() == '=') {
          ++pos_;
          SkipSpace();
          std::string value;
          if (!AtEnd() && Peek() == '"') {
            if (!Quoted(value)) return std::nullopt;
          } else if (!Token(value)) {
            return std::nullopt;
          }
          param.value = std::move(value);
        }
        offer.params.push_back(std::move(param));
      }
      offers.push_back(std::move(offer));
      if (!AtEnd()) ++pos_;  // the ','
    }
    return offers;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t')) ++pos_;
  }
  bool Token(std::string& out) {
    const size_t start = pos_;
    while (!AtEnd() && IsTokenChar(Peek())) ++pos_;
    out.assign(text_.substr(start, pos_ - start));
    return pos_ > start;
  }
  bool Quoted(std::string& out) {
    ++pos_;  // the opening quote
    while (!AtEnd()) {
      char c = Peek();
      ++pos_;
      if (c == '"') return true;
      if (c == '\\') {
        if (AtEnd()) return false;
        c = Peek();
        ++pos_;
      }
      out.push_back(c);
    }
    return false;  // no closing quote
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// 8..15 written as the RFC's ABNF has it: no sign, no leading zero.
std::optional<uint8_t> WindowBits(const std::string& value) {
  if (value.empty() || value.size() > 2 || value[0] == '0') return std::nullopt;
  int bits = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits < 8 || bits > 15) return std::nullopt;
  return static_cast<uint8_t>(bits);
}

// The agreement for one permessage-deflate offer, or nullopt to decline it.
std::optional<DeflateAgreement> Serve(const Offer& offer) {
  DeflateAgreement agreement;
  bool seen_server_no_context = false, seen_client_no_context = false;
  bool seen_client_window = false;
  for (const Param& param : offer.params) {
    const std::string name = absl::AsciiStrToLower(param.name);
    bool* seen = nullptr;
    if (name == "server_no_context_takeover" || name == "client_no_context_takeover") {
      // Both are what we do anyway; neither takes a value.
      if (param.value.has_value()) return std::nullopt;
      seen = name[0] == 's' ? &seen_server_no_context : &seen_client_no_context;
    } else if (name == "server_max_window_bits") {
      if (!param.value.has_value()) return std::nullopt;
      const std::optional<uint8_t> bits = WindowBits(*param.value);
      if (!bits.has_value()) return std::nullopt;
      seen = &agreement.server_window_requested;
      agreement.server_max_window_bits = *bits;
    } else if (name == "client_max_window_bits") {
      // Only tells us the browser could limit its window; we inflate with 15, which takes any.
      if (param.value.has_value() && !WindowBits(*param.value).has_value()) return std::nullopt;
      seen = &seen_client_window;
    } else {
      return std::nullopt;  // unknown parameter (section 7: decline)
    }
    if (*seen) return std::nullopt;  // the same parameter twice
    *seen = true;
  }
  return agreement;
}

// ---- Compression ------------------------------------------------------------------------------

constexpr unsigned char kSyncFlushTail[4] = {0x00, 0x00, 0xff, 0xff};
// An inflate output buffer grown past this by one message is given back after it.
constexpr size_t kKeepOutputBytes = 64 * 1024;
// The first guess at the inflated size, as a multiple of the compressed size.
constexpr size_t kFirstGuessRatio = 4;

}  // namespace

std::optional<DeflateAgreement> NegotiateDeflate(std::string_view extensions_header) {
  std::optional<std::vector<Offer>> offers = OfferParser(extensions_header).Parse();
  if (!offers.has_value()) return std::nullopt;
  for (const Offer& offer : *offers) {
    if (!absl::EqualsIgnoreCase(offer.name, "permessage-deflate")) continue;
    if (std::optional<DeflateAgreement> agreement = Serve(offer)) return agreement;
  }
  return std::nullopt;
}

std::string DeflateResponseHeader(const DeflateAgreement& agreement) {
  std::string value = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  if (agreement.server_window_requested) {
    absl::StrAppend(&value, "; server_max_window_bits=", agreement.server_max_window_bits);
  }
  return value;
}

MessageDeflater::MessageDeflater() = default;
MessageDeflater::MessageDeflater(MessageDeflater&&) noexcept = default;

MessageDeflater::~MessageDeflater() {
  if (stream_) deflateEnd(stream_.get());
}

std::string MessageDeflater::Compress(std::string_view message) {
  if (!stream_) {
    auto stream = std::make_unique<z_stream>();
    // Negative window bits: raw DEFLATE, no zlib header or checksum (RFC 7692 section 7.2.1).
    if (deflateInit2(stream.get(), Z_DEFAULT_COMPRESSION, Z_DEFLATED, -kDeflateWindowBits,
                     /*memLevel=*/8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::bad_alloc();
    }
    stream_ = std::move(stream);
  } else {
    deflateReset(stream_.get());
  }
  z_stream& z = *stream_;
  std::string out;
  // deflateBound covers a finished stream; a sync flush adds at most the empty stored block.
  out.resize(deflateBound(&z, static_cast<uLong>(message.size())) + 8);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  size_t produced = 0;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    z.avail_out = static_cast<uInt>(out.size() - produced);
    deflate(&z, Z_SYNC_FLUSH);
    produced = out.size() - z.avail_out;
    if (z.avail_out != 0) break;  // everything is out
    out.resize(out.size() * 2);
  }
  out.resize(produced);
  if (out.size() >= 4 && std::memcmp(out.data() + out.size() - 4, kSyncFlushTail, 4) == 0) {
    out.resize(out.size() - 4);
  }
  return out;
}

MessageInflater::MessageInflater() = default;
MessageInflater::MessageInflater(MessageInflater&&) noexcept = default;

MessageInflater::~MessageInflater() {
  if (stream_) inflateEnd(stream_.get());
}

MessageInflater::Result MessageInflater::Inflate(std::string_view compressed, uint64_t max_bytes) {
  if (!stream_) {
    auto stream = std::make_unique<z_stream>();
    if (inflateInit2(stream.get(), -kDeflateWindowBits) != Z_OK) throw std::bad_alloc();
    stream_ = std::move(stream);
  } else {
    inflateReset(stream_.get());
  }
  z_stream& z = *stream_;
  size_ = 0;
  // One byte past the limit tells "exactly max_bytes" from "more".
  const uint64_t cap = max_bytes + 1;
  const auto grow = [&] {
    const uint64_t want = std::max<uint64_t>(
        {output_.size() * 2, compressed.size() * kFirstGuessRatio, uint64_t{4096}});
    output_.resize(static_cast<size_t>(std::min(want, cap)));
  };
  if (output_.empty()) grow();

  // The message, then the tail the sender removed (section 7.2.2). The tail is inflated with
  // Z_BLOCK, which stops right after the block it completes, so that zlib then says (128 in
  // data_type) whether the data ended on a block boundary: a message cut short does not.
  struct Input {
    std::string_view bytes;
    int flush;
  };
  const Input inputs[2] = {
      {compressed, Z_SYNC_FLUSH},
      {std::string_view(reinterpret_cast<const char*>(kSyncFlushTail), 4), Z_BLOCK}};
  int data_type = 0;  // zlib's report after the last call that made progress
  for (const Input& input : inputs) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.bytes.data()));
    z.avail_in = static_cast<uInt>(input.bytes.size());
    // Until the input is used up and the output buffer was not filled (nothing more pending).
    do {
      if (size_ == output_.size()) {
        if (output_.size() >= cap) return Result::kTooBig;
        grow();
      }
      z.next_out = reinterpret_cast<Bytef*>(output_.data() + size_);
      z.avail_out = static_cast<uInt>(output_.size() - size_);
      const int status = inflate(&z, input.flush);
      size_ = output_.size() - z.avail_out;
      if (size_ > max_bytes) return Result::kTooBig;
      // A final block (BFINAL) ends the message: what follows is only the tail we added.
      if (status == Z_STREAM_END) return Result::kOk;
      if (status == Z_OK)
        data_type = z.data_type;  // Z_BUF_ERROR: no progress, nothing new
      else if (status != Z_BUF_ERROR)
        return Result::kCorrupt;
    } while (z.avail_in > 0 || z.avail_out == 0);
  }
  if ((data_type & 128) == 0) return Result::kCorrupt;
  return Result::kOk;
}

void MessageInflater::ReleaseIfLarge() {
  if (output_.capacity() > kKeepOutputBytes) std::string().swap(output_);
  size_ = 0;
}

}  // namespace wsbridge::ws
