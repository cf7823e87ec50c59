// What operators and tools see: gRPC health, server reflection (what grpcurl uses), the API key,
// the admin HTTP port, and how all of them behave while the node drains.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.pb.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "support/test_bridge.h"

namespace wsbridge::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

grpc::health::v1::HealthCheckResponse::ServingStatus Health(TestBridge& bridge) {
  auto stub = grpc::health::v1::Health::NewStub(bridge.channel());
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(CallContext().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.status();
}

// One reflection request/response exchange, as grpcurl does it.
template <class Service, class Request, class Response>
grpc::Status Reflect(TestBridge& bridge, const Request& request, Response* response,
                     const std::string& api_key = "") {
  auto stub = Service::NewStub(bridge.channel());
  auto context = CallContext();
  if (!api_key.empty()) context->AddMetadata("x-api-key", api_key);
  auto stream = stub->ServerReflectionInfo(context.get());
  stream->Write(request);
  stream->WritesDone();
  while (stream->Read(response)) {
  }
  return stream->Finish();
}

TEST(GrpcServicesTest, HealthIsServing) {
  TestBridge bridge;
  EXPECT_EQ(Health(bridge), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(GrpcServicesTest, ReflectionListsServicesAndDescribesTheBridgeApi) {
  TestBridge bridge;
  grpc::reflection::v1::ServerReflectionRequest list;
  list.set_list_services("");
  grpc::reflection::v1::ServerReflectionResponse listed;
  ASSERT_TRUE((Reflect<grpc::reflection::v1::ServerReflection>(bridge, list, &listed)).ok());
  std::vector<std::string> names;
  for (const auto& service : listed.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names, Contains("wsbridge.v1.Bridge"));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));

  // grpcurl's "describe": the file that holds the service, with its dependencies.
  grpc::reflection::v1alpha::ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol("wsbridge.v1.Bridge");
  grpc::reflection::v1alpha::ServerReflectionResponse described;
  ASSERT_TRUE(
      (Reflect<grpc::reflection::v1alpha::ServerReflection>(bridge, symbol, &described)).ok());
  std::vector<std::string> files;
  bool found_bridge = false;
  for (const std::string& bytes : described.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    files.push_back(file.name());
    if (file.name() != "wsbridge/v1/bridge.proto") continue;
    ASSERT_EQ(file.service_size(), 1);
    std::vector<std::string> methods;
    for (const auto& method : file.service(0).method()) methods.push_back(method.name());
    EXPECT_THAT(methods,
                ::testing::IsSupersetOf({"Push", "Broadcast", "Subscribe", "Unsubscribe",
                                         "Disconnect", "GetSession", "ListSessions", "Events"}));
    found_bridge = true;
  }
  EXPECT_TRUE(found_bridge);
  EXPECT_THAT(files, Contains("google/protobuf/timestamp.proto"));

  grpc::reflection::v1::ServerReflectionRequest unknown;
  unknown.set_file_containing_symbol("no.such.Symbol");
  grpc::reflection::v1::ServerReflectionResponse not_found;
  ASSERT_TRUE((Reflect<grpc::reflection::v1::ServerReflection>(bridge, unknown, &not_found)).ok());
  EXPECT_EQ(not_found.error_response().error_code(), grpc::StatusCode::NOT_FOUND);
}

class ApiKeyTest : public ::testing::Test {
 protected:
  grpc::Status PushWith(const std::string& header, const std::string& value) {
    v1::PushRequest request;
    request.add_user_ids("anyone");
    request.mutable_message()->set_text("x");
    v1::PushResponse response;
    auto context = CallContext();
    if (!header.empty()) context->AddMetadata(header, value);
    return bridge_.api().Push(context.get(), request, &response);
  }
  TestBridge bridge_{[](Config& config) { config.api.api_key = "s3cret-key"; }};
};

TEST_F(ApiKeyTest, CallsWithoutTheRightKeyAreUnauthenticated) {
  grpc::Status missing = PushWith("", "");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.error_message(), HasSubstr("missing API key"));
  grpc::Status wrong = PushWith("x-api-key", "guess");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), HasSubstr("wrong API key"));
  EXPECT_EQ(PushWith("authorization", "Bearer guess").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  EXPECT_TRUE(PushWith("x-api-key", "s3cret-key").ok());
  EXPECT_TRUE(PushWith("authorization", "Bearer s3cret-key").ok());
}

TEST_F(ApiKeyTest, HealthIsExemptButReflectionIsNot) {
  EXPECT_EQ(Health(bridge_), grpc::health::v1::HealthCheckResponse::SERVING);

  grpc::reflection::v1::ServerReflectionRequest list;
  list.set_list_services("");
  grpc::reflection::v1::ServerReflectionResponse listed;
  grpc::Status without_key =
      Reflect<grpc::reflection::v1::ServerReflection>(bridge_, list, &listed);
  EXPECT_EQ(without_key.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status with_key =
      Reflect<grpc::reflection::v1::ServerReflection>(bridge_, list, &listed, "s3cret-key");
  EXPECT_TRUE(with_key.ok()) << with_key.error_message();
  EXPECT_GT(listed.list_services_response().service_size(), 0);
}

TEST(AdminTest, HealthzReadyzAndMetrics) {
  TestBridge bridge;
  auto browser = bridge.ConnectAnonymous();
  ASSERT_TRUE(browser);
  EXPECT_EQ(HttpGet(bridge.admin_port(), "/healthz").status, 200u);
  EXPECT_EQ(HttpGet(bridge.admin_port(), "/readyz").status, 200u);
  auto [status, metrics] = HttpGet(bridge.admin_port(), "/metrics");
  EXPECT_EQ(status, 200u);
  EXPECT_THAT(metrics, HasSubstr("# TYPE wsbridge_sessions gauge"));
  EXPECT_THAT(metrics, HasSubstr("\nwsbridge_sessions 1\n"));
  EXPECT_EQ(HttpGet(bridge.admin_port(), "/nope").status, 404u);
}

TEST(DrainTest, WhileDrainingReadinessHealthAndApiSayUnavailable) {
  TestBridge bridge([](Config& config) { config.session.close_timeout = absl::Seconds(3); });
  // A browser that does not answer the close handshake keeps the drain going for a while.
  auto stubborn = bridge.ConnectUser("stubborn", "", /*start_reading=*/false);
  ASSERT_TRUE(stubborn);
  std::thread drain([&] { bridge.server().Shutdown(absl::Seconds(3)); });

  EXPECT_TRUE(Eventually([&] { return HttpGet(bridge.admin_port(), "/readyz").status == 503u; }));
  EXPECT_EQ(Health(bridge), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  v1::PushRequest request;
  request.add_user_ids("stubborn");
  request.mutable_message()->set_text("x");
  v1::PushResponse response;
  grpc::Status status = bridge.api().Push(CallContext().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("draining"));
  drain.join();

  // The stubborn browser was sent 1001 before the node let it go.
  stubborn->StartReading();
  auto close = stubborn->WaitClosed();
  ASSERT_TRUE(close.has_value());
  EXPECT_TRUE(close->code == 1001 || close->code == 1006) << close->code;
}

}  // namespace
}  // namespace wsbridge::testing
