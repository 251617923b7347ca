#include "server/rpc/grpc_limits.h"

#include <climits>

#include "gtest/gtest.h"

namespace tokenservice {
namespace {

TEST(GrpcMillis, IsTheDurationInMilliseconds) {
  EXPECT_EQ(GrpcMillis(absl::Minutes(5)), 300000);
  EXPECT_EQ(GrpcMillis(absl::Seconds(30)), 30000);
  EXPECT_EQ(GrpcMillis(absl::ZeroDuration()), 0);
}

// INT_MAX is what gRPC reads as "never" for the idle and age limits
// (ChannelArgs::GetDurationFromIntMillis): "inf" turns a limit off, and so
// does anything from 24.8 days on, rather than wrapping to a short limit.
TEST(GrpcMillis, InfiniteOrTooLongIsGrpcsNever) {
  EXPECT_EQ(GrpcMillis(absl::InfiniteDuration()), INT_MAX);
  EXPECT_EQ(GrpcMillis(absl::Hours(1000)), INT_MAX);
  EXPECT_EQ(GrpcMillis(absl::Milliseconds(INT_MAX) + absl::Milliseconds(1)),
            INT_MAX);
  EXPECT_EQ(GrpcMillis(absl::Milliseconds(INT_MAX - 1)), INT_MAX - 1);
}

TEST(GrpcMillis, NegativeIsZeroNotAWrappedNumber) {
  EXPECT_EQ(GrpcMillis(-absl::Seconds(1)), 0);
  EXPECT_EQ(GrpcMillis(-absl::InfiniteDuration()), 0);
  EXPECT_EQ(GrpcMillis(-absl::Hours(1000)), 0);
}

}  // namespace
}  // namespace tokenservice
