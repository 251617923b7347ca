// Retry-After (RFC 9110 section 10.2.3): carrying the delay it asks for on
// an absl::Status from the myPOS client to the retry logic (as the payload
// kRetryAfterPayload, in milliseconds). libcurl reads the header itself
// (CURLINFO_RETRY_AFTER, both delay-seconds and HTTP-date).

#ifndef SERVER_UPSTREAM_RETRY_AFTER_H_
#define SERVER_UPSTREAM_RETRY_AFTER_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tokenservice {

inline constexpr char kRetryAfterPayload[] =
    "type.googleapis.com/tokenservice.RetryAfter";

// Returns `status` carrying `delay`. OK stays unchanged.
absl::Status WithRetryAfter(absl::Status status, absl::Duration delay);

// The delay set by WithRetryAfter, or nullopt.
std::optional<absl::Duration> RetryAfter(const absl::Status& status);

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_RETRY_AFTER_H_
