// Clock: where TokenService reads the time.
//
// Everything that decides on expiry, or waits (retry backoff), takes a Clock
// so that tests can use a FakeClock (tests/base/fake_clock.h) and never
// sleep to wait for time to pass.

#ifndef BASE_CLOCK_H_
#define BASE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tokenservice {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Blocks the calling thread for `d` (nothing for a non-positive `d`), as
  // measured by this clock: a fake clock advances instead of blocking.
  virtual void SleepFor(absl::Duration d) const = 0;
};

// The system's real-time clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  void SleepFor(absl::Duration d) const override {
    if (d > absl::ZeroDuration()) absl::SleepFor(d);
  }
};

}  // namespace tokenservice

#endif  // BASE_CLOCK_H_
