#include "server/rpc/request_validation.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/fingerprint.h"
#include "base/scopes.h"
#include "base/time_util.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return WithErrorMetadata(
      WithReason(absl::InvalidArgumentError(absl::StrCat(field, " ", problem)),
                 kReasonInvalidRequest),
      "field", field);
}

absl::Status ValidateFingerprint(absl::string_view field,
                                 absl::string_view value) {
  return IsFingerprint(value)
             ? absl::OkStatus()
             : Invalid(field, absl::StrCat("must be ", kFingerprintLength,
                                           " lower-case hex digits"));
}

absl::Status ValidateCallerCredentials(
    const mypos::token::v1::CallerCredentials& c, absl::string_view profile) {
  if (!profile.empty()) {
    return Invalid("credential",
                   "must be empty when client_credentials are given");
  }
  const std::string& id = c.client_id();
  if (id.empty() || id.size() > kMaxClientIdLength ||
      !std::all_of(id.begin(), id.end(),
                   [](char ch) { return ch >= 0x20 && ch < 0x7f; })) {
    return Invalid("client_credentials.client_id",
                   absl::StrCat("must be 1 to ", kMaxClientIdLength,
                                " printable ASCII characters"));
  }
  if (c.client_secret().empty() ||
      c.client_secret().size() > kMaxClientSecretLength) {
    return Invalid(
        "client_credentials.client_secret",
        absl::StrCat("must be 1 to ", kMaxClientSecretLength, " bytes"));
  }
  return absl::OkStatus();
}

// 1 to `max` printable ASCII characters without spaces (or empty, when
// `required` is false).
absl::Status ValidatePrintable(absl::string_view field, absl::string_view value,
                               size_t max, bool required) {
  if (value.empty() && !required) return absl::OkStatus();
  if (value.empty() || value.size() > max) {
    return Invalid(field,
                   absl::StrCat("must be 1 to ", max, " characters long"));
  }
  const bool printable = std::all_of(
      value.begin(), value.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  return printable ? absl::OkStatus()
                   : Invalid(field, "must be printable ASCII without spaces");
}

// RFC 7636 section 4.1: 43 to 128 unreserved characters.
absl::Status ValidateCodeVerifier(absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  const bool ok = value.size() >= 43 && value.size() <= 128 &&
                  std::all_of(value.begin(), value.end(), [](char c) {
                    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                           c == '-' || c == '.' || c == '_' || c == '~';
                  });
  return ok ? absl::OkStatus()
            : Invalid("code_verifier",
                      "must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~");
}

absl::Status ValidateRedirectUri(absl::string_view value) {
  if (auto s = ValidatePrintable("redirect_uri", value, kMaxRedirectUriLength,
                                 /*required=*/false);
      !s.ok() || value.empty()) {
    return s;
  }
  const size_t colon = value.find(':');
  const bool scheme_ok =
      colon != absl::string_view::npos && colon > 0 &&
      absl::ascii_isalpha(static_cast<unsigned char>(value[0])) &&
      std::all_of(value.begin(), value.begin() + colon, [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' ||
               c == '-' || c == '.';
      });
  return scheme_ok ? absl::OkStatus()
                   : Invalid("redirect_uri", "must be an absolute URI");
}

// At most kMaxScopes scopes of RFC 6749 section 3.3 characters; `field`
// names the list ("scopes" -> "scopes[2]").
absl::Status ValidateScopes(
    absl::string_view field,
    const google::protobuf::RepeatedPtrField<std::string>& scopes) {
  if (scopes.size() > kMaxScopes) {
    return Invalid(field,
                   absl::StrCat("has more than ", kMaxScopes, " entries"));
  }
  for (int i = 0; i < scopes.size(); ++i) {
    if (IsValidScope(scopes[i])) continue;  // no field name built per call
    const std::string name = absl::StrCat(field, "[", i, "]");
    return WithErrorMetadata(
        WithReason(ValidateScope(name, scopes[i]), kReasonInvalidRequest),
        "field", name);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateIssueRequest(const mypos::token::v1::IssueRequest& r) {
  if (auto s = ValidateCredentialName("credential", r.credential()); !s.ok()) {
    return s;
  }
  if (auto s = ValidateScopes("scopes", r.scopes()); !s.ok()) return s;
  if (r.has_min_validity()) {
    const absl::Duration d = FromProtoDuration(r.min_validity());
    if (d < absl::ZeroDuration() || d > absl::Hours(24) ||
        r.min_validity().nanos() < 0 || r.min_validity().nanos() > 999999999) {
      return Invalid("min_validity", "must be between 0 and 24h");
    }
  }
  if (!r.rejected_fingerprint().empty()) {
    if (auto s = ValidateFingerprint("rejected_fingerprint",
                                     r.rejected_fingerprint());
        !s.ok()) {
      return s;
    }
  }
  if (r.has_client_credentials()) {
    return ValidateCallerCredentials(r.client_credentials(), r.credential());
  }
  return absl::OkStatus();
}

absl::Status ValidateExchangeGrantRequest(
    const mypos::token::v1::ExchangeGrantRequest& r) {
  if (auto s = ValidateCredentialName("credential", r.credential()); !s.ok()) {
    return s;
  }
  switch (r.grant_case()) {
    case mypos::token::v1::ExchangeGrantRequest::kAuthorizationCode: {
      const mypos::token::v1::AuthorizationCodeGrant& grant =
          r.authorization_code();
      if (auto s = ValidatePrintable("authorization_code.code", grant.code(),
                                     kMaxAuthorizationCodeLength, true);
          !s.ok()) {
        return s;
      }
      if (auto s = ValidateRedirectUri(grant.redirect_uri()); !s.ok()) {
        return s;
      }
      return ValidateCodeVerifier(grant.code_verifier());
    }
    case mypos::token::v1::ExchangeGrantRequest::kRefreshToken: {
      const mypos::token::v1::RefreshTokenGrant& grant = r.refresh_token();
      if (auto s =
              ValidatePrintable("refresh_token.refresh_token",
                                grant.refresh_token(), kMaxTokenLength, true);
          !s.ok()) {
        return s;
      }
      return ValidateScopes("refresh_token.scopes", grant.scopes());
    }
    default:
      return Invalid("grant", "must set authorization_code or refresh_token");
  }
}

absl::Status ValidateRevokeRequest(const mypos::token::v1::RevokeRequest& r) {
  if (auto s = ValidateCredentialName("credential", r.credential()); !s.ok()) {
    return s;
  }
  if (r.has_client_credentials()) {
    if (auto s =
            ValidateCallerCredentials(r.client_credentials(), r.credential());
        !s.ok()) {
      return s;
    }
  }
  switch (r.target_case()) {
    case mypos::token::v1::RevokeRequest::kToken:
      return ValidatePrintable("token", r.token(), kMaxTokenLength, true);
    case mypos::token::v1::RevokeRequest::kFingerprint:
      return ValidateFingerprint("fingerprint", r.fingerprint());
    default:
      return Invalid("target", "must set token or fingerprint");
  }
}

absl::Status ValidateGetTokenInfoRequest(
    const mypos::token::v1::GetTokenInfoRequest& r) {
  return ValidateFingerprint("fingerprint", r.fingerprint());
}

absl::Status ValidateListTokensRequest(
    const mypos::token::v1::ListTokensRequest& r) {
  if (auto s = ValidateCredentialName("credential", r.credential()); !s.ok()) {
    return s;
  }
  if (r.page_size() < 0) return Invalid("page_size", "must not be negative");
  if (!r.page_token().empty()) {
    return ValidateFingerprint("page_token", r.page_token());
  }
  return absl::OkStatus();
}

}  // namespace tokenservice
