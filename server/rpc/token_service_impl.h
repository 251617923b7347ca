// TokenServiceImpl: the gRPC face of the TokenBroker.
//
// Thin by design: validate the request, call the broker (or, for a user's
// grant, the GrantExchange), map the Status. The caller's gRPC deadline
// goes with the request. Cache hits finish on the handler's thread; misses
// finish their reactor when the broker's shared fetch completes, so no gRPC
// thread waits on myPOS; a cancelled call (caller gone, deadline passed,
// shutdown grace over) finishes at once (server/rpc/rpc_call.h).
//
// Issue is registered as a raw method (it receives and sends the serialized
// messages): a cache hit answers with the reply bytes serialized when the
// token was stored (server/broker/issue_reply.h) instead of building and
// serializing a message per call. On the wire nothing changes; callers,
// reflection and grpcurl see the ordinary IssueRequest/IssueResponse.

#ifndef SERVER_RPC_TOKEN_SERVICE_IMPL_H_
#define SERVER_RPC_TOKEN_SERVICE_IMPL_H_

#include <grpcpp/grpcpp.h>

#include <array>

#include "base/clock.h"
#include "proto/token_service.grpc.pb.h"
#include "server/broker/grant_exchange.h"
#include "server/broker/token_broker.h"
#include "server/ops/log_rate_limiter.h"
#include "server/rpc/caller_policy.h"
#include "server/rpc/grpc_server_metrics.h"
#include "server/rpc/revocation_streams.h"
#include "server/rpc/rpc_call.h"

namespace tokenservice {

// Every call is first matched against the CallerPolicy, before its request
// is looked at: an unknown caller gets UNAUTHENTICATED; a known caller asking
// for a profile (or an action) it is not allowed gets PERMISSION_DENIED, worded
// the same whether or not the profile exists.
//
// Every call is counted in `metrics` (grpc_server_metrics.h), which must
// have been told that this service's handlers record their calls.
//
// Thread-safe. Borrows `broker`, `grants`, `policy` and `metrics`, which
// must outlive the server; a null `policy` is open, a null `metrics` counts
// nothing.
using TokenServiceBase =
    mypos::token::v1::TokenService::WithRawCallbackMethod_Issue<
        mypos::token::v1::TokenService::WithRawCallbackMethod_ExchangeGrant<
            mypos::token::v1::TokenService::WithRawCallbackMethod_Revoke<
                mypos::token::v1::TokenService::
                    WithRawCallbackMethod_GetTokenInfo<
                        mypos::token::v1::TokenService::
                            WithRawCallbackMethod_ListTokens<
                                mypos::token::v1::TokenService::
                                    WithCallbackMethod_WatchRevocations<
                                        mypos::token::v1::TokenService::
                                            Service>>>>>>;

// rpc_failed lines written per second at most; the rest are counted in an
// rpc_failed_suppressed line.
inline constexpr int kFailedCallLinesPerSecond = 50;

// The TokenService handlers. Thread-safe: gRPC calls them from many
// threads at once. Borrows every pointer; each must outlive the service.
class TokenServiceImpl final : public TokenServiceBase {
 public:
  // Calls that wait for myPOS are kept in `pending`, for the shutdown.
  TokenServiceImpl(TokenBroker* broker, GrantExchange* grants,
                   PendingCalls* pending, const CallerPolicy* policy = nullptr,
                   const GrpcServerMetrics* metrics = nullptr);

  // `request` holds a serialized IssueRequest; `response` gets a serialized
  // IssueResponse.
  grpc::ServerUnaryReactor* Issue(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;

  // Each takes the serialized request and gives the serialized response,
  // so that bytes that are no valid request get INVALID_ARGUMENT with
  // ErrorInfo, counted and logged like any failure, after the caller is
  // authenticated (gRPC's own parsing would answer UNIMPLEMENTED, before).
  grpc::ServerUnaryReactor* ExchangeGrant(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Revoke(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetTokenInfo(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListTokens(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

  // A stream of revoked fingerprints (server/rpc/revocation_streams.h), for
  // any caller the policy knows.
  grpc::ServerWriteReactor<mypos::token::v1::RevocationBatch>* WatchRevocations(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::WatchRevocationsRequest* request) override;

  // Ends every WatchRevocations stream (UNAVAILABLE) and refuses new ones:
  // before the server's shutdown, which would otherwise wait for them.
  void CloseWatches() { watches_.CloseAll(); }

 private:
  // The caller (nullptr under an open policy), or kUnauthenticated.
  absl::StatusOr<const CallerRule*> Identify(
      grpc::CallbackServerContext* context) const;
  // OK if `caller` may use `profile` (empty: the default profile) and, for
  // `action`s other than issuing, has that permission.
  enum class Action { kIssue, kRevoke, kReadMetadata };
  absl::Status Authorize(const absl::StatusOr<const CallerRule*>& caller,
                         absl::string_view profile, Action action) const;

  // OK if caller-supplied credentials are enabled for `caller` and, to
  // revoke, it may revoke.
  absl::Status AuthorizeSupplied(
      const absl::StatusOr<const CallerRule*>& caller, Action action) const;

  TokenBroker* const broker_;
  GrantExchange* const grants_;
  RevocationStreams watches_;
  PendingCalls* const pending_;
  const CallerPolicy* const policy_;
  // Each method's series, by RpcMethod; null when not counted.
  std::array<const GrpcServerMetrics::Method*, kRpcMethods> grpc_metrics_{};
  // At most kFailedCallLinesPerSecond rpc_failed lines a second.
  const SystemClock clock_;
  LogRateLimiter failure_log_{kFailedCallLinesPerSecond, absl::Seconds(1),
                              &clock_};
};

}  // namespace tokenservice

#endif  // SERVER_RPC_TOKEN_SERVICE_IMPL_H_
