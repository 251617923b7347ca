// Limits on every field a caller sends. A violation is kInvalidArgument
// with reason INVALID_REQUEST whose message and ErrorInfo metadata "field"
// name the field, so a caller can fix the request.

#ifndef SERVER_RPC_REQUEST_VALIDATION_H_
#define SERVER_RPC_REQUEST_VALIDATION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/token_service.pb.h"
#include "server/broker/credential_store.h"

namespace tokenservice {

inline constexpr int kMaxTokenLength = 4096;  // also refresh tokens
inline constexpr int kMaxAuthorizationCodeLength = 2048;
inline constexpr int kMaxRedirectUriLength = 2048;
inline constexpr int kMaxClientIdLength = 256;
inline constexpr int kMaxClientSecretLength = 1024;
inline constexpr int kMaxPageSize = 1000;
inline constexpr int kDefaultPageSize = 100;

absl::Status ValidateIssueRequest(const mypos::token::v1::IssueRequest& r);
absl::Status ValidateExchangeGrantRequest(
    const mypos::token::v1::ExchangeGrantRequest& r);
absl::Status ValidateRevokeRequest(const mypos::token::v1::RevokeRequest& r);
absl::Status ValidateGetTokenInfoRequest(
    const mypos::token::v1::GetTokenInfoRequest& r);
absl::Status ValidateListTokensRequest(
    const mypos::token::v1::ListTokensRequest& r);

}  // namespace tokenservice

#endif  // SERVER_RPC_REQUEST_VALIDATION_H_
