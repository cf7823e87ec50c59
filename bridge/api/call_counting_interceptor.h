// CallCountingInterceptor: a gRPC server interceptor that counts every finished call by method
// and status code into metrics::CallMetrics (wsbridge_grpc_calls_total), whichever service
// answers it (Bridge, health, reflection) and however it ends (our handlers' statuses, the API
// key check, draining, gRPC's own errors), without a line in each handler. One relaxed atomic
// increment per call, when its status is sent.
//
// Thread-safety: gRPC creates one interceptor per call and runs its hooks on its own threads;
// the interceptor holds only the method index and a reference to the thread-safe CallMetrics.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

#include "metrics/call_metrics.h"

namespace wsbridge {

// The full paths ("/package.Service/Method") of every method a node serves: wsbridge.v1.Bridge's
// (from its descriptor), grpc.health.v1.Health's and server reflection's (v1 and v1alpha).
std::vector<std::string> ServedMethodPaths();

class CallCountingInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // REQUIRES: `metrics` outlives the gRPC server.
  explicit CallCountingInterceptorFactory(metrics::CallMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  metrics::CallMetrics& metrics_;
};

}  // namespace wsbridge
