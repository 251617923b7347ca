#include "server/upstream/oauth_reply.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "proto/oauth_reply.pb.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

using ::mypos::token::internal::OAuthReply;

bool IsSuccess(int http_status) {
  return http_status >= 200 && http_status <= 299;
}

// Parses a JSON object into `reply`, ignoring unknown fields. False when
// `body` is empty or not a JSON object of the expected shape.
bool ParseJson(absl::string_view body, OAuthReply* reply) {
  if (body.empty()) return false;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(
             google::protobuf::StringPiece(body.data(), body.size()), reply,
             options)
      .ok();
}

// The OAuth `error` code as it may appear in a message: only a short word
// made of safe characters, so that a hostile reply cannot inject text.
std::string PrintableErrorCode(absl::string_view error) {
  if (error.empty()) return "no OAuth error code";
  const bool safe =
      error.size() <= 64 && absl::c_all_of(error, [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
               c == '.' || c == '-';
      });
  return safe ? std::string(error) : "unrecognised error";
}

// Maps a reply that is not 2xx; `endpoint` is "token" or "revocation".
absl::Status MapErrorReply(int http_status, absl::string_view body,
                           absl::string_view endpoint) {
  if (http_status == 429) {
    return WithReason(
        absl::UnavailableError(absl::StrCat(
            "myPOS ", endpoint, " endpoint is rate limiting (HTTP 429)")),
        kReasonUpstreamRateLimited);
  }
  if (http_status == 408 || (http_status >= 500 && http_status <= 599)) {
    return WithReason(absl::UnavailableError(absl::StrCat(
                          "myPOS ", endpoint, " endpoint is unavailable (HTTP ",
                          http_status, ")")),
                      kReasonUpstreamUnavailable);
  }
  if (http_status < 400 || http_status > 499) {
    return WithReason(
        absl::UnavailableError(
            absl::StrCat("myPOS ", endpoint,
                         " reply has an unexpected HTTP status ", http_status)),
        kReasonUpstreamBadReply);
  }
  OAuthReply reply;
  ParseJson(body, &reply);  // On failure `error` stays empty.
  const std::string& error = reply.error();
  const std::string detail =
      absl::StrCat(PrintableErrorCode(error), ", HTTP ", http_status);
  if (http_status == 401 || error == "invalid_client") {
    return WithReason(
        absl::FailedPreconditionError(absl::StrCat(
            "myPOS rejected the client credentials (", detail, ")")),
        kReasonCredentialsRejected);
  }
  if (error == "unauthorized_client") {
    return WithReason(
        absl::FailedPreconditionError(absl::StrCat(
            "myPOS does not allow this client the grant type asked for (",
            detail, ")")),
        kReasonUnauthorizedClient);
  }
  if (error == "invalid_grant") {
    return WithReason(
        absl::InvalidArgumentError(absl::StrCat(
            "myPOS rejected the authorization grant (", detail, ")")),
        kReasonInvalidGrant);
  }
  if (error == "invalid_scope") {
    return WithReason(absl::InvalidArgumentError(absl::StrCat(
                          "myPOS rejected the requested scope (", detail, ")")),
                      kReasonInvalidScope);
  }
  // Our request, not the caller's: a request that myPOS calls malformed
  // (invalid_request, unsupported_grant_type, ...) is a bug or a wrong URL.
  return WithReason(
      absl::InternalError(absl::StrCat("myPOS rejected the ", endpoint,
                                       " request (", detail, ")")),
      kReasonBadRequest);
}

absl::Status BadTokenReply(int http_status, absl::string_view problem) {
  return WithReason(
      absl::UnavailableError(
          absl::StrCat("myPOS token reply (HTTP ", http_status, ") ", problem)),
      kReasonUpstreamBadReply);
}

std::string NormalizeTokenType(const std::string& token_type) {
  if (token_type.empty() || absl::EqualsIgnoreCase(token_type, "bearer")) {
    return "Bearer";
  }
  return token_type;
}

}  // namespace

absl::StatusOr<UpstreamToken> ParseTokenReply(
    int http_status, absl::string_view body, const TokenReplyOptions& options) {
  if (!IsSuccess(http_status)) return MapErrorReply(http_status, body, "token");
  OAuthReply reply;
  if (body.empty()) return BadTokenReply(http_status, "is empty");
  if (!ParseJson(body, &reply))
    return BadTokenReply(http_status, "is not a JSON token reply");
  if (reply.access_token().empty()) {
    return BadTokenReply(http_status, "has no access_token");
  }
  if (reply.has_expires_in() && reply.expires_in() <= 0) {
    return BadTokenReply(http_status, "has a non-positive expires_in");
  }
  UpstreamToken token;
  token.access_token = std::move(*reply.mutable_access_token());
  token.token_type = NormalizeTokenType(reply.token_type());
  token.expires_in = reply.has_expires_in() ? absl::Seconds(reply.expires_in())
                                            : options.missing_expires_in;
  token.scopes = absl::StrSplit(reply.scope(), ' ', absl::SkipEmpty());
  token.refresh_token = std::move(*reply.mutable_refresh_token());
  return token;
}

absl::Status ParseRevokeReply(int http_status, absl::string_view body) {
  if (IsSuccess(http_status)) return absl::OkStatus();
  return MapErrorReply(http_status, body, "revocation");
}

}  // namespace tokenservice
