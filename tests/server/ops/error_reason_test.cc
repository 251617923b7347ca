#include "server/ops/error_reason.h"

#include <map>
#include <string>

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

TEST(ErrorReason, WithErrorMetadataAddsEntriesBesideTheReason) {
  absl::Status status = WithErrorMetadata(
      WithErrorMetadata(WithReason(absl::InvalidArgumentError("x"), "R"),
                        "field", "scopes[0]"),
      "http_status", "400");
  EXPECT_EQ(ErrorReason(status), "R");
  EXPECT_EQ(ErrorMetadata(status),
            (std::map<std::string, std::string>{{"field", "scopes[0]"},
                                                {"http_status", "400"}}));
}

TEST(ErrorReason, ErrorMetadataOfPlainStatusIsEmpty) {
  EXPECT_TRUE(ErrorMetadata(absl::UnavailableError("down")).empty());
  EXPECT_TRUE(WithErrorMetadata(absl::OkStatus(), "k", "v").ok());
}

}  // namespace
}  // namespace tokenservice
