#include "server/broker/token_broker.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "base/scopes.h"
#include "server/broker/issue_reply.h"
#include "server/ops/error_reason.h"
#include "server/ops/log.h"

namespace tokenservice {

using mypos::token::v1::ListTokensResponse;
using mypos::token::v1::TokenInfo;

TokenBroker::TokenBroker(BrokerOptions options,
                         const CredentialStore* credentials,
                         OAuthClient* upstream, Executor* executor,
                         const Clock* clock, Metrics* metrics)
    : options_(std::move(options)),
      credentials_(credentials),
      upstream_(upstream),
      executor_(executor),
      clock_(clock),
      own_metrics_(metrics == nullptr ? std::make_unique<Metrics>() : nullptr),
      metrics_(metrics == nullptr ? own_metrics_.get() : metrics),
      secret_hash_key_(32, '\0'),
      cache_(/*revoked_retention=*/1000,
             options_.max_caller_credential_tokens) {
  // Without a random key the hashes of caller-supplied secrets would be
  // plain functions of the secrets: better not to start at all.
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret_hash_key_.data()),
                 static_cast<int>(secret_hash_key_.size())) != 1) {
    std::fprintf(stderr, "token_server: no random bytes from OpenSSL\n");
    std::abort();
  }
}

namespace {

// Whose cache entries a profile's are (the credential part of CacheKey):
// the profile's, and for caller-supplied credentials only those fetched
// with the same secret — its keyed hash, never the secret.
std::string CacheOwner(const CredentialProfile& profile) {
  return profile.secret_hash.empty()
             ? profile.name
             : absl::StrCat(profile.name, "#", profile.secret_hash);
}

}  // namespace

absl::StatusOr<const CredentialProfile*> TokenBroker::ResolveProfile(
    const std::string& name, const std::optional<ClientCredentials>& supplied,
    CredentialProfile* supplied_profile) const {
  if (!supplied.has_value()) return credentials_->Find(name);
  CredentialProfile& profile = *supplied_profile;
  profile.name = absl::StrCat(kCallerSuppliedPrefix, supplied->client_id);
  profile.credentials = *supplied;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), secret_hash_key_.data(),
       static_cast<int>(secret_hash_key_.size()),
       reinterpret_cast<const unsigned char*>(supplied->client_secret.data()),
       supplied->client_secret.size(), mac, &mac_size);
  profile.secret_hash = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(mac), mac_size));
  return &profile;
}

void TokenBroker::Issue(IssueParams params, IssueCallback done) {
  Issue(
      std::move(params),
      [&done](absl::StatusOr<IssuedToken> result) {
        std::move(done)(std::move(result));
      },
      [&done] { return std::move(done); });
}

void TokenBroker::Issue(
    IssueParams params,
    absl::FunctionRef<void(absl::StatusOr<IssuedToken>)> at_once,
    absl::FunctionRef<IssueCallback()> later) {
  // The hit path copies nothing but the cache key: the profile is the
  // store's, the scopes are the caller's (or the profile's, normalised at
  // start-up).
  CredentialProfile supplied;
  absl::StatusOr<const CredentialProfile*> resolved =
      ResolveProfile(params.credential, params.caller_credentials, &supplied);
  if (!resolved.ok()) {
    at_once(resolved.status());
    return;
  }
  const CredentialProfile* profile = *resolved;
  if (!params.scopes.empty()) {
    params.scopes = NormalizeScopes(std::move(params.scopes));
  }
  const std::vector<std::string>& scopes =
      params.scopes.empty() ? profile->default_scopes : params.scopes;
  const std::string key = profile->secret_hash.empty()
                              ? CacheKey(profile->name, scopes)
                              : CacheKey(CacheOwner(*profile), scopes);
  std::optional<absl::Duration> min_validity;
  if (params.min_validity > absl::ZeroDuration()) {
    min_validity = params.min_validity;
  }
  if (!params.rejected_fingerprint.empty() &&
      cache_.Reject(key, params.rejected_fingerprint)) {
    Log(LogLevel::kInfo, "token_rejected_by_caller",
        {{"fingerprint", params.rejected_fingerprint},
         {"profile", profile->name}});
  }
  const absl::Time now = clock_->Now();
  CacheLookup hit = cache_.Lookup(key, now, min_validity);
  if (hit.token != nullptr) {
    metrics_->RecordCacheHit();
    if (hit.token->expire_time - now <
        min_validity.value_or(hit.token->default_min_validity)) {
      metrics_->RecordShortValidity();  // the cache must never allow this
    }
    if (hit.refresh_due) StartRefresh(key, *profile, scopes);
    at_once(IssuedToken{std::move(hit.token), /*cached=*/true});
    return;
  }
  Waiter waiter{min_validity, later(), params.deadline};
  if (!JoinFetch(key, *profile, scopes, params.deadline, waiter)) {
    std::move(waiter.done)(WithReason(
        absl::ResourceExhaustedError("too many token requests are waiting for "
                                     "myPOS; retry with backoff"),
        kReasonUpstreamQueueFull));
  }
}

bool TokenBroker::JoinFetch(const std::string& key,
                            const CredentialProfile& profile,
                            const std::vector<std::string>& scopes,
                            absl::Time caller_deadline, Waiter& waiter) {
  CacheLookup hit;
  {
    MutexLock lock(&mu_);
    // A fetch may have stored a token since the caller's lookup; fetches
    // store before they leave flights_, so checking again here under mu_
    // means no caller ever starts a second fetch for a fresh key.
    hit = cache_.Lookup(key, clock_->Now(), waiter.min_validity);
    if (hit.token == nullptr) {
      auto [it, inserted] = flights_.try_emplace(key);
      if (inserted &&
          !executor_->Schedule([this, key, profile, scopes, caller_deadline] {
            RunFetch(key, profile, scopes, caller_deadline);
          })) {
        flights_.erase(it);
        return false;
      }
      it->second.push_back(std::move(waiter));
      metrics_->RecordCacheMiss();
      metrics_->AddWaiters(1);
      return true;
    }
  }
  metrics_->RecordCacheHit();
  std::move(waiter.done)(IssuedToken{std::move(hit.token), /*cached=*/true});
  return true;
}

void TokenBroker::StartRefresh(const std::string& key,
                               const CredentialProfile& profile,
                               const std::vector<std::string>& scopes) {
  MutexLock lock(&mu_);
  auto [it, inserted] = flights_.try_emplace(key);
  if (!inserted) return;  // a fetch for this key is already running
  cache_.SetRefreshing(key, true);
  if (!executor_->Schedule([this, key, profile, scopes] {
        // No caller waits on a background refresh: only
        // --upstream_timeout bounds it.
        RunFetch(key, profile, scopes, absl::InfiniteFuture());
      })) {
    // Busy: the token stays in service and a later hit tries again.
    cache_.SetRefreshing(key, false);
    flights_.erase(it);
    return;
  }
  metrics_->RecordBackgroundRefresh();
}

void TokenBroker::RunFetch(const std::string& key,
                           const CredentialProfile& profile,
                           const std::vector<std::string>& scopes,
                           absl::Time caller_deadline) {
  cache_.SetRefreshing(key, true);
  absl::StatusOr<std::shared_ptr<const CachedToken>> result =
      Fetch(profile, scopes, caller_deadline);
  if (result.ok()) {
    cache_.Put(key, *result, /*bounded=*/!profile.secret_hash.empty());
  } else {
    cache_.RecordRefreshFailure(key, result.status().message(), clock_->Now(),
                                options_.refresh_retry_initial,
                                options_.refresh_retry_max);
  }
  std::vector<Waiter> waiters;
  // One caller's deadline must not fail the others: when the fetch ran out
  // of the deadline of the caller who started it, callers with later
  // deadlines get a fetch of their own (issue 4; the price is a second
  // request to myPOS in that rare case).
  if (result.status().code() == absl::StatusCode::kDeadlineExceeded) {
    RestartForLaterDeadlines(key, profile, scopes, caller_deadline, &waiters);
    Deliver(std::move(waiters), result);
    return;
  }
  {
    MutexLock lock(&mu_);
    auto it = flights_.find(key);
    waiters = std::move(it->second);
    flights_.erase(it);
  }
  Deliver(std::move(waiters), result);
}

void TokenBroker::RestartForLaterDeadlines(
    const std::string& key, const CredentialProfile& profile,
    const std::vector<std::string>& scopes, absl::Time fetch_deadline,
    std::vector<Waiter>* expired) {
  MutexLock lock(&mu_);
  std::vector<Waiter>& waiters = flights_.find(key)->second;
  // Callers no more patient than the one whose deadline bounded the fetch
  // get its error; the rest get another try.
  const absl::Time cutoff = fetch_deadline;
  absl::Time latest = absl::InfinitePast();
  std::vector<Waiter> remaining;
  for (Waiter& waiter : waiters) {
    if (waiter.deadline <= cutoff) {
      expired->push_back(std::move(waiter));
    } else {
      latest = std::max(latest, waiter.deadline);
      remaining.push_back(std::move(waiter));
    }
  }
  waiters = std::move(remaining);
  if (waiters.empty() ||
      !executor_->Schedule([this, key, profile, scopes, latest] {
        RunFetch(key, profile, scopes, latest);
      })) {
    // Nobody left to fetch for (or no room): everyone gets the error.
    for (Waiter& waiter : waiters) expired->push_back(std::move(waiter));
    flights_.erase(key);
  }
}

absl::Time TokenBroker::RefreshTime(absl::Time issued,
                                    absl::Time expires) const {
  const absl::Duration lifetime = expires - issued;
  absl::Duration window =
      std::max(lifetime * options_.refresh_window,
               options_.default_min_validity + options_.refresh_lead);
  window = std::min(window, lifetime / 2);
  double jitter;
  if (options_.random) {
    jitter = options_.random();
  } else {
    // std's generator rather than absl::BitGen: Debian's uninstrumented
    // Abseil random pool trips ThreadSanitizer (see base/mutex.h).
    thread_local std::mt19937_64 engine{std::random_device{}()};
    jitter = std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  }
  return expires - window - window * (0.2 * jitter);
}

UpstreamDeadline TokenBroker::DeadlineFor(absl::Time caller_deadline) const {
  return ComputeUpstreamDeadline(clock_->Now(), caller_deadline,
                                 options_.upstream_timeout,
                                 options_.deadline_margin);
}

absl::Status TokenBroker::UpstreamError(
    absl::Status status, const UpstreamDeadline& deadline) const {
  return MapUpstreamDeadline(std::move(status), deadline,
                             options_.upstream_timeout);
}

absl::StatusOr<std::shared_ptr<const CachedToken>> TokenBroker::Fetch(
    const CredentialProfile& profile, const std::vector<std::string>& scopes,
    absl::Time caller_deadline) {
  const absl::Time start = clock_->Now();
  const UpstreamDeadline deadline = DeadlineFor(caller_deadline);
  absl::StatusOr<ClientCredentials> credentials =
      CredentialStore::Load(profile);
  if (!credentials.ok()) {
    Log(LogLevel::kError, "credentials_unreadable",
        {{"profile", profile.name},
         {"error", std::string(credentials.status().message())}});
    return credentials.status();
  }
  absl::StatusOr<UpstreamToken> reply =
      upstream_->FetchToken(*credentials, scopes, deadline.time);
  if (!reply.ok()) reply = UpstreamError(reply.status(), deadline);
  const absl::Time end = clock_->Now();
  metrics_->RecordUpstream(UpstreamKind::kToken, reply.status().code(),
                           end - start);
  const std::string duration_ms =
      absl::StrCat(absl::ToInt64Milliseconds(end - start));
  if (!reply.ok()) {
    Log(LogLevel::kWarning, "upstream_token_failed",
        {{"profile", profile.name},
         {"duration_ms", duration_ms},
         {"code", absl::StatusCodeToString(reply.status().code())},
         {"error", std::string(reply.status().message())}});
    return reply.status();
  }
  auto token = std::make_shared<CachedToken>();
  token->credential = profile.name;
  token->client_id = credentials->client_id;
  token->access_token = std::move(reply->access_token);
  token->token_type = std::move(reply->token_type);
  token->fingerprint = Fingerprint(token->access_token);
  token->scopes =
      reply->scopes.empty() ? scopes : NormalizeScopes(reply->scopes);
  token->issue_time = end;
  token->expire_time = end + reply->expires_in;
  token->refresh_time = RefreshTime(end, token->expire_time);
  token->default_min_validity =
      std::min(options_.default_min_validity, reply->expires_in / 4);
  token->upstream_latency = end - start;
  token->hit_reply = SerializeHitReply(*token);
  Log(LogLevel::kInfo, "upstream_token_issued",
      {{"profile", profile.name},
       {"fingerprint", token->fingerprint},
       {"duration_ms", duration_ms},
       {"code", "OK"},
       {"expires_in_s",
        absl::StrCat(absl::ToInt64Seconds(reply->expires_in))}});
  return std::shared_ptr<const CachedToken>(std::move(token));
}

void TokenBroker::Deliver(
    std::vector<Waiter> waiters,
    const absl::StatusOr<std::shared_ptr<const CachedToken>>& result) {
  const absl::Time now = clock_->Now();
  metrics_->AddWaiters(-static_cast<int64_t>(waiters.size()));
  for (Waiter& waiter : waiters) {
    if (!result.ok()) {
      std::move(waiter.done)(result.status());
      continue;
    }
    const absl::Duration needed =
        waiter.min_validity.value_or((*result)->default_min_validity);
    if ((*result)->expire_time - now < needed) {
      std::move(waiter.done)(
          WithReason(absl::OutOfRangeError(absl::StrCat(
                         "myPOS issued a token valid for ",
                         absl::FormatDuration((*result)->expire_time - now),
                         ", less than the requested min_validity of ",
                         absl::FormatDuration(needed))),
                     kReasonMinValidityUnsatisfiable));
    } else {
      std::move(waiter.done)(IssuedToken{*result, /*cached=*/false});
    }
  }
}

void TokenBroker::Revoke(RevokeParams params, RevokeCallback done) {
  CredentialProfile supplied;
  absl::StatusOr<const CredentialProfile*> resolved =
      ResolveProfile(params.credential, params.caller_credentials, &supplied);
  if (!resolved.ok()) {
    std::move(done)(resolved.status());
    return;
  }
  const CredentialProfile* profile = *resolved;
  const bool by_fingerprint = !params.fingerprint.empty();
  const std::string fingerprint =
      by_fingerprint ? params.fingerprint : Fingerprint(params.token);
  // Out of the cache before myPOS is asked, so it is never handed out
  // again whatever myPOS answers; but only from the requester's own
  // entries (same profile, and for caller-supplied credentials the same
  // secret): anyone else must first prove to myPOS that the token is theirs
  // to revoke (see RevokeUpstream).
  const std::string owner = CacheOwner(*profile);
  std::shared_ptr<const CachedToken> evicted =
      cache_.Evict(fingerprint, clock_->Now(),
                   [&owner](absl::string_view key, const CachedToken&) {
                     return KeyBelongsTo(key, owner);
                   });
  if (evicted != nullptr) {
    RevokeUpstream(*profile, evicted->access_token,
                   RevokeResult{fingerprint, /*was_cached=*/true},
                   params.deadline, std::move(done));
    return;
  }
  if (!by_fingerprint) {
    RevokeUpstream(*profile, std::move(params.token),
                   RevokeResult{fingerprint, false}, params.deadline,
                   std::move(done));
    return;
  }
  std::optional<RevokedToken> revoked = cache_.FindRevoked(fingerprint);
  if (!revoked.has_value() || revoked->credential != profile->name) {
    std::move(done)(WithReason(
        absl::NotFoundError(absl::StrCat("no cached token of profile \"",
                                         profile->name, "\" has fingerprint ",
                                         fingerprint)),
        kReasonTokenNotFound));
  } else if (revoked->pending_access_token.empty()) {
    std::move(done)(RevokeResult{fingerprint, false});  // already confirmed
  } else {
    RevokeUpstream(*profile, revoked->pending_access_token,
                   RevokeResult{fingerprint, false}, params.deadline,
                   std::move(done));
  }
}

void TokenBroker::RevokeUpstream(CredentialProfile profile, std::string token,
                                 RevokeResult result,
                                 absl::Time caller_deadline,
                                 RevokeCallback done) {
  // Shared so that `done` can still be called if scheduling fails.
  auto shared_done = std::make_shared<RevokeCallback>(std::move(done));
  const bool scheduled = executor_->Schedule(
      [this, profile = std::move(profile), token = std::move(token),
       result = std::move(result), shared_done, caller_deadline]() mutable {
        const absl::Time start = clock_->Now();
        const UpstreamDeadline deadline = DeadlineFor(caller_deadline);
        absl::StatusOr<ClientCredentials> credentials =
            CredentialStore::Load(profile);
        const absl::Status status =
            credentials.ok()
                ? UpstreamError(upstream_->RevokeToken(*credentials, token,
                                                       deadline.time),
                                deadline)
                : credentials.status();
        metrics_->RecordUpstream(UpstreamKind::kRevoke, status.code(),
                                 clock_->Now() - start);
        Log(status.ok() ? LogLevel::kInfo : LogLevel::kWarning,
            status.ok() ? "upstream_token_revoked" : "upstream_revoke_failed",
            {{"profile", profile.name},
             {"fingerprint", result.fingerprint},
             {"duration_ms",
              absl::StrCat(absl::ToInt64Milliseconds(clock_->Now() - start))},
             {"code", absl::StatusCodeToString(status.code())},
             {"error", std::string(status.message())}});
        if (!status.ok()) {
          std::move (*shared_done)(status);
          return;
        }
        // myPOS took the revocation from this client id, so a copy cached
        // under another profile of the same client id is dead too.
        if (cache_.Evict(
                result.fingerprint, clock_->Now(),
                [&credentials](absl::string_view, const CachedToken& cached) {
                  return cached.client_id == credentials->client_id;
                }) != nullptr) {
          result.was_cached = true;
        }
        cache_.ConfirmRevoked(result.fingerprint);
        std::move (*shared_done)(std::move(result));
      });
  if (!scheduled) {
    std::move (*shared_done)(WithReason(
        absl::ResourceExhaustedError(
            "too many requests are waiting for myPOS; the token is out of the "
            "cache, retry the revocation with backoff"),
        kReasonUpstreamQueueFull));
  }
}

absl::StatusOr<TokenInfo> TokenBroker::GetTokenInfo(
    absl::string_view fingerprint) const {
  std::optional<TokenInfo> info = cache_.Info(fingerprint, clock_->Now());
  if (!info.has_value()) {
    return WithReason(absl::NotFoundError(absl::StrCat(
                          "no cached token has fingerprint ", fingerprint)),
                      kReasonTokenNotFound);
  }
  return *std::move(info);
}

std::vector<TokenInfo> TokenBroker::AllTokens() const {
  return cache_.List("", clock_->Now());
}

ListTokensResponse TokenBroker::ListTokens(
    absl::string_view credential, int page_size, absl::string_view page_token,
    const std::function<bool(absl::string_view)>& visible) const {
  std::vector<TokenInfo> all = cache_.List(credential, clock_->Now());
  if (visible) {
    all.erase(std::remove_if(all.begin(), all.end(),
                             [&visible](const TokenInfo& info) {
                               return !visible(info.credential());
                             }),
              all.end());
  }
  auto first =
      std::upper_bound(all.begin(), all.end(), page_token,
                       [](absl::string_view token, const TokenInfo& info) {
                         return token < info.fingerprint();
                       });
  ListTokensResponse response;
  for (auto it = first; it != all.end(); ++it) {
    if (response.tokens_size() == page_size) {
      response.set_next_page_token(response.tokens().rbegin()->fingerprint());
      break;
    }
    *response.add_tokens() = std::move(*it);
  }
  return response;
}

}  // namespace tokenservice
