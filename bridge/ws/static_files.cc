#include "ws/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/percent_decoding.h"

namespace wsbridge {

namespace {

absl::Status Refused(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bad path: ", why));
}

// A descriptor closed however the read ends.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> StaticRelativePath(absl::string_view target) {
  const absl::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path[0] != '/') return Refused("does not start with '/'");
  std::vector<absl::string_view> segments = absl::StrSplit(path.substr(1), '/');
  // "/a/" ends in an empty segment: the directory's index.html.
  const bool names_directory = segments.back().empty();
  if (names_directory) segments.pop_back();
  std::string relative;
  for (absl::string_view raw : segments) {
    if (raw.empty()) return Refused("empty segment");
    // Decoded once; '+' stays '+': in a path it is not a space.
    absl::StatusOr<std::string> segment = PercentDecode(raw, PlusSign::kLiteral);
    if (!segment.ok()) return Refused("malformed percent-encoding");
    if (*segment == "." || *segment == "..") return Refused("'.' or '..' segment");
    if (segment->find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
      return Refused("'/', '\\' or NUL inside a segment");
    }
    if (!relative.empty()) relative.push_back('/');
    relative.append(*segment);
  }
  if (names_directory) {
    if (!relative.empty()) relative.push_back('/');
    relative.append("index.html");
  }
  return relative;
}

std::string StaticContentType(absl::string_view file_name) {
  const size_t slash = file_name.rfind('/');
  const absl::string_view base =
      slash == absl::string_view::npos ? file_name : file_name.substr(slash + 1);
  const size_t dot = base.rfind('.');
  const std::string extension =
      dot == absl::string_view::npos ? "" : absl::AsciiStrToLower(base.substr(dot + 1));
  struct Type {
    const char* extension;
    const char* content_type;
  };
  static constexpr Type kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json; charset=utf-8"},
      {"map", "application/json; charset=utf-8"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml; charset=utf-8"},
      {"png", "image/png"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
  };
  for (const Type& type : kTypes) {
    if (extension == type.extension) return type.content_type;
  }
  return "application/octet-stream";
}

absl::StatusOr<StaticFiles> StaticFiles::Create(std::string directory, uint64_t max_file_bytes) {
  struct stat info;
  if (::stat(directory.c_str(), &info) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(directory, ": ", std::strerror(errno)));
  }
  if (!S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(directory, ": not a directory"));
  }
  while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
  return StaticFiles(std::move(directory), max_file_bytes);
}

absl::StatusOr<StaticFile> StaticFiles::Read(absl::string_view relative_path) const {
  std::string path = absl::StrCat(directory_, "/", relative_path);
  std::string name(relative_path);
  // O_NONBLOCK: opening a FIFO someone left in the directory must not wait for a writer; the
  // fstat below then refuses it. It has no effect on reads of a regular file.
  auto open = [](const std::string& p) {
    return FileDescriptor(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  };
  FileDescriptor fd = open(path);
  struct stat info;
  if (fd.get() < 0 || ::fstat(fd.get(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat(relative_path, ": not found"));
  }
  std::optional<FileDescriptor> index;
  if (S_ISDIR(info.st_mode)) {
    // A directory named without its trailing slash: its index.html.
    path.append("/index.html");
    name.append("/index.html");
    index.emplace(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (index->get() < 0 || ::fstat(index->get(), &info) != 0) {
      return absl::NotFoundError(absl::StrCat(relative_path, ": not found"));
    }
  }
  const int file = index.has_value() ? index->get() : fd.get();
  if (!S_ISREG(info.st_mode)) {
    return absl::NotFoundError(absl::StrCat(relative_path, ": not a regular file"));
  }
  if (static_cast<uint64_t>(info.st_size) > max_file_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat(relative_path, ": ", info.st_size,
                                                     " bytes, over the cap of ", max_file_bytes_));
  }
  StaticFile result;
  result.content.resize(static_cast<size_t>(info.st_size));
  size_t done = 0;
  while (done < result.content.size()) {
    const ssize_t n = ::read(file, result.content.data() + done, result.content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(absl::StrCat(relative_path, ": ", std::strerror(errno)));
    }
    if (n == 0) break;  // shrank while we read: serve what is there
    done += static_cast<size_t>(n);
  }
  result.content.resize(done);
  result.content_type = StaticContentType(name);
  result.etag = absl::StrFormat("\"%x-%x-%x\"", static_cast<uint64_t>(info.st_size),
                                static_cast<int64_t>(info.st_mtim.tv_sec),
                                static_cast<int64_t>(info.st_mtim.tv_nsec));
  return result;
}

}  // namespace wsbridge
