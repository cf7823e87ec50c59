// StaticFiles: the files of --static_dir, as the WebSocket port serves them at every path other
// than --ws_path (a demo page and its socket on one origin). Three parts, so the rules that keep
// a request inside the directory are tested without a file system:
//   StaticRelativePath  request target -> path relative to the directory (pure)
//   StaticContentType   file name -> Content-Type (pure)
//   StaticFiles::Read   relative path -> the bytes of a regular file under the directory
//
// The URL may not climb out: each '/'-separated segment is percent-decoded once on its own, and
// a segment that is empty ("//"), "." or "..", or that holds '/', '\' or NUL once decoded
// ("%2e%2e", "%2f", "%5c", "%00") is refused. Double encoding stays literal ("%252e%252e" names a
// file called "%2e%2e"). What the operator put in the directory is trusted: symlinks in it are
// followed, as nginx does by default.
//
// Thread-safety: StaticFiles is immutable after Create(); Read() is const and safe from any
// thread. It reads the file synchronously (bounded by max_file_bytes), so a caller on an I/O
// thread blocks that thread for one local read. The free functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wsbridge {

// The path under the static directory that `target` (origin form: "/a/b.js?v=1") names. The
// query is ignored; a path ending in '/' ("/", "/docs/") names that directory's index.html.
// INVALID_ARGUMENT (an HTTP 400) naming the rule for a path that does not start with '/', a
// malformed percent-encoding, or a refused segment (see the header comment).
absl::StatusOr<std::string> StaticRelativePath(absl::string_view target);

// Content-Type for a file name, by its extension (case-insensitive): text types carry
// "; charset=utf-8"; an unknown extension is application/octet-stream.
std::string StaticContentType(absl::string_view file_name);

// One file, read whole.
struct StaticFile {
  std::string content;
  std::string content_type;
  // A strong validator made from size and modification time: cheap, and it changes when the
  // file is rewritten.
  std::string etag;
};

class StaticFiles {
 public:
  static constexpr uint64_t kDefaultMaxFileBytes = uint64_t{16} << 20;

  // INVALID_ARGUMENT when `directory` is not a directory that can be opened.
  static absl::StatusOr<StaticFiles> Create(std::string directory,
                                            uint64_t max_file_bytes = kDefaultMaxFileBytes);

  // The file at `relative_path` (from StaticRelativePath). A directory means its index.html.
  // NOT_FOUND: missing, or not a regular file (a FIFO or device is never opened for blocking
  // reads). RESOURCE_EXHAUSTED: larger than max_file_bytes. INTERNAL: a read error.
  absl::StatusOr<StaticFile> Read(absl::string_view relative_path) const;

  const std::string& directory() const { return directory_; }

 private:
  StaticFiles(std::string directory, uint64_t max_file_bytes)
      : directory_(std::move(directory)), max_file_bytes_(max_file_bytes) {}

  std::string directory_;
  uint64_t max_file_bytes_;
};

}  // namespace wsbridge
