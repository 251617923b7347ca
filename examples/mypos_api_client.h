// MyposApiClient: how an internal service calls a myPOS API with tokens from
// TokenService. Each request asks TokenClient for a token (a memory read
// when cached) and sends it as "Authorization: Bearer". When myPOS answers
// 401, the token is reported with TokenClient::ReportRejected — which
// drops it here and has TokenService refresh it exactly once, however many
// callers report it — and the request is retried once with the replacement.

#ifndef EXAMPLES_MYPOS_API_CLIENT_H_
#define EXAMPLES_MYPOS_API_CLIENT_H_

#include <atomic>
#include <string>

#include "absl/status/statusor.h"
#include "client/token_client.h"
#include "client/token_key.h"

namespace tokenservice {

// Thread-safe. Does not own `tokens`, which must outlive it.
class MyposApiClient {
 public:
  struct Response {
    int status = 0;  // HTTP status
    std::string body;
  };

  // Requests go to `base_url` (e.g. "https://api.mypos.com") with tokens
  // for `key`.
  MyposApiClient(TokenClient* tokens, TokenKey key, std::string base_url);

  // GET `path` (e.g. "/api/ping"). Any HTTP reply but 401 is returned as is.
  //
  // Errors: TokenClient's codes when no token can be had; kUnavailable when
  // myPOS cannot be reached; kUnauthenticated when myPOS rejects the
  // replacement token too (a permissions problem, not an expiry). Messages
  // name tokens by fingerprint only.
  absl::StatusOr<Response> Get(const std::string& path);

  // Tokens reported as rejected so far.
  int rejections_reported() const { return rejections_reported_.load(); }

 private:
  absl::StatusOr<Response> GetWith(const std::string& path,
                                   const Token& token) const;

  TokenClient* const tokens_;
  const TokenKey key_;
  const std::string base_url_;
  std::atomic<int> rejections_reported_{0};
};

}  // namespace tokenservice

#endif  // EXAMPLES_MYPOS_API_CLIENT_H_
