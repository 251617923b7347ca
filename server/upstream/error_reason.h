// Machine-readable error reasons carried on an absl::Status.
//
// Below the RPC layer a Status code says what a caller should do; the reason
// says why, in an UPPER_SNAKE word that the gRPC adapter copies into
// google.rpc.ErrorInfo.reason so that programs can branch on it. The reason
// travels as a Status payload under kErrorReasonPayload.

#ifndef SERVER_UPSTREAM_ERROR_REASON_H_
#define SERVER_UPSTREAM_ERROR_REASON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tokenservice {

inline constexpr char kErrorReasonPayload[] =
    "type.googleapis.com/tokenservice.ErrorReason";

// The reasons set by the upstream layer.
// myPOS rejected the client credentials or the client (not retryable).
inline constexpr char kReasonCredentialsRejected[] = "CREDENTIALS_REJECTED";
// myPOS rejected the requested scope.
inline constexpr char kReasonInvalidScope[] = "INVALID_SCOPE";
// myPOS rejected the request for another reason (not retryable).
inline constexpr char kReasonBadRequest[] = "BAD_REQUEST";
// myPOS could not be reached, timed out or failed (retryable).
inline constexpr char kReasonUpstreamUnavailable[] = "UPSTREAM_UNAVAILABLE";
// myPOS answered 429 (retryable, after backing off).
inline constexpr char kReasonUpstreamRateLimited[] = "UPSTREAM_RATE_LIMITED";
// myPOS answered with a reply that is not a usable token (retryable).
inline constexpr char kReasonUpstreamBadReply[] = "UPSTREAM_BAD_REPLY";

// Returns `status` with its reason set to `reason`, replacing any earlier
// one. An OK status is returned unchanged (it cannot carry payloads).
absl::Status WithReason(absl::Status status, absl::string_view reason);

// The reason set by WithReason, or "" when `status` has none.
std::string ErrorReason(const absl::Status& status);

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_ERROR_REASON_H_
