// GrpcCertificateStage: the gRPC port's certificate, key and client CA bundle (--grpc_tls_cert,
// --grpc_tls_key, --grpc_tls_client_ca) as a certificate provider that SIGHUP can reload.
//
// gRPC 1.51 (Debian 12) has no certificate provider that can be told "reload now": its one
// reloading provider, FileWatcherCertificateProvider, polls files on its own thread. So the
// operator's files are not what gRPC watches. Start and Reload() read them, check that they make a
// usable server context (the key matches the certificate, the CA bundle parses: the checks the
// WebSocket port applies, ws/tls_context.h), and only then copy them into a private directory
// (mode 0700 under $TMPDIR or /tmp, files 0600, removed by the destructor) that the file watcher
// polls every second. The staged files change only when Reload() succeeds: a reload takes effect
// for new gRPC connections within a second of SIGHUP, and a half-renewed or broken file on disk
// never reaches gRPC. Connections already open (Events streams, PushStream) keep the TLS session
// they have.
//
// The key and the certificate chain are staged as ONE file ("identity.pem": key, then chain) that
// gRPC reads as both: the file watcher reads the key and the chain one after the other, so with
// two files a poll between two renames could pair the new key with the old chain; one file is
// replaced by one rename.
//
// Thread-safety: Create() and Reload() from one controlling thread (main's signal loop, or a
// test); gRPC's file watcher thread only reads the staged files, each of which is replaced by an
// atomic rename.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpc::experimental {
class CertificateProviderInterface;
}  // namespace grpc::experimental

namespace wsbridge {

// The operator's files (paths as given on the command line).
struct GrpcTlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;  // empty: no client certificates asked for
};

class GrpcCertificateStage {
 public:
  // How often gRPC's file watcher reads the staged files: the delay between a successful
  // Reload() and new connections presenting the new certificate.
  static constexpr unsigned kPollSeconds = 1;

  // Checks and stages `files`. INVALID_ARGUMENT naming the flag and the file when they do not
  // make a usable certificate; INTERNAL when the private directory cannot be written.
  static absl::StatusOr<std::unique_ptr<GrpcCertificateStage>> Create(GrpcTlsFiles files);
  ~GrpcCertificateStage();
  GrpcCertificateStage(const GrpcCertificateStage&) = delete;
  GrpcCertificateStage& operator=(const GrpcCertificateStage&) = delete;

  // Reads the operator's files again and stages them if they are usable; otherwise what is
  // staged stays and the error names the flag and says why.
  absl::Status Reload();

  // gRPC's provider, watching the staged files (identity always; roots when a client CA is set).
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider() const {
    return provider_;
  }
  // Where the files are staged (tests look; operators see it in the start log line).
  const std::string& directory() const { return directory_; }

 private:
  GrpcCertificateStage(GrpcTlsFiles files, std::string directory);
  std::string identity_path() const;
  std::string client_ca_path() const;

  const GrpcTlsFiles files_;
  const std::string directory_;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider_;
};

}  // namespace wsbridge
