// TokenBroker and the callers of a shared fetch: the fetch runs on the
// server's deadline; each caller leaves on its own deadline or cancellation,
// at that moment; a fetch nobody waits for any more is not sent; and which
// code a deadline that ran out becomes.

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "base/cancellation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/broker/token_broker.h"
#include "server/ops/error_reason.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Return;

class TokenBrokerDeadlineTest : public ::testing::Test {
 protected:
  TokenBrokerDeadlineTest()
      : credentials_("default", {{"default", {"client-1", "secret-1"}}}),
        broker_(*TokenBroker::Create(BrokerOptions{}, &credentials_, &upstream_,
                                     &timers_, &clock_, &metrics_)) {}

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

  static IssueParams WithDeadline(absl::Time deadline) {
    IssueParams params;
    params.deadline = deadline;
    return params;
  }

  // Records the one result a callback receives.
  struct Result {
    std::optional<absl::StatusOr<IssuedToken>> value;
    IssueCallback Callback() {
      return [this](absl::StatusOr<IssuedToken> r) {
        ASSERT_FALSE(value.has_value()) << "answered twice";
        value = std::move(r);
      };
    }
  };

  FakeClock clock_;
  Metrics metrics_;
  ManualExecutor executor_;
  FakeTimers timers_{&clock_};
  MockOAuthClient upstream_{&executor_};
  CredentialStore credentials_;
  std::unique_ptr<TokenBroker> broker_;
};

TEST_F(TokenBrokerDeadlineTest, SharedFetchRunsOnTheServersDeadline) {
  // Not the caller's 1 s: callers share the fetch, and each leaves on its
  // own deadline.
  EXPECT_CALL(upstream_, FetchToken(_, _, clock_.Now() + absl::Seconds(10)))
      .WillOnce(Return(BearerToken("tok-1")));
  absl::StatusOr<IssuedToken> issued = Issue(clock_.Now() + absl::Seconds(1));
  ASSERT_TRUE(issued.ok()) << issued.status();
}

TEST_F(TokenBrokerDeadlineTest, CallerLeavesAtItsDeadlineAndTheFetchGoesOn) {
  const absl::Time start = clock_.Now();
  Result impatient;
  // The request is at myPOS when the caller's deadline comes.
  EXPECT_CALL(upstream_, FetchToken).WillOnce([&](auto&&...) {
    timers_.Advance(absl::Milliseconds(949));
    EXPECT_FALSE(impatient.value.has_value());
    timers_.Advance(absl::Milliseconds(1));  // 50 ms (the margin) before it
    EXPECT_TRUE(impatient.value.has_value());
    return BearerToken("tok-1");
  });
  broker_->Issue(WithDeadline(start + absl::Seconds(1)), impatient.Callback());
  // myPOS answers after the caller left; the token is cached for the next.
  EXPECT_EQ(executor_.RunAll(), 1);
  ASSERT_TRUE(impatient.value.has_value());
  EXPECT_THAT(*impatient.value, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                         kReasonDeadlineExceeded));
  Result next;
  broker_->Issue(IssueParams{}, next.Callback());
  ASSERT_TRUE(next.value.has_value() && next.value->ok());
  EXPECT_TRUE((*next.value)->cached);
}

TEST_F(TokenBrokerDeadlineTest, ImpatientCallerDoesNotFailPatientOnes) {
  // One request to myPOS, whoever leaves: no restart for later deadlines.
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  const absl::Time start = clock_.Now();
  Result impatient, patient, unbounded;
  broker_->Issue(WithDeadline(start + absl::Milliseconds(100)),
                 impatient.Callback());
  broker_->Issue(WithDeadline(start + absl::Seconds(30)), patient.Callback());
  broker_->Issue(IssueParams{}, unbounded.Callback());
  timers_.Advance(absl::Seconds(5));
  EXPECT_THAT(*impatient.value, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(patient.value.has_value());
  EXPECT_EQ(executor_.RunAll(), 1);
  ASSERT_TRUE(patient.value->ok());
  ASSERT_TRUE(unbounded.value->ok());
  EXPECT_EQ((*patient.value)->token->access_token, "tok-1");
  EXPECT_EQ(timers_.pending(), 0u) << "answered callers keep no timer";
}

TEST_F(TokenBrokerDeadlineTest, CancelledCallerLeavesAtOnce) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  Cancellation gone;
  Result cancelled, staying;
  broker_->Issue(IssueParams{}, cancelled.Callback(), &gone);
  broker_->Issue(IssueParams{}, staying.Callback());
  gone.Cancel();
  ASSERT_TRUE(cancelled.value.has_value());
  EXPECT_THAT(*cancelled.value, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(executor_.RunAll(), 1);
  ASSERT_TRUE(staying.value.has_value() && staying.value->ok());
}

TEST_F(TokenBrokerDeadlineTest,
       FetchWhoseCallersAllLeftBeforeItStartsIsDropped) {
  EXPECT_CALL(upstream_, FetchToken).Times(0);
  Cancellation first_gone, second_gone;
  Result first, second;
  broker_->Issue(IssueParams{}, first.Callback(), &first_gone);
  broker_->Issue(IssueParams{}, second.Callback(), &second_gone);
  first_gone.Cancel();
  second_gone.Cancel();
  EXPECT_EQ(executor_.RunAll(), 1);  // asked whether wanted: no, not sent
  EXPECT_THAT(metrics_.Render({}, clock_.Now()),
              HasSubstr("tokenservice_upstream_fetches_abandoned_total 1\n"));
  // Nothing is left behind: the next miss starts a fetch of its own.
  testing::Mock::VerifyAndClearExpectations(&upstream_);
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  Result later;
  broker_->Issue(IssueParams{}, later.Callback());
  EXPECT_EQ(executor_.RunAll(), 1);
  ASSERT_TRUE(later.value.has_value() && later.value->ok());
}

TEST_F(TokenBrokerDeadlineTest, CallerWhoJoinsAnAbandonedFetchStillGetsIt) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  Cancellation gone;
  Result left, joined;
  broker_->Issue(IssueParams{}, left.Callback(), &gone);
  gone.Cancel();
  broker_->Issue(IssueParams{}, joined.Callback());  // joins the same flight
  EXPECT_EQ(executor_.RunAll(), 1);
  ASSERT_TRUE(joined.value.has_value() && joined.value->ok());
}

TEST_F(TokenBrokerDeadlineTest, CallerAlreadyGoneIsAnsweredInsideIssue) {
  EXPECT_CALL(upstream_, FetchToken).Times(0);
  Cancellation gone;
  gone.Cancel();
  Result result;
  broker_->Issue(IssueParams{}, result.Callback(), &gone);
  ASSERT_TRUE(result.value.has_value());
  EXPECT_THAT(*result.value, StatusIs(absl::StatusCode::kCancelled));
  executor_.RunAll();
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
