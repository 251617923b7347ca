// The one place where an absl::Status becomes a grpc::Status.

#ifndef SERVER_GRPC_STATUS_H_
#define SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tokenservice {

// Same code (the two enums share their numbering) and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace tokenservice

#endif  // SERVER_GRPC_STATUS_H_
