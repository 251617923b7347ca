#include "server/broker/grant_exchange.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "base/scopes.h"
#include "base/time_util.h"
#include "server/ops/error_reason.h"
#include "server/ops/log.h"
#include "server/upstream/upstream_deadline.h"

namespace tokenservice {
namespace {

using mypos::token::v1::TokenInfo;

const char* GrantName(UserGrant::Type type) {
  return type == UserGrant::Type::kAuthorizationCode ? "authorization_code"
                                                     : "refresh_token";
}

TokenInfo ToInfo(const CachedToken& token) {
  TokenInfo info;
  info.set_fingerprint(token.fingerprint);
  info.set_credential(token.credential);
  info.set_client_id(token.client_id);
  for (const std::string& scope : token.scopes) info.add_scopes(scope);
  info.set_token_type(token.token_type);
  info.set_state(mypos::token::v1::TOKEN_STATE_FRESH);
  *info.mutable_issue_time() = ToProtoTimestamp(token.issue_time);
  *info.mutable_expire_time() = ToProtoTimestamp(token.expire_time);
  *info.mutable_upstream_latency() = ToProtoDuration(token.upstream_latency);
  return info;
}

}  // namespace

GrantExchange::GrantExchange(Options options,
                             const CredentialStore* credentials,
                             OAuthClient* upstream, Executor* executor,
                             const Clock* clock)
    : options_(options),
      credentials_(credentials),
      upstream_(upstream),
      executor_(executor),
      clock_(clock) {}

void GrantExchange::Exchange(GrantParams params, GrantCallback done) {
  absl::StatusOr<const CredentialProfile*> profile =
      credentials_->Find(params.credential);
  if (!profile.ok()) {
    std::move(done)(profile.status());
    return;
  }
  // Shared so that `done` can still be called if scheduling fails.
  auto shared_done = std::make_shared<GrantCallback>(std::move(done));
  const bool scheduled =
      executor_->Schedule([this, profile = **profile,
                           params = std::move(params), shared_done]() mutable {
        std::move (*shared_done)(Run(profile, params.grant, params.deadline));
      });
  if (!scheduled) {
    std::move (*shared_done)(WithReason(
        absl::ResourceExhaustedError(
            "too many requests are waiting for myPOS; retry with backoff"),
        kReasonUpstreamQueueFull));
  }
}

absl::StatusOr<GrantedToken> GrantExchange::Run(
    const CredentialProfile& profile, const UserGrant& grant,
    absl::Time caller_deadline) {
  const absl::Time start = clock_->Now();
  const UpstreamDeadline deadline =
      ComputeUpstreamDeadline(start, caller_deadline, options_.upstream_timeout,
                              options_.deadline_margin);
  // Secret files are read on every use, so rotation applies here too.
  absl::StatusOr<ClientCredentials> credentials =
      CredentialStore::Load(profile);
  if (!credentials.ok()) return credentials.status();
  absl::StatusOr<UpstreamToken> reply =
      upstream_->ExchangeGrant(*credentials, grant, deadline.time);
  const absl::Time end = clock_->Now();
  const std::string duration_ms =
      absl::StrCat(absl::ToInt64Milliseconds(end - start));
  if (!reply.ok()) {
    const absl::Status status = MapUpstreamDeadline(reply.status(), deadline,
                                                    options_.upstream_timeout);
    Log(LogLevel::kWarning, "upstream_grant_failed",
        {{"profile", profile.name},
         {"grant_type", GrantName(grant.type)},
         {"duration_ms", duration_ms},
         {"code", absl::StatusCodeToString(status.code())},
         {"error", std::string(status.message())}});
    return status;
  }
  auto token = std::make_shared<CachedToken>();
  token->credential = profile.name;
  token->client_id = credentials->client_id;
  token->access_token = std::move(reply->access_token);
  token->token_type = std::move(reply->token_type);
  token->fingerprint = Fingerprint(token->access_token);
  token->scopes =
      reply->scopes.empty() ? grant.scopes : NormalizeScopes(reply->scopes);
  token->issue_time = end;
  token->expire_time = end + reply->expires_in;
  token->upstream_latency = end - start;
  Log(LogLevel::kInfo, "upstream_grant_exchanged",
      {{"profile", profile.name},
       {"grant_type", GrantName(grant.type)},
       {"fingerprint", token->fingerprint},
       {"duration_ms", duration_ms},
       {"expires_in_s", absl::StrCat(absl::ToInt64Seconds(reply->expires_in))},
       {"refresh_token", reply->refresh_token.empty() ? "no" : "yes"}});
  {
    absl::MutexLock lock(&mu_);
    recent_.push_back(ToInfo(*token));
    while (recent_.size() > options_.retained) recent_.pop_front();
  }
  return GrantedToken{std::move(token), std::move(reply->refresh_token)};
}

std::optional<TokenInfo> GrantExchange::Info(
    absl::string_view fingerprint) const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
    if (it->fingerprint() != fingerprint) continue;
    TokenInfo info = *it;
    if (absl::FromUnixSeconds(info.expire_time().seconds()) <= now) {
      info.set_state(mypos::token::v1::TOKEN_STATE_EXPIRED);
    }
    return info;
  }
  return std::nullopt;
}

}  // namespace tokenservice
