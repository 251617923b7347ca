#include "fuzz/request_validation_harness.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/stubs/logging.h"
#include "proto/token_service.pb.h"
#include "server/rpc/request_validation.h"

namespace tokenservice {
namespace fuzz {
namespace {

namespace v1 = ::mypos::token::v1;

// The limits, written out again from request_validation.h and scopes.h
// rather than calling the code under test.
bool IsCredentialName(const std::string& s) {
  if (s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool IsScope(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!(u == 0x21 || (u >= 0x23 && u <= 0x5b) || (u >= 0x5d && u <= 0x7e))) {
      return false;
    }
  }
  return true;
}

bool IsFingerprintText(const std::string& s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsTokenText(const std::string& s) {
  if (s.empty() || s.size() > 4096) return false;
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

void CheckRejection(const absl::Status& status, const std::string& secret) {
  const std::string detail = status.ToString();
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, detail);
  FUZZ_CHECK(IsOneLine(status.message()), detail);
  static const char* const kFields[] = {"credential",
                                        "scopes",
                                        "min_validity",
                                        "rejected_fingerprint",
                                        "token",
                                        "fingerprint",
                                        "target",
                                        "page_size",
                                        "page_token",
                                        "grant",
                                        "authorization_code",
                                        "redirect_uri",
                                        "code_verifier",
                                        "refresh_token",
                                        "client_credentials"};
  bool names_field = false;
  for (const char* field : kFields) {
    names_field = names_field || absl::StartsWith(status.message(), field);
  }
  FUZZ_CHECK(names_field, detail);
  if (absl::StrContains(secret, kCanaryMarker)) {
    FUZZ_CHECK(!absl::StrContains(status.message(), secret), detail);
  }
}

void CheckIssue(const v1::IssueRequest& r) {
  const absl::Status status = ValidateIssueRequest(r);
  if (!status.ok()) return CheckRejection(status, "");
  const std::string detail = r.ShortDebugString();
  FUZZ_CHECK(IsCredentialName(r.credential()), detail);
  FUZZ_CHECK(r.scopes_size() <= 32, detail);
  for (const std::string& scope : r.scopes())
    FUZZ_CHECK(IsScope(scope), detail);
  if (r.has_min_validity()) {
    const auto& d = r.min_validity();
    FUZZ_CHECK(d.nanos() >= 0 && d.nanos() <= 999999999, detail);
    const absl::Duration v =
        absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
    FUZZ_CHECK(v >= absl::ZeroDuration() && v <= absl::Hours(24), detail);
  }
  FUZZ_CHECK(r.rejected_fingerprint().empty() ||
                 IsFingerprintText(r.rejected_fingerprint()),
             detail);
}

void CheckRevoke(const v1::RevokeRequest& r) {
  const absl::Status status = ValidateRevokeRequest(r);
  if (!status.ok()) return CheckRejection(status, r.token());
  const std::string detail = r.ShortDebugString();
  FUZZ_CHECK(IsCredentialName(r.credential()), detail);
  switch (r.target_case()) {
    case v1::RevokeRequest::kToken:
      FUZZ_CHECK(IsTokenText(r.token()), detail);
      break;
    case v1::RevokeRequest::kFingerprint:
      FUZZ_CHECK(IsFingerprintText(r.fingerprint()), detail);
      break;
    default:
      FUZZ_CHECK(false, "accepted a revoke with no target");
  }
}

void CheckGetTokenInfo(const v1::GetTokenInfoRequest& r) {
  const absl::Status status = ValidateGetTokenInfoRequest(r);
  if (!status.ok()) return CheckRejection(status, "");
  FUZZ_CHECK(IsFingerprintText(r.fingerprint()), r.ShortDebugString());
}

void CheckListTokens(const v1::ListTokensRequest& r) {
  const absl::Status status = ValidateListTokensRequest(r);
  if (!status.ok()) return CheckRejection(status, "");
  const std::string detail = r.ShortDebugString();
  FUZZ_CHECK(IsCredentialName(r.credential()), detail);
  FUZZ_CHECK(r.page_size() >= 0, detail);
  FUZZ_CHECK(r.page_token().empty() || IsFingerprintText(r.page_token()),
             detail);
}

void CheckExchangeGrant(const v1::ExchangeGrantRequest& r) {
  const std::string secret = r.has_authorization_code()
                                 ? r.authorization_code().code()
                                 : r.refresh_token().refresh_token();
  const absl::Status status = ValidateExchangeGrantRequest(r);
  if (!status.ok()) return CheckRejection(status, secret);
  const std::string detail = r.ShortDebugString();
  FUZZ_CHECK(IsCredentialName(r.credential()), detail);
  FUZZ_CHECK(r.has_authorization_code() || r.has_refresh_token(), detail);
  if (r.has_authorization_code()) {
    FUZZ_CHECK(IsTokenText(r.authorization_code().code()) &&
                   r.authorization_code().code().size() <= 2048,
               detail);
  } else {
    FUZZ_CHECK(IsTokenText(r.refresh_token().refresh_token()), detail);
    FUZZ_CHECK(r.refresh_token().scopes_size() <= 32, detail);
    for (const std::string& scope : r.refresh_token().scopes()) {
      FUZZ_CHECK(IsScope(scope), detail);
    }
  }
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, Request* request) {
  return request->ParseFromArray(data, static_cast<int>(size));
}

}  // namespace

void FuzzRequestValidation(const uint8_t* data, size_t size) {
  // Bytes that are not UTF-8 in a string field fail to parse, and protobuf
  // logs each one: keep the fuzzer's output readable.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  if (size < 1 || size > (1 << 20)) return;
  const uint8_t* bytes = data + 1;
  const size_t n = size - 1;
  switch (data[0] % 5) {
    case 0: {
      v1::IssueRequest r;
      if (Parse(bytes, n, &r)) CheckIssue(r);
      break;
    }
    case 1: {
      v1::RevokeRequest r;
      if (Parse(bytes, n, &r)) CheckRevoke(r);
      break;
    }
    case 2: {
      v1::GetTokenInfoRequest r;
      if (Parse(bytes, n, &r)) CheckGetTokenInfo(r);
      break;
    }
    case 3: {
      v1::ListTokensRequest r;
      if (Parse(bytes, n, &r)) CheckListTokens(r);
      break;
    }
    default: {
      v1::ExchangeGrantRequest r;
      if (Parse(bytes, n, &r)) CheckExchangeGrant(r);
      break;
    }
  }
}

}  // namespace fuzz
}  // namespace tokenservice
