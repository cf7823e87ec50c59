// Connection: the one channel bridgectl opens to the bridge, and the ClientContexts its calls
// use: TLS credentials (roots, client certificate) read from the files the flags name, the API
// key as `x-api-key` metadata on every call, and the --timeout deadline on unary calls.
//
// Thread-safety: the stub is safe from any thread (gRPC's contract); each ClientContext belongs
// to one call.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "command_line.h"
#include "wsbridge/v1/bridge.grpc.pb.h"

namespace wsbridge::cli {

class Connection {
 public:
  // Creates the channel (it connects on the first call). Fails with INVALID_ARGUMENT naming the
  // file when a TLS file cannot be read: a usage error.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ConnectionOptions& options);

  v1::Bridge::Stub& stub() { return *stub_; }
  // A context with the API key and the --timeout deadline.
  std::unique_ptr<grpc::ClientContext> UnaryContext() const;
  // A context with the API key and no deadline: streams run until they end or are cancelled.
  std::unique_ptr<grpc::ClientContext> StreamContext() const;

 private:
  explicit Connection(const ConnectionOptions& options, std::shared_ptr<grpc::Channel> channel);

  const ConnectionOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Bridge::Stub> stub_;
};

}  // namespace wsbridge::cli
