#include "server/broker/issue_reply.h"

#include "base/time_util.h"

namespace tokenservice {
namespace {

// The fields IssueResponse and ExchangeGrantResponse share.
template <typename Response>
void FillTokenFields(const CachedToken& token, Response* response) {
  response->set_access_token(token.access_token);
  response->set_token_type(token.token_type);
  *response->mutable_expire_time() = ToProtoTimestamp(token.expire_time);
  for (const std::string& scope : token.scopes) response->add_scopes(scope);
  response->set_fingerprint(token.fingerprint);
  response->set_credential(token.credential);
  *response->mutable_issue_time() = ToProtoTimestamp(token.issue_time);
}

}  // namespace

void FillIssueResponse(const CachedToken& token, bool cached,
                       mypos::token::v1::IssueResponse* response) {
  FillTokenFields(token, response);
  response->set_cached(cached);
}

void FillExchangeGrantResponse(
    const CachedToken& token, const std::string& refresh_token,
    mypos::token::v1::ExchangeGrantResponse* response) {
  FillTokenFields(token, response);
  response->set_refresh_token(refresh_token);
}

std::string SerializeHitReply(const CachedToken& token) {
  mypos::token::v1::IssueResponse response;
  FillIssueResponse(token, /*cached=*/true, &response);
  return response.SerializeAsString();
}

}  // namespace tokenservice
