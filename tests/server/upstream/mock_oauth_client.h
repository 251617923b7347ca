// MockOAuthClient: gmock stand-in for the myPOS OAuth2 client, and a
// builder for the tokens it returns.
//
// Tests set expectations on the synchronous mock methods (FetchToken,
// ExchangeGrant, RevokeToken with a deadline, as before the client became
// asynchronous); each asynchronous call queues a task on the executor the
// mock was given that asks the mock method and passes its result on. So a
// test says exactly when myPOS "answers": ManualExecutor::RunAll(). A call
// whose RequestOptions::wanted says no when its task runs gets kCancelled
// without asking the mock, as the transport would drop it unsent.

#ifndef TESTS_SERVER_UPSTREAM_MOCK_OAUTH_CLIENT_H_
#define TESTS_SERVER_UPSTREAM_MOCK_OAUTH_CLIENT_H_

#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "gmock/gmock.h"
#include "server/upstream/oauth_client.h"
#include "tests/server/ops/manual_executor.h"

namespace tokenservice {

class MockOAuthClient : public OAuthClient {
 public:
  // Borrows `executor`, which must outlive the mock's calls.
  explicit MockOAuthClient(ManualExecutor* executor) : executor_(executor) {}

  MOCK_METHOD(absl::StatusOr<UpstreamToken>, FetchToken,
              (const ClientCredentials&, const std::vector<std::string>&,
               absl::Time));
  MOCK_METHOD(absl::StatusOr<UpstreamToken>, ExchangeGrant,
              (const ClientCredentials&, const UserGrant&, absl::Time));
  MOCK_METHOD(absl::Status, RevokeToken,
              (const ClientCredentials&, absl::string_view, absl::Time));

  // Lanes of the calls made so far, in order.
  std::vector<Lane> lanes() const {
    MutexLock lock(&mu_);
    return lanes_;
  }

  void FetchToken(const ClientCredentials& credentials,
                  const std::vector<std::string>& scopes,
                  const RequestOptions& options, TokenCallback done) override {
    Defer(options, std::move(done), [this, credentials, scopes, options] {
      return FetchToken(credentials, scopes, options.deadline);
    });
  }

  void ExchangeGrant(const ClientCredentials& credentials,
                     const UserGrant& grant, const RequestOptions& options,
                     TokenCallback done) override {
    Defer(options, std::move(done), [this, credentials, grant, options] {
      return ExchangeGrant(credentials, grant, options.deadline);
    });
  }

  void RevokeToken(const ClientCredentials& credentials,
                   absl::string_view token, const RequestOptions& options,
                   StatusCallback done) override {
    Defer(options, std::move(done),
          [this, credentials, token = std::string(token), options] {
            return RevokeToken(credentials, token, options.deadline);
          });
  }

 private:
  template <typename Done, typename Ask>
  void Defer(const RequestOptions& options, Done done, Ask ask) {
    {
      MutexLock lock(&mu_);
      lanes_.push_back(options.lane);
    }
    const bool queued =
        executor_->Schedule([wanted = options.wanted, done = std::move(done),
                             ask = std::move(ask)]() mutable {
          if (wanted && !wanted()) {
            std::move(done)(absl::CancelledError("nobody wants it"));
            return;
          }
          std::move(done)(ask());
        });
    EXPECT_TRUE(queued) << "the test's executor is full";
  }

  ManualExecutor* const executor_;
  mutable Mutex mu_;
  std::vector<Lane> lanes_ ABSL_GUARDED_BY(mu_);
};

// A "Bearer" token `value` as myPOS would issue it, valid for `lifetime`.
inline UpstreamToken BearerToken(const std::string& value,
                                 absl::Duration lifetime = absl::Hours(1)) {
  UpstreamToken token;
  token.access_token = value;
  token.token_type = "Bearer";
  token.expires_in = lifetime;
  return token;
}

}  // namespace tokenservice

#endif  // TESTS_SERVER_UPSTREAM_MOCK_OAUTH_CLIENT_H_
