#include "server/upstream/retrying_oauth_client.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "server/ops/error_reason.h"
#include "server/ops/log.h"
#include "server/upstream/retry_after.h"

namespace tokenservice {
namespace {

bool IsRetryable(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return false;
  const std::string reason = ErrorReason(status);
  return reason == kReasonUpstreamUnavailable ||
         reason == kReasonUpstreamRateLimited;
}

absl::Duration FullJitter(absl::Duration cap) {
  if (cap <= absl::ZeroDuration()) return absl::ZeroDuration();
  thread_local absl::BitGen bitgen;  // absl::BitGen is not thread-safe.
  return absl::Uniform(bitgen, 0.0, 1.0) * cap;
}

// The key of rejected credentials: the client id and a hash of the secret,
// so that a rotated secret is tried at once. The secret itself is not kept.
std::string RejectionKey(const ClientCredentials& credentials) {
  return absl::StrCat(credentials.client_id, "\n",
                      absl::Hash<std::string>()(credentials.client_secret));
}

// `status` with `suffix` appended to its message, payloads kept.
absl::Status AppendToMessage(const absl::Status& status,
                             absl::string_view suffix) {
  absl::Status out(status.code(), absl::StrCat(status.message(), suffix));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& v) {
    out.SetPayload(url, v);
  });
  return out;
}

}  // namespace

RetryingOAuthClient::RetryingOAuthClient(Options options,
                                         std::unique_ptr<OAuthClient> inner,
                                         const Clock* clock, Jitter jitter)
    : options_(options),
      inner_(std::move(inner)),
      clock_(clock),
      jitter_(jitter ? std::move(jitter) : Jitter(&FullJitter)) {}

absl::StatusOr<UpstreamToken> RetryingOAuthClient::FetchToken(
    const ClientCredentials& credentials,
    const std::vector<std::string>& scopes, absl::Time deadline) {
  if (absl::Status s = CheckRejected(credentials); !s.ok()) return s;
  absl::StatusOr<UpstreamToken> result;
  // Retry returns the last attempt's status, which `result` already holds.
  Retry("token", deadline, [&] {
    result = inner_->FetchToken(credentials, scopes, deadline);
    return result.status();
  }).IgnoreError();
  NoteResult(credentials, result.status());
  return result;
}

absl::StatusOr<UpstreamToken> RetryingOAuthClient::ExchangeGrant(
    const ClientCredentials& credentials, const UserGrant& grant,
    absl::Time deadline) {
  if (absl::Status s = CheckRejected(credentials); !s.ok()) return s;
  // A grant's errors are that call's: a caller's bad code or a grant type
  // the client may not use must not lock the profile out.
  return inner_->ExchangeGrant(credentials, grant, deadline);
}

absl::Status RetryingOAuthClient::RevokeToken(
    const ClientCredentials& credentials, absl::string_view token,
    absl::Time deadline) {
  if (absl::Status s = CheckRejected(credentials); !s.ok()) return s;
  return Retry("revoke", deadline, [&] {
    return inner_->RevokeToken(credentials, token, deadline);
  });
}

absl::Status RetryingOAuthClient::Retry(
    absl::string_view operation, absl::Time deadline,
    absl::FunctionRef<absl::Status()> attempt) {
  absl::Duration cap = options_.initial_backoff;
  for (int n = 1;; ++n) {
    absl::Status status = attempt();
    if (status.ok() || !IsRetryable(status) || n >= options_.max_attempts) {
      return status;
    }
    absl::Duration wait = jitter_(std::min(cap, options_.max_backoff));
    if (std::optional<absl::Duration> asked = RetryAfter(status)) {
      wait = std::max(wait, std::min(*asked, options_.max_retry_after));
    }
    cap = absl::Nanoseconds(std::min(
        static_cast<double>(absl::ToInt64Nanoseconds(options_.max_backoff)),
        static_cast<double>(absl::ToInt64Nanoseconds(cap)) *
            options_.backoff_multiplier));
    const bool fits =
        clock_->Now() + wait + options_.min_attempt_time <= deadline;
    Log(LogLevel::kWarning, fits ? "upstream_retry" : "upstream_retry_skipped",
        {{"operation", std::string(operation)},
         {"attempt", absl::StrCat(n)},
         {"code", absl::StatusCodeToString(status.code())},
         {"reason", ErrorReason(status)},
         {"backoff_ms", absl::StrCat(absl::ToInt64Milliseconds(wait))}});
    if (!fits) return status;
    clock_->SleepFor(wait);
  }
}

absl::Status RetryingOAuthClient::CheckRejected(
    const ClientCredentials& credentials) {
  if (options_.rejected_credentials_ttl <= absl::ZeroDuration()) {
    return absl::OkStatus();
  }
  const absl::Time now = clock_->Now();
  MutexLock lock(&mu_);
  auto it = rejected_.find(RejectionKey(credentials));
  if (it == rejected_.end()) return absl::OkStatus();
  if (it->second.until <= now) {
    rejected_.erase(it);
    return absl::OkStatus();
  }
  return it->second.status;
}

void RetryingOAuthClient::NoteResult(const ClientCredentials& credentials,
                                     const absl::Status& status) {
  if (options_.rejected_credentials_ttl <= absl::ZeroDuration() ||
      ErrorReason(status) != kReasonCredentialsRejected) {
    return;
  }
  const absl::Time now = clock_->Now();
  absl::Status remembered = AppendToMessage(
      status,
      absl::StrCat("; remembered for ",
                   absl::FormatDuration(options_.rejected_credentials_ttl),
                   ", later calls are not sent to myPOS"));
  MutexLock lock(&mu_);
  absl::erase_if(rejected_, [now](const auto& entry) {
    return entry.second.until <= now;
  });
  if (rejected_.size() >= kMaxRejectedCredentials) {
    // Bounded: the rejection closest to being forgotten goes first.
    rejected_.erase(std::min_element(rejected_.begin(), rejected_.end(),
                                     [](const auto& a, const auto& b) {
                                       return a.second.until < b.second.until;
                                     }));
  }
  rejected_[RejectionKey(credentials)] =
      Rejection{std::move(remembered), now + options_.rejected_credentials_ttl};
}

}  // namespace tokenservice
