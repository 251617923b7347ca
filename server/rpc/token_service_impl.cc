#include "server/rpc/token_service_impl.h"

#include <grpc/grpc_security_constants.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "base/scopes.h"
#include "base/time_util.h"
#include "server/broker/issue_reply.h"
#include "server/ops/error_reason.h"
#include "server/ops/log.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/request_validation.h"
#include "server/rpc/rpc_call.h"

namespace tokenservice {
namespace {

using mypos::token::v1::ExchangeGrantRequest;
using mypos::token::v1::ExchangeGrantResponse;
using mypos::token::v1::GetTokenInfoRequest;
using mypos::token::v1::IssueRequest;
using mypos::token::v1::IssueResponse;
using mypos::token::v1::ListTokensRequest;
using mypos::token::v1::ListTokensResponse;
using mypos::token::v1::RevokeRequest;
using mypos::token::v1::RevokeResponse;
using mypos::token::v1::TokenInfo;

// The caller's gRPC deadline; InfiniteFuture when it set none.
absl::Time CallerDeadline(const grpc::CallbackServerContext* context) {
  const std::chrono::system_clock::time_point deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// Parses a serialized request. Small requests arrive as one slice, parsed
// in place; others are joined first.
bool ParseRequest(const grpc::ByteBuffer& bytes,
                  google::protobuf::Message* request) {
  grpc::Slice slice;
  if (bytes.TrySingleSlice(&slice).ok()) {
    return request->ParseFromArray(slice.begin(),
                                   static_cast<int>(slice.size()));
  }
  std::vector<grpc::Slice> slices;
  if (!bytes.Dump(&slices).ok()) return false;
  std::string joined;
  for (const grpc::Slice& s : slices) {
    joined.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return request->ParseFromString(joined);
}

void SetReply(absl::string_view serialized, grpc::ByteBuffer* response) {
  grpc::Slice slice(serialized.data(), serialized.size());
  // Swapped in: ByteBuffer's assignment would copy the buffer and then
  // destroy the original (a third of a hit's handler cost).
  grpc::ByteBuffer reply(&slice, 1);
  response->Swap(&reply);
}

void SetReply(const google::protobuf::Message& message,
              grpc::ByteBuffer* response) {
  SetReply(message.SerializeAsString(), response);
}

// Parses `bytes` into `request` once the caller is known (an unknown caller
// learns nothing about its bytes): INVALID_ARGUMENT, reason
// INVALID_REQUEST, for bytes that are no such message (truncated, invalid
// UTF-8 in a string), like any other bad request.
absl::Status ReadRequest(const absl::StatusOr<const CallerRule*>& caller,
                         const grpc::ByteBuffer& bytes,
                         google::protobuf::Message* request) {
  if (!caller.ok()) return caller.status();
  if (ParseRequest(bytes, request)) return absl::OkStatus();
  request->Clear();  // a partial parse names nothing
  return WithReason(absl::InvalidArgumentError(absl::StrCat(
                        "the request is not a valid ", request->GetTypeName())),
                    kReasonInvalidRequest);
}

void SetReply(const IssuedToken& issued, grpc::ByteBuffer* response) {
  if (issued.cached && !issued.token->hit_reply.empty()) {
    SetReply(issued.token->hit_reply, response);  // the hot path
    return;
  }
  IssueResponse message;
  FillIssueResponse(*issued.token, issued.cached, &message);
  SetReply(message, response);
}

}  // namespace

TokenServiceImpl::TokenServiceImpl(TokenBroker* broker, GrantExchange* grants,
                                   PendingCalls* pending,
                                   const CallerPolicy* policy,
                                   const GrpcServerMetrics* metrics)
    : broker_(broker),
      grants_(grants),
      watches_(&broker->revocation_feed()),
      pending_(pending),
      policy_(policy) {
  if (metrics == nullptr) return;
  for (int m = 0; m < kRpcMethods; ++m) {
    grpc_metrics_[m] = &metrics->Find(
        absl::StrCat("/", mypos::token::v1::TokenService::service_full_name(),
                     "/", RpcMethodName(static_cast<RpcMethod>(m))));
  }
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
      action == Action::kIssue ||
      (action == Action::kRevoke && rule->may_revoke) ||
      (action == Action::kReadMetadata && rule->may_read_metadata);
  if (permitted && CallerPolicy::MayUse(rule, profile)) return absl::OkStatus();
  static constexpr const char* kVerbs[] = {"use", "revoke tokens of",
                                           "read token metadata of"};
  return absl::PermissionDeniedError(absl::StrCat(
      "caller \"", rule->name, "\" may not ", kVerbs[static_cast<int>(action)],
      " credential profile \"", profile, "\""));
}

absl::Status TokenServiceImpl::AuthorizeSupplied(
    const absl::StatusOr<const CallerRule*>& caller, Action action) const {
  if (!caller.ok()) return caller.status();
  const CallerRule* rule = *caller;
  if (action == Action::kRevoke && rule != nullptr && !rule->may_revoke) {
    return absl::PermissionDeniedError(
        absl::StrCat("caller \"", rule->name, "\" may not revoke tokens"));
  }
  if (policy_ != nullptr && policy_->MaySupplyCredentials(rule)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      "caller-supplied client_credentials are not accepted for this caller "
      "(see caller_credentials and may_supply_credentials in the config)");
}

grpc::ServerUnaryReactor* TokenServiceImpl::Issue(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const absl::Time deadline = CallerDeadline(context);
  // Who is asking comes first: an unknown caller learns nothing, not even
  // what is wrong with its request.
  const absl::StatusOr<const CallerRule*> caller = Identify(context);
  // The request is only read before this returns (the broker copies what
  // it keeps), so each gRPC thread parses into one message of its own,
  // cleared first: its strings and scope list keep their capacity, and a
  // typical request is parsed with no allocation and no arena to set up.
  thread_local IssueRequest reused;
  IssueRequest* request = &reused;
  request->Clear();
  absl::Status allowed = ReadRequest(caller, *request_bytes, request);
  RpcRecord record(grpc_metrics_[static_cast<int>(RpcMethod::kIssue)],
                   &failure_log_, RpcMethod::kIssue, request->credential(),
                   context, caller);
  record.set_fingerprint(request->rejected_fingerprint());
  if (allowed.ok()) allowed = ValidateIssueRequest(*request);
  if (allowed.ok()) {
    allowed = request->has_client_credentials()
                  ? AuthorizeSupplied(caller, Action::kIssue)
                  : Authorize(caller, request->credential(), Action::kIssue);
  }
  if (!allowed.ok()) return FinishInline(context, record, allowed);
  IssueParams params;
  params.deadline = deadline;
  params.credential = request->credential();
  params.scopes.assign(request->scopes().begin(), request->scopes().end());
  if (request->has_min_validity()) {
    params.min_validity = FromProtoDuration(request->min_validity());
  }
  params.rejected_fingerprint = request->rejected_fingerprint();
  if (request->has_client_credentials()) {
    params.caller_credentials =
        ClientCredentials{request->client_credentials().client_id(),
                          request->client_credentials().client_secret()};
  }
  // A cache hit (the hot path) or an immediate error is answered inline;
  // only a call that waits for myPOS gets an RpcCall (server/rpc/rpc_call.h).
  grpc::ServerUnaryReactor* reactor = nullptr;
  RpcCall* call = nullptr;
  broker_->Issue(
      std::move(params),
      [&](absl::StatusOr<IssuedToken> result) {
        if (result.ok()) SetReply(*result, response);
        reactor = FinishInline(context, record, result.status());
      },
      [&]() -> WaitingCaller {
        call = new RpcCall(context, std::move(record), deadline, pending_);
        return WaitingCaller{
            [ref = call->Hold(), response](absl::StatusOr<IssuedToken> result) {
              if (!ref.Claim()) return;  // cancelled: `response` is gone
              if (result.ok()) SetReply(*result, response);
              ref->Finish(result.status());
            },
            call->cancellation()};
      });
  return call != nullptr ? call->Publish() : reactor;
}

grpc::ServerUnaryReactor* TokenServiceImpl::ExchangeGrant(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const absl::Time deadline = CallerDeadline(context);
  const absl::StatusOr<const CallerRule*> caller = Identify(context);
  ExchangeGrantRequest request;
  absl::Status allowed = ReadRequest(caller, *request_bytes, &request);
  RpcRecord record(grpc_metrics_[static_cast<int>(RpcMethod::kExchangeGrant)],
                   &failure_log_, RpcMethod::kExchangeGrant,
                   request.credential(), context, caller);
  if (allowed.ok()) allowed = ValidateExchangeGrantRequest(request);
  if (allowed.ok()) {
    allowed = Authorize(caller, request.credential(), Action::kIssue);
  }
  if (!allowed.ok()) return FinishInline(context, record, allowed);
  GrantParams params;
  params.credential = request.credential();
  params.deadline = deadline;
  UserGrant& grant = params.grant;
  if (request.has_authorization_code()) {
    grant.type = UserGrant::Type::kAuthorizationCode;
    grant.code = request.authorization_code().code();
    grant.redirect_uri = request.authorization_code().redirect_uri();
    grant.code_verifier = request.authorization_code().code_verifier();
  } else {
    grant.type = UserGrant::Type::kRefreshToken;
    grant.refresh_token = request.refresh_token().refresh_token();
    grant.scopes = NormalizeScopes(
        std::vector<std::string>(request.refresh_token().scopes().begin(),
                                 request.refresh_token().scopes().end()));
  }
  RpcCall* call = new RpcCall(context, std::move(record), deadline, pending_);
  grants_->Exchange(
      std::move(params),
      [ref = call->Hold(), response](absl::StatusOr<GrantedToken> result) {
        if (!ref.Claim()) return;  // cancelled: `response` is gone
        if (result.ok()) {
          ExchangeGrantResponse message;
          FillExchangeGrantResponse(*result->token, result->refresh_token,
                                    &message);
          SetReply(message, response);
        }
        ref->Finish(result.status());
      });
  return call->Publish();
}

grpc::ServerUnaryReactor* TokenServiceImpl::Revoke(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const absl::Time deadline = CallerDeadline(context);
  const absl::StatusOr<const CallerRule*> caller = Identify(context);
  RevokeRequest request;
  absl::Status allowed = ReadRequest(caller, *request_bytes, &request);
  RpcRecord record(grpc_metrics_[static_cast<int>(RpcMethod::kRevoke)],
                   &failure_log_, RpcMethod::kRevoke, request.credential(),
                   context, caller);
  record.set_fingerprint(request.has_token() ? Fingerprint(request.token())
                                             : request.fingerprint());
  if (allowed.ok()) allowed = ValidateRevokeRequest(request);
  if (allowed.ok()) {
    allowed = request.has_client_credentials()
                  ? AuthorizeSupplied(caller, Action::kRevoke)
                  : Authorize(caller, request.credential(), Action::kRevoke);
  }
  if (!allowed.ok()) return FinishInline(context, record, allowed);
  RevokeParams params;
  params.deadline = deadline;
  params.credential = request.credential();
  params.token = request.token();
  params.fingerprint = request.fingerprint();
  if (request.has_client_credentials()) {
    params.caller_credentials =
        ClientCredentials{request.client_credentials().client_id(),
                          request.client_credentials().client_secret()};
  }
  RpcCall* call = new RpcCall(context, std::move(record), deadline, pending_);
  broker_->Revoke(std::move(params), [ref = call->Hold(), response](
                                         absl::StatusOr<RevokeResult> result) {
    if (!ref.Claim()) return;  // cancelled: `response` is gone
    if (result.ok()) {
      RevokeResponse message;
      message.set_fingerprint(result->fingerprint);
      message.set_was_cached(result->was_cached);
      if (result->reach.has_value()) {
        message.set_replicas_confirmed(result->reach->confirmed);
        message.set_replicas_live(result->reach->live);
        message.set_shared(result->reach->published);
      }
      SetReply(message, response);
    }
    ref->Finish(result.status());
  });
  return call->Publish();
}

grpc::ServerUnaryReactor* TokenServiceImpl::GetTokenInfo(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const absl::StatusOr<const CallerRule*> caller = Identify(context);
  GetTokenInfoRequest request;
  absl::Status status = ReadRequest(caller, *request_bytes, &request);
  RpcRecord record(grpc_metrics_[static_cast<int>(RpcMethod::kGetTokenInfo)],
                   &failure_log_, RpcMethod::kGetTokenInfo, "", context,
                   caller);
  record.set_fingerprint(request.fingerprint());
  if (status.ok()) status = ValidateGetTokenInfoRequest(request);
  if (status.ok() && *caller != nullptr && !(*caller)->may_read_metadata) {
    status = Authorize(caller, "", Action::kReadMetadata);
  }
  if (status.ok()) {
    absl::StatusOr<TokenInfo> info =
        broker_->GetTokenInfo(request.fingerprint());
    if (!info.ok() && info.status().code() == absl::StatusCode::kNotFound) {
      if (std::optional<TokenInfo> granted =
              grants_->Info(request.fingerprint())) {
        info = *std::move(granted);
      }
    }
    if (info.ok() && !CallerPolicy::MayUse(*caller, info->credential())) {
      // Not this caller's to see: the same answer as an unknown token.
      info = WithReason(
          absl::NotFoundError(absl::StrCat("no cached token has fingerprint ",
                                           request.fingerprint())),
          kReasonTokenNotFound);
    }
    if (info.ok()) SetReply(*info, response);
    status = info.status();
  }
  return FinishInline(context, record, status);
}

grpc::ServerUnaryReactor* TokenServiceImpl::ListTokens(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  const absl::StatusOr<const CallerRule*> caller = Identify(context);
  ListTokensRequest request;
  absl::Status status = ReadRequest(caller, *request_bytes, &request);
  RpcRecord record(grpc_metrics_[static_cast<int>(RpcMethod::kListTokens)],
                   &failure_log_, RpcMethod::kListTokens, request.credential(),
                   context, caller);
  if (status.ok()) status = ValidateListTokensRequest(request);
  if (status.ok()) {
    status = Authorize(caller, request.credential(), Action::kReadMetadata);
    // With no profile named, the default one need not be allowed: the
    // listing is filtered to the caller's profiles instead.
    if (!status.ok() && request.credential().empty() && caller.ok() &&
        (*caller)->may_read_metadata) {
      status = absl::OkStatus();
    }
  }
  if (status.ok()) {
    int page_size = request.page_size();
    if (page_size == 0) page_size = kDefaultPageSize;
    if (page_size > kMaxPageSize) page_size = kMaxPageSize;
    const CallerRule* rule = *caller;
    SetReply(broker_->ListTokens(request.credential(), page_size,
                                 request.page_token(),
                                 [rule](absl::string_view profile) {
                                   return CallerPolicy::MayUse(rule, profile);
                                 }),
             response);
  }
  return FinishInline(context, record, status);
}

grpc::ServerWriteReactor<mypos::token::v1::RevocationBatch>*
TokenServiceImpl::WatchRevocations(
    grpc::CallbackServerContext* context,
    const mypos::token::v1::WatchRevocationsRequest*) {
  const absl::StatusOr<const CallerRule*> caller = Identify(context);
  RpcRecord record(
      grpc_metrics_[static_cast<int>(RpcMethod::kWatchRevocations)],
      &failure_log_, RpcMethod::kWatchRevocations, "", context, caller);
  return watches_.Open(std::move(record), caller.status());
}

}  // namespace tokenservice
