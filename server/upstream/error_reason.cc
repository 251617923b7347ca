#include "server/upstream/error_reason.h"

#include <string>

#include "absl/strings/cord.h"

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

}  // namespace tokenservice
