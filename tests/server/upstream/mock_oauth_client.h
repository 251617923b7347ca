// MockOAuthClient: gmock stand-in for the myPOS OAuth2 client.

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

}  // namespace tokenservice

#endif  // TESTS_SERVER_UPSTREAM_MOCK_OAUTH_CLIENT_H_
