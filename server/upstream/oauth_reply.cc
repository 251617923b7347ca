#include "server/upstream/oauth_reply.h"

#include <algorithm>
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

// RFC 6750 section 2.1: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
// "/" ) *"=".
bool IsB64Token(absl::string_view value) {
  size_t i = 0;
  while (
      i < value.size() &&
      (absl::ascii_isalnum(static_cast<unsigned char>(value[i])) ||
       absl::string_view("-._~+/").find(value[i]) != absl::string_view::npos)) {
    ++i;
  }
  if (i == 0) return false;
  while (i < value.size() && value[i] == '=') ++i;
  return i == value.size();
}

// RFC 7230 section 3.2.6: 1*tchar.
bool IsHttpToken(absl::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
           absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
               absl::string_view::npos;
  });
}

// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
bool IsScopeToken(absl::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    return u == 0x21 || (u >= 0x23 && u <= 0x5b) || (u >= 0x5d && u <= 0x7e);
  });
}

// A refresh token the caller can send back (ExchangeGrant takes printable
// ASCII without spaces, at most kMaxAccessTokenLength): RFC 6749's VSCHAR
// less the space.
bool IsReturnableRefreshToken(absl::string_view value) {
  return value.size() <= kMaxAccessTokenLength &&
         std::all_of(value.begin(), value.end(),
                     [](char c) { return c > 0x20 && c <= 0x7e; });
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
  if (reply.access_token().size() > kMaxAccessTokenLength ||
      !IsB64Token(reply.access_token())) {
    return BadTokenReply(
        http_status,
        absl::StrCat("has an access_token that is no RFC 6750 token of at "
                     "most ",
                     kMaxAccessTokenLength, " characters"));
  }
  if (!reply.token_type().empty() && !IsHttpToken(reply.token_type())) {
    return BadTokenReply(http_status,
                         "has a token_type that is no RFC 7230 token");
  }
  if (reply.has_expires_in() && reply.expires_in() <= 0) {
    return BadTokenReply(http_status, "has a non-positive expires_in");
  }
  if (reply.has_expires_in() &&
      absl::Seconds(reply.expires_in()) > options.max_expires_in) {
    return BadTokenReply(
        http_status,
        absl::StrCat("has an expires_in beyond --max_token_lifetime (",
                     absl::FormatDuration(options.max_expires_in), ")"));
  }
  if (!IsReturnableRefreshToken(reply.refresh_token())) {
    return BadTokenReply(
        http_status,
        "has a refresh_token that is not printable ASCII without spaces of "
        "at most 4096 characters");
  }
  UpstreamToken token;
  token.access_token = std::move(*reply.mutable_access_token());
  token.token_type = NormalizeTokenType(reply.token_type());
  token.expires_in = reply.has_expires_in() ? absl::Seconds(reply.expires_in())
                                            : options.missing_expires_in;
  token.scopes = absl::StrSplit(reply.scope(), ' ', absl::SkipEmpty());
  if (!std::all_of(token.scopes.begin(), token.scopes.end(),
                   [](const std::string& s) { return IsScopeToken(s); })) {
    return BadTokenReply(http_status,
                         "has a scope with characters RFC 6749 does not allow");
  }
  token.refresh_token = std::move(*reply.mutable_refresh_token());
  return token;
}

absl::Status ParseRevokeReply(int http_status, absl::string_view body) {
  if (IsSuccess(http_status)) return absl::OkStatus();
  return MapErrorReply(http_status, body, "revocation");
}

}  // namespace tokenservice
