#include "server/upstream/upstream_deadline.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

TEST(ComputeUpstreamDeadline, EarlierCallerDeadlineWinsMinusMargin) {
  UpstreamDeadline d = ComputeUpstreamDeadline(
      kNow, kNow + absl::Seconds(2), absl::Seconds(10), absl::Milliseconds(50));
  EXPECT_EQ(d.time, kNow + absl::Milliseconds(1950));
  EXPECT_TRUE(d.caller_bound);
}

TEST(ComputeUpstreamDeadline, NoCallerDeadlineUsesUpstreamTimeout) {
  UpstreamDeadline d = ComputeUpstreamDeadline(
      kNow, absl::InfiniteFuture(), absl::Seconds(10), absl::Milliseconds(50));
  EXPECT_EQ(d.time, kNow + absl::Seconds(10));
  EXPECT_FALSE(d.caller_bound);
}

TEST(MapUpstreamDeadline, CallersDeadlineStaysDeadlineExceeded) {
  absl::Status s = MapUpstreamDeadline(absl::DeadlineExceededError("late"),
                                       {kNow, true}, absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(MapUpstreamDeadline, OurTimeoutBecomesUnavailable) {
  absl::Status s = MapUpstreamDeadline(absl::DeadlineExceededError("late"),
                                       {kNow, false}, absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(s), kReasonUpstreamUnavailable);
  EXPECT_EQ(s.message(),
            "myPOS did not answer within --upstream_timeout (10s)");
}

TEST(MapUpstreamDeadline, OtherErrorsUnchanged) {
  absl::Status s = MapUpstreamDeadline(absl::UnavailableError("down"),
                                       {kNow, false}, absl::Seconds(10));
  EXPECT_EQ(s, absl::UnavailableError("down"));
}

}  // namespace
}  // namespace tokenservice
