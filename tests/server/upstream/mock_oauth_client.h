// MockOAuthClient: gmock stand-in for the myPOS OAuth2 client, and a
// builder for the tokens it returns.

#ifndef TESTS_SERVER_UPSTREAM_MOCK_OAUTH_CLIENT_H_
#define TESTS_SERVER_UPSTREAM_MOCK_OAUTH_CLIENT_H_

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

class MockOAuthClient : public OAuthClient {
 public:
  MOCK_METHOD(absl::StatusOr<UpstreamToken>, FetchToken,
              (const ClientCredentials&, const std::vector<std::string>&,
               absl::Time),
              (override));
  MOCK_METHOD(absl::StatusOr<UpstreamToken>, ExchangeGrant,
              (const ClientCredentials&, const UserGrant&, absl::Time),
              (override));
  MOCK_METHOD(absl::Status, RevokeToken,
              (const ClientCredentials&, absl::string_view, absl::Time),
              (override));
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
