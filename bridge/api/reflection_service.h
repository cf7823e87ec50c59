// Server reflection (grpc.reflection.v1 and v1alpha), so grpcurl and similar tools list and call
// the bridge's services without proto files. Our own implementation rather than gRPC's plugin,
// because reflection must require the API key like every other non-health service: a caller
// without the key gets UNAUTHENTICATED before any descriptor.
//
// Descriptors come from the process's generated pool (every service the bridge serves is
// compiled in from proto/). Each response to a file request carries the file and all of its
// transitive dependencies.
//
// Thread-safety: immutable after construction; each stream is its own reactor, driven by gRPC.
#pragma once

#include <string>
#include <vector>

#include "api/api_key_check.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace wsbridge {

class ReflectionService final : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  // `services`: full names of the services this server answers.
  ReflectionService(std::vector<std::string> services, const ApiKeyCheck& api_key);

  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

 private:
  const std::vector<std::string> services_;
  const ApiKeyCheck& api_key_;
};

class ReflectionServiceV1Alpha final
    : public grpc::reflection::v1alpha::ServerReflection::CallbackService {
 public:
  ReflectionServiceV1Alpha(std::vector<std::string> services, const ApiKeyCheck& api_key);

  grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                          grpc::reflection::v1alpha::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

 private:
  const std::vector<std::string> services_;
  const ApiKeyCheck& api_key_;
};

}  // namespace wsbridge
