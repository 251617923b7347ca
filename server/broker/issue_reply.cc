#include "server/broker/issue_reply.h"

#include "base/time_util.h"

namespace tokenservice {

void FillIssueResponse(const CachedToken& token, bool cached,
                       mypos::token::v1::IssueResponse* response) {
  response->set_access_token(token.access_token);
  response->set_token_type(token.token_type);
  *response->mutable_expire_time() = ToProtoTimestamp(token.expire_time);
  for (const std::string& scope : token.scopes) response->add_scopes(scope);
  response->set_fingerprint(token.fingerprint);
  response->set_credential(token.credential);
  *response->mutable_issue_time() = ToProtoTimestamp(token.issue_time);
  response->set_cached(cached);
}

std::string SerializeHitReply(const CachedToken& token) {
  mypos::token::v1::IssueResponse response;
  FillIssueResponse(token, /*cached=*/true, &response);
  return response.SerializeAsString();
}

}  // namespace tokenservice
