// TokenBroker in a fleet: its revocations go through SharedRevocations
// (here a fake that holds each Share until the test answers it), the
// other replicas' revocations come in through ApplySharedRevocation, and
// its fetches go through SharedTokens (a fake fleet store of one token).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/broker/token_broker.h"
#include "tests/base/fake_clock.h"
#include "tests/base/fake_timers.h"
#include "tests/server/ops/manual_executor.h"
#include "tests/server/upstream/mock_oauth_client.h"

namespace tokenservice {
namespace {

using ::mypos::token::v1::TOKEN_STATE_REVOKED;
using ::testing::_;
using ::testing::Return;

// Records each Share; the test answers them.
class FakeSharedRevocations final : public SharedRevocations {
 public:
  struct Shared {
    std::string fingerprint;
    absl::Time expires;
    ShareCallback done;
  };

  void Share(absl::string_view fingerprint, absl::Time expires,
             ShareCallback done) override {
    shared.push_back({std::string(fingerprint), expires, std::move(done)});
  }

  SharingHealth Health() const override { return health; }

  SharingHealth health;

  std::vector<Shared> shared;
};

// The fleet's store of one token: a fetch takes it when the broker
// accepts it, and otherwise asks myPOS and stores what came back.
class FakeSharedTokens final : public SharedTokens {
 public:
  void Fetch(const CredentialProfile&, const std::string&,
             Acceptable acceptable, UpstreamFetch fetch,
             TokenDone done) override {
    if (stored.has_value() && acceptable(*stored)) {
      ++taken;
      ExchangedToken exchanged;
      exchanged.token = *stored;
      std::move(done)(std::move(exchanged));
      return;
    }
    ++fetched;
    std::move(fetch)([this, done = std::move(done)](
                         absl::StatusOr<ExchangedToken> result) mutable {
      if (result.ok()) stored = result->token;
      std::move(done)(std::move(result));
    });
  }

  void Find(absl::string_view fingerprint, FindDone done) override {
    if (stored.has_value() && stored->fingerprint == fingerprint) {
      std::move(done)(*stored);
    } else {
      std::move(done)(absl::NotFoundError("not in the fleet"));
    }
  }

  // As another replica would have stored it.
  void Store(const std::string& value, absl::Time issued,
             absl::Duration lifetime, const std::string& credential) {
    CachedToken token;
    token.credential = credential;
    token.client_id = "client-1";
    token.access_token = value;
    token.token_type = "Bearer";
    token.fingerprint = Fingerprint(value);
    token.issue_time = issued;
    token.expire_time = issued + lifetime;
    stored = token;
  }

  std::optional<CachedToken> stored;
  int taken = 0;
  int fetched = 0;
};

class TokenBrokerFleetTest : public ::testing::Test {
 protected:
  TokenBrokerFleetTest()
      : credentials_("default", {{"default", {"client-1", "secret-1"}},
                                 {"other", {"client-1", "secret-1"}}}),
        broker_(*TokenBroker::Create(BrokerOptions{}, &credentials_, &upstream_,
                                     &timers_, &clock_, nullptr, &fleet_,
                                     &fleet_tokens_)) {}

  UpstreamToken Token(const std::string& value) {
    UpstreamToken token;
    token.access_token = value;
    token.token_type = "Bearer";
    token.expires_in = absl::Hours(1);
    return token;
  }

  // Issue for the default key, the executor run; the token handed out.
  std::string Issue() {
    std::string issued;
    broker_->Issue(IssueParams{}, [&issued](absl::StatusOr<IssuedToken> r) {
      ASSERT_TRUE(r.ok()) << r.status();
      issued = r->token->access_token;
    });
    executor_.RunAll();
    return issued;
  }

  void StartRevoke(RevokeParams params) {
    broker_->Revoke(std::move(params),
                    [this](absl::StatusOr<RevokeResult> r) { result_ = r; });
    executor_.RunAll();
  }

  FakeClock clock_;
  ManualExecutor executor_;
  FakeTimers timers_{&clock_};
  MockOAuthClient upstream_{&executor_};
  CredentialStore credentials_;
  FakeSharedRevocations fleet_;
  FakeSharedTokens fleet_tokens_;
  std::unique_ptr<TokenBroker> broker_;
  std::optional<absl::StatusOr<RevokeResult>> result_;
};

// A cached token leaves the fleet's caches while myPOS is asked (waiting
// for the fleet does not eat the caller's deadline), and the caller is
// answered once both have answered, hearing how many replicas confirmed.
TEST_F(TokenBrokerFleetTest, ACachedTokenIsSharedWhileMyposIsAsked) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(Token("tok-1")));
  ASSERT_EQ(Issue(), "tok-1");
  const absl::Time expires = clock_.Now() + absl::Hours(1);
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view("tok-1"), _))
      .WillOnce(Return(absl::OkStatus()));
  RevokeParams params;
  params.token = "tok-1";
  StartRevoke(params);  // myPOS has answered
  ASSERT_EQ(fleet_.shared.size(), 1u);
  EXPECT_EQ(fleet_.shared[0].fingerprint, Fingerprint("tok-1"));
  EXPECT_EQ(fleet_.shared[0].expires, expires);
  EXPECT_FALSE(result_.has_value());  // the fleet has not

  std::move(fleet_.shared[0].done)(RevocationReach{true, 3, 3});
  ASSERT_TRUE(result_.has_value());
  ASSERT_TRUE(result_->ok()) << result_->status();
  EXPECT_TRUE((*result_)->was_cached);
  ASSERT_TRUE((*result_)->reach.has_value());
  EXPECT_EQ((*result_)->reach->confirmed, 3);
  EXPECT_EQ((*result_)->reach->live, 3);
  EXPECT_EQ(fleet_.shared.size(), 1u);  // not shared a second time
}

// The other order: the fleet answers first, myPOS's failure then reaches
// the caller (the token stays out of every cache).
TEST_F(TokenBrokerFleetTest, MyposFailingAfterTheFleetAnsweredIsReported) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(Token("tok-1")));
  ASSERT_EQ(Issue(), "tok-1");
  EXPECT_CALL(upstream_, RevokeToken)
      .WillOnce(Return(absl::UnavailableError("myPOS down")));
  RevokeParams params;
  params.token = "tok-1";
  broker_->Revoke(params,
                  [this](absl::StatusOr<RevokeResult> r) { result_ = r; });
  ASSERT_EQ(fleet_.shared.size(), 1u);
  std::move(fleet_.shared[0].done)(RevocationReach{true, 2, 2});
  EXPECT_FALSE(result_.has_value());
  executor_.RunAll();
  ASSERT_TRUE(result_.has_value());
  EXPECT_EQ(result_->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
            TOKEN_STATE_REVOKED);
}

// A token not cached here (another replica handed it out) is shared once
// myPOS took its revocation from this profile's client, which proves the
// caller may revoke it.
TEST_F(TokenBrokerFleetTest, ATokenNotCachedHereIsSharedOnceMyposTookIt) {
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view("elsewhere"), _))
      .WillOnce(Return(absl::OkStatus()));
  RevokeParams params;
  params.token = "elsewhere";
  StartRevoke(params);
  ASSERT_EQ(fleet_.shared.size(), 1u);
  EXPECT_EQ(fleet_.shared[0].fingerprint, Fingerprint("elsewhere"));
  // Unknown expiry: listed for the longest a token may live.
  EXPECT_EQ(fleet_.shared[0].expires,
            clock_.Now() + BrokerOptions{}.max_token_lifetime);
  EXPECT_FALSE(result_.has_value());
  std::move(fleet_.shared[0].done)(RevocationReach{false, 1, 3});
  ASSERT_TRUE(result_.has_value());
  ASSERT_TRUE(result_->ok());
  EXPECT_FALSE((*result_)->was_cached);
  EXPECT_FALSE((*result_)->reach->published);
  EXPECT_EQ((*result_)->reach->confirmed, 1);
}

TEST_F(TokenBrokerFleetTest, ARevocationMyposRefusedIsNotShared) {
  EXPECT_CALL(upstream_, RevokeToken)
      .WillOnce(Return(absl::PermissionDeniedError("not your token")));
  RevokeParams params;
  params.token = "someone-elses";
  StartRevoke(params);
  EXPECT_TRUE(fleet_.shared.empty());
  ASSERT_TRUE(result_.has_value());
  EXPECT_EQ(result_->status().code(), absl::StatusCode::kPermissionDenied);
}

// Another replica's revocation: the token leaves the cache here and the
// next caller gets a new one.
TEST_F(TokenBrokerFleetTest, ASharedRevocationEvictsTheTokenHere) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(Token("tok-1")))
      .WillOnce(Return(Token("tok-2")));
  ASSERT_EQ(Issue(), "tok-1");
  broker_->ApplySharedRevocation(Fingerprint("tok-1"),
                                 clock_.Now() + absl::Hours(1));
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1"))->state(),
            TOKEN_STATE_REVOKED);
  EXPECT_EQ(Issue(), "tok-2");
  EXPECT_TRUE(fleet_.shared.empty());  // applied, not shared again
}

// A revocation that arrives while this replica's fetch is under way: if
// myPOS answers with the revoked token, it is not handed out (the caller
// is told to retry, as for any revoked token from myPOS).
TEST_F(TokenBrokerFleetTest, ASharedRevocationStopsAFetchUnderWay) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(Token("tok-1")));
  std::optional<absl::StatusOr<IssuedToken>> issued;
  broker_->Issue(IssueParams{},
                 [&issued](absl::StatusOr<IssuedToken> r) { issued = r; });
  broker_->ApplySharedRevocation(Fingerprint("tok-1"),
                                 clock_.Now() + absl::Hours(1));
  executor_.RunAll();
  ASSERT_TRUE(issued.has_value());
  EXPECT_EQ(issued->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(broker_->GetTokenInfo(Fingerprint("tok-1")).status().code(),
            absl::StatusCode::kNotFound);
}

// Guarantee 1: a token another replica fetched is handed out here without
// a request to myPOS.
TEST_F(TokenBrokerFleetTest, ATokenAnotherReplicaFetchedIsTakenWithoutMypos) {
  EXPECT_CALL(upstream_, FetchToken).Times(0);
  fleet_tokens_.Store("from-b", clock_.Now(), absl::Hours(1), "default");
  EXPECT_EQ(Issue(), "from-b");
  EXPECT_EQ(Issue(), "from-b");  // then cached here
  EXPECT_EQ(fleet_tokens_.taken, 1);
}

// Refresh ahead by one replica: this replica's refresh takes a newer token
// another replica already fetched, and asks myPOS only when the store
// holds the very token it replaces.
TEST_F(TokenBrokerFleetTest, ARefreshTakesANewerTokenAndNeverTheOneItReplaces) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(Token("tok-1")))
      .WillOnce(Return(Token("tok-2")));
  ASSERT_EQ(Issue(), "tok-1");
  clock_.Advance(absl::Minutes(50));  // in the refresh window
  EXPECT_EQ(Issue(), "tok-1");        // a hit; the refresh goes to myPOS
  EXPECT_EQ(fleet_tokens_.fetched, 2);
  EXPECT_EQ(Issue(), "tok-2");

  // Another replica refreshed before this one's refresh came due.
  clock_.Advance(absl::Minutes(40));
  fleet_tokens_.Store("tok-3", clock_.Now() - absl::Minutes(5), absl::Hours(1),
                      "default");
  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(Issue(), "tok-2");
  EXPECT_EQ(Issue(), "tok-3");
  EXPECT_EQ(fleet_tokens_.taken, 1);
  EXPECT_EQ(fleet_tokens_.fetched, 2);
}

// A stored token that was revoked, or has less validity left than a
// caller asks for, is not taken.
TEST_F(TokenBrokerFleetTest, ARevokedOrTooShortStoredTokenIsNotTaken) {
  EXPECT_CALL(upstream_, FetchToken)
      .WillOnce(Return(Token("tok-1")))
      .WillOnce(Return(Token("tok-2")));
  fleet_tokens_.Store("revoked", clock_.Now(), absl::Hours(1), "default");
  broker_->ApplySharedRevocation(Fingerprint("revoked"),
                                 clock_.Now() + absl::Hours(1));
  EXPECT_EQ(Issue(), "tok-1");

  broker_->ApplySharedRevocation(Fingerprint("tok-1"),
                                 clock_.Now() + absl::Hours(1));
  fleet_tokens_.Store("short", clock_.Now() - absl::Minutes(50), absl::Hours(1),
                      "default");
  IssueParams params;
  params.min_validity = absl::Minutes(20);
  std::string issued;
  broker_->Issue(params, [&issued](absl::StatusOr<IssuedToken> r) {
    ASSERT_TRUE(r.ok()) << r.status();
    issued = r->token->access_token;
  });
  executor_.RunAll();
  EXPECT_EQ(issued, "tok-2");
  EXPECT_EQ(fleet_tokens_.taken, 0);
}

// Revoke by fingerprint of a token only another replica holds: found in
// the fleet's store, revoked at myPOS and shared; another profile's
// fingerprint stays NOT_FOUND.
TEST_F(TokenBrokerFleetTest, RevokeByFingerprintFindsATokenHeldElsewhere) {
  fleet_tokens_.Store("elsewhere", clock_.Now(), absl::Hours(1), "default");
  EXPECT_CALL(upstream_, RevokeToken(_, absl::string_view("elsewhere"), _))
      .WillOnce(Return(absl::OkStatus()));
  RevokeParams params;
  params.fingerprint = Fingerprint("elsewhere");
  StartRevoke(params);
  ASSERT_EQ(fleet_.shared.size(), 1u);
  std::move(fleet_.shared[0].done)(RevocationReach{true, 3, 3});
  ASSERT_TRUE(result_.has_value());
  ASSERT_TRUE(result_->ok()) << result_->status();
  EXPECT_EQ((*result_)->reach->confirmed, 3);

  result_.reset();
  params.credential = "other";
  StartRevoke(params);
  ASSERT_TRUE(result_.has_value());
  EXPECT_EQ(result_->status().code(), absl::StatusCode::kNotFound);
}

// What WatchRevocations streams: a revocation made here (once the token
// left the cache) and one another replica shared.
TEST_F(TokenBrokerFleetTest, TheFeedHearsEveryRevocation) {
  std::vector<std::string> heard;
  broker_->revocation_feed().Subscribe([&heard](absl::string_view fingerprint) {
    heard.emplace_back(fingerprint);
  });
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(Token("tok-1")));
  ASSERT_EQ(Issue(), "tok-1");
  EXPECT_CALL(upstream_, RevokeToken).WillOnce(Return(absl::OkStatus()));
  RevokeParams params;
  params.token = "tok-1";
  StartRevoke(params);
  ASSERT_FALSE(heard.empty());
  EXPECT_EQ(heard[0], Fingerprint("tok-1"));

  broker_->ApplySharedRevocation(Fingerprint("elsewhere"),
                                 clock_.Now() + absl::Hours(1));
  EXPECT_EQ(heard.back(), Fingerprint("elsewhere"));
}

// Guarantee 5: GetTokenInfo says how this replica stands in the fleet.
TEST_F(TokenBrokerFleetTest, GetTokenInfoSaysWhetherTheFleetIsDegraded) {
  EXPECT_CALL(upstream_, FetchToken).WillOnce(Return(Token("tok-1")));
  ASSERT_EQ(Issue(), "tok-1");
  fleet_.health = SharingHealth{true, 3, 0};
  absl::StatusOr<mypos::token::v1::TokenInfo> info =
      broker_->GetTokenInfo(Fingerprint("tok-1"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->fleet().connected());
  EXPECT_EQ(info->fleet().replicas_live(), 3);

  fleet_.health = SharingHealth{false, 3, 2};
  info = broker_->GetTokenInfo(Fingerprint("tok-1"));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->fleet().connected());
  EXPECT_EQ(info->fleet().unshared_revocations(), 2);
}

}  // namespace
}  // namespace tokenservice
