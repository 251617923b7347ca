#include "server/rpc/grpc_status.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// The ErrorInfo in `status`'s details, as a client would parse it.
google::rpc::ErrorInfo DetailsOf(const grpc::Status& status) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(status.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(status.error_code()));
  EXPECT_EQ(details.message(), status.error_message());
  google::rpc::ErrorInfo info;
  EXPECT_EQ(details.details_size(), 1);
  if (details.details_size() == 1) {
    EXPECT_TRUE(details.details(0).UnpackTo(&info));
  }
  return info;
}

TEST(ToGrpcStatus, OkIsOkWithoutDetails) {
  grpc::Status status = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_details(), "");
}

TEST(ToGrpcStatus, CodeMessageReasonAndMetadataCarriedOver) {
  grpc::Status status = ToGrpcStatus(WithErrorMetadata(
      WithReason(absl::InvalidArgumentError("scopes[0] is bad"),
                 "INVALID_REQUEST"),
      "field", "scopes[0]"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "scopes[0] is bad");
  google::rpc::ErrorInfo info = DetailsOf(status);
  EXPECT_EQ(info.reason(), "INVALID_REQUEST");
  EXPECT_EQ(info.domain(), "tokenservice");
  EXPECT_THAT(info.metadata(),
              UnorderedElementsAre(Pair("field", "scopes[0]")));
}

TEST(ToGrpcStatus, MissingReasonFallsBackToCodeName) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInternal, absl::StatusCode::kDeadlineExceeded,
        absl::StatusCode::kUnknown}) {
    grpc::Status status = ToGrpcStatus(absl::Status(code, "x"));
    EXPECT_EQ(DetailsOf(status).reason(), absl::StatusCodeToString(code));
  }
}

}  // namespace
}  // namespace tokenservice
