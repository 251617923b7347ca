// TokenCache: the tokens TokenService holds, with their metadata.
//
// Keyed by (profile, normalized scope set). A cache hit takes a reader lock
// and copies one shared pointer; tokens are immutable once stored.
//
// Lookup is the one gate through which every token reaches a caller (a
// hit, a fetch's result handed to its waiters, a re-check before joining a
// fetch): under the cache's lock it hands out a token only if it is not
// revoked, not reported rejected, and has the validity the caller needs.
// No entry ever holds a revoked token: Put refuses a fingerprint that the
// RevocationList holds, and Revoke drops every entry holding the token and
// lists it, both under the same lock. The same token may sit under several
// keys (a provider may hand the same still-valid token to two profiles of
// one client); the fingerprint index knows all of them.
//
// Revoked tokens' metadata (never the value) stays visible for a bounded
// number of entries. The cache never calls out while holding its lock
// (the RevocationList never calls back), so no network I/O ever happens
// under it.

#ifndef SERVER_BROKER_TOKEN_CACHE_H_
#define SERVER_BROKER_TOKEN_CACHE_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "proto/token_service.pb.h"
#include "server/broker/revocation_list.h"

namespace tokenservice {

// One token as the cache holds it. Immutable once stored.
struct CachedToken {
  std::string credential;
  std::string client_id;
  std::string access_token;
  std::string token_type;
  std::string fingerprint;
  std::vector<std::string> scopes;
  absl::Time issue_time;
  absl::Time expire_time;
  // When a background refresh should start (refresh ahead).
  absl::Time refresh_time;
  // The validity a caller who did not ask for any gets: the server default,
  // or a quarter of the lifetime for tokens too short-lived for it.
  absl::Duration default_min_validity;
  absl::Duration upstream_latency;
  // The serialized IssueResponse a cache hit sends
  // (server/broker/issue_reply.h); empty for tokens that are never served from
  // the cache.
  std::string hit_reply;
};

// The metadata of `token` that it carries itself: fingerprint, profile,
// client id, scopes, type, issue and expiry times, upstream latency.
mypos::token::v1::TokenInfo DescribeToken(const CachedToken& token);

struct CacheLookup {
  // nullptr on a miss.
  std::shared_ptr<const CachedToken> token;
  // A hit whose token is due for a background refresh that is not running
  // and not backing off after a failure.
  bool refresh_due = false;
};

// A revoked token the cache still remembers.
struct RevokedToken {
  std::string credential;
  // Kept until myPOS confirmed the revocation, so that it can be retried by
  // fingerprint; empty afterwards.
  std::string pending_access_token;
};

// The cache key of a profile and a normalized scope set. `credential` is
// the key's owner: a profile name, or for caller-supplied credentials the
// name and a keyed hash of the secret (TokenBroker).
std::string CacheKey(absl::string_view credential,
                     const std::vector<std::string>& normalized_scopes);

// The same key, built on the stack when it is short (as keys are: a
// profile name and a scope or two), so that a cache hit allocates nothing
// for it. Not copyable: view() points into it.
class StackCacheKey {
 public:
  StackCacheKey(absl::string_view credential,
                const std::vector<std::string>& normalized_scopes);
  StackCacheKey(const StackCacheKey&) = delete;
  StackCacheKey& operator=(const StackCacheKey&) = delete;

  absl::string_view view() const { return {data_, size_}; }
  std::string str() const { return std::string(view()); }

 private:
  char inline_[128];
  std::string heap_;  // for a key longer than inline_
  const char* data_;
  size_t size_;
};

// True when `key` (from CacheKey) belongs to `credential`.
bool KeyBelongsTo(absl::string_view key, absl::string_view credential);

// Thread-safe. Borrows `revocations`, which must outlive it.
class TokenCache {
 public:
  // Keeps the metadata of at most `revoked_retention` revoked tokens (and
  // the refresh counts of as many keys whose token left the cache), at most
  // `max_bounded` tokens stored with Put(..., bounded=true), and at most
  // `max_entries` tokens in all: past it, expired tokens go first, then the
  // one used least recently, never one being refreshed (callers wait on
  // it). Expired tokens are also dropped at most a minute after they
  // expire, as new tokens arrive.
  explicit TokenCache(RevocationList* revocations,
                      size_t revoked_retention = 1000,
                      size_t max_bounded = 10000, size_t max_entries = 10000);

  // The gate. The token under `key` if it has more than zero and at least
  // `min_validity` left at `now` (the token's default_min_validity when
  // unset) and was not rejected; a hit when `count_hit`.
  CacheLookup Lookup(absl::string_view key, absl::Time now,
                     std::optional<absl::Duration> min_validity,
                     bool count_hit = true) const ABSL_LOCKS_EXCLUDED(mu_);

  // Stores `token` under `key`, replacing (and forgetting) any older token;
  // a replacement counts as a refresh of the key. A `bounded` entry counts
  // against max_bounded: past it, the least recently used bounded entry is
  // forgotten. Returns false, storing nothing, when the token is revoked. A
  // token with less validity than the one under `key` (not rejected) does
  // not replace it: that one stays, and is not due for refresh for a
  // minute.
  bool Put(const std::string& key, std::shared_ptr<const CachedToken> token,
           bool bounded = false) ABSL_LOCKS_EXCLUDED(mu_);

  // Why no token under `key` can be handed to a caller that needs
  // `min_validity` at `now`, when no fetch can help either: kNo when one may
  // (no token, an expired or rejected one); kBeyondLifetime when the
  // token's whole lifetime is shorter; kTooSoon when it was fetched less
  // than `min_refresh_interval` ago, so that a caller cannot make the
  // server fetch again and again.
  enum class Unsatisfiable { kNo, kBeyondLifetime, kTooSoon };
  Unsatisfiable CheckMinValidity(const std::string& key, absl::Time now,
                                 absl::Duration min_validity,
                                 absl::Duration min_refresh_interval) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Number of keys held, and of bounded ones.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t bounded_size() const ABSL_LOCKS_EXCLUDED(mu_);

  // Records that refreshing the token under `key` failed with `error` at
  // `now`. The token stays in service; the next background refresh is due
  // after `initial_backoff` doubled for each failure since the last success,
  // at most `max_backoff`.
  void RecordRefreshFailure(const std::string& key, absl::string_view error,
                            absl::Time now, absl::Duration initial_backoff,
                            absl::Duration max_backoff)
      ABSL_LOCKS_EXCLUDED(mu_);

  // If the token under `key` has `fingerprint`, marks it rejected so that
  // Lookup no longer returns it from `key`, and returns true (also when it
  // already was). False when `key` holds another token or none.
  bool Reject(const std::string& key, absl::string_view fingerprint)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Marks whether a replacement for the token under `key` is being fetched.
  void SetRefreshing(const std::string& key, bool refreshing)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The cached token with `fingerprint`, or nullptr.
  std::shared_ptr<const CachedToken> FindByFingerprint(
      absl::string_view fingerprint) const ABSL_LOCKS_EXCLUDED(mu_);

  // The token under `key` whatever its state (rejected, expired), or
  // nullptr: never to hand out (that is Lookup), only to compare with.
  std::shared_ptr<const CachedToken> Held(const std::string& key) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Revokes the token with `fingerprint` here, if `may_revoke(key, token)`
  // holds for an entry that holds it (checked under the same lock): drops
  // every entry holding it with that entry's client id (the same myPOS
  // client, so the same token), lists it in the RevocationList until it
  // expires, and keeps its metadata as revoked at `now`. Returns the token,
  // or nullptr when no entry was revoked.
  using RevokePredicate =
      absl::FunctionRef<bool(absl::string_view key, const CachedToken& token)>;
  std::shared_ptr<const CachedToken> Revoke(absl::string_view fingerprint,
                                            absl::Time now,
                                            RevokePredicate may_revoke)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const CachedToken> Revoke(absl::string_view fingerprint,
                                            absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_) {
    return Revoke(fingerprint, now,
                  [](absl::string_view, const CachedToken&) { return true; });
  }

  // The revoked token with `fingerprint`, if still remembered.
  std::optional<RevokedToken> FindRevoked(absl::string_view fingerprint) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Lists `fingerprint` as revoked until `expires` unless a cached entry
  // holds it (then TokenCache::Revoke decides): for a token revoked by
  // value that was not cached here, so that a fetch already under way
  // cannot bring it in.
  void ListRevoked(absl::string_view fingerprint, absl::Time expires)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Forgets the value of a revoked token once myPOS confirmed revocation.
  void ConfirmRevoked(absl::string_view fingerprint) ABSL_LOCKS_EXCLUDED(mu_);

  // Metadata of the cached or recently revoked token with `fingerprint`.
  std::optional<mypos::token::v1::TokenInfo> Info(absl::string_view fingerprint,
                                                  absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Metadata of every cached and retained revoked token of `credential`
  // (every profile when empty), ordered by fingerprint.
  std::vector<mypos::token::v1::TokenInfo> List(absl::string_view credential,
                                                absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    std::shared_ptr<const CachedToken> token;
    mutable std::atomic<int64_t> hits{0};
    // Unix nanoseconds of the last hit, for LRU.
    mutable std::atomic<int64_t> last_used{0};
    bool bounded = false;
    bool rejected = false;
    bool refreshing = false;
    int64_t refreshes = 0;
    int failures = 0;  // refresh failures since the last success
    // When a fetch last returned for this key, kept token or not.
    absl::Time fetched = absl::InfinitePast();
    std::string last_error;
    absl::Time retry_time = absl::InfinitePast();
  };

  struct Revoked {
    mypos::token::v1::TokenInfo info;
    std::string pending_access_token;
  };

  static mypos::token::v1::TokenState State(const Entry& entry, absl::Time now);
  static mypos::token::v1::TokenInfo ToInfo(const Entry& entry, absl::Time now);

  // Forgets the entry used least recently (among bounded ones only when
  // `bounded_only`), except those being refreshed and `keep`.
  void EvictLeastRecentlyUsedLocked(bool bounded_only, const std::string& keep)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets every expired entry not being refreshed.
  void DropExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `it` and its fingerprint index entry, keeping its refresh count.
  void EraseLocked(absl::node_hash_map<std::string, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An entry that holds `fingerprint` (the first indexed), or nullptr.
  const Entry* FindLocked(absl::string_view fingerprint) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  RevocationList* const revocations_;
  const size_t revoked_retention_;
  const size_t max_bounded_;
  const size_t max_entries_;
  mutable Mutex mu_;
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::node_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Fingerprint -> every key in entries_ that holds it.
  absl::flat_hash_map<std::string, absl::InlinedVector<std::string, 1>>
      by_fingerprint_ ABSL_GUARDED_BY(mu_);
  // Oldest first.
  std::deque<Revoked> revoked_ ABSL_GUARDED_BY(mu_);
  // Refresh counts of keys whose token left the cache, oldest first, so
  // that a key's next token carries on counting; at most revoked_retention_.
  absl::flat_hash_map<std::string, int64_t> retired_refreshes_
      ABSL_GUARDED_BY(mu_);
  std::deque<std::string> retired_order_ ABSL_GUARDED_BY(mu_);
  size_t bounded_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_TOKEN_CACHE_H_
