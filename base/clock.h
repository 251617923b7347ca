// Clock: where TokenService reads the time.
//
// Everything that decides on expiry takes a Clock so that tests can use a
// FakeClock (tests/base/fake_clock.h). Nothing waits on a Clock: waits are
// timers (base/timers.h), so tests never sleep to let time pass.

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
};

// The system's real-time clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace tokenservice

#endif  // BASE_CLOCK_H_
