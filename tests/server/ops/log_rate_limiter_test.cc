#include "server/ops/log_rate_limiter.h"

#include "gtest/gtest.h"
#include "tests/base/fake_clock.h"

namespace tokenservice {
namespace {

TEST(LogRateLimiter, AllowsTheBudgetPerWindowAndCountsTheRest) {
  FakeClock clock;
  LogRateLimiter limiter(3, absl::Seconds(1), &clock);
  int64_t suppressed = -1;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.Allow(&suppressed));
    EXPECT_EQ(suppressed, 0);
  }
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.Allow(&suppressed));
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 5);  // reported once, with the next line
  EXPECT_TRUE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 0);
}

TEST(LogRateLimiter, AFloodStaysWithinTheBudgetOfEachWindow) {
  FakeClock clock;
  LogRateLimiter limiter(10, absl::Seconds(1), &clock);
  int written = 0;
  int64_t suppressed = 0, reported = 0;
  for (int i = 0; i < 20000; ++i) {
    if (limiter.Allow(&suppressed)) {
      ++written;
      reported += suppressed;
    }
    if (i % 1000 == 999) clock.Advance(absl::Seconds(1));  // 20 windows
  }
  EXPECT_EQ(written, 200);
  EXPECT_EQ(reported + written, 20000 - 990);  // the last window's 990 wait
}

}  // namespace
}  // namespace tokenservice
