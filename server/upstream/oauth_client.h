// OAuthClient: obtains and revokes OAuth2 access tokens at the provider.
//
// The broker depends on this interface only; MyposOAuthClient implements it
// over HTTP (RFC 6749 client credentials, RFC 7009 revocation) and tests
// replace it with a mock.

#ifndef SERVER_UPSTREAM_OAUTH_CLIENT_H_
#define SERVER_UPSTREAM_OAUTH_CLIENT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tokenservice {

// An API client's identity at myPOS. The secret must never be logged.
struct ClientCredentials {
  std::string client_id;
  std::string client_secret;
};

// A token as the provider issued it.
struct UpstreamToken {
  std::string access_token;
  std::string token_type;
  // Lifetime from the moment the reply arrived.
  absl::Duration expires_in;
  // As granted by the provider; empty when the reply had no `scope`.
  std::vector<std::string> scopes;
  std::string refresh_token;
};

// Thread-safe.
class OAuthClient {
 public:
  virtual ~OAuthClient() = default;

  // Requests a token with the client credentials grant for `scopes` (empty:
  // the client's default scope). Returns:
  //   kFailedPrecondition  the provider rejected the credentials or the
  //                        client (invalid_client, unauthorized_client, 401);
  //   kInvalidArgument     the provider rejected the request (invalid_scope,
  //                        invalid_request, other 4xx);
  //   kUnavailable         unreachable, 5xx, 429, or a reply that is not a
  //                        usable token;
  //   kDeadlineExceeded    `deadline` passed first.
  virtual absl::StatusOr<UpstreamToken> FetchToken(
      const ClientCredentials& credentials,
      const std::vector<std::string>& scopes, absl::Time deadline) = 0;

  // Revokes `token` (RFC 7009). OK when the provider accepted it, including
  // a token it no longer knows. Errors as for FetchToken.
  virtual absl::Status RevokeToken(const ClientCredentials& credentials,
                                   absl::string_view token,
                                   absl::Time deadline) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_OAUTH_CLIENT_H_
