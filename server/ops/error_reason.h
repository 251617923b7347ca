// Machine-readable error reasons carried on an absl::Status.
//
// Below the RPC layer a Status code says what a caller should do; the reason
// says why, in an UPPER_SNAKE word that the gRPC adapter copies into
// google.rpc.ErrorInfo.reason so that programs can branch on it. The reason
// travels as a Status payload under kErrorReasonPayload; ErrorInfo metadata
// entries travel as payloads under kErrorMetadataPayloadPrefix + key.
// docs/errors.md lists every reason with its code.

#ifndef SERVER_OPS_ERROR_REASON_H_
#define SERVER_OPS_ERROR_REASON_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tokenservice {

inline constexpr char kErrorReasonPayload[] =
    "type.googleapis.com/tokenservice.ErrorReason";
inline constexpr char kErrorMetadataPayloadPrefix[] =
    "type.googleapis.com/tokenservice.ErrorMetadata/";

// The reasons set by the upstream layer.
// myPOS rejected the client credentials or the client (not retryable).
inline constexpr char kReasonCredentialsRejected[] = "CREDENTIALS_REJECTED";
// myPOS does not allow the profile's client the grant type asked for
// (unauthorized_client).
inline constexpr char kReasonUnauthorizedClient[] = "UNAUTHORIZED_CLIENT";
// myPOS rejected the requested scope.
inline constexpr char kReasonInvalidScope[] = "INVALID_SCOPE";
// myPOS rejected an authorization code or refresh token (invalid_grant).
inline constexpr char kReasonInvalidGrant[] = "INVALID_GRANT";
// myPOS rejected the request for another reason (not retryable).
inline constexpr char kReasonBadRequest[] = "BAD_REQUEST";
// myPOS could not be reached, timed out or failed (retryable).
inline constexpr char kReasonUpstreamUnavailable[] = "UPSTREAM_UNAVAILABLE";
// myPOS answered 429 (retryable, after backing off).
inline constexpr char kReasonUpstreamRateLimited[] = "UPSTREAM_RATE_LIMITED";
// myPOS answered with a reply that is not a usable token, or a reply body
// over the size cap.
inline constexpr char kReasonUpstreamBadReply[] = "UPSTREAM_BAD_REPLY";
// myPOS's TLS certificate could not be verified (check --ca_bundle_file).
inline constexpr char kReasonUpstreamTlsFailed[] = "UPSTREAM_TLS_FAILED";
// The caller's deadline passed before myPOS answered.
inline constexpr char kReasonDeadlineExceeded[] = "DEADLINE_EXCEEDED";

// The reasons set by the server above the upstream layer.
// The request names a credential profile the server does not have.
inline constexpr char kReasonProfileNotFound[] = "PROFILE_NOT_FOUND";
// No cached (or recently revoked) token has the fingerprint given.
inline constexpr char kReasonTokenNotFound[] = "TOKEN_NOT_FOUND";
// A request field breaks a limit; metadata "field" names it.
inline constexpr char kReasonInvalidRequest[] = "INVALID_REQUEST";
// myPOS issues tokens shorter-lived than the min_validity asked for.
inline constexpr char kReasonMinValidityUnsatisfiable[] =
    "MIN_VALIDITY_UNSATISFIABLE";
// Too many requests are already waiting for myPOS.
inline constexpr char kReasonUpstreamQueueFull[] = "UPSTREAM_QUEUE_FULL";
// The token fetched for the caller was revoked or reported rejected before
// it reached the caller, and so was its replacement.
inline constexpr char kReasonTokenRevoked[] = "TOKEN_REVOKED";
// A user's grant exchange may have reached myPOS, but no usable answer came
// back: the grant may be spent; do not send it again.
inline constexpr char kReasonUpstreamOutcomeUnknown[] =
    "UPSTREAM_OUTCOME_UNKNOWN";
// The server shut down before the call completed (after --shutdown_grace).
inline constexpr char kReasonServerShuttingDown[] = "SERVER_SHUTTING_DOWN";

// Returns `status` with its reason set to `reason`, replacing any earlier
// one. An OK status is returned unchanged (it cannot carry payloads).
absl::Status WithReason(absl::Status status, absl::string_view reason);

// The reason set by WithReason, or "" when `status` has none.
std::string ErrorReason(const absl::Status& status);

// Returns `status` with the ErrorInfo metadata entry `key` set to `value`
// (e.g. "field" -> "scopes[0]"). Never put a token or a secret here.
absl::Status WithErrorMetadata(absl::Status status, absl::string_view key,
                               absl::string_view value);

// Metadata key on a failed HTTP request: "false" when none of the request
// was sent, so the provider cannot have acted on it.
inline constexpr char kMetadataRequestSent[] = "request_sent";

// Every metadata entry set by WithErrorMetadata.
std::map<std::string, std::string> ErrorMetadata(const absl::Status& status);

}  // namespace tokenservice

#endif  // SERVER_OPS_ERROR_REASON_H_
