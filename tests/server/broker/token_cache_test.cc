#include "server/broker/token_cache.h"

#include <memory>
#include <string>
#include <vector>

#include "base/fingerprint.h"
#include "gtest/gtest.h"
#include "tests/base/fake_clock.h"

namespace tokenservice {
namespace {

using ::mypos::token::v1::TOKEN_STATE_EXPIRED;
using ::mypos::token::v1::TOKEN_STATE_FAILED;
using ::mypos::token::v1::TOKEN_STATE_FRESH;
using ::mypos::token::v1::TOKEN_STATE_REFRESHING;
using ::mypos::token::v1::TOKEN_STATE_REVOKED;

std::shared_ptr<const CachedToken> MakeToken(
    const std::string& value, absl::Time issued,
    const std::string& profile = "default",
    const std::string& client_id = "client-1") {
  auto token = std::make_shared<CachedToken>();
  token->credential = profile;
  token->client_id = client_id;
  token->access_token = value;
  token->fingerprint = Fingerprint(value);
  token->issue_time = issued;
  token->expire_time = issued + absl::Hours(1);
  token->refresh_time = issued + absl::Minutes(45);
  token->default_min_validity = absl::Minutes(1);
  return token;
}

class TokenCacheTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  LocalRevocationList revocations_{&clock_};
  TokenCache cache_{&revocations_, /*revoked_retention=*/2};
  const std::string key_ = CacheKey("default", {"a", "b"});
};

TEST(CacheKeyTest, IsTheCredentialThenTheScopesSpaceSeparated) {
  EXPECT_EQ(CacheKey("default", {"a", "b"}), "default\na b");
  EXPECT_EQ(CacheKey("default", {"webhooks"}), "default\nwebhooks");
  EXPECT_EQ(CacheKey("other", {}), "other\n");
  EXPECT_NE(CacheKey("a", {"b"}), CacheKey("a\nb", {}));
}

TEST(CacheKeyTest, TheStackKeyIsTheSameKeyShortOrLong) {
  const std::vector<std::vector<std::string>> scope_sets = {
      {}, {"webhooks"}, {"a", "b"}, {std::string(200, 's'), "t"}};
  for (const std::vector<std::string>& scopes : scope_sets) {
    const StackCacheKey key("default", scopes);
    EXPECT_EQ(key.view(), CacheKey("default", scopes));
    EXPECT_EQ(key.str(), CacheKey("default", scopes));
  }
}

TEST_F(TokenCacheTest, LookupTakesTheStackKey) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  const StackCacheKey key("default", {"a", "b"});
  EXPECT_NE(cache_.Lookup(key.view(), clock_.Now(), std::nullopt).token,
            nullptr);
}

TEST_F(TokenCacheTest, LookupOfEmptyCacheMisses) {
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), absl::ZeroDuration()).token,
            nullptr);
}

TEST_F(TokenCacheTest, LookupAfterPutHitsAndCounts) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  auto hit = cache_.Lookup(key_, clock_.Now(), absl::Minutes(1)).token;
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->access_token, "t1");
  cache_.Lookup(key_, clock_.Now(), absl::Minutes(1)).token;
  EXPECT_EQ(cache_.Info(Fingerprint("t1"), clock_.Now())->hit_count(), 2);
}

TEST_F(TokenCacheTest, LookupWithTooLittleValidityLeftMisses) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  clock_.Advance(absl::Minutes(50));
  EXPECT_NE(cache_.Lookup(key_, clock_.Now(), absl::Minutes(10)).token,
            nullptr);
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), absl::Minutes(11)).token,
            nullptr);
}

TEST_F(TokenCacheTest, LookupAfterExpiryMissesAndInfoSaysExpired) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), absl::ZeroDuration()).token,
            nullptr);
  EXPECT_EQ(cache_.Info(Fingerprint("t1"), clock_.Now())->state(),
            TOKEN_STATE_EXPIRED);
}

TEST_F(TokenCacheTest, PutReplacesOldTokenAndItsFingerprint) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  cache_.Put(key_, MakeToken("t2", clock_.Now()));
  EXPECT_EQ(cache_.FindByFingerprint(Fingerprint("t1")), nullptr);
  EXPECT_EQ(cache_.FindByFingerprint(Fingerprint("t2"))->access_token, "t2");
}

TEST_F(TokenCacheTest, RejectOnlyMatchingFingerprintHidesToken) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  EXPECT_FALSE(cache_.Reject(key_, Fingerprint("other")));
  EXPECT_NE(cache_.Lookup(key_, clock_.Now(), absl::ZeroDuration()).token,
            nullptr);
  EXPECT_TRUE(cache_.Reject(key_, Fingerprint("t1")));
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), absl::ZeroDuration()).token,
            nullptr);
  EXPECT_EQ(cache_.Info(Fingerprint("t1"), clock_.Now())->state(),
            TOKEN_STATE_REFRESHING);
}

TEST_F(TokenCacheTest, RevokeOnlyWhatThePredicateAllows) {
  const std::string key = CacheKey("default", {"a"});
  cache_.Put(key, MakeToken("t1", clock_.Now()));
  std::string seen_key;
  EXPECT_EQ(cache_.Revoke(Fingerprint("t1"), clock_.Now(),
                          [&seen_key](absl::string_view k, const CachedToken&) {
                            seen_key = std::string(k);
                            return false;
                          }),
            nullptr);
  EXPECT_EQ(seen_key, key);
  EXPECT_NE(cache_.Lookup(key, clock_.Now(), absl::ZeroDuration()).token,
            nullptr);
  EXPECT_NE(cache_.Revoke(Fingerprint("t1"), clock_.Now(),
                          [](absl::string_view k, const CachedToken&) {
                            return KeyBelongsTo(k, "default");
                          }),
            nullptr);
  EXPECT_EQ(cache_.Lookup(key, clock_.Now(), absl::ZeroDuration()).token,
            nullptr);
}

TEST(KeyBelongsToTest, MatchesTheWholeCredentialOnly) {
  const std::string key = CacheKey("caller-supplied:id#abc", {"a", "b"});
  EXPECT_TRUE(KeyBelongsTo(key, "caller-supplied:id#abc"));
  EXPECT_FALSE(KeyBelongsTo(key, "caller-supplied:id"));
  EXPECT_FALSE(KeyBelongsTo(key, "caller-supplied:id#ab"));
  EXPECT_FALSE(KeyBelongsTo(key, "caller-supplied:id#abcd"));
  EXPECT_TRUE(KeyBelongsTo(CacheKey("p", {}), "p"));
  EXPECT_FALSE(KeyBelongsTo("p", "p"));
}

TEST_F(TokenCacheTest, RevokeRemovesTokenAndKeepsBoundedMetadata) {
  for (const char* t : {"t1", "t2", "t3"}) {
    const std::string key = CacheKey("default", {t});
    cache_.Put(key, MakeToken(t, clock_.Now()));
    EXPECT_EQ(cache_.Revoke(Fingerprint(t), clock_.Now())->access_token, t);
    EXPECT_EQ(cache_.Lookup(key, clock_.Now(), absl::ZeroDuration()).token,
              nullptr);
  }
  EXPECT_EQ(cache_.Revoke(Fingerprint("t3"), clock_.Now()), nullptr);
  // Retention 2: t1's metadata is gone, t2 and t3 remain as revoked.
  EXPECT_FALSE(cache_.Info(Fingerprint("t1"), clock_.Now()).has_value());
  auto info = cache_.Info(Fingerprint("t3"), clock_.Now());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->state(), TOKEN_STATE_REVOKED);
  EXPECT_EQ(info->revoke_time().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(cache_.List("", clock_.Now()).size(), 2u);
}

TEST_F(TokenCacheTest, ListFiltersByProfileAndSorts) {
  cache_.Put(CacheKey("a", {}), MakeToken("t1", clock_.Now(), "a"));
  cache_.Put(CacheKey("b", {}), MakeToken("t2", clock_.Now(), "b"));
  cache_.Put(CacheKey("a", {"x"}), MakeToken("t3", clock_.Now(), "a"));
  auto a = cache_.List("a", clock_.Now());
  ASSERT_EQ(a.size(), 2u);
  EXPECT_LT(a[0].fingerprint(), a[1].fingerprint());
  EXPECT_EQ(a[0].state(), TOKEN_STATE_FRESH);
  EXPECT_EQ(cache_.List("", clock_.Now()).size(), 3u);
}

TEST_F(TokenCacheTest, UnsetMinValidityUsesTheTokensDefault) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  clock_.Advance(absl::Minutes(58) + absl::Seconds(59));
  EXPECT_NE(cache_.Lookup(key_, clock_.Now(), std::nullopt).token, nullptr);
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), std::nullopt).token, nullptr);
  EXPECT_NE(cache_.Lookup(key_, clock_.Now(), absl::Seconds(1)).token, nullptr);
}

TEST_F(TokenCacheTest, RefreshIsDueFromRefreshTimeUntilMarkedRefreshing) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  EXPECT_FALSE(cache_.Lookup(key_, clock_.Now(), std::nullopt).refresh_due);
  clock_.Advance(absl::Minutes(45));
  EXPECT_TRUE(cache_.Lookup(key_, clock_.Now(), std::nullopt).refresh_due);
  cache_.SetRefreshing(key_, true);
  EXPECT_FALSE(cache_.Lookup(key_, clock_.Now(), std::nullopt).refresh_due);
}

TEST_F(TokenCacheTest, RefreshFailureKeepsTokenAndBacksOffExponentially) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  clock_.Advance(absl::Minutes(45));
  cache_.RecordRefreshFailure(key_, "myPOS down", clock_.Now(),
                              absl::Seconds(1), absl::Seconds(3));
  CacheLookup hit = cache_.Lookup(key_, clock_.Now(), std::nullopt);
  ASSERT_NE(hit.token, nullptr);
  EXPECT_FALSE(hit.refresh_due);
  auto info = cache_.Info(Fingerprint("t1"), clock_.Now());
  EXPECT_EQ(info->state(), TOKEN_STATE_FAILED);
  EXPECT_EQ(info->last_error(), "myPOS down");
  EXPECT_EQ(info->failed_refreshes(), 1);
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(cache_.Lookup(key_, clock_.Now(), std::nullopt).refresh_due);
  // Second failure: 2s; third: capped at 3s.
  cache_.RecordRefreshFailure(key_, "again", clock_.Now(), absl::Seconds(1),
                              absl::Seconds(3));
  clock_.Advance(absl::Milliseconds(1999));
  EXPECT_FALSE(cache_.Lookup(key_, clock_.Now(), std::nullopt).refresh_due);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(cache_.Lookup(key_, clock_.Now(), std::nullopt).refresh_due);
  cache_.RecordRefreshFailure(key_, "again", clock_.Now(), absl::Seconds(1),
                              absl::Seconds(3));
  clock_.Advance(absl::Milliseconds(2999));
  EXPECT_FALSE(cache_.Lookup(key_, clock_.Now(), std::nullopt).refresh_due);
  // A new token clears the failure record and counts a refresh.
  cache_.Put(key_, MakeToken("t2", clock_.Now()));
  info = cache_.Info(Fingerprint("t2"), clock_.Now());
  EXPECT_EQ(info->state(), mypos::token::v1::TOKEN_STATE_FRESH);
  EXPECT_EQ(info->refresh_count(), 1);
  EXPECT_EQ(info->last_error(), "");
}

TEST_F(TokenCacheTest, RevokedTokenIsPendingUntilConfirmed) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  cache_.Revoke(Fingerprint("t1"), clock_.Now());
  auto revoked = cache_.FindRevoked(Fingerprint("t1"));
  ASSERT_TRUE(revoked.has_value());
  EXPECT_EQ(revoked->credential, "default");
  EXPECT_EQ(revoked->pending_access_token, "t1");
  cache_.ConfirmRevoked(Fingerprint("t1"));
  EXPECT_EQ(cache_.FindRevoked(Fingerprint("t1"))->pending_access_token, "");
  EXPECT_FALSE(cache_.FindRevoked(Fingerprint("t2")).has_value());
}

TEST_F(TokenCacheTest, RevokedTokenIsNeverStoredAgainWhileValid) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  ASSERT_NE(cache_.Revoke(Fingerprint("t1"), clock_.Now()), nullptr);
  // A refresh that gets the same token back from the provider.
  EXPECT_FALSE(cache_.Put(key_, MakeToken("t1", clock_.Now())));
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), std::nullopt).token, nullptr);
  EXPECT_EQ(cache_.Info(Fingerprint("t1"), clock_.Now())->state(),
            TOKEN_STATE_REVOKED);
  EXPECT_TRUE(cache_.Put(key_, MakeToken("t2", clock_.Now())));
}

TEST_F(TokenCacheTest, RevokeDropsEveryKeyHoldingTheSameClientsToken) {
  // Some providers hand a still-valid token out again: two profiles of one
  // client id may hold the same token.
  const std::string twin = CacheKey("twin", {"a", "b"});
  const std::string other = CacheKey("other", {"a", "b"});
  cache_.Put(key_, MakeToken("t1", clock_.Now(), "default"));
  cache_.Put(twin, MakeToken("t1", clock_.Now(), "twin"));
  cache_.Put(other, MakeToken("t1", clock_.Now(), "other", "client-2"));
  ASSERT_NE(cache_.Revoke(Fingerprint("t1"), clock_.Now(),
                          [](absl::string_view key, const CachedToken&) {
                            return KeyBelongsTo(key, "default");
                          }),
            nullptr);
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), std::nullopt).token, nullptr);
  EXPECT_EQ(cache_.Lookup(twin, clock_.Now(), std::nullopt).token, nullptr);
  // Another client's copy is another client's business.
  EXPECT_NE(cache_.Lookup(other, clock_.Now(), std::nullopt).token, nullptr);
}

TEST_F(TokenCacheTest, ReplacingOneKeysTokenKeepsTheOtherKeysIndexed) {
  const std::string twin = CacheKey("twin", {"a", "b"});
  cache_.Put(key_, MakeToken("t1", clock_.Now(), "default"));
  cache_.Put(twin, MakeToken("t1", clock_.Now(), "twin"));
  cache_.Put(key_, MakeToken("t2", clock_.Now(), "default"));
  ASSERT_NE(cache_.Revoke(Fingerprint("t1"), clock_.Now()), nullptr);
  EXPECT_EQ(cache_.Lookup(twin, clock_.Now(), std::nullopt).token, nullptr);
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), std::nullopt).token->access_token,
            "t2");
}

TEST_F(TokenCacheTest, RefreshCountCarriesOnAfterARevoke) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  cache_.Put(key_, MakeToken("t2", clock_.Now()));
  cache_.Revoke(Fingerprint("t2"), clock_.Now());
  cache_.Put(key_, MakeToken("t3", clock_.Now()));
  EXPECT_EQ(cache_.Info(Fingerprint("t3"), clock_.Now())->refresh_count(), 2);
}

TEST_F(TokenCacheTest, FailedRefreshAfterARejectionShowsFailed) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  ASSERT_TRUE(cache_.Reject(key_, Fingerprint("t1")));
  cache_.SetRefreshing(key_, true);
  EXPECT_EQ(cache_.Info(Fingerprint("t1"), clock_.Now())->state(),
            TOKEN_STATE_REFRESHING);
  cache_.RecordRefreshFailure(key_, "myPOS down", clock_.Now(),
                              absl::Seconds(1), absl::Seconds(60));
  auto info = cache_.Info(Fingerprint("t1"), clock_.Now());
  EXPECT_EQ(info->state(), TOKEN_STATE_FAILED);
  EXPECT_EQ(info->last_error(), "myPOS down");
}

TEST_F(TokenCacheTest, LookupThatIsNoHitCountsNone) {
  cache_.Put(key_, MakeToken("t1", clock_.Now()));
  ASSERT_NE(cache_
                .Lookup(key_, clock_.Now(), std::nullopt,
                        /*count_hit=*/false)
                .token,
            nullptr);
  EXPECT_EQ(cache_.Info(Fingerprint("t1"), clock_.Now())->hit_count(), 0);
}

TEST_F(TokenCacheTest, EveryEntryIsBoundedLeastRecentlyUsedFirst) {
  // Before, only caller-supplied credentials had a bound: 20,000 distinct
  // scope sets made 20,000 entries.
  TokenCache cache(&revocations_, 2, 10000, /*max_entries=*/3);
  for (const char* t : {"t1", "t2", "t3"}) {
    cache.Put(CacheKey("default", {t}), MakeToken(t, clock_.Now()));
    clock_.Advance(absl::Seconds(1));
  }
  // t1 is used again, so t2 is the least recently used.
  ASSERT_NE(
      cache.Lookup(CacheKey("default", {"t1"}), clock_.Now(), std::nullopt)
          .token,
      nullptr);
  clock_.Advance(absl::Seconds(1));
  cache.Put(CacheKey("default", {"t4"}), MakeToken("t4", clock_.Now()));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.FindByFingerprint(Fingerprint("t2")), nullptr);
  EXPECT_NE(cache.FindByFingerprint(Fingerprint("t1")), nullptr);
}

TEST_F(TokenCacheTest, ATokenBeingRefreshedIsNeverEvicted) {
  TokenCache cache(&revocations_, 2, 10000, /*max_entries=*/1);
  const std::string busy = CacheKey("default", {"busy"});
  cache.Put(busy, MakeToken("t1", clock_.Now()));
  cache.SetRefreshing(busy, true);  // callers wait on its replacement
  clock_.Advance(absl::Seconds(1));
  cache.Put(CacheKey("default", {"other"}), MakeToken("t2", clock_.Now()));
  EXPECT_NE(cache.FindByFingerprint(Fingerprint("t1")), nullptr);
}

TEST_F(TokenCacheTest, ExpiredEntriesAreDroppedAsNewTokensArrive) {
  cache_.Put(CacheKey("default", {"once"}), MakeToken("t1", clock_.Now()));
  clock_.Advance(absl::Hours(2));  // t1 expired an hour ago
  cache_.Put(key_, MakeToken("t2", clock_.Now()));
  EXPECT_EQ(cache_.size(), 1u);
  EXPECT_FALSE(cache_.Info(Fingerprint("t1"), clock_.Now()).has_value());
}

TEST_F(TokenCacheTest, ARefreshNeverReplacesTheTokenWithAShorterOne) {
  cache_.Put(key_, MakeToken("long", clock_.Now()));  // valid for 1 h
  clock_.Advance(absl::Minutes(50));
  auto shorter =
      std::make_shared<CachedToken>(*MakeToken("short", clock_.Now()));
  shorter->expire_time = clock_.Now() + absl::Minutes(5);  // 10 min less
  EXPECT_TRUE(cache_.Put(key_, shorter));
  CacheLookup hit = cache_.Lookup(key_, clock_.Now(), std::nullopt);
  ASSERT_NE(hit.token, nullptr);
  EXPECT_EQ(hit.token->access_token, "long");
  EXPECT_FALSE(hit.refresh_due);  // not again for a minute
  EXPECT_EQ(cache_.Info(Fingerprint("long"), clock_.Now())->state(),
            TOKEN_STATE_FAILED);
  // A rejected token is replaced whatever the new one's validity.
  ASSERT_TRUE(cache_.Reject(key_, Fingerprint("long")));
  EXPECT_TRUE(cache_.Put(key_, shorter));
  EXPECT_EQ(cache_.Lookup(key_, clock_.Now(), std::nullopt).token->access_token,
            "short");
}

TEST_F(TokenCacheTest, AKeptTokenStillCountsAsJustFetched) {
  // The kept token's issue time is old, but the key was just fetched: a
  // min_validity over what is left must not fetch again at once.
  cache_.Put(key_, MakeToken("long", clock_.Now()));
  clock_.Advance(absl::Minutes(50));
  auto shorter =
      std::make_shared<CachedToken>(*MakeToken("short", clock_.Now()));
  shorter->expire_time = clock_.Now() + absl::Minutes(5);
  cache_.Put(key_, shorter);
  EXPECT_EQ(cache_.CheckMinValidity(key_, clock_.Now(), absl::Minutes(30),
                                    absl::Seconds(10)),
            TokenCache::Unsatisfiable::kTooSoon);
}

TEST_F(TokenCacheTest, ExpiredEntriesAreDroppedAsKnownKeysRefreshToo) {
  cache_.Put(CacheKey("default", {"once"}), MakeToken("t1", clock_.Now()));
  cache_.Put(key_, MakeToken("t2", clock_.Now()));
  clock_.Advance(absl::Hours(2));
  cache_.Put(key_, MakeToken("t3", clock_.Now()));  // no new key
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(TokenCacheTest, ListRevokedKeepsAnUncachedTokenOut) {
  cache_.ListRevoked(Fingerprint("t1"), clock_.Now() + absl::Hours(24));
  EXPECT_FALSE(cache_.Put(key_, MakeToken("t1", clock_.Now())));
  // A token some entry holds is left to Revoke, which knows whose it is.
  cache_.Put(key_, MakeToken("t2", clock_.Now()));
  cache_.ListRevoked(Fingerprint("t2"), clock_.Now() + absl::Hours(24));
  EXPECT_NE(cache_.Lookup(key_, clock_.Now(), std::nullopt).token, nullptr);
}

}  // namespace
}  // namespace tokenservice
