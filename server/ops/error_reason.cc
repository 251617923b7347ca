#include "server/ops/error_reason.h"

#include <map>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tokenservice {

absl::Status WithReason(absl::Status status, absl::string_view reason) {
  if (status.ok()) return status;
  status.SetPayload(kErrorReasonPayload, absl::Cord(reason));
  return status;
}

std::string ErrorReason(const absl::Status& status) {
  absl::optional<absl::Cord> reason = status.GetPayload(kErrorReasonPayload);
  if (!reason.has_value()) return "";
  return std::string(*reason);
}

absl::Status WithErrorMetadata(absl::Status status, absl::string_view key,
                               absl::string_view value) {
  if (status.ok()) return status;
  status.SetPayload(absl::StrCat(kErrorMetadataPayloadPrefix, key),
                    absl::Cord(value));
  return status;
}

std::map<std::string, std::string> ErrorMetadata(const absl::Status& status) {
  std::map<std::string, std::string> metadata;
  status.ForEachPayload(
      [&metadata](absl::string_view type_url, const absl::Cord& value) {
        if (absl::ConsumePrefix(&type_url, kErrorMetadataPayloadPrefix)) {
          metadata[std::string(type_url)] = std::string(value);
        }
      });
  return metadata;
}

}  // namespace tokenservice
