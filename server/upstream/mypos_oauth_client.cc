#include "server/upstream/mypos_oauth_client.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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
  for (const auto& [name, value] : response.headers) {
    if (name != "retry-after") continue;
    if (std::optional<absl::Duration> delay =
            ParseRetryAfter(value, absl::Now())) {
      status = WithRetryAfter(std::move(status), *delay);
    }
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
                                   std::shared_ptr<HttpTransport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {}

absl::StatusOr<UpstreamToken> MyposOAuthClient::FetchToken(
    const ClientCredentials& credentials,
    const std::vector<std::string>& scopes, absl::Time deadline) {
  return TokenFrom(PostForm(options_.token_url, credentials,
                            TokenRequestBody(scopes), deadline),
                   options_.reply);
}

absl::StatusOr<UpstreamToken> MyposOAuthClient::ExchangeGrant(
    const ClientCredentials& credentials, const UserGrant& grant,
    absl::Time deadline) {
  // A user's code or refresh token reaches myPOS at most once.
  return TokenFrom(PostForm(options_.token_url, credentials,
                            GrantRequestBody(grant), deadline,
                            /*idempotent=*/false),
                   options_.reply);
}

absl::Status MyposOAuthClient::RevokeToken(const ClientCredentials& credentials,
                                           absl::string_view token,
                                           absl::Time deadline) {
  absl::StatusOr<HttpResponse> response = PostForm(
      options_.revoke_url, credentials, RevokeRequestBody(token), deadline);
  if (!response.ok()) return response.status();
  return AnnotateReplyError(ParseRevokeReply(response->status, response->body),
                            *response);
}

absl::StatusOr<HttpResponse> MyposOAuthClient::PostForm(
    const std::string& url, const ClientCredentials& credentials,
    std::string body, absl::Time deadline, bool idempotent) {
  HttpRequest request;
  request.idempotent = idempotent;
  request.url = url;
  request.headers = {
      {"Authorization", BasicAuthorization(credentials)},
      {"Content-Type", "application/x-www-form-urlencoded"},
      {"Accept", "application/json"},
  };
  request.body = std::move(body);
  request.deadline = deadline;
  absl::StatusOr<HttpResponse> response = transport_->Post(request);
  if (!response.ok() && ErrorReason(response.status()).empty()) {
    return WithReason(
        response.status(),
        response.status().code() == absl::StatusCode::kDeadlineExceeded
            ? kReasonDeadlineExceeded
            : kReasonUpstreamUnavailable);
  }
  return response;
}

}  // namespace tokenservice
