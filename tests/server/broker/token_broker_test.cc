#include "server/broker/token_broker.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Return;

// Records the one result a callback receives.
template <typename T>
struct Result {
  std::optional<absl::StatusOr<T>> value;
  absl::AnyInvocable<void(absl::StatusOr<T>) &&> Callback() {
    return [this](absl::StatusOr<T> r) {
      ASSERT_FALSE(value.has_value()) << "callback called twice";
      value = std::move(r);
    };
  }
};

class TokenBrokerTest : public ::testing::Test {
 protected:
  TokenBrokerTest()
      : credentials_("default", {{"default", {"client-1", "secret-1"}},
                                 {"other", {"client-2", "secret-2"}}}),
        broker_(*TokenBroker::Create(Options(), &credentials_, &upstream_,
                                     &timers_, &clock_)) {}

  static BrokerOptions Options() {
    BrokerOptions options;
    options.random = [] { return 0.0; };  // no jitter unless a test says
    return options;
  }

  IssueParams Params(std::vector<std::string> scopes = {}) {
    IssueParams params;
    params.scopes = std::move(scopes);
    return params;
  }

  FakeClock clock_;
  ManualExecutor executor_;
  FakeTimers timers_{&clock_};
  MockOAuthClient upstream_{&executor_};
  CredentialStore credentials_;
  std::unique_ptr<TokenBroker> broker_;
};

TEST_F(TokenBrokerTest, IssueMissFetchesOnceThenHitsCache) {
  EXPECT_CALL(upstream_,
              FetchToken(Field(&ClientCredentials::client_id, "client-1"),
                         ElementsAre("webhooks"), _))
      .WillOnce(Return(BearerToken("tok-1")));
  Result<IssuedToken> first;
  broker_->Issue(Params({"webhooks"}), first.Callback());
  EXPECT_FALSE(first.value.has_value()) << "a miss must not finish inline";
  EXPECT_EQ(executor_.RunAll(), 1);
  ASSERT_TRUE(first.value.has_value());
  ASSERT_TRUE(first.value->ok());
  EXPECT_FALSE((*first.value)->cached);
  EXPECT_EQ((*first.value)->token->access_token, "tok-1");
  EXPECT_EQ((*first.value)->token->fingerprint, Fingerprint("tok-1"));
  EXPECT_EQ((*first.value)->token->expire_time, clock_.Now() + absl::Hours(1));

  Result<IssuedToken> second;
  broker_->Issue(Params({"webhooks"}), second.Callback());
  ASSERT_TRUE(second.value.has_value()) << "a hit must finish inline";
  EXPECT_TRUE((*second.value)->cached);
  EXPECT_EQ((*second.value)->token->access_token, "tok-1");
  EXPECT_EQ(executor_.pending(), 0u);
}

// The two-callback Issue the gRPC handler uses: a hit or an immediate error
// reaches `at_once` and nothing else; a miss asks `later` once for the
// callback that gets the fetch's result.
TEST_F(TokenBrokerTest, IssueSaysWhetherTheAnswerIsAtHandOrComesLater) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  int at_once_calls = 0;
  int later_calls = 0;
  std::optional<absl::StatusOr<IssuedToken>> answer;
  Result<IssuedToken> fetched;
  auto at_once = [&](absl::StatusOr<IssuedToken> r) {
    ++at_once_calls;
    answer = std::move(r);
  };
  auto later = [&] {
    ++later_calls;
    return WaitingCaller{fetched.Callback()};
  };

  broker_->Issue(Params({"webhooks"}), at_once, later);  // miss
  EXPECT_EQ(at_once_calls, 0);
  EXPECT_EQ(later_calls, 1);
  EXPECT_FALSE(fetched.value.has_value());
  EXPECT_EQ(executor_.RunAll(), 1);
  ASSERT_TRUE(fetched.value.has_value());
  ASSERT_TRUE(fetched.value->ok());
  EXPECT_FALSE((*fetched.value)->cached);

  broker_->Issue(Params({"webhooks"}), at_once, later);  // hit
  EXPECT_EQ(at_once_calls, 1);
  EXPECT_EQ(later_calls, 1);
  ASSERT_TRUE(answer.has_value() && answer->ok());
  EXPECT_TRUE((*answer)->cached);
  EXPECT_EQ((*answer)->token->access_token, "tok-1");

  IssueParams unknown = Params();
  unknown.credential = "no-such-profile";
  broker_->Issue(std::move(unknown), at_once, later);  // immediate error
  EXPECT_EQ(at_once_calls, 2);
  EXPECT_EQ(later_calls, 1);
  EXPECT_EQ(answer->status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(executor_.pending(), 0u);
}

TEST_F(TokenBrokerTest, ConcurrentMissesShareOneFetch) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  Result<IssuedToken> results[3];
  for (auto& r : results) broker_->Issue(Params(), r.Callback());
  EXPECT_EQ(executor_.RunAll(), 1);
  for (auto& r : results) {
    ASSERT_TRUE(r.value.has_value());
    ASSERT_TRUE(r.value->ok());
    EXPECT_EQ((*r.value)->token->access_token, "tok-1");
  }
}

TEST_F(TokenBrokerTest, ScopeOrderAndDuplicatesShareOneKey) {
  EXPECT_CALL(upstream_, FetchToken(_, ElementsAre("a", "b"), _))
      .WillOnce(Return(BearerToken("tok-1")));
  Result<IssuedToken> first, second;
  broker_->Issue(Params({"b", "a"}), first.Callback());
  executor_.RunAll();
  broker_->Issue(Params({"a", "b", "a"}), second.Callback());
  ASSERT_TRUE(second.value.has_value());
  EXPECT_TRUE((*second.value)->cached);
}

TEST_F(TokenBrokerTest, DefaultScopesAreNormalisedAndShareTheKey) {
  CredentialProfile profile{"scoped", {"client-3", "secret-3"}};
  profile.default_scopes = {"b", "a", "b"};
  CredentialStore credentials("scoped", {profile});
  std::unique_ptr<TokenBroker> broker = *TokenBroker::Create(
      Options(), &credentials, &upstream_, &timers_, &clock_);
  EXPECT_CALL(upstream_, FetchToken(_, ElementsAre("a", "b"), _))
      .WillOnce(Return(BearerToken("tok-1")));
  Result<IssuedToken> first, second;
  broker->Issue(Params(), first.Callback());
  executor_.RunAll();
  broker->Issue(Params({"a", "b"}), second.Callback());
  ASSERT_TRUE(second.value.has_value());
  ASSERT_TRUE(second.value->ok());
  EXPECT_TRUE((*second.value)->cached);
  EXPECT_THAT((*second.value)->token->scopes, ElementsAre("a", "b"));
}

TEST_F(TokenBrokerTest, DifferentScopesAndProfilesAreDifferentKeys) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")))
      .WillOnce(Return(BearerToken("tok-3")));
  Result<IssuedToken> a, b, c;
  broker_->Issue(Params(), a.Callback());
  broker_->Issue(Params({"webhooks"}), b.Callback());
  IssueParams other = Params();
  other.credential = "other";
  broker_->Issue(other, c.Callback());
  EXPECT_EQ(executor_.RunAll(), 3);
  EXPECT_EQ((*c.value)->token->credential, "other");
  EXPECT_EQ((*c.value)->token->client_id, "client-2");
}

TEST_F(TokenBrokerTest, TokenWithTooLittleValidityLeftIsRefetched) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  Result<IssuedToken> first, second;
  broker_->Issue(Params(), first.Callback());
  executor_.RunAll();
  // Default min_validity is 60s: at 59m01s only 59s are left.
  clock_.Advance(absl::Minutes(59) + absl::Seconds(1));
  broker_->Issue(Params(), second.Callback());
  EXPECT_FALSE(second.value.has_value());
  executor_.RunAll();
  EXPECT_EQ((*second.value)->token->access_token, "tok-2");
  EXPECT_FALSE((*second.value)->cached);
}

TEST_F(TokenBrokerTest, MinValidityLargerThanLeftWaitsForNewToken) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  Result<IssuedToken> first, second;
  broker_->Issue(Params(), first.Callback());
  executor_.RunAll();
  clock_.Advance(absl::Minutes(30));
  IssueParams params = Params();
  params.min_validity = absl::Minutes(45);
  broker_->Issue(params, second.Callback());
  executor_.RunAll();
  EXPECT_EQ((*second.value)->token->access_token, "tok-2");
}

TEST_F(TokenBrokerTest, MinValidityBeyondTokenLifetimeIsOutOfRange) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  Result<IssuedToken> result;
  IssueParams params = Params();
  params.min_validity = absl::Hours(2);
  broker_->Issue(params, result.Callback());
  executor_.RunAll();
  EXPECT_EQ(result.value->status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(TokenBrokerTest, MinValidityBeyondKnownLifetimeAsksMyposNoMore) {
  // Before, every such call cost an upstream request (and a new token).
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(BearerToken("tok-1")));
  Result<IssuedToken> first;
  broker_->Issue(Params(), first.Callback());
  executor_.RunAll();
  for (int i = 0; i < 20; ++i) {
    Result<IssuedToken> result;
    IssueParams params = Params();
    params.min_validity = absl::Hours(2);
    broker_->Issue(params, result.Callback());
    ASSERT_TRUE(result.value.has_value());  // answered at once
    EXPECT_THAT(result.value->status(),
                StatusIs(absl::StatusCode::kOutOfRange,
                         kReasonMinValidityUnsatisfiable));
  }
  EXPECT_EQ(executor_.RunAll(), 0);
}

TEST_F(TokenBrokerTest, MinValidityNearTheLifetimeRefreshesOncePerInterval) {
  // 3,599.9 s of 1 h tokens: 20 calls cost 20 upstream requests before.
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  Result<IssuedToken> first;
  broker_->Issue(Params(), first.Callback());
  executor_.RunAll();
  IssueParams params = Params();
  params.min_validity = absl::Hours(1) - absl::Milliseconds(100);
  for (int i = 0; i < 20; ++i) {  // within --min_refresh_interval (10 s)
    clock_.Advance(absl::Milliseconds(400));
    Result<IssuedToken> result;
    broker_->Issue(params, result.Callback());
    ASSERT_TRUE(result.value.has_value());
    EXPECT_THAT(result.value->status(),
                StatusIs(absl::StatusCode::kOutOfRange,
                         kReasonMinValidityUnsatisfiable));
  }
  clock_.Advance(absl::Seconds(2));  // 10 s after tok-1: one more fetch
  Result<IssuedToken> later;
  broker_->Issue(params, later.Callback());
  executor_.RunAll();
  ASSERT_TRUE(later.value.has_value());
  EXPECT_EQ((*later.value)->token->access_token, "tok-2");
}

TEST_F(TokenBrokerTest, UnknownProfileIsNotFoundWithoutUpstreamCall) {
  EXPECT_CALL(upstream_, FetchToken).Times(0);
  Result<IssuedToken> result;
  IssueParams params = Params();
  params.credential = "nope";
  broker_->Issue(params, result.Callback());
  ASSERT_TRUE(result.value.has_value());
  EXPECT_EQ(result.value->status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TokenBrokerTest, UpstreamErrorReachesEveryWaiterAndIsNotCached) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(absl::FailedPreconditionError("rejected")))
      .WillOnce(Return(BearerToken("tok-1")));
  Result<IssuedToken> a, b, c;
  broker_->Issue(Params(), a.Callback());
  broker_->Issue(Params(), b.Callback());
  executor_.RunAll();
  EXPECT_EQ(a.value->status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(b.value->status().code(), absl::StatusCode::kFailedPrecondition);
  broker_->Issue(Params(), c.Callback());
  executor_.RunAll();
  EXPECT_EQ((*c.value)->token->access_token, "tok-1");
}

TEST_F(TokenBrokerTest, MissesBeyondMaxCallerFetchesAreRefusedAtOnce) {
  BrokerOptions options = Options();
  options.max_caller_fetches = 2;
  std::unique_ptr<TokenBroker> broker = *TokenBroker::Create(
      options, &credentials_, &upstream_, &timers_, &clock_);
  EXPECT_CALL(upstream_, FetchToken).WillRepeatedly(Return(BearerToken("tok")));
  Result<IssuedToken> a, a_again, b, c;
  broker->Issue(Params({"a"}), a.Callback());
  broker->Issue(Params({"a"}), a_again.Callback());  // joins, no new fetch
  broker->Issue(Params({"b"}), b.Callback());
  broker->Issue(Params({"c"}), c.Callback());  // a third fetch: refused
  ASSERT_TRUE(c.value.has_value());
  EXPECT_THAT(*c.value, StatusIs(absl::StatusCode::kResourceExhausted,
                                 kReasonUpstreamQueueFull));
  EXPECT_EQ(executor_.RunAll(), 2);
  EXPECT_TRUE(a.value->ok() && a_again.value->ok() && b.value->ok());
  // Fetches that ended make room again.
  Result<IssuedToken> c_again;
  broker->Issue(Params({"c"}), c_again.Callback());
  EXPECT_EQ(executor_.RunAll(), 1);
  EXPECT_TRUE(c_again.value->ok());
}

TEST_F(TokenBrokerTest, RejectionByManyCallersRefreshesExactlyOnce) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(BearerToken("tok-1")))
      .WillOnce(Return(BearerToken("tok-2")));
  Result<IssuedToken> first;
  broker_->Issue(Params(), first.Callback());
  executor_.RunAll();
  IssueParams report = Params();
  report.rejected_fingerprint = Fingerprint("tok-1");
  Result<IssuedToken> reports[5];
  for (auto& r : reports) broker_->Issue(report, r.Callback());
  EXPECT_EQ(executor_.RunAll(), 1);
  for (auto& r : reports) EXPECT_EQ((*r.value)->token->access_token, "tok-2");
  // A late report of the old token gets the new one with no upstream call.
  Result<IssuedToken> late;
  broker_->Issue(report, late.Callback());
  ASSERT_TRUE(late.value.has_value());
  EXPECT_TRUE((*late.value)->cached);
  EXPECT_EQ((*late.value)->token->access_token, "tok-2");
}

}  // namespace
}  // namespace tokenservice
