// MyposOAuthClient: the OAuthClient for myPOS, over an HttpTransport.
//
// Builds the request (oauth_form.h), POSTs it through the transport and maps
// the reply (oauth_reply.h). It makes exactly one attempt per call: retries
// and backoff belong to the caller.

#ifndef SERVER_UPSTREAM_MYPOS_OAUTH_CLIENT_H_
#define SERVER_UPSTREAM_MYPOS_OAUTH_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/ops/metrics.h"
#include "server/upstream/http_transport.h"
#include "server/upstream/oauth_client.h"
#include "server/upstream/oauth_reply.h"

namespace tokenservice {

// Sends each request as a POST with `Authorization: Basic ...` (RFC 6749
// section 2.3.1), `Content-Type: application/x-www-form-urlencoded` and
// `Accept: application/json`, passing the caller's options (deadline, lane,
// wanted) to the transport; `done` runs on the transport's thread. Error codes
// are those of OAuthClient; every error carries a reason (error_reason.h): the
// reply's as mapped by oauth_reply.h, and for a transport error that has none
// DEADLINE_EXCEEDED (the deadline passed) or UPSTREAM_UNAVAILABLE. An error
// reply's HTTP status is added as ErrorInfo metadata "http_status", and the
// delay its Retry-After header asked for (HttpResponse::retry_after) as a
// retry_after.h payload.
//
// Each HTTP attempt that was sent (or failed trying) is counted in
// `metrics` (tokenservice_upstream_http_attempts_total) by endpoint, HTTP
// status class and the reason its outcome maps to.
//
// Thread-safe (as the transport is). Shares ownership of the transport;
// borrows `metrics` (may be null), which must outlive it.
class MyposOAuthClient : public OAuthClient {
 public:
  struct Options {
    // The token endpoint, e.g. https://auth-api.mypos.com/oauth/token.
    std::string token_url;
    // The RFC 7009 revocation endpoint.
    std::string revoke_url;
    TokenReplyOptions reply;
  };

  // `transport` must not be null.
  MyposOAuthClient(Options options, std::shared_ptr<HttpTransport> transport,
                   Metrics* metrics = nullptr);

  void FetchToken(const ClientCredentials& credentials,
                  const std::vector<std::string>& scopes,
                  const RequestOptions& options, TokenCallback done) override;

  void ExchangeGrant(const ClientCredentials& credentials,
                     const UserGrant& grant, const RequestOptions& options,
                     TokenCallback done) override;

  void RevokeToken(const ClientCredentials& credentials,
                   absl::string_view token, const RequestOptions& options,
                   StatusCallback done) override;

 private:
  // POSTs the form `body` to the token endpoint; `done` gets the token.
  void PostForToken(const ClientCredentials& credentials, std::string body,
                    const RequestOptions& options, bool idempotent,
                    TokenCallback done);
  // POSTs the form `body` to `url` and calls `done` with the reply;
  // transport errors get a reason.
  void PostForm(const std::string& url, const ClientCredentials& credentials,
                std::string body, const RequestOptions& options,
                bool idempotent, HttpCallback done);

  // Counts in `metrics` (may be null) one attempt at `endpoint` that got
  // `response` and ended as `outcome`. Static: it runs on the transport's
  // thread and touches nothing of the client.
  static void RecordAttempt(Metrics* metrics, UpstreamEndpoint endpoint,
                            const absl::StatusOr<HttpResponse>& response,
                            const absl::Status& outcome);

  const Options options_;
  const std::shared_ptr<HttpTransport> transport_;
  Metrics* const metrics_;
};

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_MYPOS_OAUTH_CLIENT_H_
