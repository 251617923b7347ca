// TokenBroker and the caller's deadline: what deadline reaches myPOS, and
// which code a deadline that ran out becomes.

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/broker/token_broker.h"
#include "server/ops/error_reason.h"
#include "tests/base/fake_clock.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"

namespace tokenservice {
namespace {

using ::testing::_;
using ::testing::Return;

class TokenBrokerDeadlineTest : public ::testing::Test {
 protected:
  TokenBrokerDeadlineTest()
      : credentials_("default", {{"default", {"client-1", "secret-1"}}}),
        broker_(*TokenBroker::Create(BrokerOptions{}, &credentials_, &upstream_,
                                     &executor_, &clock_)) {}

  absl::StatusOr<IssuedToken> Issue(absl::Time deadline) {
    IssueParams params;
    params.deadline = deadline;
    std::optional<absl::StatusOr<IssuedToken>> result;
    broker_->Issue(std::move(params), [&](absl::StatusOr<IssuedToken> r) {
      result = std::move(r);
    });
    executor_.RunAll();
    EXPECT_TRUE(result.has_value());
    return result.value_or(absl::InternalError("no result"));
  }

  FakeClock clock_;
  ManualExecutor executor_;
  MockOAuthClient upstream_;
  CredentialStore credentials_;
  std::unique_ptr<TokenBroker> broker_;
};

TEST_F(TokenBrokerDeadlineTest, IssueFetchEndsBeforeCallersDeadline) {
  EXPECT_CALL(upstream_,
              FetchToken(_, _, clock_.Now() + absl::Milliseconds(950)))
      .WillOnce(Return(WithReason(absl::DeadlineExceededError("late"),
                                  kReasonDeadlineExceeded)));
  absl::StatusOr<IssuedToken> issued = Issue(clock_.Now() + absl::Seconds(1));
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorReason(issued.status()), kReasonDeadlineExceeded);
}

TEST_F(TokenBrokerDeadlineTest, ImpatientStarterDoesNotFailPatientCallers) {
  const absl::Time start = clock_.Now();
  UpstreamToken token;
  token.access_token = "tok-1";
  token.token_type = "Bearer";
  token.expires_in = absl::Hours(1);
  EXPECT_CALL(upstream_, FetchToken(_, _, start + absl::Milliseconds(50)))
      .WillOnce(Return(WithReason(absl::DeadlineExceededError("late"),
                                  kReasonDeadlineExceeded)));
  // The second fetch is bounded by the patient caller's deadline (30s)
  // instead, here capped by --upstream_timeout (10s).
  EXPECT_CALL(upstream_, FetchToken(_, _, start + absl::Seconds(10)))
      .WillOnce(Return(token));
  std::optional<absl::StatusOr<IssuedToken>> impatient, patient;
  IssueParams first;
  first.deadline = start + absl::Milliseconds(100);
  broker_->Issue(first, [&](absl::StatusOr<IssuedToken> r) { impatient = r; });
  IssueParams second;
  second.deadline = start + absl::Seconds(30);
  broker_->Issue(second, [&](absl::StatusOr<IssuedToken> r) { patient = r; });
  EXPECT_EQ(executor_.RunAll(), 2);
  EXPECT_EQ(impatient->status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(patient->ok()) << patient->status();
  EXPECT_EQ((*patient)->token->access_token, "tok-1");
}

TEST_F(TokenBrokerDeadlineTest, IssueWithoutDeadlineUsesUpstreamTimeout) {
  EXPECT_CALL(upstream_, FetchToken(_, _, clock_.Now() + absl::Seconds(10)))
      .WillOnce(Return(absl::DeadlineExceededError("late")));
  absl::StatusOr<IssuedToken> issued = Issue(absl::InfiniteFuture());
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(issued.status()), kReasonUpstreamUnavailable);
}

TEST_F(TokenBrokerDeadlineTest, RevokeUsesCallersDeadline) {
  EXPECT_CALL(upstream_,
              RevokeToken(_, _, clock_.Now() + absl::Milliseconds(450)))
      .WillOnce(Return(absl::OkStatus()));
  RevokeParams params;
  params.token = "some-token";
  params.deadline = clock_.Now() + absl::Milliseconds(500);
  std::optional<absl::StatusOr<RevokeResult>> result;
  broker_->Revoke(std::move(params), [&](absl::StatusOr<RevokeResult> r) {
    result = std::move(r);
  });
  executor_.RunAll();
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->ok());
}

}  // namespace
}  // namespace tokenservice
