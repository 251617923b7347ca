#include "server/rpc/grpc_status.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/ops/error_reason.h"
#include "server/upstream/retry_after.h"

namespace tokenservice {

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable &&
      status.code() != absl::StatusCode::kResourceExhausted) {
    return std::nullopt;
  }
  if (std::optional<absl::Duration> asked = RetryAfter(status)) {
    return std::max(*asked, absl::ZeroDuration());
  }
  if (ErrorReason(status) == kReasonServerShuttingDown) {
    return absl::ZeroDuration();
  }
  return kDefaultRetryDelay;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::ErrorInfo info;
  std::string reason = ErrorReason(status);
  if (reason.empty()) reason = absl::StatusCodeToString(status.code());
  info.set_reason(reason);
  info.set_domain(kErrorDomain);
  for (const auto& [key, value] : ErrorMetadata(status)) {
    (*info.mutable_metadata())[key] = value;
  }
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  details.add_details()->PackFrom(info);
  if (std::optional<absl::Duration> delay = RetryDelay(status)) {
    google::rpc::RetryInfo retry;
    const int64_t ms = absl::ToInt64Milliseconds(*delay);
    retry.mutable_retry_delay()->set_seconds(ms / 1000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(ms % 1000) *
                                           1000000);
    details.add_details()->PackFrom(retry);
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()),
                      details.SerializeAsString());
}

}  // namespace tokenservice
