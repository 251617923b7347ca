#include "server/broker/token_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/time_util.h"

namespace tokenservice {

using mypos::token::v1::TokenInfo;

namespace {

size_t KeySize(absl::string_view credential,
               const std::vector<std::string>& normalized_scopes) {
  size_t size = credential.size() + 1 + normalized_scopes.size();
  for (const std::string& scope : normalized_scopes) size += scope.size();
  return size - (normalized_scopes.empty() ? 0 : 1);
}

// Writes the key into `out`, which has room for KeySize bytes.
void WriteKey(absl::string_view credential,
              const std::vector<std::string>& normalized_scopes, char* out) {
  out = std::copy(credential.begin(), credential.end(), out);
  *out++ = '\n';
  for (size_t i = 0; i < normalized_scopes.size(); ++i) {
    if (i > 0) *out++ = ' ';
    out = std::copy(normalized_scopes[i].begin(), normalized_scopes[i].end(),
                    out);
  }
}

}  // namespace

std::string CacheKey(absl::string_view credential,
                     const std::vector<std::string>& normalized_scopes) {
  std::string key(KeySize(credential, normalized_scopes), '\0');
  WriteKey(credential, normalized_scopes, key.data());
  return key;
}

StackCacheKey::StackCacheKey(absl::string_view credential,
                             const std::vector<std::string>& normalized_scopes)
    : size_(KeySize(credential, normalized_scopes)) {
  char* out = inline_;
  if (size_ > sizeof(inline_)) {
    heap_.resize(size_);
    out = heap_.data();
  }
  WriteKey(credential, normalized_scopes, out);
  data_ = out;
}

bool KeyBelongsTo(absl::string_view key, absl::string_view credential) {
  return key.size() > credential.size() && key[credential.size()] == '\n' &&
         key.substr(0, credential.size()) == credential;
}

TokenCache::TokenCache(RevocationList* revocations, size_t revoked_retention,
                       size_t max_bounded, size_t max_entries)
    : revocations_(revocations),
      revoked_retention_(revoked_retention),
      max_bounded_(max_bounded),
      max_entries_(max_entries) {}

CacheLookup TokenCache::Lookup(absl::string_view key, absl::Time now,
                               std::optional<absl::Duration> min_validity,
                               bool count_hit) const {
  ReaderMutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.rejected) return {};
  const Entry& entry = it->second;
  const absl::Duration left = entry.token->expire_time - now;
  if (left <= absl::ZeroDuration() ||
      left < min_validity.value_or(entry.token->default_min_validity)) {
    return {};
  }
  if (count_hit) entry.hits.fetch_add(1, std::memory_order_relaxed);
  entry.last_used.store(absl::ToUnixNanos(now), std::memory_order_relaxed);
  const bool due = !entry.refreshing &&
                   now >= std::max(entry.token->refresh_time, entry.retry_time);
  return {entry.token, due};
}

bool TokenCache::Put(const std::string& key,
                     std::shared_ptr<const CachedToken> token, bool bounded) {
  MutexLock lock(&mu_);
  if (revocations_->Contains(token->fingerprint, token->issue_time)) {
    return false;
  }
  if (token->issue_time - last_sweep_ >= absl::Minutes(1) ||
      entries_.size() >= max_entries_) {
    last_sweep_ = token->issue_time;
    DropExpiredLocked(token->issue_time);
  }
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& entry = it->second;
  if (!inserted && !entry.rejected &&
      token->expire_time < entry.token->expire_time) {
    // A refresh never replaces the shared token with one that has less
    // validity: the cached one stays, and the key is not refreshed again
    // for a minute (a failed refresh, as far as metadata goes).
    entry.refreshing = false;
    entry.fetched = token->issue_time;
    ++entry.failures;
    entry.last_error =
        "myPOS returned a token with less validity than the cached one; the "
        "cached one stays";
    entry.retry_time = token->issue_time + absl::Minutes(1);
    return true;
  }
  if (!inserted) {
    auto& keys = by_fingerprint_[entry.token->fingerprint];
    keys.erase(std::remove(keys.begin(), keys.end(), key), keys.end());
    if (keys.empty()) by_fingerprint_.erase(entry.token->fingerprint);
    ++entry.refreshes;
  } else {
    if (bounded) {
      entry.bounded = true;
      ++bounded_;
    }
    auto retired = retired_refreshes_.find(key);
    if (retired != retired_refreshes_.end()) {
      entry.refreshes = retired->second + 1;
      retired_refreshes_.erase(retired);
    }
  }
  entry.last_used.store(absl::ToUnixNanos(token->issue_time),
                        std::memory_order_relaxed);
  by_fingerprint_[token->fingerprint].push_back(key);
  entry.fetched = token->issue_time;
  entry.token = std::move(token);
  entry.hits.store(0, std::memory_order_relaxed);
  entry.rejected = false;
  entry.refreshing = false;
  entry.failures = 0;
  entry.last_error.clear();
  entry.retry_time = absl::InfinitePast();
  if (bounded_ > max_bounded_) EvictLeastRecentlyUsedLocked(true, key);
  if (entries_.size() > max_entries_) EvictLeastRecentlyUsedLocked(false, key);
  return true;
}

void TokenCache::DropExpiredLocked(absl::Time now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (!it->second.refreshing && it->second.token->expire_time <= now) {
      EraseLocked(it);
    }
    it = next;
  }
}

void TokenCache::EraseLocked(
    absl::node_hash_map<std::string, Entry>::iterator it) {
  const std::string& key = it->first;
  const std::string& fingerprint = it->second.token->fingerprint;
  auto fp = by_fingerprint_.find(fingerprint);
  auto& keys = fp->second;
  keys.erase(std::remove(keys.begin(), keys.end(), key), keys.end());
  if (keys.empty()) by_fingerprint_.erase(fp);
  if (it->second.bounded) --bounded_;
  if (retired_refreshes_.emplace(key, it->second.refreshes).second) {
    retired_order_.push_back(key);
  } else {
    retired_refreshes_[key] = it->second.refreshes;
  }
  while (retired_order_.size() > revoked_retention_) {
    retired_refreshes_.erase(retired_order_.front());
    retired_order_.pop_front();
  }
  entries_.erase(it);
}

void TokenCache::EvictLeastRecentlyUsedLocked(bool bounded_only,
                                              const std::string& keep) {
  // A linear scan: it runs only when a fetch from myPOS adds an entry past
  // the bound, which costs far more than visiting the entries.
  auto oldest = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if ((it->second.bounded || !bounded_only) && !it->second.refreshing &&
        it->first != keep &&
        (oldest == entries_.end() ||
         it->second.last_used.load(std::memory_order_relaxed) <
             oldest->second.last_used.load(std::memory_order_relaxed))) {
      oldest = it;
    }
  }
  if (oldest != entries_.end()) EraseLocked(oldest);
}

TokenCache::Unsatisfiable TokenCache::CheckMinValidity(
    const std::string& key, absl::Time now, absl::Duration min_validity,
    absl::Duration min_refresh_interval) const {
  ReaderMutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.rejected) return Unsatisfiable::kNo;
  const CachedToken& token = *it->second.token;
  if (token.expire_time <= now) return Unsatisfiable::kNo;
  if (min_validity > token.expire_time - token.issue_time) {
    return Unsatisfiable::kBeyondLifetime;
  }
  if (now - std::max(token.issue_time, it->second.fetched) <
      min_refresh_interval) {
    return Unsatisfiable::kTooSoon;
  }
  return Unsatisfiable::kNo;
}

size_t TokenCache::size() const {
  ReaderMutexLock lock(&mu_);
  return entries_.size();
}

size_t TokenCache::bounded_size() const {
  ReaderMutexLock lock(&mu_);
  return bounded_;
}

void TokenCache::RecordRefreshFailure(const std::string& key,
                                      absl::string_view error, absl::Time now,
                                      absl::Duration initial_backoff,
                                      absl::Duration max_backoff) {
  MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  entry.refreshing = false;
  ++entry.failures;
  entry.last_error = std::string(error);
  absl::Duration backoff = initial_backoff;
  for (int i = 1; i < entry.failures && backoff < max_backoff; ++i) {
    backoff *= 2;
  }
  entry.retry_time = now + std::min(backoff, max_backoff);
}

bool TokenCache::Reject(const std::string& key, absl::string_view fingerprint) {
  MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.token->fingerprint != fingerprint) {
    return false;
  }
  it->second.rejected = true;
  return true;
}

void TokenCache::SetRefreshing(const std::string& key, bool refreshing) {
  MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.refreshing = refreshing;
}

const TokenCache::Entry* TokenCache::FindLocked(
    absl::string_view fingerprint) const {
  auto fp = by_fingerprint_.find(fingerprint);
  if (fp == by_fingerprint_.end()) return nullptr;
  return &entries_.at(fp->second.front());
}

std::shared_ptr<const CachedToken> TokenCache::FindByFingerprint(
    absl::string_view fingerprint) const {
  ReaderMutexLock lock(&mu_);
  const Entry* entry = FindLocked(fingerprint);
  return entry == nullptr ? nullptr : entry->token;
}

std::shared_ptr<const CachedToken> TokenCache::Held(
    const std::string& key) const {
  ReaderMutexLock lock(&mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second.token;
}

std::shared_ptr<const CachedToken> TokenCache::Revoke(
    absl::string_view fingerprint, absl::Time now, RevokePredicate may_revoke) {
  MutexLock lock(&mu_);
  auto fp = by_fingerprint_.find(fingerprint);
  if (fp == by_fingerprint_.end()) return nullptr;
  std::shared_ptr<const CachedToken> token;
  for (const std::string& key : fp->second) {
    const Entry& entry = entries_.at(key);
    if (may_revoke(key, *entry.token)) {
      token = entry.token;
      break;
    }
  }
  if (token == nullptr) return nullptr;
  // Every copy of this token of the same client: the keys are copied first,
  // since erasing them edits the index.
  const absl::InlinedVector<std::string, 1> keys = fp->second;
  bool first = true;
  for (const std::string& key : keys) {
    auto it = entries_.find(key);
    if (it->second.token->client_id != token->client_id) continue;
    if (first) {
      Revoked revoked{ToInfo(it->second, now), token->access_token};
      revoked.info.set_state(mypos::token::v1::TOKEN_STATE_REVOKED);
      *revoked.info.mutable_revoke_time() = ToProtoTimestamp(now);
      revoked_.push_back(std::move(revoked));
      while (revoked_.size() > revoked_retention_) revoked_.pop_front();
      first = false;
    }
    EraseLocked(it);
  }
  revocations_->Add(token->fingerprint, token->expire_time);
  return token;
}

std::optional<RevokedToken> TokenCache::FindRevoked(
    absl::string_view fingerprint) const {
  ReaderMutexLock lock(&mu_);
  for (auto it = revoked_.rbegin(); it != revoked_.rend(); ++it) {
    if (it->info.fingerprint() == fingerprint) {
      return RevokedToken{it->info.credential(), it->pending_access_token};
    }
  }
  return std::nullopt;
}

void TokenCache::ListRevoked(absl::string_view fingerprint,
                             absl::Time expires) {
  MutexLock lock(&mu_);
  if (by_fingerprint_.contains(fingerprint)) return;
  revocations_->Add(fingerprint, expires);
}

void TokenCache::ConfirmRevoked(absl::string_view fingerprint) {
  MutexLock lock(&mu_);
  for (Revoked& revoked : revoked_) {
    if (revoked.info.fingerprint() == fingerprint) {
      revoked.pending_access_token.clear();
    }
  }
}

std::optional<TokenInfo> TokenCache::Info(absl::string_view fingerprint,
                                          absl::Time now) const {
  ReaderMutexLock lock(&mu_);
  if (const Entry* entry = FindLocked(fingerprint)) return ToInfo(*entry, now);
  for (auto it = revoked_.rbegin(); it != revoked_.rend(); ++it) {
    if (it->info.fingerprint() == fingerprint) return it->info;
  }
  return std::nullopt;
}

std::vector<TokenInfo> TokenCache::List(absl::string_view credential,
                                        absl::Time now) const {
  std::vector<TokenInfo> out;
  {
    ReaderMutexLock lock(&mu_);
    for (const auto& [key, entry] : entries_) {
      if (credential.empty() || entry.token->credential == credential) {
        out.push_back(ToInfo(entry, now));
      }
    }
    for (const Revoked& revoked : revoked_) {
      if (credential.empty() || revoked.info.credential() == credential) {
        out.push_back(revoked.info);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const TokenInfo& a, const TokenInfo& b) {
    return a.fingerprint() < b.fingerprint();
  });
  return out;
}

mypos::token::v1::TokenState TokenCache::State(const Entry& entry,
                                               absl::Time now) {
  if (now >= entry.token->expire_time)
    return mypos::token::v1::TOKEN_STATE_EXPIRED;
  if (entry.refreshing) return mypos::token::v1::TOKEN_STATE_REFRESHING;
  // A failed refresh shows as FAILED, also after a rejection: the caller who
  // reported the token learns that its replacement could not be had.
  if (entry.failures > 0) return mypos::token::v1::TOKEN_STATE_FAILED;
  if (entry.rejected) return mypos::token::v1::TOKEN_STATE_REFRESHING;
  return mypos::token::v1::TOKEN_STATE_FRESH;
}

TokenInfo DescribeToken(const CachedToken& token) {
  TokenInfo info;
  info.set_fingerprint(token.fingerprint);
  info.set_credential(token.credential);
  info.set_client_id(token.client_id);
  for (const std::string& scope : token.scopes) info.add_scopes(scope);
  info.set_token_type(token.token_type);
  *info.mutable_issue_time() = ToProtoTimestamp(token.issue_time);
  *info.mutable_expire_time() = ToProtoTimestamp(token.expire_time);
  *info.mutable_upstream_latency() = ToProtoDuration(token.upstream_latency);
  return info;
}

TokenInfo TokenCache::ToInfo(const Entry& entry, absl::Time now) {
  TokenInfo info = DescribeToken(*entry.token);
  info.set_state(State(entry, now));
  *info.mutable_refresh_time() = ToProtoTimestamp(entry.token->refresh_time);
  info.set_hit_count(entry.hits.load(std::memory_order_relaxed));
  info.set_refresh_count(entry.refreshes);
  info.set_failed_refreshes(entry.failures);
  info.set_last_error(entry.last_error);
  return info;
}

}  // namespace tokenservice
