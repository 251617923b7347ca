#include "server/upstream/mypos_oauth_client.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/upstream/error_reason.h"
#include "server/upstream/oauth_form.h"

namespace tokenservice {

MyposOAuthClient::MyposOAuthClient(Options options,
                                   std::shared_ptr<HttpTransport> transport)
    : options_(std::move(options)), transport_(std::move(transport)) {}

absl::StatusOr<UpstreamToken> MyposOAuthClient::FetchToken(
    const ClientCredentials& credentials,
    const std::vector<std::string>& scopes, absl::Time deadline) {
  absl::StatusOr<HttpResponse> response = PostForm(
      options_.token_url, credentials, TokenRequestBody(scopes), deadline);
  if (!response.ok()) return response.status();
  return ParseTokenReply(response->status, response->body, options_.reply);
}

absl::Status MyposOAuthClient::RevokeToken(const ClientCredentials& credentials,
                                           absl::string_view token,
                                           absl::Time deadline) {
  absl::StatusOr<HttpResponse> response = PostForm(
      options_.revoke_url, credentials, RevokeRequestBody(token), deadline);
  if (!response.ok()) return response.status();
  return ParseRevokeReply(response->status, response->body);
}

absl::StatusOr<HttpResponse> MyposOAuthClient::PostForm(
    const std::string& url, const ClientCredentials& credentials,
    std::string body, absl::Time deadline) {
  HttpRequest request;
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
    return WithReason(response.status(), kReasonUpstreamUnavailable);
  }
  return response;
}

}  // namespace tokenservice
