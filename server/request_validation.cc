#include "server/request_validation.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/fingerprint.h"
#include "server/scopes.h"
#include "server/time_util.h"

namespace tokenservice {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", problem));
}

}  // namespace

absl::Status ValidateCredentialName(absl::string_view field,
                                    absl::string_view name) {
  if (name.size() > kMaxCredentialLength) {
    return Invalid(field, absl::StrCat("is longer than ",
                                       kMaxCredentialLength, " characters"));
  }
  const bool ok = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
  return ok ? absl::OkStatus()
            : Invalid(field, "may contain only letters, digits, '-', '_', '.'");
}

namespace {

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
    return Invalid("client_credentials.client_secret",
                   absl::StrCat("must be 1 to ", kMaxClientSecretLength,
                                " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateIssueRequest(const mypos::token::v1::IssueRequest& r) {
  if (auto s = ValidateCredentialName("credential", r.credential()); !s.ok()) {
    return s;
  }
  if (r.scopes_size() > kMaxScopes) {
    return Invalid("scopes", absl::StrCat("has more than ", kMaxScopes,
                                          " entries"));
  }
  for (int i = 0; i < r.scopes_size(); ++i) {
    if (auto s = ValidateScope(absl::StrCat("scopes[", i, "]"), r.scopes(i));
        !s.ok()) {
      return s;
    }
  }
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

absl::Status ValidateRevokeRequest(const mypos::token::v1::RevokeRequest& r) {
  if (auto s = ValidateCredentialName("credential", r.credential()); !s.ok()) {
    return s;
  }
  if (r.has_client_credentials()) {
    if (auto s = ValidateCallerCredentials(r.client_credentials(),
                                           r.credential());
        !s.ok()) {
      return s;
    }
  }
  switch (r.target_case()) {
    case mypos::token::v1::RevokeRequest::kToken: {
      const std::string& token = r.token();
      if (token.empty() || token.size() > kMaxTokenLength) {
        return Invalid("token", absl::StrCat("must be 1 to ", kMaxTokenLength,
                                             " characters long"));
      }
      const bool printable = std::all_of(token.begin(), token.end(), [](char c) {
        return c > 0x20 && c < 0x7f;
      });
      return printable ? absl::OkStatus()
                       : Invalid("token", "must be printable ASCII without spaces");
    }
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
