#include "server/upstream/upstream_deadline.h"

#include "absl/strings/str_cat.h"
#include "server/ops/error_reason.h"

namespace tokenservice {

UpstreamDeadline ComputeUpstreamDeadline(absl::Time now,
                                         absl::Time caller_deadline,
                                         absl::Duration upstream_timeout,
                                         absl::Duration margin) {
  const absl::Time ours = now + upstream_timeout;
  const absl::Time callers = caller_deadline - margin;
  if (callers < ours) return UpstreamDeadline{callers, true};
  return UpstreamDeadline{ours, false};
}

absl::Status MapUpstreamDeadline(absl::Status status,
                                 const UpstreamDeadline& deadline,
                                 absl::Duration upstream_timeout) {
  if (status.code() != absl::StatusCode::kDeadlineExceeded ||
      deadline.caller_bound) {
    return status;
  }
  return WithReason(absl::UnavailableError(absl::StrCat(
                        "myPOS did not answer within --upstream_timeout (",
                        absl::FormatDuration(upstream_timeout), ")")),
                    kReasonUpstreamUnavailable);
}

}  // namespace tokenservice
