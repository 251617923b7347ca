// The request side of the myPOS OAuth2 exchange: form bodies and the client
// authentication header, as pure functions of their inputs.
//
// myPOS documents HTTP Basic authentication for the client. RFC 6749
// section 2.3.1 says the client id and secret are each form-urlencoded
// before they are joined with ':' and base64-encoded, so that a ':' inside
// an id cannot shift the split; this follows the RFC.

#ifndef SERVER_UPSTREAM_OAUTH_FORM_H_
#define SERVER_UPSTREAM_OAUTH_FORM_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

// Encodes `value` as application/x-www-form-urlencoded: ASCII letters,
// digits and "*-._" unchanged, space as '+', every other byte as %XX with
// upper-case hex. Bytes are encoded as they are, so UTF-8 "é" is "%C3%A9".
std::string FormUrlEncode(absl::string_view value);

// The Authorization header value for `credentials`: "Basic " followed by
// base64(FormUrlEncode(client_id) ":" FormUrlEncode(client_secret)).
// The result holds the secret: never log it.
std::string BasicAuthorization(const ClientCredentials& credentials);

// The token request body for the client credentials grant:
// "grant_type=client_credentials", plus "&scope=" and the space-joined,
// encoded `scopes` when there are any.
std::string TokenRequestBody(const std::vector<std::string>& scopes);

// The token request body for a user's grant: "grant_type=authorization_code
// &code=...", with "&redirect_uri=" and "&code_verifier=" when set; or
// "grant_type=refresh_token&refresh_token=...", with "&scope=" when scopes
// are set. The result holds the user's secrets: never log it.
std::string GrantRequestBody(const UserGrant& grant);

// The RFC 7009 revocation body: "token=" and the encoded `token`.
// The result holds the token: never log it.
std::string RevokeRequestBody(absl::string_view token);

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_OAUTH_FORM_H_
