#include "common/names.h"
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"

namespace wsbridge {

absl::Status ValidateTopic(absl::string_view field, absl::string_view topic) {
  if (topic.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty topic"));
  if (topic.size() > kMaxTopicBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": topic is ", topic.size(), " bytes, the limit is ", kMaxTopicBytes));
  }
  for (unsigned char c : topic) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": topic contains a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty id"));
  if (id.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": id is ", id.size(), " bytes, the limit is ", kMaxIdBytes));
  }
  return absl::OkStatus();
}

}  // namespace wsbridge
