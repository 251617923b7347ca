#include "server/upstream/error_reason.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

TEST(ErrorReason, WithReasonSetsReasonAndKeepsCodeAndMessage) {
  absl::Status status =
      WithReason(absl::UnavailableError("down"), kReasonUpstreamUnavailable);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "down");
  EXPECT_EQ(ErrorReason(status), "UPSTREAM_UNAVAILABLE");
  EXPECT_TRUE(status.GetPayload(kErrorReasonPayload).has_value());
}

TEST(ErrorReason, WithReasonReplacesEarlierReason) {
  absl::Status status =
      WithReason(WithReason(absl::InvalidArgumentError("x"), kReasonBadRequest),
                 kReasonInvalidScope);
  EXPECT_EQ(ErrorReason(status), "INVALID_SCOPE");
}

TEST(ErrorReason, WithReasonLeavesOkUnchanged) {
  absl::Status status = WithReason(absl::OkStatus(), kReasonBadRequest);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(ErrorReason(status), "");
}

TEST(ErrorReason, ErrorReasonWithoutPayloadIsEmpty) {
  EXPECT_EQ(ErrorReason(absl::UnavailableError("down")), "");
}

}  // namespace
}  // namespace tokenservice
