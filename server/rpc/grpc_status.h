// The one place where an absl::Status becomes a grpc::Status.
//
// Every non-OK status leaves the service with google.rpc.Status details
// (the grpc-status-details-bin trailer) holding one google.rpc.ErrorInfo:
// reason from the Status's reason payload (error_reason.h), or, when code
// that made the Status set none, the code's name (e.g. "INTERNAL") so that
// no reason is ever missing; domain kErrorDomain; metadata from the
// Status's metadata payloads. docs/errors.md lists the reasons.
//
// A retryable error (UNAVAILABLE, RESOURCE_EXHAUSTED) says when to retry,
// twice: as a google.rpc.RetryInfo beside the ErrorInfo (for programs and
// grpcurl), and, added by the RPC layer (rpc_call.h), as gRPC's
// grpc-retry-pushback-ms trailer, which a channel's retry policy
// (docs/clients.md) waits before its next attempt. The delay is the one
// myPOS's Retry-After asked for when it sent one (retry_after.h), none for
// a replica shutting down (the retry goes to another replica at once), and
// kDefaultRetryDelay otherwise: the server has already retried myPOS with
// backoff, and a queue that is full does not drain faster than that.

#ifndef SERVER_RPC_GRPC_STATUS_H_
#define SERVER_RPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tokenservice {

// google.rpc.ErrorInfo.domain of every error the service returns.
inline constexpr char kErrorDomain[] = "tokenservice";

inline constexpr absl::Duration kDefaultRetryDelay = absl::Seconds(1);

// The trailer gRPC's client retries honour (gRFC A6), in milliseconds.
inline constexpr char kRetryPushbackKey[] = "grpc-retry-pushback-ms";

// When to retry `status`, as described above; nullopt when it is not
// retryable (or OK).
std::optional<absl::Duration> RetryDelay(const absl::Status& status);

// Same code (the two enums share their numbering) and message, plus the
// details described above.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace tokenservice

#endif  // SERVER_RPC_GRPC_STATUS_H_
