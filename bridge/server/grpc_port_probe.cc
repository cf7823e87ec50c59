#include "server/grpc_port_probe.h"

#include <chrono>
#include <utility>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace wsbridge {

GrpcPortProbe::GrpcPortProbe(absl::Duration interval, absl::Duration timeout)
    : interval_(interval), timeout_(timeout) {}

GrpcPortProbe::~GrpcPortProbe() { Stop(); }

void GrpcPortProbe::Start(std::string target, bool tls) {
  target_ = std::move(target);
  tls_ = tls;
  thread_ = std::thread([this] { Run(); });
}

void GrpcPortProbe::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::string GrpcPortProbe::NotAcceptingReason() const {
  absl::MutexLock lock(&mutex_);
  return reason_;
}

void GrpcPortProbe::Run() {
  int failures_in_a_row = 0;
  do {
    std::string failure = ProbeOnce();
    failures_in_a_row = failure.empty() ? 0 : failures_in_a_row + 1;
    std::string reason;
    if (failures_in_a_row >= 2) {
      reason = absl::StrCat("gRPC port ", target_, " is not accepting connections (", failure, ")");
    }
    absl::MutexLock lock(&mutex_);
    if (reason.empty() != reason_.empty()) {
      if (reason.empty()) {
        spdlog::info("gRPC port {} accepts connections again", target_);
      } else {
        spdlog::error("{}: readiness fails until it does", reason);
      }
    }
    reason_ = std::move(reason);
  } while (!stop_.WaitForNotificationWithTimeout(interval_));
}

std::string GrpcPortProbe::ProbeOnce() const {
  grpc::ChannelArguments args;
  // A subchannel pool of its own: the probe must open a new connection, which only a listener
  // that still accepts can complete; a connection shared with an earlier channel proves nothing.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls_) {
    grpc::experimental::TlsChannelCredentialsOptions options;
    options.set_verify_server_certs(false);
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
    credentials = grpc::experimental::TlsCredentials(options);
  }
  auto channel = grpc::CreateCustomChannel(target_, credentials, args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout_));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::StrCat("health check on a new connection: ", status.error_message());
  }
  return "";
}

}  // namespace wsbridge
