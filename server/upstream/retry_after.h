// Retry-After (RFC 9110 section 10.2.3): parsing the header, and carrying
// the delay it asks for on an absl::Status from the myPOS client to the
// retry logic (as the payload kRetryAfterPayload, in milliseconds).

#ifndef SERVER_UPSTREAM_RETRY_AFTER_H_
#define SERVER_UPSTREAM_RETRY_AFTER_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tokenservice {

inline constexpr char kRetryAfterPayload[] =
    "type.googleapis.com/tokenservice.RetryAfter";

// The delay a Retry-After header value asks for at `now`: either
// delay-seconds ("120") or an HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT",
// and the obsolete RFC 850 and asctime forms). A date in the past is zero.
// nullopt for anything else (negative, fractional, garbage).
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now);

// Returns `status` carrying `delay`. OK stays unchanged.
absl::Status WithRetryAfter(absl::Status status, absl::Duration delay);

// The delay set by WithRetryAfter, or nullopt.
std::optional<absl::Duration> RetryAfter(const absl::Status& status);

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_RETRY_AFTER_H_
