// OAuthClient: obtains and revokes OAuth2 access tokens at the provider.
//
// The broker depends on this interface only; MyposOAuthClient implements it
// over HTTP (RFC 6749 grants, RFC 7009 revocation), RetryingOAuthClient
// decorates it with retries, and tests replace it with a mock.

#ifndef SERVER_UPSTREAM_OAUTH_CLIENT_H_
#define SERVER_UPSTREAM_OAUTH_CLIENT_H_

#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/upstream/http_transport.h"

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

// A user's grant that the caller passes through to the provider: an
// authorization code (RFC 6749 section 4.1.3, PKCE RFC 7636 section 4.5) or
// a refresh token (section 6). Every field is a secret of that user: never
// log it, never cache what it buys.
struct UserGrant {
  enum class Type { kAuthorizationCode, kRefreshToken };
  Type type = Type::kAuthorizationCode;
  // kAuthorizationCode: the code, and the redirect_uri and PKCE
  // code_verifier when the authorization request used them (else empty).
  std::string code;
  std::string redirect_uri;
  std::string code_verifier;
  // kRefreshToken: the refresh token, and optionally narrower scopes.
  std::string refresh_token;
  std::vector<std::string> scopes;
};

using TokenCallback =
    absl::AnyInvocable<void(absl::StatusOr<UpstreamToken>) &&>;
using StatusCallback = absl::AnyInvocable<void(absl::Status) &&>;

// Thread-safe. Asynchronous: each call returns at once and calls `done`
// exactly once, never inside the call, on the transport's or the timers'
// thread. `options` (http_transport.h) carry the deadline, the lane and
// whether the result is still wanted.
class OAuthClient {
 public:
  virtual ~OAuthClient() = default;

  // Requests a token with the client credentials grant for `scopes` (empty:
  // the client's default scope). Fails with:
  //   kFailedPrecondition  the provider rejected the credentials or the
  //                        client (invalid_client, unauthorized_client, 401);
  //   kInvalidArgument     the provider rejected the request (invalid_scope,
  //                        invalid_request, other 4xx);
  //   kUnavailable         unreachable, 5xx, 429, or a reply that is not a
  //                        usable token;
  //   kDeadlineExceeded    the deadline passed first;
  //   kCancelled           `options.wanted` said no before a request.
  virtual void FetchToken(const ClientCredentials& credentials,
                          const std::vector<std::string>& scopes,
                          const RequestOptions& options,
                          TokenCallback done) = 0;

  // Exchanges a user's `grant` for a token (which may carry a refresh
  // token). Errors as for FetchToken, plus kInvalidArgument with reason
  // INVALID_GRANT when the provider rejects the code or refresh token.
  virtual void ExchangeGrant(const ClientCredentials& credentials,
                             const UserGrant& grant,
                             const RequestOptions& options,
                             TokenCallback done) = 0;

  // Revokes `token` (RFC 7009). OK when the provider accepted it, including
  // a token it no longer knows. Errors as for FetchToken.
  virtual void RevokeToken(const ClientCredentials& credentials,
                           absl::string_view token,
                           const RequestOptions& options,
                           StatusCallback done) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_OAUTH_CLIENT_H_
