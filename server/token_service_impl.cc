#include "server/token_service_impl.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/grpc_status.h"
#include "server/log.h"
#include "server/request_validation.h"
#include "server/scopes.h"
#include "server/time_util.h"

namespace tokenservice {
namespace {

using mypos::token::v1::GetTokenInfoRequest;
using mypos::token::v1::IssueRequest;
using mypos::token::v1::IssueResponse;
using mypos::token::v1::ListTokensRequest;
using mypos::token::v1::ListTokensResponse;
using mypos::token::v1::RevokeRequest;
using mypos::token::v1::RevokeResponse;
using mypos::token::v1::TokenInfo;

// Finishes `reactor` with `status`, logging failures. Messages never hold
// secrets or tokens (see docs/errors.md), so they are safe to log.
void Finish(grpc::ServerUnaryReactor* reactor, absl::string_view method,
            const absl::Status& status) {
  if (!status.ok()) {
    Log(LogLevel::kInfo, "rpc_failed",
        {{"method", std::string(method)},
         {"code", absl::StatusCodeToString(status.code())},
         {"error", std::string(status.message())}});
  }
  reactor->Finish(ToGrpcStatus(status));
}

// The caller's gRPC deadline; InfiniteFuture when it set none.
absl::Time CallerDeadline(const grpc::CallbackServerContext* context) {
  const std::chrono::system_clock::time_point deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

void FillIssueResponse(const IssuedToken& issued, IssueResponse* response) {
  const CachedToken& token = *issued.token;
  response->set_access_token(token.access_token);
  response->set_token_type(token.token_type);
  *response->mutable_expire_time() = ToProtoTimestamp(token.expire_time);
  for (const std::string& scope : token.scopes) response->add_scopes(scope);
  response->set_fingerprint(token.fingerprint);
  response->set_credential(token.credential);
  *response->mutable_issue_time() = ToProtoTimestamp(token.issue_time);
  response->set_cached(issued.cached);
}

}  // namespace

grpc::ServerUnaryReactor* TokenServiceImpl::Issue(
    grpc::CallbackServerContext* context, const IssueRequest* request,
    IssueResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = ValidateIssueRequest(*request); !s.ok()) {
    Finish(reactor, "Issue", s);
    return reactor;
  }
  if (request->grant_type() != mypos::token::v1::GRANT_TYPE_CLIENT_CREDENTIALS) {
    IssueWithGrant(reactor, *request, CallerDeadline(context), response);
    return reactor;
  }
  IssueParams params;
  params.deadline = CallerDeadline(context);
  params.credential = request->credential();
  params.scopes.assign(request->scopes().begin(), request->scopes().end());
  if (request->has_min_validity()) {
    params.min_validity = FromProtoDuration(request->min_validity());
  }
  params.rejected_fingerprint = request->rejected_fingerprint();
  broker_->Issue(std::move(params), [reactor, response](
                                        absl::StatusOr<IssuedToken> result) {
    if (result.ok()) FillIssueResponse(*result, response);
    Finish(reactor, "Issue", result.status());
  });
  return reactor;
}

void TokenServiceImpl::IssueWithGrant(grpc::ServerUnaryReactor* reactor,
                                      const IssueRequest& request,
                                      absl::Time deadline,
                                      IssueResponse* response) {
  GrantParams params;
  params.credential = request.credential();
  params.deadline = deadline;
  UserGrant& grant = params.grant;
  if (request.grant_type() == mypos::token::v1::GRANT_TYPE_AUTHORIZATION_CODE) {
    grant.type = UserGrant::Type::kAuthorizationCode;
    grant.code = request.authorization_code();
    grant.redirect_uri = request.redirect_uri();
    grant.code_verifier = request.code_verifier();
  } else {
    grant.type = UserGrant::Type::kRefreshToken;
    grant.refresh_token = request.refresh_token();
    grant.scopes = NormalizeScopes(
        std::vector<std::string>(request.scopes().begin(),
                                 request.scopes().end()));
  }
  grants_->Exchange(std::move(params), [reactor, response](
                                           absl::StatusOr<GrantedToken> result) {
    if (result.ok()) {
      FillIssueResponse(IssuedToken{result->token, /*cached=*/false},
                        response);
      response->set_refresh_token(result->refresh_token);
    }
    Finish(reactor, "Issue", result.status());
  });
}

grpc::ServerUnaryReactor* TokenServiceImpl::Revoke(
    grpc::CallbackServerContext* context, const RevokeRequest* request,
    RevokeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = ValidateRevokeRequest(*request); !s.ok()) {
    Finish(reactor, "Revoke", s);
    return reactor;
  }
  RevokeParams params;
  params.deadline = CallerDeadline(context);
  params.credential = request->credential();
  params.token = request->token();
  params.fingerprint = request->fingerprint();
  broker_->Revoke(std::move(params), [reactor, response](
                                         absl::StatusOr<RevokeResult> result) {
    if (result.ok()) {
      response->set_fingerprint(result->fingerprint);
      response->set_was_cached(result->was_cached);
    }
    Finish(reactor, "Revoke", result.status());
  });
  return reactor;
}

grpc::ServerUnaryReactor* TokenServiceImpl::GetTokenInfo(
    grpc::CallbackServerContext* context, const GetTokenInfoRequest* request,
    TokenInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = ValidateGetTokenInfoRequest(*request);
  if (status.ok()) {
    absl::StatusOr<TokenInfo> info =
        broker_->GetTokenInfo(request->fingerprint());
    if (!info.ok() && info.status().code() == absl::StatusCode::kNotFound) {
      if (std::optional<TokenInfo> granted =
              grants_->Info(request->fingerprint())) {
        info = *std::move(granted);
      }
    }
    if (info.ok()) *response = *std::move(info);
    status = info.status();
  }
  Finish(reactor, "GetTokenInfo", status);
  return reactor;
}

grpc::ServerUnaryReactor* TokenServiceImpl::ListTokens(
    grpc::CallbackServerContext* context, const ListTokensRequest* request,
    ListTokensResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = ValidateListTokensRequest(*request);
  if (status.ok()) {
    int page_size = request->page_size();
    if (page_size == 0) page_size = kDefaultPageSize;
    if (page_size > kMaxPageSize) page_size = kMaxPageSize;
    *response = broker_->ListTokens(request->credential(), page_size,
                                    request->page_token());
  }
  Finish(reactor, "ListTokens", status);
  return reactor;
}

}  // namespace tokenservice
