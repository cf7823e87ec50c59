#include "json_output.h"

#include <google/protobuf/util/json_util.h>

namespace wsbridge::cli {

std::string ToJsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  std::string json;
  // Printing a well-formed message only fails for Any with unknown types, which ours never hold.
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "{}";
  return json;
}

}  // namespace wsbridge::cli
