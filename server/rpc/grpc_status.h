// The one place where an absl::Status becomes a grpc::Status.
//
// Every non-OK status leaves the service with google.rpc.Status details
// (the grpc-status-details-bin trailer) holding one google.rpc.ErrorInfo:
// reason from the Status's reason payload (error_reason.h), or, when code
// that made the Status set none, the code's name (e.g. "INTERNAL") so that
// no reason is ever missing; domain kErrorDomain; metadata from the
// Status's metadata payloads. docs/errors.md lists the reasons.

#ifndef SERVER_RPC_GRPC_STATUS_H_
#define SERVER_RPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tokenservice {

// google.rpc.ErrorInfo.domain of every error the service returns.
inline constexpr char kErrorDomain[] = "tokenservice";

// Same code (the two enums share their numbering) and message, plus the
// details described above.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace tokenservice

#endif  // SERVER_RPC_GRPC_STATUS_H_
