#include "server/token_service_impl.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <grpc/grpc_security_constants.h>

#include "absl/strings/str_cat.h"

#include "server/grpc_status.h"
#include "server/log.h"
#include "server/request_validation.h"
#include "server/upstream/error_reason.h"
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

constexpr const char* kMethodNames[] = {"Issue", "Revoke", "GetTokenInfo",
                                        "ListTokens"};

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

absl::StatusOr<const CallerRule*> TokenServiceImpl::Identify(
    grpc::CallbackServerContext* context) const {
  if (policy_ == nullptr || policy_->open()) return nullptr;
  std::vector<std::string> identities;
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property :
         {GRPC_PEER_URI_PROPERTY_NAME, GRPC_PEER_DNS_PROPERTY_NAME}) {
      for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
        identities.emplace_back(value.data(), value.size());
      }
    }
  }
  absl::string_view key;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find(kCallerKeyMetadata); it != metadata.end()) {
    key = absl::string_view(it->second.data(), it->second.size());
  }
  return policy_->Authenticate(identities, key);
}

absl::Status TokenServiceImpl::Authorize(
    const absl::StatusOr<const CallerRule*>& caller, absl::string_view profile,
    Action action) const {
  if (!caller.ok()) return caller.status();
  const CallerRule* rule = *caller;
  if (rule == nullptr) return absl::OkStatus();
  if (profile.empty()) profile = broker_->default_profile();
  const bool permitted =
      action == Action::kIssue || (action == Action::kRevoke && rule->may_revoke) ||
      (action == Action::kReadMetadata && rule->may_read_metadata);
  if (permitted && CallerPolicy::MayUse(rule, profile)) return absl::OkStatus();
  static constexpr const char* kVerbs[] = {"use", "revoke tokens of",
                                           "read token metadata of"};
  return absl::PermissionDeniedError(absl::StrCat(
      "caller \"", rule->name, "\" may not ",
      kVerbs[static_cast<int>(action)], " credential profile \"", profile,
      "\""));
}

absl::Status TokenServiceImpl::AuthorizeSupplied(
    const absl::StatusOr<const CallerRule*>& caller) const {
  if (!caller.ok()) return caller.status();
  if (policy_ != nullptr && policy_->MaySupplyCredentials(*caller)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      "caller-supplied client_credentials are not accepted for this caller "
      "(see caller_credentials and may_supply_credentials in the config)");
}

grpc::ServerUnaryReactor* TokenServiceImpl::Issue(
    grpc::CallbackServerContext* context, const IssueRequest* request,
    IssueResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status allowed = ValidateIssueRequest(*request);
  if (allowed.ok()) {
    allowed = request->has_client_credentials()
                  ? AuthorizeSupplied(Identify(context))
                  : Authorize(Identify(context), request->credential(),
                              Action::kIssue);
  }
  if (!allowed.ok()) {
    Finish(reactor, RpcMethod::kIssue, request->credential(), start, allowed);
    return reactor;
  }
  if (request->grant_type() != mypos::token::v1::GRANT_TYPE_CLIENT_CREDENTIALS) {
    IssueWithGrant(reactor, *request, CallerDeadline(context), start, response);
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
  if (request->has_client_credentials()) {
    params.caller_credentials = ClientCredentials{
        request->client_credentials().client_id(),
        request->client_credentials().client_secret()};
  }
  broker_->Issue(std::move(params), [this, reactor, request, response, start](
                                        absl::StatusOr<IssuedToken> result) {
    if (result.ok()) FillIssueResponse(*result, response);
    Finish(reactor, RpcMethod::kIssue, request->credential(), start,
           result.status());
  });
  return reactor;
}

void TokenServiceImpl::IssueWithGrant(grpc::ServerUnaryReactor* reactor,
                                      const IssueRequest& request,
                                      absl::Time deadline, absl::Time start,
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
  const std::string profile = request.credential();
  grants_->Exchange(std::move(params), [this, reactor, response, profile,
                                        start](
                                           absl::StatusOr<GrantedToken> result) {
    if (result.ok()) {
      FillIssueResponse(IssuedToken{result->token, /*cached=*/false},
                        response);
      response->set_refresh_token(result->refresh_token);
    }
    Finish(reactor, RpcMethod::kIssue, profile, start, result.status());
  });
}

grpc::ServerUnaryReactor* TokenServiceImpl::Revoke(
    grpc::CallbackServerContext* context, const RevokeRequest* request,
    RevokeResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status allowed = ValidateRevokeRequest(*request);
  if (allowed.ok()) {
    allowed = request->has_client_credentials()
                  ? AuthorizeSupplied(Identify(context))
                  : Authorize(Identify(context), request->credential(),
                              Action::kRevoke);
  }
  if (!allowed.ok()) {
    Finish(reactor, RpcMethod::kRevoke, request->credential(), start, allowed);
    return reactor;
  }
  RevokeParams params;
  params.deadline = CallerDeadline(context);
  params.credential = request->credential();
  params.token = request->token();
  params.fingerprint = request->fingerprint();
  if (request->has_client_credentials()) {
    params.caller_credentials = ClientCredentials{
        request->client_credentials().client_id(),
        request->client_credentials().client_secret()};
  }
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
  const absl::StatusOr<const CallerRule*> caller = Identify(context);
  if (status.ok() && !caller.ok()) status = caller.status();
  if (status.ok() && *caller != nullptr && !(*caller)->may_read_metadata) {
    status = Authorize(caller, "", Action::kReadMetadata);
  }
  if (status.ok()) {
    absl::StatusOr<TokenInfo> info =
        broker_->GetTokenInfo(request->fingerprint());
    if (!info.ok() && info.status().code() == absl::StatusCode::kNotFound) {
      if (std::optional<TokenInfo> granted =
              grants_->Info(request->fingerprint())) {
        info = *std::move(granted);
      }
    }
    if (info.ok() && !CallerPolicy::MayUse(*caller, info->credential())) {
      // Not this caller's to see: the same answer as an unknown token.
      info = WithReason(absl::NotFoundError(absl::StrCat(
                            "no cached token has fingerprint ",
                            request->fingerprint())),
                        kReasonTokenNotFound);
    }
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
  const absl::StatusOr<const CallerRule*> caller = Identify(context);
  if (status.ok()) {
    status = Authorize(caller, request->credential(), Action::kReadMetadata);
    // With no profile named, the default one need not be allowed: the
    // listing is filtered to the caller's profiles instead.
    if (!status.ok() && request->credential().empty() && caller.ok() &&
        (*caller)->may_read_metadata) {
      status = absl::OkStatus();
    }
  }
  if (status.ok()) {
    int page_size = request->page_size();
    if (page_size == 0) page_size = kDefaultPageSize;
    if (page_size > kMaxPageSize) page_size = kMaxPageSize;
    const CallerRule* rule = *caller;
    *response = broker_->ListTokens(
        request->credential(), page_size, request->page_token(),
        [rule](absl::string_view profile) {
          return CallerPolicy::MayUse(rule, profile);
        });
  }
  Finish(reactor, RpcMethod::kListTokens, request->credential(), start,
         status);
  return reactor;
}

}  // namespace tokenservice
