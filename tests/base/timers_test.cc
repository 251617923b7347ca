// ThreadTimers and FakeTimers run each task once, in time order, never
// inside RunAt; Cancel drops a task; Shutdown stops the waiting. And
// Cancellation runs its listener once.

#include "base/timers.h"

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "base/cancellation.h"
#include "base/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/base/fake_timers.h"

namespace tokenservice {
namespace {

using ::testing::ElementsAre;

// A one-shot signal on our Mutex, which ThreadSanitizer sees through
// (Debian's Signal is not instrumented: base/mutex.h).
class Signal {
 public:
  void Notify() {
    MutexLock lock(&mu_);
    done_ = true;
  }
  bool WaitForNotificationWithTimeout(absl::Duration timeout) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithDeadline(absl::Condition(&done_),
                                 absl::Now() + timeout);
  }

 private:
  Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

TEST(ThreadTimersTest, RunsATaskNoEarlierThanItsTime) {
  ThreadTimers timers;
  Signal ran;
  const absl::Time when = absl::Now() + absl::Milliseconds(30);
  absl::Time ran_at;
  timers.RunAt(when, [&] {
    ran_at = absl::Now();
    ran.Notify();
  });
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_GE(ran_at, when);
}

TEST(ThreadTimersTest, RunsTasksInTimeOrderAndNeverInsideRunAt) {
  ThreadTimers timers;
  std::vector<std::string> order;  // written only on the timers' thread
  Signal done;
  const absl::Time now = absl::Now();
  const std::thread::id caller = std::this_thread::get_id();
  bool on_caller_thread = false;
  timers.RunAt(now + absl::Milliseconds(20), [&] {
    order.push_back("second");
    done.Notify();
  });
  timers.RunAt(now, [&] {
    on_caller_thread = std::this_thread::get_id() == caller;
    order.push_back("first");
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_THAT(order, ElementsAre("first", "second"));
  EXPECT_FALSE(on_caller_thread);
}

TEST(ThreadTimersTest, ShutdownRunsWaitingTasksAtOnce) {
  ThreadTimers timers;
  Signal ran;
  timers.RunAt(absl::Now() + absl::Hours(1), [&] { ran.Notify(); });
  timers.Shutdown();
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST(ThreadTimersTest, DrainRunsEverythingAndWhatItAdds) {
  ThreadTimers timers;
  int ran = 0;  // written on the timers' thread, read after Drain()
  timers.RunAt(absl::Now() + absl::Hours(1), [&] {
    ++ran;
    timers.RunAt(absl::Now() + absl::Hours(1), [&] { ++ran; });
  });
  EXPECT_FALSE(timers.Idle());
  timers.Drain();
  EXPECT_TRUE(timers.Idle());
  EXPECT_EQ(ran, 2);
}

TEST(ThreadTimersTest, DestructorRunsWhatIsLeft) {
  bool ran = false;
  {
    ThreadTimers timers;
    timers.RunAt(absl::Now() + absl::Hours(1), [&] { ran = true; });
  }
  EXPECT_TRUE(ran);
}

TEST(ThreadTimersTest, CancelledTaskNeverRuns) {
  bool cancelled_ran = false;
  {
    ThreadTimers timers;
    const TimerId id = timers.RunAt(absl::Now() + absl::Hours(1),
                                    [&] { cancelled_ran = true; });
    timers.Cancel(id);
  }
  EXPECT_FALSE(cancelled_ran);
}

TEST(FakeTimersTest, AdvanceRunsDueTasksAtTheirTimes) {
  FakeClock clock;
  FakeTimers timers(&clock);
  const absl::Time start = clock.Now();
  std::vector<absl::Duration> seen;
  timers.RunAt(start + absl::Seconds(2), [&] {
    seen.push_back(clock.Now() - start);
    // A task a task adds, due within the same advance, runs too.
    timers.RunAt(clock.Now() + absl::Seconds(1),
                 [&] { seen.push_back(clock.Now() - start); });
  });
  timers.RunAt(start + absl::Seconds(10), [&] { seen.push_back({}); });
  EXPECT_EQ(timers.Advance(absl::Seconds(5)), 2);
  EXPECT_THAT(seen, ElementsAre(absl::Seconds(2), absl::Seconds(3)));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(5));
  EXPECT_EQ(timers.pending(), 1u);
}

TEST(CancellationTest, ListenerRunsOnceOnCancel) {
  Cancellation cancellation;
  int runs = 0;
  EXPECT_TRUE(cancellation.Listen([&] { ++runs; }));
  cancellation.Cancel();
  cancellation.Cancel();
  EXPECT_EQ(runs, 1);
}

TEST(CancellationTest, ListenReplacesEarlierAndRefusesAfterCancel) {
  Cancellation cancellation;
  int first = 0, second = 0;
  cancellation.Listen([&] { ++first; });
  cancellation.Listen([&] { ++second; });
  cancellation.Cancel();
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
  int late = 0;
  EXPECT_FALSE(cancellation.Listen([&] { ++late; }));
  EXPECT_EQ(late, 0);
}

}  // namespace
}  // namespace tokenservice
