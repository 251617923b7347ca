// TokenBroker: the promises hold at the moment a token is handed out, not
// only when it was looked up: no revoked or reported token reaches a
// caller, whichever way it would have come (a hit, a fetch's delivery to
// its waiters, another profile's copy, a refresh that brings it back).

#include <memory>
#include <string>
#include <utility>

#include "base/fingerprint.h"
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

using ::mypos::token::v1::TOKEN_STATE_REVOKED;
using ::testing::Return;

class TokenBrokerHandOutTest : public ::testing::Test {
 protected:
  TokenBrokerHandOutTest()
      : credentials_("default", {{"default", {"client-1", "secret-1"}},
                                 {"twin", {"client-1", "secret-1"}}}),
        broker_(*TokenBroker::Create(BrokerOptions{}, &credentials_, &upstream_,
                                     &timers_, &clock_)) {}

  static IssueParams Params(const std::string& profile = "") {
    IssueParams params;
    params.credential = profile;
    params.scopes = {"webhooks"};
    return params;
  }

  // Issues, runs what the call started, and returns the token or the error.
  absl::StatusOr<std::string> IssueNow(IssueParams params) {
    absl::StatusOr<std::string> out = absl::InternalError("no answer");
    broker_->Issue(std::move(params), [&out](absl::StatusOr<IssuedToken> r) {
      out = r.ok() ? absl::StatusOr<std::string>(r->token->access_token)
                   : r.status();
    });
    executor_.RunAll();
    return out;
  }

  // Revokes `token` by value; myPOS's answer is the test's expectation.
  void RevokeByValue(const std::string& token) {
    RevokeParams params;
    params.token = token;
    broker_->Revoke(std::move(params), [](absl::StatusOr<RevokeResult>) {});
  }

  FakeClock clock_;
  ManualExecutor executor_;
  FakeTimers timers_{&clock_};
  MockOAuthClient upstream_{&executor_};
  CredentialStore credentials_;
  std::unique_ptr<TokenBroker> broker_;
};

TEST_F(TokenBrokerHandOutTest, TokenRevokedByOneWaiterIsNotHandedToTheNext) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  EXPECT_CALL(upstream_, RevokeToken).WillOnce(Return(absl::OkStatus()));
  std::string first, second;
  broker_->Issue(Params(), [&](absl::StatusOr<IssuedToken> r) {
    ASSERT_TRUE(r.ok());
    first = r->token->access_token;
    RevokeByValue(first);  // e.g. it leaked
  });
  broker_->Issue(Params(), [&](absl::StatusOr<IssuedToken> r) {
    ASSERT_TRUE(r.ok()) << r.status();
    second = r->token->access_token;
  });
  executor_.RunAll();
  EXPECT_EQ(first, "tok-1");
  EXPECT_EQ(second, "tok-2");
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
            TOKEN_STATE_REVOKED);
  // No fleet: no fleet status.
  EXPECT_FALSE(broker_->GetTokenInfo(Fingerprint("tok-2"))->has_fleet());
}

TEST_F(TokenBrokerHandOutTest, ReportByOneWaiterRefreshesOnceForEveryone) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  std::string reporter, second;
  broker_->Issue(Params(), [&](absl::StatusOr<IssuedToken> r) {
    ASSERT_TRUE(r.ok());
    // myPOS refused tok-1 at once: report it and ask again.
    IssueParams again = Params();
    again.rejected_fingerprint = r->token->fingerprint;
    broker_->Issue(std::move(again), [&](absl::StatusOr<IssuedToken> r2) {
      ASSERT_TRUE(r2.ok());
      reporter = r2->token->access_token;
    });
  });
  broker_->Issue(Params(), [&](absl::StatusOr<IssuedToken> r) {
    ASSERT_TRUE(r.ok()) << r.status();
    second = r->token->access_token;
  });
  executor_.RunAll();
  EXPECT_EQ(reporter, "tok-2");
  EXPECT_EQ(second, "tok-2");
}

TEST_F(TokenBrokerHandOutTest, RevokedTwiceDuringHandOutIsTokenRevoked) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  EXPECT_CALL(upstream_, RevokeToken)
      .Times(2)
      .WillRepeatedly(Return(absl::OkStatus()));
  absl::Status last = absl::OkStatus();
  broker_->Issue(Params(), [&](absl::StatusOr<IssuedToken> r) {
    ASSERT_TRUE(r.ok());
    RevokeByValue(r->token->access_token);
    // Waits on the next fetch ahead of the other caller, and revokes its
    // token too.
    broker_->Issue(Params(), [&](absl::StatusOr<IssuedToken> r2) {
      ASSERT_TRUE(r2.ok());
      RevokeByValue(r2->token->access_token);
    });
  });
  broker_->Issue(Params(),
                 [&](absl::StatusOr<IssuedToken> r) { last = r.status(); });
  executor_.RunAll();
  EXPECT_THAT(last,
              StatusIs(absl::StatusCode::kUnavailable, kReasonTokenRevoked));
}

TEST_F(TokenBrokerHandOutTest, RevokingThroughOneProfileStopsItsTwin) {
  // The provider hands the still-valid token to the second profile of the
  // same client too.
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")))
      .WillOnce(Return(BearerToken("tok-3")));
  EXPECT_CALL(upstream_, RevokeToken).WillOnce(Return(absl::OkStatus()));
  ASSERT_EQ(*IssueNow(Params("default")), "tok-1");
  ASSERT_EQ(*IssueNow(Params("twin")), "tok-1");
  RevokeByValue("tok-1");
  executor_.RunAll();
  EXPECT_EQ(*IssueNow(Params("twin")), "tok-2");
  EXPECT_EQ(*IssueNow(Params("default")), "tok-3");
}

TEST_F(TokenBrokerHandOutTest,
       RefreshThatBringsARevokedTokenBackStoresNothing) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-1")));
  EXPECT_CALL(upstream_, RevokeToken).WillOnce(Return(absl::OkStatus()));
  ASSERT_EQ(*IssueNow(Params()), "tok-1");
  RevokeByValue("tok-1");
  executor_.RunAll();
  EXPECT_THAT(IssueNow(Params()), StatusIs(absl::StatusCode::kUnavailable,
                                           kReasonUpstreamBadReply));
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
            TOKEN_STATE_REVOKED);
}

TEST_F(TokenBrokerHandOutTest, TokenRevokedByValueUncachedIsNotStoredLater) {
  // Revoked by value while no entry held it (a fetch was under way, say):
  // when that fetch brings it in, it is not handed out.
  EXPECT_CALL(upstream_, RevokeToken).WillOnce(Return(absl::OkStatus()));
  RevokeByValue("tok-1");
  executor_.RunAll();
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  EXPECT_THAT(IssueNow(Params()), StatusIs(absl::StatusCode::kUnavailable,
                                           kReasonUpstreamBadReply));
}

}  // namespace
}  // namespace tokenservice
