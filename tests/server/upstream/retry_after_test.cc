#include "server/upstream/retry_after.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

// Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110.
const absl::Time kNow = absl::FromUnixSeconds(784111777);

TEST(ParseRetryAfter, DelaySecondsIsThatDelay) {
  EXPECT_EQ(ParseRetryAfter("1", kNow), absl::Seconds(1));
  EXPECT_EQ(ParseRetryAfter(" 120 ", kNow), absl::Seconds(120));
  EXPECT_EQ(ParseRetryAfter("0", kNow), absl::ZeroDuration());
}

TEST(ParseRetryAfter, HugeDelaySecondsIsCappedNotAnError) {
  EXPECT_EQ(ParseRetryAfter("99999999999999999999", kNow),
            absl::Hours(365 * 24));
}

TEST(ParseRetryAfter, ImfFixdateIsTheTimeUntilIt) {
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:40 GMT", kNow),
            absl::Seconds(3));
}

TEST(ParseRetryAfter, ObsoleteDateFormsAreAccepted) {
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:47 GMT", kNow),
            absl::Seconds(10));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:57 1994", kNow),
            absl::Seconds(20));
}

TEST(ParseRetryAfter, DateInThePastIsZero) {
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", kNow),
            absl::ZeroDuration());
}

TEST(ParseRetryAfter, GarbageIsNullopt) {
  EXPECT_EQ(ParseRetryAfter("", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("1.5", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", kNow), std::nullopt);
}

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
