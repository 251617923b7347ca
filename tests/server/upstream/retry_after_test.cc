#include "server/upstream/retry_after.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

TEST(RetryAfter, RoundTripsThroughStatusPayload) {
  absl::Status status =
      WithRetryAfter(absl::UnavailableError("busy"), absl::Milliseconds(1500));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(RetryAfter(status), absl::Milliseconds(1500));
  EXPECT_EQ(RetryAfter(absl::UnavailableError("busy")), std::nullopt);
  EXPECT_TRUE(WithRetryAfter(absl::OkStatus(), absl::Seconds(1)).ok());
}

}  // namespace
}  // namespace tokenservice
