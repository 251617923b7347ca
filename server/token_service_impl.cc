#include "server/token_service_impl.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#include "server/grpc_status.h"
#include "server/log.h"
#include "server/request_validation.h"
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

constexpr const char* kMethodNames[] = {"Issue", "Revoke", "GetTokenInfo",
                                        "ListTokens"};

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

void TokenServiceImpl::Finish(grpc::ServerUnaryReactor* reactor,
                              RpcMethod method, absl::string_view profile,
                              absl::Time start,
                              const absl::Status& status) const {
  const absl::Duration latency = absl::Now() - start;
  if (metrics_ != nullptr) metrics_->RecordRpc(method, status.code(), latency);
  if (!status.ok()) {
    // Status messages never hold secrets or tokens (docs/errors.md).
    Log(LogLevel::kInfo, "rpc_failed",
        {{"method", kMethodNames[static_cast<int>(method)]},
         {"profile", std::string(profile)},
         {"duration_ms", absl::StrCat(absl::ToInt64Milliseconds(latency))},
         {"code", absl::StatusCodeToString(status.code())},
         {"error", std::string(status.message())}});
  }
  reactor->Finish(ToGrpcStatus(status));
}

grpc::ServerUnaryReactor* TokenServiceImpl::Issue(
    grpc::CallbackServerContext* context, const IssueRequest* request,
    IssueResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = ValidateIssueRequest(*request); !s.ok()) {
    Finish(reactor, RpcMethod::kIssue, request->credential(), start, s);
    return reactor;
  }
  IssueParams params;
  params.credential = request->credential();
  params.scopes.assign(request->scopes().begin(), request->scopes().end());
  if (request->has_min_validity()) {
    params.min_validity = FromProtoDuration(request->min_validity());
  }
  params.rejected_fingerprint = request->rejected_fingerprint();
  broker_->Issue(std::move(params), [this, reactor, request, response, start](
                                        absl::StatusOr<IssuedToken> result) {
    if (result.ok()) FillIssueResponse(*result, response);
    Finish(reactor, RpcMethod::kIssue, request->credential(), start,
           result.status());
  });
  return reactor;
}

grpc::ServerUnaryReactor* TokenServiceImpl::Revoke(
    grpc::CallbackServerContext* context, const RevokeRequest* request,
    RevokeResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = ValidateRevokeRequest(*request); !s.ok()) {
    Finish(reactor, RpcMethod::kRevoke, request->credential(), start, s);
    return reactor;
  }
  RevokeParams params;
  params.credential = request->credential();
  params.token = request->token();
  params.fingerprint = request->fingerprint();
  broker_->Revoke(std::move(params), [this, reactor, request, response, start](
                                         absl::StatusOr<RevokeResult> result) {
    if (result.ok()) {
      response->set_fingerprint(result->fingerprint);
      response->set_was_cached(result->was_cached);
    }
    Finish(reactor, RpcMethod::kRevoke, request->credential(), start,
           result.status());
  });
  return reactor;
}

grpc::ServerUnaryReactor* TokenServiceImpl::GetTokenInfo(
    grpc::CallbackServerContext* context, const GetTokenInfoRequest* request,
    TokenInfo* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = ValidateGetTokenInfoRequest(*request);
  if (status.ok()) {
    absl::StatusOr<TokenInfo> info =
        broker_->GetTokenInfo(request->fingerprint());
    if (info.ok()) *response = *std::move(info);
    status = info.status();
  }
  Finish(reactor, RpcMethod::kGetTokenInfo, "", start, status);
  return reactor;
}

grpc::ServerUnaryReactor* TokenServiceImpl::ListTokens(
    grpc::CallbackServerContext* context, const ListTokensRequest* request,
    ListTokensResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = ValidateListTokensRequest(*request);
  if (status.ok()) {
    int page_size = request->page_size();
    if (page_size == 0) page_size = kDefaultPageSize;
    if (page_size > kMaxPageSize) page_size = kMaxPageSize;
    *response = broker_->ListTokens(request->credential(), page_size,
                                    request->page_token());
  }
  Finish(reactor, RpcMethod::kListTokens, request->credential(), start,
         status);
  return reactor;
}

}  // namespace tokenservice
