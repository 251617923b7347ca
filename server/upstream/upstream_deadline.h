// When an upstream request made for a caller must end, and what it means
// when that time runs out.
//
// The request ends by the earlier of now + upstream_timeout (our own limit)
// and the caller's deadline minus a margin (so that the caller still
// receives our answer, with its error details, before its own deadline).
// If the caller's deadline is what ran out, DEADLINE_EXCEEDED is the right
// answer; if ours did, myPOS was too slow and the answer is UNAVAILABLE.

#ifndef SERVER_UPSTREAM_UPSTREAM_DEADLINE_H_
#define SERVER_UPSTREAM_UPSTREAM_DEADLINE_H_

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tokenservice {

struct UpstreamDeadline {
  absl::Time time;
  // True when `time` comes from the caller's deadline.
  bool caller_bound = false;
};

// The deadline of an upstream request started at `now` for a caller whose
// deadline is `caller_deadline` (InfiniteFuture when it has none).
UpstreamDeadline ComputeUpstreamDeadline(absl::Time now,
                                         absl::Time caller_deadline,
                                         absl::Duration upstream_timeout,
                                         absl::Duration margin);

// `status` from an upstream request made with `deadline`: unchanged, except
// that kDeadlineExceeded becomes kUnavailable (reason UPSTREAM_UNAVAILABLE,
// naming --upstream_timeout) when the deadline was ours, not the caller's.
absl::Status MapUpstreamDeadline(absl::Status status,
                                 const UpstreamDeadline& deadline,
                                 absl::Duration upstream_timeout);

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_UPSTREAM_DEADLINE_H_
