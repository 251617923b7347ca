// SyncOAuthClient: an asynchronous OAuthClient's calls, run to their end
// for tests that only care about the result: each call starts the
// asynchronous one, then calls `step` (which runs what the test's fakes
// have queued: a ManualExecutor, FakeTimers) until the result arrived or
// `step` says nothing is left to run.

#ifndef TESTS_SERVER_UPSTREAM_SYNC_OAUTH_CLIENT_H_
#define TESTS_SERVER_UPSTREAM_SYNC_OAUTH_CLIENT_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

// Thread-compatible. Borrows `client`.
class SyncOAuthClient {
 public:
  // `step` runs queued work; false when there was none.
  SyncOAuthClient(OAuthClient* client, std::function<bool()> step)
      : client_(client), step_(std::move(step)) {}

  absl::StatusOr<UpstreamToken> FetchToken(
      const ClientCredentials& credentials,
      const std::vector<std::string>& scopes, absl::Time deadline) {
    return Await<absl::StatusOr<UpstreamToken>>([&](auto done) {
      client_->FetchToken(credentials, scopes, Options(deadline),
                          std::move(done));
    });
  }

  absl::StatusOr<UpstreamToken> ExchangeGrant(
      const ClientCredentials& credentials, const UserGrant& grant,
      absl::Time deadline) {
    return Await<absl::StatusOr<UpstreamToken>>([&](auto done) {
      client_->ExchangeGrant(credentials, grant, Options(deadline),
                             std::move(done));
    });
  }

  absl::Status RevokeToken(const ClientCredentials& credentials,
                           absl::string_view token, absl::Time deadline) {
    return Await<absl::Status>([&](auto done) {
      client_->RevokeToken(credentials, token, Options(deadline),
                           std::move(done));
    });
  }

 private:
  static RequestOptions Options(absl::Time deadline) {
    RequestOptions options;
    options.deadline = deadline;
    return options;
  }

  template <typename Result, typename Start>
  Result Await(Start start) {
    std::optional<Result> result;
    bool inside = true;
    bool answered_inside = false;
    start([&](Result r) {
      answered_inside = inside;
      result = std::move(r);
    });
    inside = false;
    if (answered_inside) return absl::InternalError("answered inside the call");
    while (!result.has_value() && step_()) {
    }
    if (!result.has_value()) return absl::InternalError("never answered");
    return *std::move(result);
  }

  OAuthClient* const client_;
  const std::function<bool()> step_;
};

}  // namespace tokenservice

#endif  // TESTS_SERVER_UPSTREAM_SYNC_OAUTH_CLIENT_H_
