#include "server/broker/grant_exchange.h"

#include <memory>
#include <utility>

#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

using mypos::token::v1::TokenInfo;

TokenInfo ToInfo(const CachedToken& token) {
  TokenInfo info = DescribeToken(token);
  info.set_state(mypos::token::v1::TOKEN_STATE_FRESH);
  return info;
}

}  // namespace

GrantExchange::GrantExchange(Options options,
                             const CredentialStore* credentials,
                             OAuthClient* upstream, Executor* executor,
                             const Clock* clock, Metrics* metrics)
    : options_(options),
      credentials_(credentials),
      executor_(executor),
      clock_(clock),
      exchange_({options.upstream_timeout, options.deadline_margin}, upstream,
                clock, metrics) {}

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
  absl::StatusOr<ExchangedToken> exchanged =
      exchange_.ExchangeGrant(profile, grant, caller_deadline);
  if (!exchanged.ok()) return exchanged.status();
  auto token = std::make_shared<CachedToken>(std::move(exchanged->token));
  {
    MutexLock lock(&mu_);
    recent_.push_back(ToInfo(*token));
    while (recent_.size() > options_.retained) recent_.pop_front();
  }
  return GrantedToken{std::move(token), std::move(exchanged->refresh_token)};
}

std::optional<TokenInfo> GrantExchange::Info(
    absl::string_view fingerprint) const {
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
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
