#include "server/token_broker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/fingerprint.h"
#include "server/log.h"
#include "server/scopes.h"
#include "server/upstream/error_reason.h"

namespace tokenservice {

using mypos::token::v1::ListTokensResponse;
using mypos::token::v1::TokenInfo;

TokenBroker::TokenBroker(BrokerOptions options,
                         const CredentialStore* credentials,
                         OAuthClient* upstream, Executor* executor,
                         const Clock* clock)
    : options_(options),
      credentials_(credentials),
      upstream_(upstream),
      executor_(executor),
      clock_(clock) {}

void TokenBroker::Issue(IssueParams params, IssueCallback done) {
  absl::StatusOr<CredentialProfile> profile =
      credentials_->Find(params.credential);
  if (!profile.ok()) {
    std::move(done)(profile.status());
    return;
  }
  const std::vector<std::string> scopes =
      NormalizeScopes(std::move(params.scopes));
  const std::string key = CacheKey(profile->name, scopes);
  const absl::Duration min_validity =
      params.min_validity > absl::ZeroDuration() ? params.min_validity
                                                 : options_.default_min_validity;
  if (!params.rejected_fingerprint.empty() &&
      cache_.Reject(key, params.rejected_fingerprint)) {
    Log(LogLevel::kInfo, "token_rejected_by_caller",
        {{"fingerprint", params.rejected_fingerprint},
         {"profile", profile->name}});
  }
  if (auto token = cache_.Lookup(key, clock_->Now(), min_validity)) {
    std::move(done)(IssuedToken{std::move(token), /*cached=*/true});
    return;
  }
  Waiter waiter{min_validity, std::move(done)};
  if (!JoinFetch(key, *profile, scopes, params.deadline, waiter)) {
    std::move(waiter.done)(WithReason(
        absl::ResourceExhaustedError(
            "too many token requests are waiting for myPOS; retry with backoff"),
        kReasonUpstreamQueueFull));
  }
}

bool TokenBroker::JoinFetch(const std::string& key,
                            const CredentialProfile& profile,
                            const std::vector<std::string>& scopes,
                            absl::Time caller_deadline, Waiter& waiter) {
  std::shared_ptr<const CachedToken> hit;
  {
    absl::MutexLock lock(&mu_);
    // A fetch may have stored a token since the caller's lookup; fetches
    // store before they leave flights_, so checking again here under mu_
    // means no caller ever starts a second fetch for a fresh key.
    hit = cache_.Lookup(key, clock_->Now(), waiter.min_validity);
    if (hit == nullptr) {
      auto [it, inserted] = flights_.try_emplace(key);
      if (inserted &&
          !executor_->Schedule([this, key, profile, scopes, caller_deadline] {
            RunFetch(key, profile, scopes, caller_deadline);
          })) {
        flights_.erase(it);
        return false;
      }
      it->second.push_back(std::move(waiter));
      return true;
    }
  }
  std::move(waiter.done)(IssuedToken{std::move(hit), /*cached=*/true});
  return true;
}

void TokenBroker::RunFetch(const std::string& key,
                           const CredentialProfile& profile,
                           const std::vector<std::string>& scopes,
                           absl::Time caller_deadline) {
  cache_.SetRefreshing(key, true);
  absl::StatusOr<std::shared_ptr<const CachedToken>> result =
      Fetch(profile, scopes, caller_deadline);
  if (result.ok()) {
    cache_.Put(key, *result);
  } else {
    cache_.SetRefreshing(key, false);
  }
  std::vector<Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    auto it = flights_.find(key);
    waiters = std::move(it->second);
    flights_.erase(it);
  }
  Deliver(std::move(waiters), result);
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
  absl::StatusOr<UpstreamToken> reply = upstream_->FetchToken(
      profile.credentials, scopes, deadline.time);
  if (!reply.ok()) reply = UpstreamError(reply.status(), deadline);
  const absl::Time end = clock_->Now();
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
  token->client_id = profile.credentials.client_id;
  token->access_token = std::move(reply->access_token);
  token->token_type = std::move(reply->token_type);
  token->fingerprint = Fingerprint(token->access_token);
  token->scopes = reply->scopes.empty() ? scopes : NormalizeScopes(reply->scopes);
  token->issue_time = end;
  token->expire_time = end + reply->expires_in;
  token->upstream_latency = end - start;
  Log(LogLevel::kInfo, "upstream_token_issued",
      {{"profile", profile.name},
       {"fingerprint", token->fingerprint},
       {"duration_ms", duration_ms},
       {"expires_in_s",
        absl::StrCat(absl::ToInt64Seconds(reply->expires_in))}});
  return std::shared_ptr<const CachedToken>(std::move(token));
}

void TokenBroker::Deliver(
    std::vector<Waiter> waiters,
    const absl::StatusOr<std::shared_ptr<const CachedToken>>& result) {
  const absl::Time now = clock_->Now();
  for (Waiter& waiter : waiters) {
    if (!result.ok()) {
      std::move(waiter.done)(result.status());
    } else if ((*result)->expire_time - now < waiter.min_validity) {
      std::move(waiter.done)(WithReason(
          absl::OutOfRangeError(absl::StrCat(
              "myPOS issued a token valid for ",
              absl::FormatDuration((*result)->expire_time - now),
              ", less than the requested min_validity of ",
              absl::FormatDuration(waiter.min_validity))),
          kReasonMinValidityUnsatisfiable));
    } else {
      std::move(waiter.done)(IssuedToken{*result, /*cached=*/false});
    }
  }
}

void TokenBroker::Revoke(RevokeParams params, RevokeCallback done) {
  absl::StatusOr<CredentialProfile> profile =
      credentials_->Find(params.credential);
  if (!profile.ok()) {
    std::move(done)(profile.status());
    return;
  }
  std::string fingerprint = params.fingerprint.empty()
                                ? Fingerprint(params.token)
                                : params.fingerprint;
  std::shared_ptr<const CachedToken> cached =
      cache_.FindByFingerprint(fingerprint);
  if (cached != nullptr && cached->credential != profile->name) {
    cached = nullptr;  // another profile's token: not this caller's to evict
  }
  if (!params.fingerprint.empty() && cached == nullptr) {
    std::move(done)(WithReason(
        absl::NotFoundError(absl::StrCat("no cached token of profile \"",
                                         profile->name, "\" has fingerprint ",
                                         fingerprint)),
        kReasonTokenNotFound));
    return;
  }
  std::string token = cached != nullptr ? cached->access_token
                                        : std::move(params.token);
  const bool was_cached =
      cached != nullptr && cache_.Evict(fingerprint, clock_->Now()) != nullptr;
  // Shared so that `done` can still be called if scheduling fails.
  auto shared_done = std::make_shared<RevokeCallback>(std::move(done));
  const bool scheduled = executor_->Schedule(
      [this, profile = *std::move(profile), token = std::move(token),
       result = RevokeResult{fingerprint, was_cached}, shared_done,
       caller_deadline = params.deadline]() mutable {
        const UpstreamDeadline deadline = DeadlineFor(caller_deadline);
        const absl::Status status = UpstreamError(
            upstream_->RevokeToken(profile.credentials, token, deadline.time),
            deadline);
        Log(status.ok() ? LogLevel::kInfo : LogLevel::kWarning,
            status.ok() ? "upstream_token_revoked" : "upstream_revoke_failed",
            {{"profile", profile.name},
             {"fingerprint", result.fingerprint},
             {"code", absl::StatusCodeToString(status.code())}});
        if (status.ok()) {
          std::move(*shared_done)(std::move(result));
        } else {
          std::move(*shared_done)(status);
        }
      });
  if (!scheduled) {
    std::move(*shared_done)(WithReason(
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

ListTokensResponse TokenBroker::ListTokens(absl::string_view credential,
                                           int page_size,
                                           absl::string_view page_token) const {
  std::vector<TokenInfo> all = cache_.List(credential, clock_->Now());
  auto first = std::upper_bound(
      all.begin(), all.end(), page_token,
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
