#include "server/grpc_certificate_stage.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <system_error>
#include <utility>

#include <grpcpp/security/tls_certificate_provider.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "ws/tls_context.h"

namespace wsbridge {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  return contents;
}

// Writes `contents` to a new file `path` (mode 0600), replacing any file of that name.
absl::Status WriteNewFile(const std::string& path, std::string_view contents) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", ErrnoText(errno)));
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", ErrnoText(error)));
    }
    written += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::Status RenameOver(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", from, " to ", to, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

GrpcCertificateStage::GrpcCertificateStage(GrpcTlsFiles files, std::string directory)
    : files_(std::move(files)), directory_(std::move(directory)) {}

GrpcCertificateStage::~GrpcCertificateStage() {
  provider_.reset();  // its watcher thread stops (if gRPC let go of it) before the files go
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

std::string GrpcCertificateStage::identity_path() const { return directory_ + "/identity.pem"; }
std::string GrpcCertificateStage::client_ca_path() const { return directory_ + "/client_ca.pem"; }

absl::StatusOr<std::unique_ptr<GrpcCertificateStage>> GrpcCertificateStage::Create(
    GrpcTlsFiles files) {
  std::error_code error;
  std::filesystem::path temp = std::filesystem::temp_directory_path(error);
  if (error) temp = "/tmp";
  std::string pattern = (temp / "wsbridge-grpc-tls-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot make a directory for gRPC's certificates (",
                                            pattern, "): ", ErrnoText(errno)));
  }
  std::unique_ptr<GrpcCertificateStage> stage(
      new GrpcCertificateStage(std::move(files), std::move(pattern)));
  if (absl::Status staged = stage->Reload(); !staged.ok()) return staged;
  stage->provider_ = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      stage->identity_path(), stage->identity_path(),
      stage->files_.client_ca.empty() ? "" : stage->client_ca_path(), kPollSeconds);
  return stage;
}

absl::Status GrpcCertificateStage::Reload() {
  const std::string flags = files_.client_ca.empty()
                                ? "--grpc_tls_cert/--grpc_tls_key"
                                : "--grpc_tls_cert/--grpc_tls_key/--grpc_tls_client_ca";
  auto refused = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(flags, ": ", why));
  };
  // The operator's files, checked where they are (so errors name them)...
  if (auto usable = ws::MakeServerSslContext(files_.cert, files_.key, files_.client_ca);
      !usable.ok()) {
    return refused(usable.status().message());
  }
  absl::StatusOr<std::string> key = ReadWholeFile(files_.key);
  if (!key.ok()) return refused(key.status().message());
  absl::StatusOr<std::string> chain = ReadWholeFile(files_.cert);
  if (!chain.ok()) return refused(chain.status().message());
  absl::StatusOr<std::string> client_ca =
      files_.client_ca.empty() ? std::string() : ReadWholeFile(files_.client_ca);
  if (!client_ca.ok()) return refused(client_ca.status().message());

  // ...then what was read, written beside the staged files and checked again as gRPC will read
  // it (the files may have changed between the check and the read), then renamed into place.
  const std::string identity_next = identity_path() + ".next";
  const std::string client_ca_next = client_ca_path() + ".next";
  std::string identity = std::move(*key);
  if (!identity.empty() && identity.back() != '\n') identity.push_back('\n');
  identity += *chain;
  if (absl::Status written = WriteNewFile(identity_next, identity); !written.ok()) return written;
  if (!files_.client_ca.empty()) {
    if (absl::Status written = WriteNewFile(client_ca_next, *client_ca); !written.ok()) {
      return written;
    }
  }
  if (auto staged = ws::MakeServerSslContext(identity_next, identity_next,
                                             files_.client_ca.empty() ? "" : client_ca_next);
      !staged.ok()) {
    ::unlink(identity_next.c_str());
    ::unlink(client_ca_next.c_str());
    return refused(absl::StrCat("the files changed while they were read (",
                                staged.status().message(), "); try again"));
  }
  if (!files_.client_ca.empty()) {
    if (absl::Status renamed = RenameOver(client_ca_next, client_ca_path()); !renamed.ok()) {
      return renamed;
    }
  }
  return RenameOver(identity_next, identity_path());
}

}  // namespace wsbridge
