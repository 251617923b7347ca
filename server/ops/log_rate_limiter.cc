#include "server/ops/log_rate_limiter.h"

namespace tokenservice {

bool LogRateLimiter::Allow(int64_t* suppressed) {
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  if (now - window_start_ >= window_) {
    window_start_ = now;
    written_ = 0;
  }
  if (written_ >= lines_per_window_) {
    ++suppressed_;
    return false;
  }
  ++written_;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace tokenservice
