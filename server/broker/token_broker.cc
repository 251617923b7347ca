#include "server/broker/token_broker.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "base/scopes.h"
#include "server/broker/issue_reply.h"
#include "server/broker/token_pages.h"
#include "server/ops/error_reason.h"
#include "server/ops/log.h"

namespace tokenservice {

using mypos::token::v1::ListTokensResponse;
using mypos::token::v1::TokenInfo;

namespace {

absl::Status QueueFull() {
  return WithReason(
      absl::ResourceExhaustedError(
          "too many token requests are waiting for myPOS; retry with backoff"),
      kReasonUpstreamQueueFull);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenBroker>> TokenBroker::Create(
    BrokerOptions options, const CredentialStore* credentials,
    OAuthClient* upstream, Executor* executor, const Clock* clock,
    Metrics* metrics) {
  absl::StatusOr<CallerProfiles> caller_profiles = CallerProfiles::Create();
  if (!caller_profiles.ok()) return caller_profiles.status();
  return std::unique_ptr<TokenBroker>(
      new TokenBroker(std::move(options), credentials, upstream, executor,
                      clock, metrics, *std::move(caller_profiles)));
}

TokenBroker::TokenBroker(BrokerOptions options,
                         const CredentialStore* credentials,
                         OAuthClient* upstream, Executor* executor,
                         const Clock* clock, Metrics* metrics,
                         CallerProfiles caller_profiles)
    : options_(std::move(options)),
      credentials_(credentials),
      executor_(executor),
      clock_(clock),
      own_metrics_(metrics == nullptr ? std::make_unique<Metrics>() : nullptr),
      metrics_(metrics == nullptr ? own_metrics_.get() : metrics),
      caller_profiles_(std::move(caller_profiles)),
      exchange_({options_.upstream_timeout, options_.deadline_margin}, upstream,
                clock, metrics_),
      revocations_(clock),
      cache_(&revocations_, /*revoked_retention=*/1000,
             options_.max_caller_credential_tokens,
             options_.max_cached_tokens) {}

absl::StatusOr<const CredentialProfile*> TokenBroker::ResolveProfile(
    const std::string& name, const std::optional<ClientCredentials>& supplied,
    CredentialProfile* supplied_profile) const {
  if (!supplied.has_value()) return credentials_->Find(name);
  *supplied_profile = caller_profiles_.ProfileFor(*supplied);
  return supplied_profile;
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
  const std::string key =
      profile->secret_hash.empty()
          ? CacheKey(profile->name, scopes)
          : CacheKey(CallerProfiles::CacheOwner(*profile), scopes);
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
  if (min_validity.has_value()) {
    if (absl::Status refused = RefuseForcedRefresh(key, now, *min_validity);
        !refused.ok()) {
      at_once(refused);
      return;
    }
  }
  Waiter waiter{min_validity, later(), params.deadline};
  if (!JoinFetch(key, *profile, scopes, params.deadline, waiter)) {
    std::move(waiter.done)(QueueFull());
  }
}

absl::Status TokenBroker::RefuseForcedRefresh(
    const std::string& key, absl::Time now, absl::Duration min_validity) const {
  switch (cache_.CheckMinValidity(key, now, min_validity,
                                  options_.min_refresh_interval)) {
    case TokenCache::Unsatisfiable::kNo:
      return absl::OkStatus();
    case TokenCache::Unsatisfiable::kBeyondLifetime:
      return WithReason(
          absl::OutOfRangeError(absl::StrCat(
              "min_validity ", absl::FormatDuration(min_validity),
              " is longer than the lifetime of the tokens myPOS issues for "
              "this profile and scope set")),
          kReasonMinValidityUnsatisfiable);
    case TokenCache::Unsatisfiable::kTooSoon:
      return WithReason(
          absl::OutOfRangeError(absl::StrCat(
              "the token was fetched less than --min_refresh_interval (",
              absl::FormatDuration(options_.min_refresh_interval),
              ") ago and has less than min_validity ",
              absl::FormatDuration(min_validity),
              " left; ask for less validity")),
          kReasonMinValidityUnsatisfiable);
  }
  return absl::OkStatus();
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
  if (result.ok() &&
      !cache_.Put(key, *result, /*bounded=*/!profile.secret_hash.empty())) {
    // A token revoked here is never stored or handed out again, even when
    // myPOS hands it back.
    result = WithReason(
        absl::UnavailableError(
            "myPOS returned a token that was revoked; retry with backoff"),
        kReasonUpstreamBadReply);
  }
  if (!result.ok()) {
    cache_.RecordRefreshFailure(key, result.status().message(), clock_->Now(),
                                options_.refresh_retry_initial,
                                options_.refresh_retry_max);
  }
  std::vector<Waiter> waiters;
  // One caller's deadline must not fail the others: when the fetch ran out
  // of the deadline of the caller who started it, callers with later
  // deadlines get a fetch of their own (the price is another request to
  // myPOS in that rare case).
  if (result.status().code() == absl::StatusCode::kDeadlineExceeded) {
    RestartForLaterDeadlines(key, profile, scopes, caller_deadline, &waiters);
    Deliver(key, profile, scopes, std::move(waiters), result);
    return;
  }
  {
    MutexLock lock(&mu_);
    auto it = flights_.find(key);
    waiters = std::move(it->second);
    flights_.erase(it);
  }
  Deliver(key, profile, scopes, std::move(waiters), result);
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

absl::StatusOr<std::shared_ptr<const CachedToken>> TokenBroker::Fetch(
    const CredentialProfile& profile, const std::vector<std::string>& scopes,
    absl::Time caller_deadline) {
  absl::StatusOr<ExchangedToken> exchanged =
      exchange_.FetchToken(profile, scopes, caller_deadline);
  if (!exchanged.ok()) return exchanged.status();
  auto token = std::make_shared<CachedToken>(std::move(exchanged->token));
  const absl::Duration lifetime = token->expire_time - token->issue_time;
  token->refresh_time = RefreshTime(token->issue_time, token->expire_time);
  token->default_min_validity =
      std::min(options_.default_min_validity, lifetime / 4);
  token->hit_reply = SerializeHitReply(*token);
  return std::shared_ptr<const CachedToken>(std::move(token));
}

void TokenBroker::Deliver(
    const std::string& key, const CredentialProfile& profile,
    const std::vector<std::string>& scopes, std::vector<Waiter> waiters,
    const absl::StatusOr<std::shared_ptr<const CachedToken>>& result) {
  metrics_->AddWaiters(-static_cast<int64_t>(waiters.size()));
  for (Waiter& waiter : waiters) {
    if (!result.ok()) {
      std::move(waiter.done)(result.status());
      continue;
    }
    // Asked again for each waiter: a waiter served before may have revoked
    // the token or reported it rejected.
    const absl::Time now = clock_->Now();
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
      continue;
    }
    CacheLookup handed =
        cache_.Lookup(key, now, waiter.min_validity, /*count_hit=*/false);
    if (handed.token != nullptr) {
      std::move(waiter.done)(
          IssuedToken{std::move(handed.token), /*cached=*/false});
      continue;
    }
    if (!waiter.rejoined) {
      waiter.rejoined = true;
      if (!JoinFetch(key, profile, scopes, waiter.deadline, waiter)) {
        std::move(waiter.done)(QueueFull());
      }
      continue;
    }
    std::move(waiter.done)(WithReason(
        absl::UnavailableError(
            "the token fetched for this call, and its replacement, were "
            "revoked or reported rejected before they could be handed out; "
            "retry"),
        kReasonTokenRevoked));
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
  // Revoked here before myPOS is asked, so it is never handed out again
  // whatever myPOS answers, when one of the requester's own entries (same
  // profile, and for caller-supplied credentials the same secret) holds it:
  // then every copy of it under the same client id goes too (TokenCache::
  // Revoke). Anyone else must first prove to myPOS that the token is theirs
  // to revoke (see RevokeUpstream).
  const std::string owner = CallerProfiles::CacheOwner(*profile);
  std::shared_ptr<const CachedToken> evicted =
      cache_.Revoke(fingerprint, clock_->Now(),
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
        absl::StatusOr<std::string> client_id = exchange_.RevokeToken(
            profile, token, result.fingerprint, caller_deadline);
        if (!client_id.ok()) {
          std::move (*shared_done)(client_id.status());
          return;
        }
        // myPOS took the revocation from this client id, so a copy cached
        // under any profile of that client id is dead too.
        if (cache_.Revoke(
                result.fingerprint, clock_->Now(),
                [&client_id](absl::string_view, const CachedToken& cached) {
                  return cached.client_id == *client_id;
                }) != nullptr) {
          result.was_cached = true;
        } else {
          // Not cached: listed anyway, so that a fetch under way cannot
          // bring it in (unless another client's entry holds it).
          cache_.ListRevoked(result.fingerprint,
                             clock_->Now() + options_.max_token_lifetime);
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
  return PageOfTokens(cache_.List(credential, clock_->Now()), page_size,
                      page_token, visible);
}

}  // namespace tokenservice
