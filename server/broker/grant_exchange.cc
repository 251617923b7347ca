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
                             OAuthClient* upstream, const Clock* clock,
                             Metrics* metrics)
    : options_(options),
      credentials_(credentials),
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
  if (!Admit()) {
    std::move(done)(
        WithReason(absl::ResourceExhaustedError(
                       "too many grant exchanges are waiting for myPOS "
                       "(--max_queued_upstream); retry with backoff"),
                   kReasonUpstreamQueueFull));
    return;
  }
  exchange_.ExchangeGrant(
      **profile, params.grant, params.deadline,
      [this, done = std::move(done)](
          absl::StatusOr<ExchangedToken> exchanged) mutable {
        absl::StatusOr<GrantedToken> result;
        if (!exchanged.ok()) {
          result = exchanged.status();
        } else {
          auto token =
              std::make_shared<CachedToken>(std::move(exchanged->token));
          MutexLock lock(&mu_);
          recent_.push_back(ToInfo(*token));
          while (recent_.size() > options_.retained) recent_.pop_front();
          result = GrantedToken{std::move(token),
                                std::move(exchanged->refresh_token)};
        }
        {
          MutexLock lock(&mu_);
          --in_flight_;
        }
        std::move(done)(std::move(result));
      });
}

bool GrantExchange::Admit() {
  MutexLock lock(&mu_);
  if (in_flight_ >= options_.max_in_flight) return false;
  ++in_flight_;
  return true;
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
