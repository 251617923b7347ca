// LogRateLimiter: at most a fixed number of lines of one kind per window, so
// that a flood of identical events (failing calls from a careless or hostile
// caller) cannot grow the log faster than a known bound. What it holds back
// is counted, and the first line allowed in a later window comes with that
// count, for a "suppressed N" summary.

#ifndef SERVER_OPS_LOG_RATE_LIMITER_H_
#define SERVER_OPS_LOG_RATE_LIMITER_H_

#include <cstdint>

#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"

namespace tokenservice {

// Thread-safe. Borrows `clock`, which must outlive it.
class LogRateLimiter {
 public:
  LogRateLimiter(int lines_per_window, absl::Duration window,
                 const Clock* clock)
      : lines_per_window_(lines_per_window), window_(window), clock_(clock) {}

  // Whether a line may be written now. When it may and lines were held back
  // since the last one written, `*suppressed` is how many (else 0).
  bool Allow(int64_t* suppressed) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const int lines_per_window_;
  const absl::Duration window_;
  const Clock* const clock_;

  Mutex mu_;
  absl::Time window_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int written_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_OPS_LOG_RATE_LIMITER_H_
