#include "server/upstream/retrying_oauth_client.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"
#include "server/upstream/retry_after.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"
#include "tests/server/upstream/sync_oauth_client.h"

namespace tokenservice {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Return;
using ::testing::StrictMock;

constexpr char kCanarySecret[] = "CANARY-secret-0b7e";

absl::Status Failure(absl::StatusCode code, absl::string_view reason) {
  return WithReason(absl::Status(code, "upstream said no"), reason);
}

absl::Status Unavailable() {
  return Failure(absl::StatusCode::kUnavailable, kReasonUpstreamUnavailable);
}

absl::Status Rejected() {
  return Failure(absl::StatusCode::kFailedPrecondition,
                 kReasonCredentialsRejected);
}

UpstreamToken Token() {
  UpstreamToken token;
  token.access_token = "tok";
  token.expires_in = absl::Hours(1);
  return token;
}

class RetryingOAuthClientTest : public ::testing::Test {
 protected:
  // Retry options with small, exact numbers; jitter returns the cap.
  void Make(
      RetryingOAuthClient::Options options = {},
      RetryingOAuthClient::Jitter jitter = [](absl::Duration cap) {
        return cap;
      }) {
    auto inner = std::make_unique<StrictMock<MockOAuthClient>>(&executor_);
    inner_ = inner.get();
    retrying_ = std::make_unique<RetryingOAuthClient>(
        options, std::move(inner), &clock_, &timers_, std::move(jitter));
    client_ = std::make_unique<SyncOAuthClient>(retrying_.get(),
                                                [this] { return Step(); });
  }

  absl::StatusOr<UpstreamToken> Fetch(
      absl::Duration budget = absl::Seconds(60)) {
    return client_->FetchToken(credentials_, {"webhooks"},
                               clock_.Now() + budget);
  }

  // Lets "myPOS" answer, else moves the clock to the next timer (a
  // backoff), recording how long that was. False when nothing waits.
  bool Step() {
    if (executor_.RunAll() > 0) return true;
    const absl::Time next = timers_.next();
    if (next == absl::InfiniteFuture()) return false;
    if (next > clock_.Now()) waits_.push_back(next - clock_.Now());
    timers_.Advance(next - clock_.Now());
    return true;
  }

  FakeClock clock_;
  FakeTimers timers_{&clock_};
  ManualExecutor executor_;
  ClientCredentials credentials_{"client-1", kCanarySecret};
  StrictMock<MockOAuthClient>* inner_ = nullptr;
  std::unique_ptr<RetryingOAuthClient> retrying_;
  std::unique_ptr<SyncOAuthClient> client_;
  // Every backoff waited, as timers, in order.
  std::vector<absl::Duration> waits_;
};

TEST_F(RetryingOAuthClientTest, BackoffIsATimerNotASleepingThread) {
  Make();
  EXPECT_CALL(*inner_, FetchToken)
      .WillOnce(Return(Unavailable()))
      .WillOnce(Return(Token()));
  std::optional<absl::StatusOr<UpstreamToken>> result;
  RequestOptions options;
  options.deadline = clock_.Now() + absl::Seconds(60);
  retrying_->FetchToken(credentials_, {"webhooks"}, options,
                        [&](absl::StatusOr<UpstreamToken> r) { result = r; });
  EXPECT_EQ(executor_.RunAll(), 1);  // the first attempt fails
  // Nothing blocked: the retry waits on a timer, and no second attempt is
  // made before it fires.
  EXPECT_FALSE(result.has_value());
  EXPECT_EQ(timers_.pending(), 1u);
  EXPECT_EQ(timers_.next(), clock_.Now() + absl::Milliseconds(100));
  EXPECT_EQ(timers_.Advance(absl::Milliseconds(99)), 0);
  EXPECT_EQ(executor_.RunAll(), 0);
  EXPECT_EQ(timers_.Advance(absl::Milliseconds(1)), 1);
  EXPECT_EQ(executor_.RunAll(), 1);
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->ok());
}

TEST_F(RetryingOAuthClientTest, FetchTokenSuccessMakesOneAttemptNoWait) {
  Make();
  EXPECT_CALL(*inner_, FetchToken(_, ElementsAre("webhooks"), _))
      .WillOnce(Return(Token()));
  EXPECT_TRUE(Fetch().ok());
  EXPECT_TRUE(waits_.empty());
}

TEST_F(RetryingOAuthClientTest, NoRetryForWhatNobodyWantsAnyMore) {
  Make();
  EXPECT_CALL(*inner_, FetchToken).WillOnce(Return(Unavailable()));
  bool wanted = true;
  std::optional<absl::StatusOr<UpstreamToken>> result;
  RequestOptions options;
  options.deadline = clock_.Now() + absl::Seconds(60);
  options.wanted = [&wanted] { return wanted; };
  retrying_->FetchToken(credentials_, {"webhooks"}, options,
                        [&](absl::StatusOr<UpstreamToken> r) { result = r; });
  executor_.RunAll();
  wanted = false;  // every caller left during the backoff
  while (!result.has_value() && Step()) {
  }
  ASSERT_TRUE(result.has_value());
  // The retry was dropped unsent; the failure it was for stands.
  EXPECT_THAT(result->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(result->status()), kReasonUpstreamUnavailable);
}

TEST_F(RetryingOAuthClientTest, FetchTokenUnavailableThenSuccessRetries) {
  Make();
  EXPECT_CALL(*inner_, FetchToken)
      .WillOnce(Return(Unavailable()))
      .WillOnce(Return(Token()));
  EXPECT_TRUE(Fetch().ok());
  EXPECT_THAT(waits_, ElementsAre(absl::Milliseconds(100)));
}

TEST_F(RetryingOAuthClientTest, FetchTokenRateLimitedIsRetried) {
  Make();
  EXPECT_CALL(*inner_, FetchToken)
      .WillOnce(Return(
          Failure(absl::StatusCode::kUnavailable, kReasonUpstreamRateLimited)))
      .WillOnce(Return(Token()));
  EXPECT_TRUE(Fetch().ok());
}

TEST_F(RetryingOAuthClientTest, BackoffGrowsExponentiallyUpToMax) {
  RetryingOAuthClient::Options options;
  options.max_attempts = 5;
  options.max_backoff = absl::Milliseconds(300);
  Make(options);
  EXPECT_CALL(*inner_, FetchToken)
      .Times(5)
      .WillRepeatedly(Return(Unavailable()));
  absl::StatusOr<UpstreamToken> token = Fetch();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(token.status()), kReasonUpstreamUnavailable);
  EXPECT_THAT(waits_,
              ElementsAre(absl::Milliseconds(100), absl::Milliseconds(200),
                          absl::Milliseconds(300), absl::Milliseconds(300)));
}

TEST_F(RetryingOAuthClientTest, DefaultFullJitterStaysWithinTheCap) {
  Make(RetryingOAuthClient::Options(), nullptr);
  EXPECT_CALL(*inner_, FetchToken)
      .Times(4)
      .WillRepeatedly(Return(Unavailable()));
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kUnavailable);
  const std::vector<absl::Duration> sleeps = waits_;
  ASSERT_EQ(sleeps.size(), 3u);
  for (size_t i = 0; i < sleeps.size(); ++i) {
    EXPECT_GE(sleeps[i], absl::ZeroDuration());
    EXPECT_LE(sleeps[i], absl::Milliseconds(100) * (1 << i));
  }
}

TEST_F(RetryingOAuthClientTest, RetryAfterIsWaitedAndCapped) {
  Make();
  EXPECT_CALL(*inner_, FetchToken)
      .WillOnce(Return(WithRetryAfter(Unavailable(), absl::Seconds(1))))
      .WillOnce(Return(WithRetryAfter(Unavailable(), absl::Minutes(5))))
      .WillOnce(Return(Token()));
  EXPECT_TRUE(Fetch().ok());
  EXPECT_THAT(waits_, ElementsAre(absl::Seconds(1), absl::Seconds(10)));
}

TEST_F(RetryingOAuthClientTest, NoRetryThatCannotFinishBeforeDeadline) {
  Make();
  EXPECT_CALL(*inner_, FetchToken)
      .WillOnce(Return(WithRetryAfter(Unavailable(), absl::Seconds(1))));
  absl::StatusOr<UpstreamToken> token = Fetch(absl::Milliseconds(900));
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(waits_.empty());
}

TEST_F(RetryingOAuthClientTest, BackoffPlusMinAttemptTimeMustFit) {
  Make();  // backoff 100ms + min_attempt_time 50ms
  EXPECT_CALL(*inner_, FetchToken).WillOnce(Return(Unavailable()));
  EXPECT_EQ(Fetch(absl::Milliseconds(149)).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(waits_.empty());
}

TEST_F(RetryingOAuthClientTest, PermanentErrorsAreNotRetried) {
  const std::vector<absl::Status> permanent = {
      Failure(absl::StatusCode::kInvalidArgument, kReasonInvalidScope),
      Failure(absl::StatusCode::kInvalidArgument, kReasonInvalidGrant),
      Failure(absl::StatusCode::kInvalidArgument, kReasonBadRequest),
      Failure(absl::StatusCode::kUnavailable, kReasonUpstreamBadReply),
      Failure(absl::StatusCode::kUnavailable, kReasonUpstreamTlsFailed),
      Failure(absl::StatusCode::kDeadlineExceeded, kReasonDeadlineExceeded),
  };
  for (const absl::Status& status : permanent) {
    Make();
    EXPECT_CALL(*inner_, FetchToken).WillOnce(Return(status));
    absl::StatusOr<UpstreamToken> token = Fetch();
    EXPECT_EQ(token.status(), status);
    ::testing::Mock::VerifyAndClearExpectations(inner_);
  }
  EXPECT_TRUE(waits_.empty());
}

TEST_F(RetryingOAuthClientTest, RejectedCredentialsAreRememberedForTtl) {
  Make();
  EXPECT_CALL(*inner_, FetchToken).WillOnce(Return(Rejected()));
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kFailedPrecondition);
  ::testing::Mock::VerifyAndClearExpectations(inner_);

  // Within the TTL: no upstream call at all (StrictMock would fail).
  clock_.Advance(absl::Seconds(29));
  absl::StatusOr<UpstreamToken> again = Fetch();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorReason(again.status()), kReasonCredentialsRejected);
  EXPECT_THAT(again.status().message(), HasSubstr("remembered for 30s"));
  EXPECT_THAT(again.status().message(), Not(HasSubstr("CANARY")));
  // Rejected credentials are rejected for every request made with them.
  UserGrant grant;
  EXPECT_EQ(
      client_->ExchangeGrant(credentials_, grant, clock_.Now()).status().code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->RevokeToken(credentials_, "t", clock_.Now()).code(),
            absl::StatusCode::kFailedPrecondition);

  clock_.Advance(absl::Seconds(1));
  EXPECT_CALL(*inner_, FetchToken).WillOnce(Return(Token()));
  EXPECT_TRUE(Fetch().ok());
}

TEST_F(RetryingOAuthClientTest, RejectionDoesNotBlockAnotherSecret) {
  Make();
  EXPECT_CALL(*inner_, FetchToken)
      .WillOnce(Return(Rejected()))
      .WillOnce(Return(Token()));
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kFailedPrecondition);
  credentials_.client_secret = "CANARY-rotated";
  EXPECT_TRUE(Fetch().ok());
}

TEST_F(RetryingOAuthClientTest, ZeroTtlRemembersNothing) {
  RetryingOAuthClient::Options options;
  options.rejected_credentials_ttl = absl::ZeroDuration();
  Make(options);
  EXPECT_CALL(*inner_, FetchToken).Times(2).WillRepeatedly(Return(Rejected()));
  Fetch().IgnoreError();
  Fetch().IgnoreError();
}

TEST_F(RetryingOAuthClientTest, ExchangeGrantIsNeverRetried) {
  Make();
  EXPECT_CALL(*inner_, ExchangeGrant).WillOnce(Return(Unavailable()));
  UserGrant grant;
  grant.code = "code";
  EXPECT_EQ(
      client_
          ->ExchangeGrant(credentials_, grant, clock_.Now() + absl::Seconds(60))
          .status()
          .code(),
      absl::StatusCode::kUnavailable);
  EXPECT_TRUE(waits_.empty());
}

TEST_F(RetryingOAuthClientTest, RevokeTokenIsRetried) {
  Make();
  EXPECT_CALL(*inner_, RevokeToken(_, absl::string_view("t"), _))
      .WillOnce(Return(Unavailable()))
      .WillOnce(Return(absl::OkStatus()));
  EXPECT_TRUE(
      client_->RevokeToken(credentials_, "t", clock_.Now() + absl::Seconds(60))
          .ok());
  EXPECT_THAT(waits_, ElementsAre(absl::Milliseconds(100)));
}

TEST_F(RetryingOAuthClientTest, RejectedGrantExchangeIsThatCallsAlone) {
  // A caller's grant for a grant type the client may not use, or a 401 on
  // it, must not refuse the profile's own token requests afterwards.
  Make();
  EXPECT_CALL(*inner_, ExchangeGrant)
      .WillOnce(Return(Failure(absl::StatusCode::kFailedPrecondition,
                               kReasonUnauthorizedClient)))
      .WillOnce(Return(Rejected()));
  EXPECT_CALL(*inner_, FetchToken).WillOnce(Return(Token()));
  UserGrant grant;
  grant.code = "x";
  const absl::Time deadline = clock_.Now() + absl::Seconds(60);
  EXPECT_FALSE(client_->ExchangeGrant(credentials_, grant, deadline).ok());
  EXPECT_FALSE(client_->ExchangeGrant(credentials_, grant, deadline).ok());
  EXPECT_TRUE(Fetch().ok());
}

TEST_F(RetryingOAuthClientTest, RejectedRevocationIsThatCallsAlone) {
  Make();
  EXPECT_CALL(*inner_, RevokeToken).WillOnce(Return(Rejected()));
  EXPECT_CALL(*inner_, FetchToken).WillOnce(Return(Token()));
  EXPECT_FALSE(
      client_->RevokeToken(credentials_, "t", clock_.Now() + absl::Seconds(60))
          .ok());
  EXPECT_TRUE(Fetch().ok());
}

TEST_F(RetryingOAuthClientTest, RememberedRejectionsAreBounded) {
  Make();
  EXPECT_CALL(*inner_, FetchToken).WillRepeatedly(Return(Rejected()));
  for (size_t i = 0; i <= kMaxRejectedCredentials; ++i) {
    credentials_.client_id = absl::StrCat("client-", i);
    Fetch().IgnoreError();
    clock_.Advance(absl::Milliseconds(1));  // so that each is newer
  }
  ::testing::Mock::VerifyAndClearExpectations(inner_);
  // The newest is still remembered; the oldest made room and goes upstream.
  EXPECT_CALL(*inner_, FetchToken).WillOnce(Return(Token()));
  EXPECT_FALSE(Fetch().ok());
  credentials_.client_id = "client-0";
  EXPECT_TRUE(Fetch().ok());
}

}  // namespace
}  // namespace tokenservice
