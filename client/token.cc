#include "client/token.h"

#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"

namespace tokenservice {
namespace {

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace

std::string Token::AuthorizationHeader() const {
  return absl::StrCat(token_type, " ", access_token);
}

Token TokenFromIssueResponse(const TokenKey& key,
                             const mypos::token::v1::IssueResponse& response) {
  Token token;
  token.key = key;
  token.access_token = response.access_token();
  token.token_type =
      response.token_type().empty() ? "Bearer" : response.token_type();
  token.fingerprint = response.fingerprint().empty()
                          ? Fingerprint(response.access_token())
                          : response.fingerprint();
  token.credential = response.credential();
  token.scopes.assign(response.scopes().begin(), response.scopes().end());
  token.issue_time = FromProto(response.issue_time());
  token.expire_time = FromProto(response.expire_time());
  return token;
}

}  // namespace tokenservice
