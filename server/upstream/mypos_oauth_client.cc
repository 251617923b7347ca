#include "server/upstream/mypos_oauth_client.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/ops/error_reason.h"
#include "server/upstream/oauth_form.h"
#include "server/upstream/retry_after.h"

namespace tokenservice {
namespace {

// Adds what the retry logic and callers need to know about an error reply:
// its HTTP status and the delay its Retry-After header asks for.
absl::Status AnnotateReplyError(absl::Status status,
                                const HttpResponse& response) {
  if (status.ok()) return status;
  status = WithErrorMetadata(std::move(status), "http_status",
                             absl::StrCat(response.status));
  if (response.retry_after.has_value()) {
    status = WithRetryAfter(std::move(status), *response.retry_after);
  }
  return status;
}

absl::StatusOr<UpstreamToken> TokenFrom(
    const absl::StatusOr<HttpResponse>& response,
    const TokenReplyOptions& options) {
  if (!response.ok()) return response.status();
  absl::StatusOr<UpstreamToken> token =
      ParseTokenReply(response->status, response->body, options);
  if (!token.ok()) return AnnotateReplyError(token.status(), *response);
  return token;
}

}  // namespace

MyposOAuthClient::MyposOAuthClient(Options options,
                                   std::shared_ptr<HttpTransport> transport,
                                   Metrics* metrics)
    : options_(std::move(options)),
      transport_(std::move(transport)),
      metrics_(metrics) {}

void MyposOAuthClient::RecordAttempt(
    Metrics* metrics, UpstreamEndpoint endpoint,
    const absl::StatusOr<HttpResponse>& response, const absl::Status& outcome) {
  if (metrics == nullptr) return;
  // Dropped before it was sent (no caller wanted it any more): no attempt.
  if (!response.ok() &&
      response.status().code() == absl::StatusCode::kCancelled) {
    return;
  }
  metrics->RecordUpstreamAttempt(endpoint, response.ok() ? response->status : 0,
                                 outcome);
}

void MyposOAuthClient::FetchToken(const ClientCredentials& credentials,
                                  const std::vector<std::string>& scopes,
                                  const RequestOptions& options,
                                  TokenCallback done) {
  PostForToken(credentials, TokenRequestBody(scopes), options,
               /*idempotent=*/true, std::move(done));
}

void MyposOAuthClient::ExchangeGrant(const ClientCredentials& credentials,
                                     const UserGrant& grant,
                                     const RequestOptions& options,
                                     TokenCallback done) {
  // A user's code or refresh token reaches myPOS at most once.
  PostForToken(credentials, GrantRequestBody(grant), options,
               /*idempotent=*/false, std::move(done));
}

void MyposOAuthClient::PostForToken(const ClientCredentials& credentials,
                                    std::string body,
                                    const RequestOptions& options,
                                    bool idempotent, TokenCallback done) {
  PostForm(
      options_.token_url, credentials, std::move(body), options, idempotent,
      [metrics = metrics_, reply = options_.reply,
       done = std::move(done)](absl::StatusOr<HttpResponse> response) mutable {
        absl::StatusOr<UpstreamToken> token = TokenFrom(response, reply);
        RecordAttempt(metrics, UpstreamEndpoint::kToken, response,
                      token.status());
        std::move(done)(std::move(token));
      });
}

void MyposOAuthClient::RevokeToken(const ClientCredentials& credentials,
                                   absl::string_view token,
                                   const RequestOptions& options,
                                   StatusCallback done) {
  PostForm(
      options_.revoke_url, credentials, RevokeRequestBody(token), options,
      /*idempotent=*/true,
      [metrics = metrics_,
       done = std::move(done)](absl::StatusOr<HttpResponse> response) mutable {
        absl::Status status =
            response.ok()
                ? AnnotateReplyError(
                      ParseRevokeReply(response->status, response->body),
                      *response)
                : response.status();
        RecordAttempt(metrics, UpstreamEndpoint::kRevoke, response, status);
        std::move(done)(std::move(status));
      });
}

void MyposOAuthClient::PostForm(const std::string& url,
                                const ClientCredentials& credentials,
                                std::string body, const RequestOptions& options,
                                bool idempotent, HttpCallback done) {
  HttpRequest request;
  request.idempotent = idempotent;
  request.url = url;
  request.headers = {
      {"Authorization", BasicAuthorization(credentials)},
      {"Content-Type", "application/x-www-form-urlencoded"},
      {"Accept", "application/json"},
  };
  request.body = std::move(body);
  request.options = options;
  transport_->Post(
      std::move(request),
      [done = std::move(done)](absl::StatusOr<HttpResponse> response) mutable {
        // A transport of ours always gives a reason; these are for one
        // that does not.
        if (!response.ok() && ErrorReason(response.status()).empty()) {
          if (response.status().code() == absl::StatusCode::kDeadlineExceeded) {
            response = WithReason(response.status(), kReasonDeadlineExceeded);
          } else if (response.status().code() ==
                     absl::StatusCode::kUnavailable) {
            response =
                WithReason(response.status(), kReasonUpstreamUnavailable);
          }
        }
        std::move(done)(std::move(response));
      });
}

}  // namespace tokenservice
