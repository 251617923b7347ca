#include "server/token_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/time_util.h"

namespace tokenservice {

using mypos::token::v1::TokenInfo;

std::string CacheKey(absl::string_view credential,
                     const std::vector<std::string>& normalized_scopes) {
  return absl::StrCat(credential, "\n", absl::StrJoin(normalized_scopes, " "));
}

TokenCache::TokenCache(size_t revoked_retention)
    : revoked_retention_(revoked_retention) {}

std::shared_ptr<const CachedToken> TokenCache::Lookup(
    const std::string& key, absl::Time now,
    absl::Duration min_validity) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.rejected) return nullptr;
  const Entry& entry = it->second;
  const absl::Duration left = entry.token->expire_time - now;
  if (left <= absl::ZeroDuration() || left < min_validity) return nullptr;
  entry.hits.fetch_add(1, std::memory_order_relaxed);
  return entry.token;
}

void TokenCache::Put(const std::string& key,
                     std::shared_ptr<const CachedToken> token) {
  absl::MutexLock lock(&mu_);
  Entry& entry = entries_[key];
  if (entry.token != nullptr) by_fingerprint_.erase(entry.token->fingerprint);
  by_fingerprint_[token->fingerprint] = key;
  entry.token = std::move(token);
  entry.hits.store(0, std::memory_order_relaxed);
  entry.rejected = false;
  entry.refreshing = false;
}

bool TokenCache::Reject(const std::string& key,
                        absl::string_view fingerprint) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.token->fingerprint != fingerprint) {
    return false;
  }
  it->second.rejected = true;
  return true;
}

void TokenCache::SetRefreshing(const std::string& key, bool refreshing) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.refreshing = refreshing;
}

std::shared_ptr<const CachedToken> TokenCache::FindByFingerprint(
    absl::string_view fingerprint) const {
  absl::ReaderMutexLock lock(&mu_);
  auto fp = by_fingerprint_.find(fingerprint);
  if (fp == by_fingerprint_.end()) return nullptr;
  return entries_.at(fp->second).token;
}

std::shared_ptr<const CachedToken> TokenCache::Evict(
    absl::string_view fingerprint, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto fp = by_fingerprint_.find(fingerprint);
  if (fp == by_fingerprint_.end()) return nullptr;
  auto it = entries_.find(fp->second);
  TokenInfo info = ToInfo(it->second, now);
  info.set_state(mypos::token::v1::TOKEN_STATE_REVOKED);
  *info.mutable_revoke_time() = ToProtoTimestamp(now);
  std::shared_ptr<const CachedToken> token = std::move(it->second.token);
  by_fingerprint_.erase(fp);
  entries_.erase(it);
  revoked_.push_back(std::move(info));
  while (revoked_.size() > revoked_retention_) revoked_.pop_front();
  return token;
}

std::optional<TokenInfo> TokenCache::Info(absl::string_view fingerprint,
                                          absl::Time now) const {
  absl::ReaderMutexLock lock(&mu_);
  auto fp = by_fingerprint_.find(fingerprint);
  if (fp != by_fingerprint_.end()) return ToInfo(entries_.at(fp->second), now);
  for (auto it = revoked_.rbegin(); it != revoked_.rend(); ++it) {
    if (it->fingerprint() == fingerprint) return *it;
  }
  return std::nullopt;
}

std::vector<TokenInfo> TokenCache::List(absl::string_view credential,
                                        absl::Time now) const {
  std::vector<TokenInfo> out;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [key, entry] : entries_) {
      if (credential.empty() || entry.token->credential == credential) {
        out.push_back(ToInfo(entry, now));
      }
    }
    for (const TokenInfo& info : revoked_) {
      if (credential.empty() || info.credential() == credential) {
        out.push_back(info);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const TokenInfo& a, const TokenInfo& b) {
    return a.fingerprint() < b.fingerprint();
  });
  return out;
}

TokenInfo TokenCache::ToInfo(const Entry& entry, absl::Time now) {
  const CachedToken& token = *entry.token;
  TokenInfo info;
  info.set_fingerprint(token.fingerprint);
  info.set_credential(token.credential);
  info.set_client_id(token.client_id);
  for (const std::string& scope : token.scopes) info.add_scopes(scope);
  info.set_token_type(token.token_type);
  if (now >= token.expire_time) {
    info.set_state(mypos::token::v1::TOKEN_STATE_EXPIRED);
  } else if (entry.refreshing || entry.rejected) {
    info.set_state(mypos::token::v1::TOKEN_STATE_REFRESHING);
  } else {
    info.set_state(mypos::token::v1::TOKEN_STATE_FRESH);
  }
  *info.mutable_issue_time() = ToProtoTimestamp(token.issue_time);
  *info.mutable_expire_time() = ToProtoTimestamp(token.expire_time);
  info.set_hit_count(entry.hits.load(std::memory_order_relaxed));
  *info.mutable_upstream_latency() = ToProtoDuration(token.upstream_latency);
  return info;
}

}  // namespace tokenservice
