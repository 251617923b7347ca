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
  return WithReason(absl::ResourceExhaustedError(
                        "too many token requests are waiting for myPOS "
                        "(--max_queued_upstream); retry with backoff"),
                    kReasonUpstreamQueueFull);
}

absl::Status NoSuchToken(absl::string_view profile,
                         absl::string_view fingerprint) {
  return WithReason(
      absl::NotFoundError(absl::StrCat("no cached token of profile \"", profile,
                                       "\" has fingerprint ", fingerprint)),
      kReasonTokenNotFound);
}

absl::Status CallerDeadlinePassed() {
  return WithReason(
      absl::DeadlineExceededError(
          "myPOS did not answer before the call's deadline; the fetch goes "
          "on (for at most --upstream_timeout) and a later call may find the "
          "token cached"),
      kReasonDeadlineExceeded);
}

// A revocation sent to the fleet and to myPOS at once: the caller gets
// myPOS's outcome, with the fleet's reach, once both have answered (each
// exactly once, on any thread).
class RevokeJoin {
 public:
  explicit RevokeJoin(RevokeCallback done) : done_(std::move(done)) {}

  void Fleet(std::optional<RevocationReach> reach) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      fleet_answered_ = true;
      reach_ = reach;
      if (!upstream_.has_value()) return;
    }
    Finish();
  }
  void Upstream(absl::StatusOr<RevokeResult> result) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      upstream_ = std::move(result);
      if (!fleet_answered_) return;
    }
    Finish();
  }

 private:
  // Both are in; only the second of Fleet and Upstream gets here.
  void Finish() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::StatusOr<RevokeResult> answer = absl::UnknownError("");
    {
      MutexLock lock(&mu_);
      answer = *std::move(upstream_);
      if (answer.ok()) answer->reach = reach_;
    }
    std::move(done_)(std::move(answer));
  }

  Mutex mu_;
  // Called once, by the one Finish.
  RevokeCallback done_;
  bool fleet_answered_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<RevocationReach> reach_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::StatusOr<RevokeResult>> upstream_ ABSL_GUARDED_BY(mu_);
};

// The scope set of a request: the caller's `scopes` as they came when they
// are already sorted and unique (one scope, the usual case), else sorted
// and unique in `normalized`; the profile's (normalised at start-up) when
// there are none.
const std::vector<std::string>& NormalizedScopes(
    const std::vector<std::string>& scopes, const CredentialProfile& profile,
    std::vector<std::string>* normalized) {
  if (scopes.empty()) return profile.default_scopes;
  if (IsNormalized(scopes)) return scopes;
  *normalized = NormalizeScopes(scopes);
  return *normalized;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenBroker>> TokenBroker::Create(
    BrokerOptions options, const CredentialStore* credentials,
    OAuthClient* upstream, Timers* timers, const Clock* clock, Metrics* metrics,
    SharedRevocations* shared, SharedTokens* shared_tokens) {
  absl::StatusOr<CallerProfiles> caller_profiles = CallerProfiles::Create();
  if (!caller_profiles.ok()) return caller_profiles.status();
  return std::unique_ptr<TokenBroker>(new TokenBroker(
      std::move(options), credentials, upstream, timers, clock, metrics, shared,
      shared_tokens, *std::move(caller_profiles)));
}

TokenBroker::TokenBroker(BrokerOptions options,
                         const CredentialStore* credentials,
                         OAuthClient* upstream, Timers* timers,
                         const Clock* clock, Metrics* metrics,
                         SharedRevocations* shared, SharedTokens* shared_tokens,
                         CallerProfiles caller_profiles)
    : options_(std::move(options)),
      credentials_(credentials),
      timers_(timers),
      clock_(clock),
      own_metrics_(metrics == nullptr ? std::make_unique<Metrics>() : nullptr),
      metrics_(metrics == nullptr ? own_metrics_.get() : metrics),
      caller_profiles_(std::move(caller_profiles)),
      exchange_({options_.upstream_timeout, options_.deadline_margin}, upstream,
                clock, metrics_),
      shared_(shared),
      shared_tokens_(shared_tokens),
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

void TokenBroker::Issue(const IssueParams& params, IssueCallback done,
                        Cancellation* cancellation) {
  Issue(
      params,
      [&done](absl::StatusOr<IssuedToken> result) {
        std::move(done)(std::move(result));
      },
      [&done, cancellation] {
        return WaitingCaller{std::move(done), cancellation};
      });
}

void TokenBroker::Issue(
    const IssueParams& params,
    absl::FunctionRef<void(absl::StatusOr<IssuedToken>)> at_once,
    absl::FunctionRef<WaitingCaller()> later) {
  // The hit path copies nothing: the profile is the store's, the scopes
  // the caller's or the profile's, and the key is built on the stack.
  CredentialProfile supplied;
  absl::StatusOr<const CredentialProfile*> resolved =
      ResolveProfile(params.credential, params.caller_credentials, &supplied);
  if (!resolved.ok()) {
    at_once(resolved.status());
    return;
  }
  const CredentialProfile* profile = *resolved;
  std::vector<std::string> normalized;
  const std::vector<std::string>& scopes =
      NormalizedScopes(params.scopes, *profile, &normalized);
  const StackCacheKey key(profile->secret_hash.empty()
                              ? absl::string_view(profile->name)
                              : CallerProfiles::CacheOwner(*profile),
                          scopes);
  std::optional<absl::Duration> min_validity;
  if (params.min_validity > absl::ZeroDuration()) {
    min_validity = params.min_validity;
  }
  if (!params.rejected_fingerprint.empty() &&
      cache_.Reject(key.str(), params.rejected_fingerprint)) {
    Log(LogLevel::kInfo, "token_rejected_by_caller",
        "a caller reports that myPOS rejected a token: it is replaced",
        {{"fingerprint", params.rejected_fingerprint},
         {"profile", profile->name}});
  }
  const absl::Time now = clock_->Now();
  CacheLookup hit = cache_.Lookup(key.view(), now, min_validity);
  if (hit.token != nullptr) {
    metrics_->RecordCacheHit();
    if (hit.token->expire_time - now <
        min_validity.value_or(hit.token->default_min_validity)) {
      metrics_->RecordShortValidity();  // the cache must never allow this
    }
    if (hit.refresh_due) StartRefresh(key.str(), *profile, scopes);
    at_once(IssuedToken{std::move(hit.token), /*cached=*/true});
    return;
  }
  if (min_validity.has_value()) {
    if (absl::Status refused =
            RefuseForcedRefresh(key.str(), now, *min_validity);
        !refused.ok()) {
      at_once(refused);
      return;
    }
  }
  Waiter waiter;
  waiter.min_validity = min_validity;
  WaitingCaller caller = later();
  waiter.done = std::move(caller.done);
  waiter.cancellation = caller.cancellation;
  waiter.deadline = params.deadline;
  JoinFetch(key.str(), *profile, scopes, std::move(waiter));
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

void TokenBroker::JoinFetch(const std::string& key,
                            const CredentialProfile& profile,
                            const std::vector<std::string>& scopes,
                            Waiter waiter) {
  // Watched before it is published in flights_: from then on another
  // thread may answer it, and with that let go of its call (and the
  // call's Cancellation).
  waiter.id = next_waiter_id_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (waiter.cancellation != nullptr &&
      !waiter.cancellation->Listen([this, key, id = waiter.id] {
        Leave(
            key, id,
            absl::CancelledError("the caller cancelled while myPOS was asked"));
      })) {
    std::move(waiter.done)(
        absl::CancelledError("the caller cancelled before myPOS was asked"));
    return;
  }
  if (waiter.deadline != absl::InfiniteFuture()) {
    const absl::Time answer_by = waiter.deadline - options_.deadline_margin;
    if (answer_by <= clock_->Now()) {
      std::move(waiter.done)(CallerDeadlinePassed());
      return;
    }
    // Should it fire before the waiter is in flights_ (it finds nothing),
    // gRPC's own cancellation at the deadline still lets the waiter go.
    waiter.deadline_timer =
        timers_->RunAt(answer_by, [this, key, id = waiter.id] {
          Leave(key, id, CallerDeadlinePassed());
        });
  }
  CacheLookup hit;
  bool full = false;
  std::optional<uint64_t> start;  // the flight to start
  {
    MutexLock lock(&mu_);
    // A fetch may have stored a token since the caller's lookup; fetches
    // store before they leave flights_, so checking again here under mu_
    // means no caller ever starts a second fetch for a fresh key.
    hit = cache_.Lookup(key, clock_->Now(), waiter.min_validity);
    if (hit.token == nullptr) {
      auto it = flights_.find(key);
      if (it == flights_.end()) {
        if (caller_fetches_ >= options_.max_caller_fetches) {
          full = true;
        } else {
          it = flights_.try_emplace(key).first;
          it->second.id = ++next_id_;
          it->second.counted = true;
          ++caller_fetches_;
          start = it->second.id;
        }
      }
      if (!full) {
        it->second.waiters.push_back(std::move(waiter));
        metrics_->RecordCacheMiss();
        metrics_->AddWaiters(1);
      }
    }
  }
  if (hit.token != nullptr || full) {
    if (waiter.deadline_timer.has_value()) {
      timers_->Cancel(*waiter.deadline_timer);
    }
    if (full) {
      std::move(waiter.done)(QueueFull());
      return;
    }
    metrics_->RecordCacheHit();
    std::move(waiter.done)(IssuedToken{std::move(hit.token), /*cached=*/true});
    return;
  }
  if (start.has_value()) {
    StartFetch(key, profile, scopes, *start, Lane::kCaller);
  }
}

void TokenBroker::Leave(const std::string& key, uint64_t id,
                        absl::Status status) {
  Waiter left;
  {
    MutexLock lock(&mu_);
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    std::vector<Waiter>& waiters = it->second.waiters;
    auto found = std::find_if(waiters.begin(), waiters.end(),
                              [id](const Waiter& w) { return w.id == id; });
    if (found == waiters.end()) return;
    left = std::move(*found);
    waiters.erase(found);
  }
  metrics_->AddWaiters(-1);
  if (left.deadline_timer.has_value()) timers_->Cancel(*left.deadline_timer);
  std::move(left.done)(std::move(status));
}

void TokenBroker::StartRefresh(const std::string& key,
                               const CredentialProfile& profile,
                               const std::vector<std::string>& scopes) {
  uint64_t id = 0;
  {
    MutexLock lock(&mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (!inserted) return;  // a fetch for this key is already running
    it->second.id = id = ++next_id_;
    it->second.refresh = true;
  }
  metrics_->RecordBackgroundRefresh();
  StartFetch(key, profile, scopes, id, Lane::kReserved);
}

void TokenBroker::StartFetch(const std::string& key,
                             const CredentialProfile& profile,
                             const std::vector<std::string>& scopes,
                             uint64_t flight_id, Lane lane) {
  cache_.SetRefreshing(key, true);
  SharedTokens::TokenDone fetched =
      [this, key, profile, scopes, flight_id,
       lane](absl::StatusOr<ExchangedToken> exchanged) {
        OnFetched(key, profile, scopes, flight_id, lane, std::move(exchanged));
      };
  SharedTokens::UpstreamFetch upstream = [this, key, profile, scopes, flight_id,
                                          lane](SharedTokens::TokenDone done) {
    exchange_.FetchToken(
        profile, scopes, lane,
        [this, key, flight_id] { return Wanted(key, flight_id); },
        std::move(done));
  };
  if (shared_tokens_ == nullptr || !profile.secret_hash.empty()) {
    std::move(upstream)(std::move(fetched));
    return;
  }
  shared_tokens_->Fetch(
      profile, key,
      [this, key, flight_id](const CachedToken& token) {
        return Acceptable(key, flight_id, token);
      },
      std::move(upstream), std::move(fetched));
}

bool TokenBroker::Acceptable(const std::string& key, uint64_t flight_id,
                             const CachedToken& token) const {
  const absl::Time now = clock_->Now();
  if (revocations_.Contains(token.fingerprint, now)) return false;
  if (std::shared_ptr<const CachedToken> held = cache_.Held(key);
      held != nullptr && (held->fingerprint == token.fingerprint ||
                          token.expire_time <= held->expire_time)) {
    return false;
  }
  absl::Duration needed =
      DefaultMinValidity(token.expire_time - token.issue_time);
  {
    MutexLock lock(&mu_);
    auto it = flights_.find(key);
    if (it != flights_.end() && it->second.id == flight_id) {
      for (const Waiter& waiter : it->second.waiters) {
        needed = std::max(needed, waiter.min_validity.value_or(needed));
      }
    }
  }
  return token.expire_time - now > needed;
}

bool TokenBroker::Wanted(const std::string& key, uint64_t flight_id) const {
  MutexLock lock(&mu_);
  auto it = flights_.find(key);
  return it != flights_.end() && it->second.id == flight_id &&
         (it->second.refresh || !it->second.waiters.empty());
}

void TokenBroker::OnFetched(const std::string& key,
                            const CredentialProfile& profile,
                            const std::vector<std::string>& scopes,
                            uint64_t flight_id, Lane lane,
                            absl::StatusOr<ExchangedToken> exchanged) {
  if (exchanged.status().code() == absl::StatusCode::kCancelled) {
    // Not sent: nobody waited. A caller who joined since gets it sent now.
    bool again = false;
    {
      MutexLock lock(&mu_);
      auto it = flights_.find(key);
      if (it->second.waiters.empty() && !it->second.refresh) {
        if (it->second.counted) --caller_fetches_;
        flights_.erase(it);
        // Under mu_: a fetch for the key started after this sets it again.
        cache_.SetRefreshing(key, false);
      } else {
        again = true;
      }
    }
    if (again) {
      StartFetch(key, profile, scopes, flight_id, lane);
    } else {
      metrics_->RecordAbandonedFetch();
    }
    return;
  }
  absl::StatusOr<std::shared_ptr<const CachedToken>> result;
  if (exchanged.ok()) {
    result = Prepare(*std::move(exchanged));
  } else {
    result = exchanged.status();
  }
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
  {
    MutexLock lock(&mu_);
    auto it = flights_.find(key);
    waiters = std::move(it->second.waiters);
    if (it->second.counted) --caller_fetches_;
    flights_.erase(it);
  }
  Deliver(key, profile, scopes, std::move(waiters), result);
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

absl::Duration TokenBroker::DefaultMinValidity(absl::Duration lifetime) const {
  return std::min(options_.default_min_validity, lifetime / 4);
}

std::shared_ptr<const CachedToken> TokenBroker::Prepare(
    ExchangedToken exchanged) const {
  auto token = std::make_shared<CachedToken>(std::move(exchanged.token));
  const absl::Duration lifetime = token->expire_time - token->issue_time;
  token->refresh_time = RefreshTime(token->issue_time, token->expire_time);
  token->default_min_validity = DefaultMinValidity(lifetime);
  token->hit_reply = SerializeHitReply(*token);
  return token;
}

void TokenBroker::Deliver(
    const std::string& key, const CredentialProfile& profile,
    const std::vector<std::string>& scopes, std::vector<Waiter> waiters,
    const absl::StatusOr<std::shared_ptr<const CachedToken>>& result) {
  metrics_->AddWaiters(-static_cast<int64_t>(waiters.size()));
  for (Waiter& waiter : waiters) {
    if (waiter.deadline_timer.has_value()) {
      timers_->Cancel(*waiter.deadline_timer);
      waiter.deadline_timer.reset();
    }
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
      JoinFetch(key, profile, scopes, std::move(waiter));
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
    feed_.Publish(fingerprint);
    // Out of the fleet's caches too, while myPOS is asked (in parallel, so
    // that waiting for the fleet does not eat the caller's deadline); the
    // caller is answered once both have answered.
    auto join = std::make_shared<RevokeJoin>(std::move(done));
    Share(evicted->expire_time, RevokeResult{fingerprint, /*was_cached=*/true},
          [join](RevokeResult shared) { join->Fleet(shared.reach); });
    RevokeUpstream(*profile, evicted->access_token,
                   RevokeResult{fingerprint, /*was_cached=*/true},
                   params.deadline, /*share=*/false,
                   [join](absl::StatusOr<RevokeResult> result) {
                     join->Upstream(std::move(result));
                   });
    return;
  }
  if (!by_fingerprint) {
    RevokeUpstream(*profile, std::move(params.token),
                   RevokeResult{fingerprint, false}, params.deadline,
                   /*share=*/true, std::move(done));
    return;
  }
  std::optional<RevokedToken> revoked = cache_.FindRevoked(fingerprint);
  if (!revoked.has_value() && shared_tokens_ != nullptr &&
      profile->secret_hash.empty()) {
    // Perhaps another replica of the fleet holds it. (A configured
    // profile: the store's, so the pointer stays valid.)
    shared_tokens_->Find(
        fingerprint,
        [this, profile, fingerprint, deadline = params.deadline,
         done = std::move(done)](absl::StatusOr<CachedToken> found) mutable {
          if (!found.ok() || found->credential != profile->name) {
            std::move(done)(NoSuchToken(profile->name, fingerprint));
            return;
          }
          RevokeUpstream(*profile, found->access_token,
                         RevokeResult{fingerprint, false}, deadline,
                         /*share=*/true, std::move(done));
        });
    return;
  }
  if (!revoked.has_value() || revoked->credential != profile->name) {
    std::move(done)(NoSuchToken(profile->name, fingerprint));
  } else if (revoked->pending_access_token.empty()) {
    std::move(done)(RevokeResult{fingerprint, false});  // already confirmed
  } else {
    RevokeUpstream(*profile, revoked->pending_access_token,
                   RevokeResult{fingerprint, false}, params.deadline,
                   /*share=*/true, std::move(done));
  }
}

void TokenBroker::RevokeUpstream(CredentialProfile profile, std::string token,
                                 RevokeResult result,
                                 absl::Time caller_deadline, bool share,
                                 RevokeCallback done) {
  const std::string fingerprint = result.fingerprint;
  exchange_.RevokeToken(
      profile, token, fingerprint, caller_deadline,
      [this, result = std::move(result), share,
       done = std::move(done)](absl::StatusOr<std::string> client_id) mutable {
        if (!client_id.ok()) {
          std::move(done)(client_id.status());
          return;
        }
        // myPOS took the revocation from this client id, so a copy cached
        // under any profile of that client id is dead too.
        absl::Time expires = clock_->Now() + options_.max_token_lifetime;
        if (std::shared_ptr<const CachedToken> evicted = cache_.Revoke(
                result.fingerprint, clock_->Now(),
                [&client_id](absl::string_view, const CachedToken& cached) {
                  return cached.client_id == *client_id;
                });
            evicted != nullptr) {
          result.was_cached = true;
          expires = evicted->expire_time;
        } else {
          // Not cached: listed anyway, so that a fetch under way cannot
          // bring it in (unless another client's entry holds it).
          cache_.ListRevoked(result.fingerprint, expires);
        }
        cache_.ConfirmRevoked(result.fingerprint);
        feed_.Publish(result.fingerprint);
        if (!share) {  // shared while myPOS was asked
          std::move(done)(std::move(result));
          return;
        }
        Share(expires, std::move(result),
              [done = std::move(done)](RevokeResult shared) mutable {
                std::move(done)(std::move(shared));
              });
      });
}

void TokenBroker::Share(absl::Time expires, RevokeResult result,
                        absl::AnyInvocable<void(RevokeResult) &&> then) {
  if (shared_ == nullptr) {
    std::move(then)(std::move(result));
    return;
  }
  const std::string fingerprint = result.fingerprint;
  shared_->Share(fingerprint, expires,
                 [result = std::move(result),
                  then = std::move(then)](RevocationReach reach) mutable {
                   result.reach = reach;
                   std::move(then)(std::move(result));
                 });
}

void TokenBroker::ApplySharedRevocation(absl::string_view fingerprint,
                                        absl::Time expires) {
  // Listed first (unless an entry holds it), then evicted: a fetch that
  // brings the token in between is refused by the list or dropped here.
  // Published once: the watch hands back this replica's own revocations,
  // and every live one again each time it lists.
  const bool known = revocations_.Contains(fingerprint, clock_->Now());
  cache_.ListRevoked(fingerprint, expires);
  cache_.Revoke(fingerprint, clock_->Now());
  if (!known) feed_.Publish(fingerprint);
}

absl::StatusOr<TokenInfo> TokenBroker::GetTokenInfo(
    absl::string_view fingerprint) const {
  std::optional<TokenInfo> info = cache_.Info(fingerprint, clock_->Now());
  if (!info.has_value()) {
    return WithReason(absl::NotFoundError(absl::StrCat(
                          "no cached token has fingerprint ", fingerprint)),
                      kReasonTokenNotFound);
  }
  if (shared_ != nullptr) {
    const SharingHealth health = shared_->Health();
    mypos::token::v1::FleetStatus* fleet = info->mutable_fleet();
    fleet->set_connected(health.connected);
    fleet->set_replicas_live(health.live);
    fleet->set_unshared_revocations(static_cast<int32_t>(health.unpublished));
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
