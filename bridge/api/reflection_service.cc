#include "api/reflection_service.h"

#include <set>
#include <utility>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include "api/grpc_status.h"

namespace wsbridge {
namespace {

namespace protobuf = google::protobuf;

// Answers one reflection stream: reads a request, writes its response, reads the next.
// Request/Response are the v1 or the v1alpha messages (identical shapes).
template <class Request, class Response>
class ReflectionReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  ReflectionReactor(const std::vector<std::string>& services, absl::Status admitted)
      : services_(services) {
    if (!admitted.ok()) {
      this->Finish(ToGrpcStatus(admitted));
      return;
    }
    this->StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status::OK);  // the client closed its side
      return;
    }
    response_.Clear();
    Answer();
    this->StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "write failed"));
      return;
    }
    this->StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void Answer() {
    response_.set_valid_host(request_.host());
    *response_.mutable_original_request() = request_;
    const protobuf::DescriptorPool* pool = protobuf::DescriptorPool::generated_pool();
    switch (request_.message_request_case()) {
      case Request::kListServices:
        for (const std::string& name : services_) {
          response_.mutable_list_services_response()->add_service()->set_name(name);
        }
        return;
      case Request::kFileByFilename:
        return AnswerFile(pool->FindFileByName(request_.file_by_filename()),
                          "file " + request_.file_by_filename());
      case Request::kFileContainingSymbol:
        return AnswerFile(pool->FindFileContainingSymbol(request_.file_containing_symbol()),
                          "symbol " + request_.file_containing_symbol());
      case Request::kFileContainingExtension: {
        const auto& wanted = request_.file_containing_extension();
        const protobuf::Descriptor* type = pool->FindMessageTypeByName(wanted.containing_type());
        const protobuf::FieldDescriptor* extension =
            type == nullptr ? nullptr
                            : pool->FindExtensionByNumber(type, wanted.extension_number());
        return AnswerFile(extension == nullptr ? nullptr : extension->file(),
                          "extension " + std::to_string(wanted.extension_number()) + " of " +
                              wanted.containing_type());
      }
      case Request::kAllExtensionNumbersOfType: {
        const std::string& name = request_.all_extension_numbers_of_type();
        const protobuf::Descriptor* type = pool->FindMessageTypeByName(name);
        if (type == nullptr)
          return Error(grpc::StatusCode::NOT_FOUND, "type " + name + " not found");
        std::vector<const protobuf::FieldDescriptor*> extensions;
        pool->FindAllExtensions(type, &extensions);
        auto* numbers = response_.mutable_all_extension_numbers_response();
        numbers->set_base_type_name(name);
        for (const auto* extension : extensions) numbers->add_extension_number(extension->number());
        return;
      }
      default:
        return Error(grpc::StatusCode::INVALID_ARGUMENT, "unknown reflection request");
    }
  }

  void AnswerFile(const protobuf::FileDescriptor* file, const std::string& what) {
    if (file == nullptr) return Error(grpc::StatusCode::NOT_FOUND, what + " not found");
    std::set<std::string> sent;
    AddWithDependencies(file, sent);
  }

  void AddWithDependencies(const protobuf::FileDescriptor* file, std::set<std::string>& sent) {
    if (!sent.insert(file->name()).second) return;
    protobuf::FileDescriptorProto proto;
    file->CopyTo(&proto);
    proto.SerializeToString(
        response_.mutable_file_descriptor_response()->add_file_descriptor_proto());
    for (int i = 0; i < file->dependency_count(); ++i) {
      AddWithDependencies(file->dependency(i), sent);
    }
  }

  void Error(grpc::StatusCode code, const std::string& message) {
    response_.mutable_error_response()->set_error_code(static_cast<int32_t>(code));
    response_.mutable_error_response()->set_error_message(message);
  }

  const std::vector<std::string>& services_;
  Request request_;
  Response response_;
};

}  // namespace

ReflectionService::ReflectionService(std::vector<std::string> services, const ApiKeyCheck& api_key)
    : services_(std::move(services)), api_key_(api_key) {}

grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                        grpc::reflection::v1::ServerReflectionResponse>*
ReflectionService::ServerReflectionInfo(grpc::CallbackServerContext* context) {
  return new ReflectionReactor<grpc::reflection::v1::ServerReflectionRequest,
                               grpc::reflection::v1::ServerReflectionResponse>(
      services_, api_key_.Check(context->client_metadata()));
}

ReflectionServiceV1Alpha::ReflectionServiceV1Alpha(std::vector<std::string> services,
                                                   const ApiKeyCheck& api_key)
    : services_(std::move(services)), api_key_(api_key) {}

grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                        grpc::reflection::v1alpha::ServerReflectionResponse>*
ReflectionServiceV1Alpha::ServerReflectionInfo(grpc::CallbackServerContext* context) {
  return new ReflectionReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                               grpc::reflection::v1alpha::ServerReflectionResponse>(
      services_, api_key_.Check(context->client_metadata()));
}

}  // namespace wsbridge
