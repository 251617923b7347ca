// Token: one access token as TokenClient hands it out — the value to send
// to myPOS, its expiry, and the key it was asked for.

#ifndef CLIENT_TOKEN_H_
#define CLIENT_TOKEN_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "client/token_key.h"
#include "proto/token_service.pb.h"

namespace tokenservice {

// A plain value. Treat `access_token` as a secret: log `fingerprint`.
struct Token {
  TokenKey key;  // what the caller asked for
  std::string access_token;
  std::string token_type;           // normally "Bearer"
  std::string fingerprint;          // first 16 hex digits of SHA-256
  std::string credential;           // the profile that issued it
  std::vector<std::string> scopes;  // as granted
  absl::Time issue_time;
  absl::Time expire_time;

  // The value for an HTTP Authorization header: "Bearer <token>".
  std::string AuthorizationHeader() const;
};

// `response` to an Issue call made for `key`. The fingerprint is computed
// from the token when the response leaves it empty, and token_type defaults
// to "Bearer".
Token TokenFromIssueResponse(const TokenKey& key,
                             const mypos::token::v1::IssueResponse& response);

}  // namespace tokenservice

#endif  // CLIENT_TOKEN_H_
