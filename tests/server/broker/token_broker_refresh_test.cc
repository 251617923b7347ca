// TokenBroker: refresh ahead, failed refreshes, and revocation racing a
// refresh. Time is a FakeClock and fetches run when the test says.

#include <memory>
#include <optional>
#include <string>

#include "base/fingerprint.h"
#include "base/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/broker/token_broker.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"

namespace tokenservice {
namespace {

using ::mypos::token::v1::TOKEN_STATE_FAILED;
using ::mypos::token::v1::TOKEN_STATE_FRESH;
using ::testing::_;
using ::testing::Return;

class TokenBrokerRefreshTest : public ::testing::Test {
 protected:
  TokenBrokerRefreshTest()
      : credentials_("default", {{"default", {"id", "s"}}}) {
    Reset(0.0);
  }

  // A new broker whose jitter source always returns `jitter`.
  void Reset(double jitter, size_t max_caller_fetches = 1024) {
    BrokerOptions options;
    options.random = [jitter] { return jitter; };
    options.max_caller_fetches = max_caller_fetches;
    broker_ = *TokenBroker::Create(options, &credentials_, &upstream_, &timers_,
                                   &clock_);
  }

  // Issues and returns the token, running any fetch it starts first when
  // `run` is true.
  std::string Issue(bool run = true, bool* cached = nullptr) {
    std::optional<absl::StatusOr<IssuedToken>> result;
    broker_->Issue(IssueParams{}, [&result](absl::StatusOr<IssuedToken> r) {
      result = std::move(r);
    });
    if (run) executor_.RunAll();
    if (!result.has_value() || !result->ok()) return "<none>";
    if (cached != nullptr) *cached = (*result)->cached;
    return (*result)->token->access_token;
  }

  FakeClock clock_;
  ManualExecutor executor_;
  FakeTimers timers_{&clock_};
  MockOAuthClient upstream_{&executor_};
  CredentialStore credentials_;
  std::unique_ptr<TokenBroker> broker_;
};

TEST_F(TokenBrokerRefreshTest, RefreshHasCapacityWhenCallerMissesHaveNone) {
  Reset(0.0, /*max_caller_fetches=*/1);
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillRepeatedly(Return(BearerToken("tok-2")));
  EXPECT_EQ(Issue(), "tok-1");
  clock_.Advance(absl::Minutes(45));
  // Another scope set's miss takes the one fetch callers may have ...
  IssueParams other;
  other.scopes = {"other"};
  std::optional<absl::StatusOr<IssuedToken>> waiting, refused;
  broker_->Issue(other, [&](absl::StatusOr<IssuedToken> r) { waiting = r; });
  other.scopes = {"third"};
  broker_->Issue(other, [&](absl::StatusOr<IssuedToken> r) { refused = r; });
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status().code(), absl::StatusCode::kResourceExhausted);
  // ... and the refresh starts anyway, in the reserved lane.
  EXPECT_EQ(Issue(/*run=*/false), "tok-1");
  EXPECT_EQ(executor_.pending(), 2u);
  EXPECT_EQ(upstream_.lanes().back(), Lane::kReserved);
  EXPECT_EQ(upstream_.lanes().front(), Lane::kCaller);
  EXPECT_EQ(executor_.RunAll(), 2);
  EXPECT_TRUE(waiting.has_value() && waiting->ok());
}

TEST_F(TokenBrokerRefreshTest, RefreshIsSentThoughNobodyWaitsForIt) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  EXPECT_EQ(Issue(), "tok-1");
  clock_.Advance(absl::Minutes(45));
  EXPECT_EQ(Issue(/*run=*/false), "tok-1");  // starts the refresh, waits not
  EXPECT_EQ(executor_.RunAll(), 1);
  EXPECT_EQ(Issue(/*run=*/false), "tok-2");
}

TEST_F(TokenBrokerRefreshTest, RefreshWindowStartsOneBackgroundFetch) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  EXPECT_EQ(Issue(), "tok-1");
  // 1h token: the window is the last quarter, so refresh starts at 45m.
  clock_.Advance(absl::Minutes(45) - absl::Seconds(1));
  EXPECT_EQ(Issue(/*run=*/false), "tok-1");
  EXPECT_EQ(executor_.pending(), 0u);
  clock_.Advance(absl::Seconds(1));
  bool cached = false;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Issue(/*run=*/false, &cached), "tok-1") << "callers never wait";
    EXPECT_TRUE(cached);
  }
  EXPECT_EQ(executor_.pending(), 1u) << "one refresh for many hits";
  executor_.RunAll();
  EXPECT_EQ(Issue(/*run=*/false, &cached), "tok-2");
  EXPECT_TRUE(cached);
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-2"))->refresh_count(), 1);
}

TEST_F(TokenBrokerRefreshTest, JitterMovesTheRefreshEarlier) {
  Reset(0.5);
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  const absl::Time issued = clock_.Now();
  Issue();
  // Up to 20% of the 15m window earlier: 0.5 -> 1m30s earlier.
  EXPECT_EQ(
      broker_->GetTokenInfo(Fingerprint("tok-1"))->refresh_time().seconds(),
      absl::ToUnixSeconds(issued + absl::Minutes(45) - absl::Seconds(90)));
}

TEST_F(TokenBrokerRefreshTest, ShortLivedTokensGetAProportionateDefault) {
  // 60s token: default min validity 60s would never be met, so callers who
  // do not ask get a quarter of the lifetime; refresh starts at half-life.
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1", absl::Seconds(60))))
      .WillOnce(Return(BearerToken("tok-2", absl::Seconds(60))));
  EXPECT_EQ(Issue(), "tok-1");
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(Issue(/*run=*/false), "tok-1");
  EXPECT_EQ(executor_.pending(), 1u);
  executor_.RunAll();
  clock_.Advance(absl::Seconds(44));  // tok-2 has 16s left, > 15s
  EXPECT_EQ(Issue(/*run=*/false), "tok-2");
}

TEST_F(TokenBrokerRefreshTest, FailedRefreshKeepsServingAndRetriesLater) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(absl::UnavailableError("myPOS is down")))
      .WillOnce(Return(BearerToken("tok-2")));
  Issue();
  clock_.Advance(absl::Minutes(45));
  EXPECT_EQ(Issue(), "tok-1");  // starts the refresh, which fails
  auto info = broker_->GetTokenInfo(Fingerprint("tok-1"));
  EXPECT_EQ(info->state(), TOKEN_STATE_FAILED);
  EXPECT_EQ(info->last_error(), "myPOS is down");
  EXPECT_EQ(Issue(/*run=*/false), "tok-1");
  EXPECT_EQ(executor_.pending(), 0u) << "no retry before the backoff";
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Issue(/*run=*/false), "tok-1");
  EXPECT_EQ(executor_.pending(), 1u);
  executor_.RunAll();
  EXPECT_EQ(Issue(), "tok-2");
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-2"))->state(),
            TOKEN_STATE_FRESH);
}

TEST_F(TokenBrokerRefreshTest, FailedRefreshErrorReachesCallerWhoNeedsMore) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(absl::UnavailableError("myPOS is down")));
  Issue();
  clock_.Advance(absl::Minutes(59) + absl::Seconds(30));  // 30s left < 60s
  EXPECT_EQ(Issue(), "<none>");
}

TEST_F(TokenBrokerRefreshTest, RevokeDuringRefreshNeverServesRevokedToken) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view("tok-1"), _))
      .WillOnce(Return(absl::OkStatus()));
  Issue();
  clock_.Advance(absl::Minutes(45));
  EXPECT_EQ(Issue(/*run=*/false), "tok-1");  // refresh now in flight
  RevokeParams revoke;
  revoke.token = "tok-1";
  std::optional<absl::StatusOr<RevokeResult>> revoked;
  broker_->Revoke(revoke, [&](absl::StatusOr<RevokeResult> r) { revoked = r; });
  // Evicted at once: this caller joins the refresh instead of getting tok-1.
  std::optional<absl::StatusOr<IssuedToken>> after;
  broker_->Issue(IssueParams{},
                 [&](absl::StatusOr<IssuedToken> r) { after = r; });
  EXPECT_FALSE(after.has_value());
  executor_.RunAll();
  ASSERT_TRUE(revoked.has_value() && revoked->ok());
  EXPECT_TRUE((*revoked)->was_cached);
  EXPECT_EQ((*after)->token->access_token, "tok-2");
}

TEST_F(TokenBrokerRefreshTest, RevokeByFingerprintIsIdempotent) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view("tok-1"), _))
      .WillOnce(Return(absl::UnavailableError("down")))
      .WillOnce(Return(absl::OkStatus()));
  Issue();
  RevokeParams revoke;
  revoke.fingerprint = Fingerprint("tok-1");
  absl::StatusCode codes[3];
  for (absl::StatusCode& code : codes) {
    broker_->Revoke(revoke, [&code](absl::StatusOr<RevokeResult> r) {
      code = r.status().code();
    });
    executor_.RunAll();
  }
  // Failed at myPOS, retried by fingerprint, then OK with no further call.
  EXPECT_EQ(codes[0], absl::StatusCode::kUnavailable);
  EXPECT_EQ(codes[1], absl::StatusCode::kOk);
  EXPECT_EQ(codes[2], absl::StatusCode::kOk);
}

}  // namespace
}  // namespace tokenservice
