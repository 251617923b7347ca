#include "examples/mypos_api_client.h"

#include <httplib.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tokenservice {

MyposApiClient::MyposApiClient(TokenClient* tokens, TokenKey key,
                               std::string base_url)
    : tokens_(tokens), key_(std::move(key)), base_url_(std::move(base_url)) {}

absl::StatusOr<MyposApiClient::Response> MyposApiClient::GetWith(
    const std::string& path, const Token& token) const {
  // One client per request keeps this thread-safe; a real service would
  // pool connections.
  httplib::Client http(base_url_);
  http.set_connection_timeout(5);
  http.set_read_timeout(10);
  httplib::Result result =
      http.Get(path, {{"Authorization", token.AuthorizationHeader()}});
  if (!result) {
    return absl::UnavailableError(absl::StrCat(
        "myPOS API unreachable: ", httplib::to_string(result.error())));
  }
  return Response{result->status, result->body};
}

absl::StatusOr<MyposApiClient::Response> MyposApiClient::Get(
    const std::string& path) {
  absl::StatusOr<TokenClient::TokenPtr> token = tokens_->GetToken(key_);
  if (!token.ok()) return token.status();
  absl::StatusOr<Response> response = GetWith(path, **token);
  if (!response.ok() || response->status != 401) return response;

  // 401: the token was revoked or expired early at myPOS.
  ++rejections_reported_;
  const std::string rejected = (*token)->fingerprint;
  token = tokens_->ReportRejected(**token);
  if (!token.ok()) return token.status();
  response = GetWith(path, **token);
  if (response.ok() && response->status == 401) {
    return absl::UnauthenticatedError(
        absl::StrCat("myPOS rejected token ", rejected, " and its replacement ",
                     (*token)->fingerprint));
  }
  return response;
}

}  // namespace tokenservice
