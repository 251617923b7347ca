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

const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

}  // namespace

template <typename Result>
struct RetryingOAuthClient::RetryState {
  std::string operation;
  absl::Time deadline;
  // Makes one attempt, calling the callback it is given with its result.
  std::function<void(absl::AnyInvocable<void(Result) &&>)> attempt;
  absl::AnyInvocable<void(Result) &&> done;
  absl::Duration cap;  // of the next backoff
  // The failure a retry was made for: what the caller gets when nobody
  // wants the retry any more (it is dropped unsent, kCancelled).
  std::optional<Result> last;
};

RetryingOAuthClient::RetryingOAuthClient(Options options,
                                         std::unique_ptr<OAuthClient> inner,
                                         const Clock* clock, Timers* timers,
                                         Jitter jitter)
    : options_(options),
      inner_(std::move(inner)),
      clock_(clock),
      timers_(timers),
      jitter_(jitter ? std::move(jitter) : Jitter(&FullJitter)) {}

template <typename Done>
bool RetryingOAuthClient::AnswerRejected(const ClientCredentials& credentials,
                                         Done& done) {
  absl::Status rejected = CheckRejected(credentials);
  if (rejected.ok()) return false;
  timers_->RunAt(clock_->Now(), [done = std::move(done), rejected]() mutable {
    std::move(done)(rejected);
  });
  return true;
}

void RetryingOAuthClient::FetchToken(const ClientCredentials& credentials,
                                     const std::vector<std::string>& scopes,
                                     const RequestOptions& options,
                                     TokenCallback done) {
  if (AnswerRejected(credentials, done)) return;
  auto state = std::make_shared<RetryState<absl::StatusOr<UpstreamToken>>>();
  state->operation = "token";
  state->deadline = options.deadline;
  state->attempt = [this, credentials, scopes, options](TokenCallback next) {
    inner_->FetchToken(credentials, scopes, options, std::move(next));
  };
  state->done = [this, credentials, done = std::move(done)](
                    absl::StatusOr<UpstreamToken> result) mutable {
    NoteResult(credentials, result.status());
    std::move(done)(std::move(result));
  };
  state->cap = options_.initial_backoff;
  Attempt(std::move(state), 1);
}

void RetryingOAuthClient::ExchangeGrant(const ClientCredentials& credentials,
                                        const UserGrant& grant,
                                        const RequestOptions& options,
                                        TokenCallback done) {
  if (AnswerRejected(credentials, done)) return;
  // A grant's errors are that call's: a caller's bad code or a grant type
  // the client may not use must not lock the profile out.
  inner_->ExchangeGrant(credentials, grant, options, std::move(done));
}

void RetryingOAuthClient::RevokeToken(const ClientCredentials& credentials,
                                      absl::string_view token,
                                      const RequestOptions& options,
                                      StatusCallback done) {
  if (AnswerRejected(credentials, done)) return;
  auto state = std::make_shared<RetryState<absl::Status>>();
  state->operation = "revoke";
  state->deadline = options.deadline;
  state->attempt = [this, credentials, token = std::string(token),
                    options](StatusCallback next) {
    inner_->RevokeToken(credentials, token, options, std::move(next));
  };
  state->done = std::move(done);
  state->cap = options_.initial_backoff;
  Attempt(std::move(state), 1);
}

template <typename Result>
void RetryingOAuthClient::Attempt(std::shared_ptr<RetryState<Result>> state,
                                  int n) {
  RetryState<Result>* const raw = state.get();
  raw->attempt([this, state = std::move(state), n](Result result) mutable {
    const absl::Status& status = StatusOf(result);
    if (status.code() == absl::StatusCode::kCancelled &&
        state->last.has_value()) {
      std::move(state->done)(*std::move(state->last));
      return;
    }
    if (status.ok() || !IsRetryable(status) || n >= options_.max_attempts) {
      std::move(state->done)(std::move(result));
      return;
    }
    absl::Duration wait = jitter_(std::min(state->cap, options_.max_backoff));
    if (std::optional<absl::Duration> asked = RetryAfter(status)) {
      wait = std::max(wait, std::min(*asked, options_.max_retry_after));
    }
    state->cap = absl::Nanoseconds(std::min(
        static_cast<double>(absl::ToInt64Nanoseconds(options_.max_backoff)),
        static_cast<double>(absl::ToInt64Nanoseconds(state->cap)) *
            options_.backoff_multiplier));
    const absl::Time now = clock_->Now();
    const bool fits = now + wait + options_.min_attempt_time <= state->deadline;
    Log(LogLevel::kWarning, fits ? "upstream_retry" : "upstream_retry_skipped",
        fits ? "a request to myPOS failed; retrying after the backoff"
             : "a request to myPOS failed; no time is left for a retry",
        {{"operation", state->operation},
         {"attempt", n},
         {"code", absl::StatusCodeToString(status.code())},
         {"reason", ErrorReason(status)},
         {"backoff_ms", absl::ToInt64Milliseconds(wait)}});
    if (!fits) {
      std::move(state->done)(std::move(result));
      return;
    }
    // The next attempt asks the transport again whether it is wanted.
    state->last = std::move(result);
    timers_->RunAt(now + wait, [this, state = std::move(state), n]() mutable {
      Attempt(std::move(state), n + 1);
    });
  });
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
