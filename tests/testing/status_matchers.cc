#include "tests/testing/status_matchers.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace tokenservice {
namespace testing_internal {

GrpcErrorInfo ErrorInfoOf(const grpc::Status& status) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return {};
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return {info.reason(), info.domain()};
  }
  return {};
}

}  // namespace testing_internal
}  // namespace tokenservice
