#include "api/call_counting_interceptor.h"

#include <google/protobuf/descriptor.h>

#include "wsbridge/v1/bridge.pb.h"

namespace wsbridge {
namespace {

class CallCountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallCountingInterceptor(metrics::CallMetrics& metrics, size_t method)
      : metrics_(metrics), method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_.CountCall(method_, static_cast<int>(methods->GetSendStatus().error_code()));
    }
    methods->Proceed();
  }

 private:
  metrics::CallMetrics& metrics_;
  const size_t method_;
};

}  // namespace

std::vector<std::string> ServedMethodPaths() {
  std::vector<std::string> paths;
  const google::protobuf::ServiceDescriptor* bridge =
      v1::PushRequest::descriptor()->file()->FindServiceByName("Bridge");
  for (int i = 0; i < bridge->method_count(); ++i) {
    paths.push_back("/" + bridge->full_name() + "/" + bridge->method(i)->name());
  }
  paths.push_back("/grpc.health.v1.Health/Check");
  paths.push_back("/grpc.health.v1.Health/Watch");
  paths.push_back("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
  paths.push_back("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
  return paths;
}

grpc::experimental::Interceptor* CallCountingInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const char* method = info->method();
  return new CallCountingInterceptor(
      metrics_, method != nullptr ? metrics_.MethodIndex(method) : metrics_.methods().size());
}

}  // namespace wsbridge
