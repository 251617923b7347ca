#include "server/rpc/grpc_status.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"
#include "server/upstream/retry_after.h"

namespace tokenservice {
namespace {

using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// The ErrorInfo in `status`'s details, as a client would parse it; and its
// RetryInfo when `retry` is given (none must be there when it is null).
google::rpc::ErrorInfo DetailsOf(const grpc::Status& status,
                                 google::rpc::RetryInfo* retry = nullptr) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(status.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(status.error_code()));
  EXPECT_EQ(details.message(), status.error_message());
  google::rpc::ErrorInfo info;
  int infos = 0;
  int retries = 0;
  for (const auto& any : details.details()) {
    if (any.Is<google::rpc::ErrorInfo>()) {
      ++infos;
      EXPECT_TRUE(any.UnpackTo(&info));
    } else if (any.Is<google::rpc::RetryInfo>()) {
      ++retries;
      if (retry != nullptr) {
        EXPECT_TRUE(any.UnpackTo(retry));
      }
    } else {
      ADD_FAILURE() << "unexpected detail " << any.type_url();
    }
  }
  EXPECT_EQ(infos, 1);
  EXPECT_EQ(retries, retry == nullptr ? 0 : 1);
  return info;
}

absl::Duration DelayOf(const google::rpc::RetryInfo& retry) {
  return absl::Seconds(retry.retry_delay().seconds()) +
         absl::Nanoseconds(retry.retry_delay().nanos());
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

TEST(ToGrpcStatus, RetryableErrorsSayWhenToRetry) {
  google::rpc::RetryInfo retry;
  // Our own delay when nothing else is known.
  DetailsOf(ToGrpcStatus(WithReason(absl::UnavailableError("down"),
                                    kReasonUpstreamUnavailable)),
            &retry);
  EXPECT_EQ(DelayOf(retry), kDefaultRetryDelay);
  DetailsOf(ToGrpcStatus(WithReason(absl::ResourceExhaustedError("full"),
                                    kReasonUpstreamQueueFull)),
            &retry);
  EXPECT_EQ(DelayOf(retry), kDefaultRetryDelay);
  // What myPOS's Retry-After asked for.
  DetailsOf(
      ToGrpcStatus(WithRetryAfter(
          WithReason(absl::UnavailableError("429"), kReasonUpstreamRateLimited),
          absl::Milliseconds(2500))),
      &retry);
  EXPECT_EQ(DelayOf(retry), absl::Milliseconds(2500));
  // At once, to another replica.
  DetailsOf(ToGrpcStatus(WithReason(absl::UnavailableError("bye"),
                                    kReasonServerShuttingDown)),
            &retry);
  EXPECT_EQ(DelayOf(retry), absl::ZeroDuration());
}

TEST(ToGrpcStatus, OtherErrorsCarryNoRetryInfo) {
  for (const absl::Status& status :
       {absl::NotFoundError("x"), absl::InvalidArgumentError("x"),
        absl::FailedPreconditionError("x"), absl::UnknownError("x"),
        absl::DeadlineExceededError("x"), absl::InternalError("x")}) {
    DetailsOf(ToGrpcStatus(status));
    EXPECT_EQ(RetryDelay(status), std::nullopt) << status;
  }
  EXPECT_EQ(RetryDelay(absl::OkStatus()), std::nullopt);
}

}  // namespace
}  // namespace tokenservice
